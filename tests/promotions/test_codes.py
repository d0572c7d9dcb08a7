import secrets

from hypothesis import given
from hypothesis import strategies as st

from promotions import codes

symbols = st.sampled_from(codes.ALPHABET)
bodies = st.text(alphabet=codes.ALPHABET, min_size=1, max_size=24)


def test_generated_code_has_twelve_random_symbols_and_a_check():
    code = codes.generate()

    assert len(code) == 13
    assert codes.is_valid(code)
    assert set(code) <= set(codes.ALPHABET)


def test_codes_carry_sixty_bits_from_secrets(monkeypatch):
    drawn = []
    real_choice = secrets.choice

    def spy(seq):
        drawn.append(seq)
        return real_choice(seq)

    monkeypatch.setattr(codes.secrets, "choice", spy)
    codes.generate()

    assert len(drawn) == 12 and all(len(seq) == 32 for seq in drawn)  # 12 x log2(32) = 60 bits


def test_a_million_draws_would_not_repeat_in_a_sample():
    sample = codes.generate_many(50_000)

    assert len(set(sample)) == len(sample)
    assert all(codes.is_valid(c) for c in sample[:1000])


@given(bodies)
def test_normalisation_round_trips_through_display_and_sloppy_typing(body):
    code = body + codes.check_symbol(body)

    typed = codes.display(code).lower().replace("0", "o").replace("1", "l")

    assert codes.normalise(typed) == code
    assert codes.normalise(" " + "-".join(code) + " ") == code


@given(bodies, st.data())
def test_every_single_substitution_is_caught(body, data):
    code = body + codes.check_symbol(body)
    position = data.draw(st.integers(0, len(code) - 1))
    replacement = data.draw(symbols.filter(lambda s: s != code[position]))

    typo = code[:position] + replacement + code[position + 1 :]

    assert not codes.is_valid(typo)


@given(bodies, st.data())
def test_every_adjacent_transposition_is_caught(body, data):
    code = body + codes.check_symbol(body)
    position = data.draw(st.integers(0, len(code) - 2))
    if code[position] == code[position + 1]:
        return
    swapped = code[:position] + code[position + 1] + code[position] + code[position + 2 :]

    assert not codes.is_valid(swapped)


def test_transposition_of_zero_and_z_which_luhn_mod_32_misses_is_caught():
    body = "7K0Z9QXR2T4V"
    code = body + codes.check_symbol(body)

    assert not codes.is_valid(code.replace("0Z", "Z0"))


def test_display_groups_by_four_with_the_check_symbol_alone():
    assert codes.display("7K3M9QXR2T4V8") == "7K3M-9QXR-2T4V-8"
    assert codes.display("FREE7K3M9QXR2T4V8", 4) == "FREE-7K3M-9QXR-2T4V-8"


def test_prefix_is_part_of_the_checked_code():
    code = codes.generate("FREE")

    assert code.startswith("FREE") and codes.is_valid(code)
    assert not codes.is_valid("FRFE" + code[4:])


def test_letters_outside_the_alphabet_are_invalid():
    assert not codes.is_valid(codes.normalise("7K3M-9QXR-2T4V-U"))
    assert not codes.is_valid("")
    assert not codes.is_valid("7K3M9QXR2T4V8!")
