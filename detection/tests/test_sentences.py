"""Reasons in words: each code's sentence, from the values stored with it, in either language."""

import pytest
from django.utils import translation

from detection.sentences import reason_sentence


def said(code, language="en", **params):
    with translation.override(language):
        return reason_sentence({"code": code, "params": params})


@pytest.mark.parametrize(
    ("params", "sentence"),
    [
        ({"n": 5, "window": "1h", "usual": 0}, "5 transactions on this card in the last hour"),
        ({"n": 1, "window": "1h"}, "1 transaction on this card in the last hour"),
        # A quiet card is the reason, not "0 transactions": say so.
        ({"n": 0, "window": "30d", "usual": 12}, "First payment on this card in the last 30 days"),
        (
            {"n": 2, "window": "7d", "usual": 9},
            "Fewer payments than usual on this card in the last week (2, usually 9)",
        ),
    ],
)
def test_card_velocity_says_more_or_less_than_usual(params, sentence):
    assert said("card_velocity", **params) == sentence


def test_card_spending_says_when_a_card_had_none():
    assert said("card_spending", window="1d", amount=0.0, usual=80.0) == (
        "No spending on this card in the last day before this payment"
    )
    assert said("card_spending", window="1h", amount=900.0, usual=20.0) == (
        "This card's spending in the last hour is unusual (up to 900)"
    )


def test_declined_attempts_are_counted_not_called_spending():
    assert (
        said("card_declined_attempts", n=2, window="1h")
        == "2 declined attempts on this card in the last hour"
    )
    assert (
        said("card_declined_attempts", n=1, window="1d") == "1 declined attempt on this card in the last day"
    )
    assert (
        said("card_declined_attempts", seconds=5400) == "A payment on this card was declined 90 minutes ago"
    )


def test_a_factor_that_lowered_the_risk_says_what_spoke_for_the_payment():
    raised = {"code": "merchant_volume", "params": {"window": "30d"}, "contribution": 0.2}
    lowered = dict(raised, contribution=-0.2)
    with translation.override("en"):
        assert reason_sentence(raised) == "Unusual activity at this merchant in the last 30 days"
        assert reason_sentence(lowered) == "Usual activity at this merchant in the last 30 days"
        assert reason_sentence(
            {"code": "amount_vs_card_history", "params": {"ratio": 0.8}, "contribution": -0.05}
        ) == ("Amount in line with this card's usual spending (0.8×)")
        # Codes without a sentence of their own for that direction keep their usual one.
        assert reason_sentence({"code": "no_model", "params": {}, "contribution": -1}) == said("no_model")
    with translation.override("zh-hans"):
        assert reason_sentence(lowered) != reason_sentence(raised)
        assert any("\u4e00" <= ch <= "\u9fff" for ch in reason_sentence(lowered))


def test_any_stored_reason_has_a_direction_without_error():
    from detection.contracts import Reason
    from detection.sentences import lowers_risk

    assert lowers_risk({"code": "x", "contribution": -0.1}) and lowers_risk(Reason("x", {}, -0.2))
    for raised in (
        {"code": "x", "contribution": 0.3},
        {"code": "x"},
        {"contribution": "-1"},
        "Old sentence",
        None,
    ):
        assert not lowers_risk(raised)


def test_every_sentence_has_its_chinese():
    cases = {
        "card_velocity": {"n": 0, "window": "30d", "usual": 12},
        "card_spending": {"window": "1d", "amount": 0.0, "usual": 80.0},
        "amount_vs_card_history": {"ratio": 9.0},
        "card_declined_attempts": {"n": 3, "window": "1h"},
        "rule": {"rule": "big", "kind": "amount_above", "detail": {"amount": "900", "limit": "500"}},
        "block_list": {"kind": "card_id"},
        "no_model": {},
    }
    for code, params in cases.items():
        english, chinese = said(code, **params), said(code, "zh-hans", **params)
        assert english != chinese and any("\u4e00" <= ch <= "\u9fff" for ch in chinese), code


def test_a_reason_stored_as_a_sentence_is_shown_as_written():
    with translation.override("zh-hans"):
        assert reason_sentence({"code": "amount_high", "message": "Much larger than usual."}) == (
            "Much larger than usual."
        )


def test_values_a_sentence_cannot_read_show_the_code_not_an_error():
    assert said("card_velocity", n="many", window="1h") == "card_velocity"
    assert said("rule", rule="big", kind="velocity", detail={"count": "x"}).startswith("Rule “big” matched")
    assert said("feature_zeta", feature="zeta", value=3.5) == "Unusual value of zeta (3.50)"
