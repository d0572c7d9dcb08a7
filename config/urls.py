from django.contrib import admin
from django.contrib.staticfiles import finders
from django.http import FileResponse
from django.urls import include, path
from django.utils.cache import patch_cache_control
from django.views.generic import RedirectView
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from config import health
from promotions.admin import sign_in


def favicon(request):
    """Browsers ask every site for /favicon.ico: the admin's tab shows the product's icon."""
    response = FileResponse(open(finders.find("promotions/favicon.ico"), "rb"))  # noqa: SIM115
    response["Content-Type"] = "image/x-icon"
    patch_cache_control(response, public=True, max_age=86400)
    return response


urlpatterns = [
    path("favicon.ico", favicon, name="favicon"),
    path("", RedirectView.as_view(url="/admin/"), name="home"),  # the marketer's way in
    path("admin/two-factor/", include(sign_in)),  # before the admin's catch-all
    path("admin/", admin.site.urls),
    path("health/live", health.live, name="health-live"),
    path("health/ready", health.ready, name="health-ready"),
    path("metrics", health.metrics, name="metrics"),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("", include("promotions.urls")),
    path("", include("redemptions.urls")),
    path("", include("pos_adapters.urls")),
]

handler400 = "core.problems.handler400"
handler404 = "core.problems.handler404"
handler500 = "core.problems.handler500"
