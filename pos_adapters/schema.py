"""The POS routes in the OpenAPI schema, as their adapters describe them.

One plain Django view serves every POS route (``pos_adapters.views.pos_endpoint``: the hot path
skips DRF), so drf-spectacular's generator, which documents DRF views only, would leave them
out. ``pos_operations`` (a ``PREPROCESSING_HOOKS`` entry) adds one endpoint per POS route of
the URL conf, served in the schema by a stand-in DRF view whose ``post`` carries the adapter's
``route_schema(route)`` and whose security is the adapter's ``security_schemes``. A vendor
module thus brings its schema along, as it brings its routes.
"""

from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.generators import EndpointEnumerator
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import ResolvedComponent
from drf_spectacular.utils import extend_schema
from rest_framework.views import APIView

from pos_adapters.base import PosAdapter, Route
from pos_adapters.registry import get_adapter
from pos_adapters.views import pos_endpoint


class PosOperationSchema(AutoSchema):
    """A POS operation's security: the schemes its adapter declares (any one of them)."""

    def get_auth(self):
        schemes = self.view.adapter.security_schemes
        for name, definition in schemes.items():
            self.registry.register_on_missing(
                ResolvedComponent(
                    name=name,
                    type=ResolvedComponent.SECURITY_SCHEMA,
                    object=name,
                    schema=definition,
                )
            )
        return [{name: []} for name in schemes]


def operation_view(adapter: PosAdapter, route: Route):
    """A DRF view that exists for the schema only: ``pos_endpoint`` answers the route."""

    def post(self, request, *args, **kwargs):
        raise NotImplementedError("pos_endpoint serves this route")

    view = type(
        f"Pos{adapter.name.title()}{route.operation.title()}",
        (APIView,),
        {
            "adapter": adapter,
            "authentication_classes": (),
            "permission_classes": (),
            "schema": PosOperationSchema(),
            "post": extend_schema(
                operation_id=route.name.replace("-", "_"),
                tags=["pos"],
                **adapter.route_schema(route),
            )(post),
            "__module__": __name__,
        },
    )
    return view.as_view()


def pos_routes(patterns=None, prefix: str = ""):
    """(path regex, adapter, route) of every POS route in the URL conf."""
    for entry in get_resolver().url_patterns if patterns is None else patterns:
        regex = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from pos_routes(entry.url_patterns, regex)
        elif isinstance(entry, URLPattern) and entry.callback is pos_endpoint:
            adapter = get_adapter(entry.default_args["adapter_name"])
            (route,) = (r for r in adapter.routes if r.name == entry.name)
            yield regex, adapter, route


def pos_operations(endpoints: list) -> list:
    """drf-spectacular preprocessing hook: the endpoints, and a POST operation per POS route."""
    enumerator = EndpointEnumerator()
    return [
        *endpoints,
        *(
            (enumerator.get_path_from_regex(regex), regex, "POST", operation_view(adapter, route))
            for regex, adapter, route in pos_routes()
        ),
    ]
