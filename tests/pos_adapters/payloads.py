from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"


def payload(vendor: str, name: str, **values) -> bytes:
    """A stored vendor payload with ``{placeholders}`` filled in, as raw bytes."""
    text = (FIXTURES / vendor / f"{name}.json").read_text()
    for key, value in values.items():
        text = text.replace("{" + key + "}", str(value))
    return text.encode()
