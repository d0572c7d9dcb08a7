"""The POS routes, as each vendor's adapter declares them (``PosAdapter.routes``)."""

from django.urls import path

from pos_adapters.registry import adapters
from pos_adapters.views import pos_endpoint

urlpatterns = [
    path(
        route.path,
        pos_endpoint,
        {"adapter_name": adapter.name, "operation": route.operation},
        name=route.name,
    )
    for adapter in adapters()
    for route in adapter.routes
]
