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
