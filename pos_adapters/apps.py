from django.apps import AppConfig


class PosAdaptersConfig(AppConfig):
    name = "pos_adapters"
    verbose_name = "POS adapters"

    def ready(self):
        from pos_adapters.registry import ADAPTERS
        from redemptions.models import adapter_names_register

        adapter_names_register(ADAPTERS)
