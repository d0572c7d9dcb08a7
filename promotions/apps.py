from django.apps import AppConfig


class PromotionsConfig(AppConfig):
    name = "promotions"
    verbose_name = "Promotions"

    def ready(self) -> None:
        from core.observability import MASKERS
        from promotions import (
            codes,
            schema,  # noqa: F401 (registers the OpenAPI auth extensions)
        )

        if codes.mask_in_text not in MASKERS:
            MASKERS.append(codes.mask_in_text)
