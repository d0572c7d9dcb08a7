from django.urls import include, path, re_path
from rest_framework.routers import SimpleRouter

from promotions import api_manage, api_mobile
from promotions.tracking import views as tracking


class OptionalSlashRouter(SimpleRouter):
    """``/api/v1/manage/offers`` and ``/api/v1/manage/offers/`` both resolve (no redirects)."""

    def __init__(self):
        super().__init__()
        self.trailing_slash = "/?"


router = OptionalSlashRouter()
router.register("stores", api_manage.StoreViewSet, basename="store")
router.register("campaigns", api_manage.CampaignViewSet, basename="campaign")
router.register("placements", api_manage.PlacementViewSet, basename="placement")
router.register("offers", api_manage.OfferViewSet, basename="offer")
router.register("jobs", api_manage.CodeJobViewSet, basename="job")

urlpatterns = [
    path("api/v1/offers", api_mobile.OfferListView.as_view(), name="mobile-offers"),
    path("api/v1/offers/<int:offer_id>/claim", api_mobile.ClaimView.as_view(), name="mobile-claim"),
    re_path(
        r"^api/v1/codes/(?P<code>[0-9A-Za-z-]{2,60})\.(?P<fmt>png|svg)$",
        api_mobile.CodeImageView.as_view(),
        name="mobile-code-image",
    ),
    path(
        "api/v1/customers/<str:customer_ref>/codes",
        api_mobile.WalletView.as_view(),
        name="mobile-wallet",
    ),
    path("api/v1/manage/", include(router.urls)),
    path("t/<str:token>", tracking.track_click, name="track-click"),
    path("i/<str:token>.gif", tracking.track_impression, name="track-impression"),
    path("api/v1/touchpoints", tracking.TouchpointBatchView.as_view(), name="touchpoints-batch"),
]
