"""Redeemable codes: Crockford base32, random symbols from `secrets`, one check symbol.

The check symbol uses the Damm algorithm over the quasigroup ``x * y = 2x + y`` in GF(32)
(polynomial x^5 + x^2 + 1). Like Luhn mod N it is one symbol from the same alphabet, but unlike
Luhn mod 32 (which misses the transposition of ``0`` and ``Z``) it catches *every* single-symbol
substitution and *every* adjacent transposition, including one with the check symbol itself.
"""

import re
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


# A run of letters and digits, words joined by single spaces or hyphens: where a code may hide
# in a log line, typed in any case and grouped any way.
_WORDS = re.compile(r"[0-9A-Za-z]+(?:[ -][0-9A-Za-z]+)*")
_SEPARATOR = re.compile(r"[ -]")
_UUID = re.compile(r"[0-9a-f]{8}(?:-[0-9a-f]{4}){3}-[0-9a-f]{12}", re.IGNORECASE)
_MIN_MASKED = 12  # the shortest code: 11 random symbols and a check symbol would not be issued


def mask_in_text(text: str) -> str:
    """``text`` with every well-formed code, in any accepted form (any case, hyphens, spaces),
    cut to its last four symbols: for log lines (``core.observability.mask``)."""
    return _WORDS.sub(_mask_words, text)


def _mask_words(match: re.Match) -> str:
    if match.end() - match.start() < _MIN_MASKED:  # most runs: too short to hold a code
        return match.group(0)
    if _UUID.fullmatch(match.group(0)):  # request and task ids
        return match.group(0)
    words = _SEPARATOR.split(match.group(0))
    separators = _SEPARATOR.findall(match.group(0))
    hidden = [False] * len(words)
    for start in range(len(words)):
        length = 0
        for end in range(start, len(words)):
            length += len(words[end])
            if length > MAX_CODE_LENGTH:
                break
            if length >= _MIN_MASKED and _code_shaped(words[start : end + 1]):
                for index in range(start, end + 1):
                    hidden[index] = True
    if not any(hidden):
        return match.group(0)
    out = []
    for index, word in enumerate(words):
        if hidden[index]:
            # symbols of this hidden run still to come after this word
            after = sum(len(w) for w in words[index + 1 : _run_end(hidden, index)])
            keep = max(0, 4 - after)
            word = "*" * max(0, len(word) - keep) + word[max(0, len(word) - keep) :]
        out.append(word)
        if index < len(separators):
            out.append(separators[index])
    return "".join(out)


def _code_shaped(words: list[str]) -> bool:
    """Whether these words could be one code as people write it: one word, or groups of four
    after an optional prefix (the way ``display`` prints it), then the check symbol decides.
    Ordinary words pass the check symbol one time in 32, so the shape must hold first: a single
    word holds a digit or has a default code's 13 symbols; grouped words are at least three,
    groups of exactly four but the last (the first may be a prefix in capitals), and hold a
    digit or are all capitals."""
    span = "".join(words)
    marked = any(c.isdigit() for c in span)
    if len(words) == 1:
        shaped = marked or len(span) == DEFAULT_RANDOM_LENGTH + 1
    else:
        first, middle, last = words[0], words[1:-1], words[-1]
        shaped = (
            (marked or span.isupper())
            and len(words) >= 3
            and (len(first) == GROUP or first.isupper())  # a group, or a prefix as printed
            and all(len(w) == GROUP for w in middle)
            and 1 <= len(last) <= GROUP
        )
    return shaped and is_valid(normalise(span))


def _run_end(hidden: list[bool], index: int) -> int:
    while index < len(hidden) and hidden[index]:
        index += 1
    return index
