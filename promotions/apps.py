from django.apps import AppConfig


class PromotionsConfig(AppConfig):
    name = "promotions"
    verbose_name = "Promotions"

    def ready(self) -> None:
        from promotions import schema  # noqa: F401 (registers the OpenAPI auth extensions)
