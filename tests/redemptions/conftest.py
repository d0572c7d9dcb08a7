import pytest

from tests.factories import CodeFactory


@pytest.fixture
def code(offer):
    """An issued unique code of the brand's offer (the same fixture in tests/pos_adapters and
    tests/redemptions: tests/conftest.py is shared with work elsewhere)."""
    return CodeFactory(offer=offer)
