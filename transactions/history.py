"""Transaction history as detection reads it: frames in the canonical columns.

`DatabaseHistory` is the `detection.contracts.HistorySource` the online features use (setting
``DETECTION_HISTORY_SOURCE``); its two queries are range scans over the (card, occurred_at) and
(merchant, occurred_at) indexes, so their cost follows the window, not the table.
`transactions_frame()` is the whole history (or a period) for training (setting
``DETECTION_TRAINING_SOURCE``).
"""

from datetime import datetime

import pandas as pd
from tqdm import tqdm

from detection.dataset import CANONICAL_COLUMNS
from transactions.models import Transaction

# ORM fields in CANONICAL_COLUMNS order.
FIELDS = [
    "external_id",
    "occurred_at",
    "card__external_id",
    "merchant__external_id",
    "amount",
    "currency",
    "merchant__category",
    "channel",
    "country",
    "is_fraud",
    "label_known_at",
]


def _frame(rows) -> pd.DataFrame:
    frame = pd.DataFrame.from_records(rows, columns=CANONICAL_COLUMNS)
    frame["occurred_at"] = pd.to_datetime(frame["occurred_at"], utc=True).dt.as_unit("us")
    frame["label_known_at"] = pd.to_datetime(frame["label_known_at"], utc=True).dt.as_unit("us")
    frame["amount"] = frame["amount"].astype(float)
    frame["is_fraud"] = frame["is_fraud"].astype("boolean").astype("Int8")
    return frame


class DatabaseHistory:
    """Past transactions from the database, for one card or one merchant and a period."""

    def card_history(self, card_id: str, start: datetime, end: datetime) -> pd.DataFrame:
        rows = Transaction.objects.filter(
            card__external_id=card_id, occurred_at__gte=start, occurred_at__lt=end
        ).values_list(*FIELDS)
        return _frame(list(rows.order_by()))

    def merchant_history(self, merchant_id: str, start: datetime, end: datetime) -> pd.DataFrame:
        rows = Transaction.objects.filter(
            merchant__external_id=merchant_id, occurred_at__gte=start, occurred_at__lt=end
        ).values_list(*FIELDS)
        return _frame(list(rows.order_by()))


# The name detection's settings used first.
DatabaseHistorySource = DatabaseHistory


def transactions_frame(start: datetime | None = None, end: datetime | None = None, *, progress=False):
    """Every transaction with start <= occurred_at < end (either bound optional), oldest first,
    in the canonical columns: the training data when no CSV is given."""
    rows = Transaction.objects.all()
    if start is not None:
        rows = rows.filter(occurred_at__gte=start)
    if end is not None:
        rows = rows.filter(occurred_at__lt=end)
    rows = rows.order_by("occurred_at", "id").values_list(*FIELDS)
    iterator = rows.iterator(chunk_size=20_000)
    if progress:
        iterator = tqdm(iterator, total=rows.count(), desc="Reading transactions", unit="tx")
    return _frame(list(iterator))
