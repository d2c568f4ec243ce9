import hashlib
import random
import uuid
from datetime import datetime, timedelta

import pytest

from core.cardnumbers import card_number_spans, contains_card_number, is_card_number, mask_card_numbers

VISA = "4111111111111111"
AMEX = "378282246310005"
MASTERCARD_2 = "2223003122003222"
UNIONPAY_19 = "6212345678901232"


@pytest.mark.parametrize(
    "text",
    [
        VISA,
        "4111-1111-1111-1111",
        "4111 1111 1111 1111",
        "4111.1111.1111.1111",
        "4111 - 1111 - 1111 - 1111",
        f"card_{AMEX}",
        f"{AMEX}x",
        f"pay with {VISA}, thanks",
        "４１１１１１１１１１１１１１１１",  # fullwidth
        "٤١١١١١١١١١١١١١١١",  # Arabic-Indic
        f"tx-{MASTERCARD_2}-2",
        f"ref {UNIONPAY_19}",
        f"00{VISA}00",  # inside a longer run of digits
    ],
)
def test_card_numbers_are_found_whatever_surrounds_them(text):
    assert contains_card_number(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "4111111111111112",  # fails Luhn
        "tx_20261124123456",  # a timestamp: Luhn may pass, but no brand issues 20...
        "1234567890123452",  # Luhn-valid, prefix 1
        "sim_T000000123",
        "411111111111",  # 12 digits
        "order 4111 and 1111 1111 1111",  # words between the groups
        "9999999999999995",
        "2026-11-24T00:37:51.445119+00:00",  # 37 51445119 0000 would pass Luhn and the prefix
        "+49 151 23456789",
        "2f1d6c3a-5357-4384-9475-073201883a8c",  # digit runs glued across dashes
    ],
)
def test_other_digits_are_not_card_numbers(text):
    assert not contains_card_number(text)


def test_is_card_number_wants_ascii_digits():
    assert is_card_number(VISA)
    assert not is_card_number("４１１１１１１１１１１１１１１１")


def test_masking_keeps_the_text_and_the_last_four_digits():
    masked = mask_card_numbers(f"I never paid with 4111-1111-1111-1111 or {AMEX}!")
    assert masked == "I never paid with •••• 1111 or •••• 0005!"
    assert not contains_card_number(masked)


def test_masking_leaves_clean_text_alone():
    assert mask_card_numbers("nothing here 12345") == "nothing here 12345"


def test_spans_cover_the_separators_of_the_number():
    text = "x 4111 1111 1111 1111 y"
    [(start, end)] = card_number_spans(text)
    assert text[start:end] == "4111 1111 1111 1111"


# ---- the shortcut (groups that cannot start a number are skipped) changes no answer -------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from core import cardnumbers  # noqa: E402


def _reference_spans(text):
    """card_number_spans as first written: every digit group is tried as a start."""
    text = cardnumbers._without_hex_ids(cardnumbers._normalised(text))
    groups = [(m.start(), m.end()) for m in cardnumbers._GROUP.finditer(text)]
    spans, i = [], 0
    while i < len(groups):
        found, candidates, digits, lengths = None, [], "", []
        for j in range(i, len(groups)):
            if j > i and not cardnumbers._JOINER.fullmatch(text[groups[j - 1][1] : groups[j][0]]):
                break
            digits += text[groups[j][0] : groups[j][1]]
            lengths.append(groups[j][1] - groups[j][0])
            if len(digits) > cardnumbers.MAX_DIGITS:
                break
            if cardnumbers.printed_layout(lengths):
                candidates.append((j, digits))
        end_index = i
        for end_index, digits in reversed(candidates):
            if is_card_number(digits):
                found = (groups[i][0], groups[end_index][1])
                break
        if found is None and groups[i][1] - groups[i][0] > cardnumbers.MAX_DIGITS:
            found, end_index = cardnumbers._window_in(text, *groups[i]), i
        if found:
            spans.append(found)
            i = end_index + 1
        else:
            i += 1
    return spans


_PIECES = st.one_of(
    st.sampled_from([VISA, AMEX, MASTERCARD_2, UNIONPAY_19, "30569309025904", "3530111333300000"]),
    st.text(st.sampled_from(list("0123456789") * 4 + list(" -._:x|") + ["４", "٤", "¹"]), max_size=12),
)


@settings(max_examples=2000, deadline=None)
@given(st.lists(_PIECES, max_size=6).map("".join))
def test_the_shortcut_finds_exactly_what_trying_every_group_finds(text):
    assert card_number_spans(text) == _reference_spans(text)


@pytest.mark.parametrize(
    ("kind", "make"),
    [
        ("uuid4", lambda rng: str(uuid.UUID(int=rng.getrandbits(128), version=4))),
        ("sha256", lambda rng: hashlib.sha256(rng.randbytes(8)).hexdigest()),
        (
            "iso date-time",
            lambda rng: (datetime(2026, 1, 1) + timedelta(microseconds=rng.randrange(10**13))).isoformat(),
        ),
        ("phone", lambda rng: f"+49 15{rng.randrange(10)} {rng.randrange(10**7, 10**8)}"),
    ],
)
def test_common_ids_and_values_are_not_mistaken_for_card_numbers(kind, make):
    """Integrators use UUIDs and digests as ids; times and phone numbers fill free text. Joining
    any digit groups flagged 0.1 % of UUIDs, 0.3 % of digests, 6 % of date-times, 10 % of phones."""
    rng = random.Random(kind)
    flagged = [text for text in (make(rng) for _ in range(20_000)) if contains_card_number(text)]
    assert flagged == []
