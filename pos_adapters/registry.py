"""Every POS adapter, found once in ``pos_adapters/vendors/``: one module per vendor.

``ADAPTERS`` maps a vendor's name to its adapter class's dotted path; the URL conf
(``pos_adapters.urls``) and the names a POS integration may use (``pos_adapters.apps``) are
derived from it.
"""

import importlib
import inspect
import pkgutil
from functools import cache

from django.utils.module_loading import import_string

from pos_adapters import vendors
from pos_adapters.base import PosAdapter


class UnknownAdapter(LookupError):
    pass


def discover(package=vendors) -> dict[str, str]:
    """Name -> dotted path of the one PosAdapter subclass each module of ``package`` defines."""
    found = {}
    for module_info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{package.__name__}.{module_info.name}")
        classes = [
            cls
            for _, cls in inspect.getmembers(module, inspect.isclass)
            if issubclass(cls, PosAdapter) and cls.__module__ == module.__name__ and cls.name
        ]
        if len(classes) != 1:
            raise ImportError(f"{module.__name__} must define one PosAdapter, not {len(classes)}")
        (cls,) = classes
        if cls.name in found:
            raise ImportError(f"Two POS adapters are named {cls.name!r}")
        found[cls.name] = f"{cls.__module__}.{cls.__qualname__}"
    return found


ADAPTERS = discover()


@cache
def get_adapter(name: str) -> PosAdapter:
    try:
        path = ADAPTERS[name]
    except KeyError:
        raise UnknownAdapter(f"No POS adapter named {name!r}; known: {sorted(ADAPTERS)}") from None
    return import_string(path)()


def adapters() -> list[PosAdapter]:
    return [get_adapter(name) for name in ADAPTERS]
