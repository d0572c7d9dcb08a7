"""Adapter name -> dotted path, imported on first use."""

from functools import cache

from django.utils.module_loading import import_string

from pos_adapters.base import PosAdapter

ADAPTERS = {
    "generic": "pos_adapters.generic.GenericAdapter",
    "toast": "pos_adapters.toast.ToastAdapter",
    "square": "pos_adapters.square.SquareAdapter",
}


class UnknownAdapter(LookupError):
    pass


@cache
def get_adapter(name: str) -> PosAdapter:
    try:
        path = ADAPTERS[name]
    except KeyError:
        raise UnknownAdapter(f"No POS adapter named {name!r}; known: {sorted(ADAPTERS)}") from None
    return import_string(path)()
