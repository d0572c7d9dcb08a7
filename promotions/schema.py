"""OpenAPI descriptions of the project's own authentication schemes (drf-spectacular)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class AppKeyScheme(OpenApiAuthenticationExtension):
    target_class = "promotions.auth.AppKeyAuthentication"
    name = "AppKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "X-App-Key",
            "description": "The brand's mobile app key.",
        }


class IngestKeyScheme(OpenApiAuthenticationExtension):
    target_class = "promotions.tracking.auth.IngestKeyAuthentication"
    name = "IngestKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "The brand's ingest key, for ad servers posting touchpoints.",
        }
