"""A HistorySource over an in-memory frame: the same contract as the database one, for tests."""

import pandas as pd


class FrameHistory:
    def __init__(self, frame: pd.DataFrame | None = None):
        if frame is None or frame.empty:
            frame = pd.DataFrame(
                columns=["transaction_id", "occurred_at", "card_id", "merchant_id", "amount"]
            )
        frame = frame.copy()
        frame["occurred_at"] = pd.to_datetime(frame["occurred_at"], utc=True)
        self.frame = frame.sort_values("occurred_at", kind="stable").reset_index(drop=True)

    def _between(self, column, value, start, end):
        f = self.frame
        times = f["occurred_at"]
        mask = (f[column] == value) & (times >= pd.Timestamp(start)) & (times < pd.Timestamp(end))
        return f[mask].reset_index(drop=True)

    def card_history(self, card_id, start, end):
        return self._between("card_id", card_id, start, end)

    def merchant_history(self, merchant_id, start, end):
        return self._between("merchant_id", merchant_id, start, end)
