"""Importing a transaction history into the database: all rows or none.

Rows are validated by `detection.dataset` (the reader every other tool uses) plus the limits of
our columns; if any row is bad, nothing is written and every bad row is reported. Otherwise
cards and merchants are found or created by their external ids and the transactions are
bulk-inserted in one database transaction. Ids already in the database are reported as
duplicates and skipped.
"""

from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

import numpy as np
from django.db import transaction
from tqdm import tqdm

from detection.contracts import CARD_KEY_SEPARATOR, Decision
from detection.dataset import read_transactions_csv
from transactions.models import Card, Merchant, Transaction

BATCH = 2000
MAX_AMOUNT = 9_999_999_999.99  # max_digits=12, decimal_places=2
LIMITS = {"currency": 3, "country": 2, "merchant_category": 32}
INTEGRATOR_KEY = rf"^\d+{CARD_KEY_SEPARATOR}"


class ImportRejected(Exception):
    """Some rows are invalid; nothing was imported."""

    def __init__(self, rejected):
        self.rejected = rejected
        super().__init__(f"{len(rejected)} row(s) rejected; nothing was imported.")


@dataclass
class ImportResult:
    imported: int = 0
    duplicates: list = field(default_factory=list)
    cards_created: int = 0
    merchants_created: int = 0

    def as_dict(self):
        return {
            "imported": self.imported,
            "duplicates": len(self.duplicates),
            "duplicate_ids": self.duplicates[:100],
            "cards_created": self.cards_created,
            "merchants_created": self.merchants_created,
        }


def _database_checks(frame):
    """Rows our tables cannot hold, as (line, reason)."""
    rejected = []
    channels = {c.value for c in Transaction.Channel} | {""}
    for name, limit in LIMITS.items():
        for line in frame.index[frame[name].str.len() > limit]:
            rejected.append({"line": int(line), "reason": f"{name} is longer than {limit} characters"})
    for line in frame.index[~frame["channel"].isin(channels)]:
        rejected.append(
            {"line": int(line), "reason": f"channel must be one of {', '.join(sorted(channels - {''}))}"}
        )
    for line in frame.index[frame["amount"] > MAX_AMOUNT]:
        rejected.append({"line": int(line), "reason": "amount is too large"})
    # "<digits>~<id>" is an integrator's card key (see Card): history of an existing one may be
    # imported (an export read back), but the bank must never create a card an integrator's id
    # would then reach.
    reserved = frame["card_id"].str.match(INTEGRATOR_KEY)
    if reserved.any():
        keys = frame.loc[reserved, "card_id"].unique().tolist()
        known = set()
        for chunk in _chunks(keys, 5000):
            known.update(Card.objects.filter(external_id__in=chunk).values_list("external_id", flat=True))
        for line in frame.index[reserved & ~frame["card_id"].isin(known)]:
            rejected.append(
                {
                    "line": int(line),
                    "reason": "card_id of the form <number>~<id> names an integrator's card, and none has it",
                }
            )
    return rejected


def _get_or_create(model, ids, defaults_for):
    existing = dict(model.objects.filter(external_id__in=ids).values_list("external_id", "id"))
    missing = [i for i in ids if i not in existing]
    model.objects.bulk_create([model(external_id=i, **defaults_for(i)) for i in missing], batch_size=BATCH)
    if missing:
        existing.update(model.objects.filter(external_id__in=missing).values_list("external_id", "id"))
    return existing, len(missing)


def _chunks(values, size=BATCH):
    for i in range(0, len(values), size):
        yield values[i : i + size]


def transactions_import(*, path, mapping=None, label_delay=timedelta(days=7), progress=True) -> ImportResult:
    """Import a transaction CSV (see `detection.dataset` for the format and the mapping)."""
    frame, rejected = read_transactions_csv(path, mapping=mapping, label_delay=label_delay)
    rejected = sorted(rejected + _database_checks(frame), key=lambda item: item["line"])
    if rejected:
        raise ImportRejected(rejected)
    result = ImportResult()
    ids = frame["transaction_id"].tolist()
    existing_ids = set()
    for chunk in _chunks(ids, 5000):
        existing_ids.update(
            Transaction.objects.filter(external_id__in=chunk).values_list("external_id", flat=True)
        )
    if existing_ids:
        duplicate = frame["transaction_id"].isin(existing_ids).to_numpy()
        result.duplicates = frame.loc[duplicate, "transaction_id"].tolist()
        frame = frame[~duplicate]

    with transaction.atomic():
        card_ids, result.cards_created = _get_or_create(
            Card, frame["card_id"].unique().tolist(), lambda _i: {}
        )
        merchants = frame.drop_duplicates("merchant_id").set_index("merchant_id")
        merchant_ids, result.merchants_created = _get_or_create(
            Merchant,
            merchants.index.tolist(),
            lambda i: {
                "category": merchants.at[i, "merchant_category"],
                "country": merchants.at[i, "country"],
            },
        )
        labels = frame["is_fraud"].to_numpy(dtype=float, na_value=np.nan)
        known = frame["label_known_at"].dt.to_pydatetime()
        occurred = frame["occurred_at"].dt.to_pydatetime()
        columns = zip(
            frame["transaction_id"],
            frame["card_id"].map(card_ids),
            frame["merchant_id"].map(merchant_ids),
            frame["amount"],
            frame["currency"],
            frame["channel"],
            frame["country"],
            occurred,
            labels,
            known,
            frame["declined"],
            strict=True,
        )
        rows = []
        for (
            tx_id,
            card,
            merchant,
            amount,
            currency,
            channel,
            country,
            at,
            label,
            known_at,
            declined,
        ) in columns:
            labelled = not np.isnan(label)
            fraud = labelled and label == 1
            # A declined attempt was blocked when it was made: the history features read it as
            # an attempt, not a charge (`Transaction.decision` is what they look at).
            status = Transaction.Status.DECLINED if declined else Transaction.Status.APPROVED
            rows.append(
                Transaction(
                    external_id=tx_id,
                    card_id=card,
                    merchant_id=merchant,
                    amount=Decimal(f"{amount:.2f}"),
                    currency=currency,
                    channel=channel,
                    country=country,
                    occurred_at=at,
                    is_fraud=bool(label == 1) if labelled else None,
                    label_known_at=known_at if labelled else None,
                    label_source="import" if labelled else "",
                    decision=Decision.BLOCK if declined else "",
                    status=Transaction.Status.CONFIRMED_FRAUD if fraud else status,
                )
            )
        bar = tqdm(total=len(rows), desc="Importing", unit="tx", disable=not progress)
        for chunk in _chunks(rows):
            Transaction.objects.bulk_create(chunk)
            bar.update(len(chunk))
        bar.close()
        result.imported = len(rows)
    return result
