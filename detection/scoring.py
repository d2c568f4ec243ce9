"""Online decisions. Placeholder until the detection engine lands: every transaction goes to
review, so callers can be built against the final signature of `decide()`."""

from django.utils.translation import gettext as _

from detection.contracts import REVIEW, Decision, HistorySource, Reason, TransactionInput


def decide(tx: TransactionInput, *, history: HistorySource | None = None) -> Decision:
    return Decision(
        decision=REVIEW,
        risk_score=50,
        decided_by="fallback",
        reasons=[Reason(code="no_model", message=_("No model is available yet; a person will review it."))],
    )
