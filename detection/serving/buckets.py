"""Which cards a rollout takes: a card's bucket (0-99) for a rule or a model version.

A keyed hash (BLAKE2b, keyed by what is rolled out: `rule:<id>` or `model:<version>`) of the
card's key, modulo 100; a rollout of p % decides for the cards whose bucket is below p. The same
card is always in the same bucket for the same rollout, so a customer meets the same decision
rules from one payment to the next, and raising the percentage only adds cards. Keys differ per
rollout, so two rollouts of 10 % do not take the same cards.

One function for both paths: `card_buckets` hashes each distinct card of a frame with
`card_bucket` (a month of traffic has far fewer cards than rows)."""

import hashlib

import numpy as np
import pandas as pd

BUCKETS = 100


def rule_key(rule_id) -> str:
    return f"rule:{rule_id}"


def model_key(version: str) -> str:
    return f"model:{version}"


def card_bucket(card_id: str, key: str) -> int:
    digest = hashlib.blake2b(
        str(card_id).encode(), key=key.encode()[:64], digest_size=8, person=b"rollout"
    ).digest()
    return int.from_bytes(digest, "big") % BUCKETS


def in_rollout(card_id: str, key: str, percent: int) -> bool:
    return card_bucket(card_id, key) < percent


def card_buckets(card_ids, key: str) -> np.ndarray:
    """`card_bucket` of every row (an array or Series of card keys)."""
    codes, uniques = pd.factorize(pd.Series(card_ids, dtype=object).astype(str))
    per_card = np.fromiter((card_bucket(card, key) for card in uniques), dtype=np.int64, count=len(uniques))
    return per_card[codes] if len(codes) else np.zeros(0, dtype=np.int64)


def in_rollout_mask(card_ids, key: str, percent: int) -> np.ndarray:
    return card_buckets(card_ids, key) < percent
