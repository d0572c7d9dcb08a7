"""The POS routes in the OpenAPI schema: each adapter's routes, as the adapter describes them."""

import io

from django.core.management import call_command
from drf_spectacular.generators import SchemaGenerator

from pos_adapters.registry import adapters


def schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)


def test_the_schema_is_valid_and_generates_without_a_warning():
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=io.StringIO())


def test_every_route_of_every_adapter_is_an_operation_with_the_adapters_security():
    paths, components = schema()["paths"], schema()["components"]
    for adapter in adapters():
        for route in adapter.routes:
            path = "/" + route.path.replace("<int:redemption_id>", "{redemption_id}")
            operation = paths[path]["post"]
            assert operation["operationId"] == route.name.replace("-", "_")
            assert operation["security"] == [{name: []} for name in adapter.security_schemes]
            for name, definition in adapter.security_schemes.items():
                assert components["securitySchemes"][name] == definition
            assert "requestBody" in operation and "400" in operation["responses"]


def test_the_generic_protocol_as_a_till_sees_it():
    found = schema()
    redeem = found["paths"]["/api/v1/pos/generic/redemptions"]["post"]
    headers = {p["name"]: p for p in redeem["parameters"] if p["in"] == "header"}
    body = found["components"]["schemas"]["GenericRedeemRequest"]
    created = redeem["responses"]["201"]
    declined = redeem["responses"]["409"]

    assert {"Idempotency-Key", "X-Signature"} <= set(headers)
    assert headers["X-Signature"]["schema"]["pattern"] == r"^t=\d+,v1=[0-9a-f]{64}$"
    assert set(body["required"]) == {"code", "store_id", "transaction_id", "basket_total"}
    assert body["properties"]["basket_total"]["format"] == "decimal"
    assert body["properties"]["occurred_at"]["format"] == "date-time"
    assert created["content"]["application/json"]["schema"]["$ref"].endswith("GenericRedemption")
    assert "Idempotent-Replayed" in created["headers"]
    assert declined["content"]["application/problem+json"]["schema"]["$ref"].endswith("PosDecline")
    assert found["components"]["securitySchemes"]["PosApiKey"]["scheme"] == "bearer"


def test_toast_and_square_bring_their_own_headers_and_signature():
    found = schema()
    toast = found["paths"]["/api/v1/pos/toast"]["post"]
    square = found["paths"]["/api/v1/pos/square/webhook"]["post"]
    required = {p["name"] for p in toast["parameters"] if p.get("required")}

    assert required == {
        "Toast-Transaction-Type",
        "Toast-Transaction-GUID",
        "Toast-Restaurant-External-ID",
    }
    assert toast["responses"]["400"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "ToastError"
    )
    assert square["security"] == [{"SquareSignature": []}]
    signature = found["components"]["securitySchemes"]["SquareSignature"]
    assert (signature["in"], signature["name"]) == ("header", "x-square-hmacsha256-signature")
