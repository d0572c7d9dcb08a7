from django.urls import path

from pos_adapters.views import pos_endpoint

urlpatterns = [
    path(
        "api/v1/pos/generic/validate",
        pos_endpoint,
        {"adapter_name": "generic", "operation": "validate"},
        name="pos-generic-validate",
    ),
    path(
        "api/v1/pos/generic/redemptions",
        pos_endpoint,
        {"adapter_name": "generic", "operation": "redeem"},
        name="pos-generic-redeem",
    ),
    path(
        "api/v1/pos/generic/redemptions/<int:redemption_id>/void",
        pos_endpoint,
        {"adapter_name": "generic", "operation": "void"},
        name="pos-generic-void",
    ),
    path(
        "api/v1/pos/generic/batch",
        pos_endpoint,
        {"adapter_name": "generic", "operation": "batch"},
        name="pos-generic-batch",
    ),
    path(
        "api/v1/pos/toast",
        pos_endpoint,
        {"adapter_name": "toast", "operation": "loyalty"},
        name="pos-toast",
    ),
    path(
        "api/v1/pos/square/webhook",
        pos_endpoint,
        {"adapter_name": "square", "operation": "webhook"},
        name="pos-square-webhook",
    ),
]
