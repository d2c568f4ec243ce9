import pytest

from detection.contracts import DecisionResult, Reason
from detection.serving import scoring

# The fake verdicts' one reason: this many transactions on the card in the last hour.
VELOCITY = {"approve": 1, "review": 4, "block": 9}


@pytest.fixture
def decision_is(monkeypatch):
    """Make detection's decide() (a boundary this app does not own) return a chosen verdict,
    so balance rules can be checked for each of approve, review and block."""

    def set_decision(verdict, *, risk_score=None, raises=None, lowered=False):
        def fake_decide(tx, *, history=None):
            if raises is not None:
                raise raises
            return DecisionResult(
                decision=verdict,
                risk_score=risk_score
                if risk_score is not None
                else {"approve": 5, "review": 55, "block": 95}[verdict],
                score=0.42,
                model_version="test-model-1",
                decided_by="model",
                rule_hits=[],
                reasons=[
                    Reason("card_velocity", {"n": VELOCITY[verdict], "window": "1h"}, contribution=0.1),
                    # A factor that spoke for the payment, when asked for.
                    *([Reason("new_merchant_for_card", {}, contribution=-0.05)] if lowered else []),
                ],
                features={"amount": float(tx.amount), "card_tx_count_1d": float("nan")},
            )

        monkeypatch.setattr(scoring, "decide", fake_decide)

    return set_decision
