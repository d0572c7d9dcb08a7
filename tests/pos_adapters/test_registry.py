import sys

import pytest
from django.urls import reverse

from pos_adapters.base import PosAdapter
from pos_adapters.registry import ADAPTERS, UnknownAdapter, discover, get_adapter
from redemptions.models import PosIntegration, adapter_choices


def test_registry_resolves_every_vendor_module_and_the_integration_may_name_each():
    assert set(ADAPTERS) == {"generic", "toast", "square"}
    assert [name for name, _ in adapter_choices()] == sorted(ADAPTERS)
    for name in ADAPTERS:
        adapter = get_adapter(name)
        assert isinstance(adapter, PosAdapter) and adapter.name == name
        for route in adapter.routes:  # the URL conf is derived from the adapter's routes
            assert reverse(route.name, kwargs={"redemption_id": 1} if "<" in route.path else None)


def test_unknown_adapter_is_a_clear_error():
    with pytest.raises(UnknownAdapter, match="No POS adapter named 'clover'"):
        get_adapter("clover")


VENDOR_MODULE = """
from pos_adapters.base import PosAdapter, Route


class CloverAdapter(PosAdapter):
    name = "clover"
    routes = (Route("api/v1/pos/clover", "order", "pos-clover"),)
"""


def test_a_new_vendor_is_one_module(tmp_path, monkeypatch):
    """Given a package holding one more vendor module, discovery finds it with nothing else
    edited: its name is an allowed integration adapter and its routes are known."""
    package = tmp_path / "more_vendors"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "clover.py").write_text(VENDOR_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    import more_vendors

    try:
        found = discover(more_vendors)
    finally:
        sys.modules.pop("more_vendors.clover", None)
        sys.modules.pop("more_vendors", None)
    assert found == {"clover": "more_vendors.clover.CloverAdapter"}
    field = PosIntegration._meta.get_field("adapter")
    assert callable(field.choices.func)  # no migration when the list of vendors changes


def test_a_vendor_module_must_define_exactly_one_adapter(tmp_path, monkeypatch):
    package = tmp_path / "broken_vendors"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "empty.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import broken_vendors

    try:
        with pytest.raises(ImportError, match="must define one PosAdapter"):
            discover(broken_vendors)
    finally:
        sys.modules.pop("broken_vendors.empty", None)
        sys.modules.pop("broken_vendors", None)
