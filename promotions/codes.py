"""Redeemable codes: Crockford base32, random symbols from `secrets`, one check symbol.

The check symbol uses the Damm algorithm over the quasigroup ``x * y = 2x + y`` in GF(32)
(polynomial x^5 + x^2 + 1). Like Luhn mod N it is one symbol from the same alphabet, but unlike
Luhn mod 32 (which misses the transposition of ``0`` and ``Z``) it catches *every* single-symbol
substitution and *every* adjacent transposition, including one with the check symbol itself.
"""

import secrets

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_VALUE = {symbol: value for value, symbol in enumerate(ALPHABET)}
# Crockford's decoding rules: visually ambiguous letters read as digits.
_ALIASES = str.maketrans({"O": "0", "I": "1", "L": "1"})
_IGNORED = str.maketrans("", "", " -\t")

DEFAULT_RANDOM_LENGTH = 12  # 12 symbols x 5 bits = 60 bits of entropy
MAX_CODE_LENGTH = 40
GROUP = 4


def _gf32_double(x: int) -> int:
    x <<= 1
    return x ^ 0b100101 if x & 0b100000 else x


_DOUBLE = [_gf32_double(x) for x in range(32)]


def _damm(values) -> int:
    interim = 0
    for value in values:
        interim = _DOUBLE[interim] ^ value
    return interim


def check_symbol(body: str) -> str:
    """The symbol that, appended to ``body``, makes the Damm interim zero."""
    return ALPHABET[_DOUBLE[_damm(_VALUE[c] for c in body)]]


def is_valid(code: str) -> bool:
    """True when ``code`` (already normalised) is well formed and its check symbol matches."""
    if len(code) < 2 or len(code) > MAX_CODE_LENGTH or any(c not in _VALUE for c in code):
        return False
    return _damm(_VALUE[c] for c in code) == 0


def normalise(raw: str) -> str:
    """What a till or a shopper typed, as stored: case, spaces and hyphens ignored, O->0, I/L->1."""
    return raw.translate(_IGNORED).upper().translate(_ALIASES)


def generate(prefix: str = "", length: int = DEFAULT_RANDOM_LENGTH) -> str:
    """A new code: ``prefix`` + ``length`` random symbols + check symbol."""
    body = prefix + "".join(secrets.choice(ALPHABET) for _ in range(length))
    return body + check_symbol(body)


def generate_many(count: int, prefix: str = "", length: int = DEFAULT_RANDOM_LENGTH) -> list[str]:
    """``count`` codes at once; one ``token_bytes`` call feeds them all (bulk generation)."""
    raw = secrets.token_bytes(count * length)
    codes = []
    for i in range(count):
        chunk = raw[i * length : (i + 1) * length]
        body = prefix + "".join(ALPHABET[b & 31] for b in chunk)
        codes.append(body + check_symbol(body))
    return codes


def display(code: str, prefix_length: int = 0) -> str:
    """Grouped for humans: ``PREFIX-7K3M-9QXR-2T4V-8`` (the check symbol stands alone)."""
    prefix, body, check = code[:prefix_length], code[prefix_length:-1], code[-1]
    groups = [body[i : i + GROUP] for i in range(0, len(body), GROUP)]
    return "-".join(([prefix] if prefix else []) + groups + [check])


def is_alphabet(text: str) -> bool:
    return all(c in _VALUE for c in text)
