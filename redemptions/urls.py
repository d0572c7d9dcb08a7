from django.urls import include, path

from promotions.urls import OptionalSlashRouter
from redemptions import api

router = OptionalSlashRouter()
router.register("pos-integrations", api.PosIntegrationViewSet, basename="pos-integration")

urlpatterns = [
    path(
        "api/v1/manage/campaigns/<int:pk>/report",
        api.CampaignReportView.as_view(),
        name="campaign-report",
    ),
    path(
        "api/v1/manage/campaigns/<int:pk>/report.csv",
        api.CampaignReportCsvView.as_view(),
        {"fmt": "csv"},
        name="campaign-report-csv",
    ),
    path("api/v1/manage/", include(router.urls)),
]
