"""CSV cells that a spreadsheet would run as a formula (`=HYPERLINK(...)`, `+cmd|...`, `@SUM`)
when someone opens a result file: prefixed with `'`, as OWASP advises for CSV injection."""

import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise_column(values: pd.Series) -> pd.Series:
    """A text column with a leading `'` on each cell a spreadsheet would run as a formula (leave
    numeric columns alone: -1 is a number)."""
    text = values.astype(str)
    risky = text.str.startswith(FORMULA_STARTS).fillna(False).astype(bool)
    if not risky.any():
        return values
    return text.where(~risky, "'" + text)
