from django.apps import AppConfig


class RedemptionsConfig(AppConfig):
    name = "redemptions"
    verbose_name = "Redemptions and attribution"
