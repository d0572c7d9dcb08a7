import pytest

from pos_adapters.base import PosAdapter
from pos_adapters.registry import ADAPTERS, UnknownAdapter, get_adapter
from redemptions.models import ADAPTER_NAMES


def test_registry_resolves_every_adapter_lazily_and_matches_the_model_choices():
    assert set(ADAPTERS) == set(ADAPTER_NAMES)
    for name in ADAPTERS:
        adapter = get_adapter(name)
        assert isinstance(adapter, PosAdapter) and adapter.name == name


def test_unknown_adapter_is_a_clear_error():
    with pytest.raises(UnknownAdapter, match="No POS adapter named 'clover'"):
        get_adapter("clover")
