"""Fast CSV reading and writing for whole files (batch scoring, imports), with Arrow.

pandas' own parser and writer stay the reference: the fast path is taken only when it gives the
very same result, and anything unusual (a short or long row, a blank-looking line, repeated or
empty header names, a value that would need quoting on output...) is handed to pandas, so
errors and edge cases behave exactly as before.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

STRING = pd.StringDtype("pyarrow", na_value=np.nan)  # what pandas reads with dtype=str
# Written only inside quotes by pandas (QUOTE_MINIMAL); we never quote, so we hand those over.
_NEEDS_QUOTES = r'[,"\r\n]'


def _pandas_read(path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False, skipinitialspace=False)


def read_strings(path) -> pd.DataFrame:
    """Every column of a UTF-8 CSV with a header row as strings ("" when empty), as
    ``pd.read_csv(path, dtype=str, keep_default_na=False, na_filter=False)`` returns it (same
    rows, names and errors), several times faster on large files."""
    try:
        # The header is read as a data row (names f0, f1, ...) so that every column, however
        # many, can be typed as a string: nothing is inferred, every value keeps its text.
        table = pacsv.read_csv(
            Path(path),
            read_options=pacsv.ReadOptions(autogenerate_column_names=True),
            parse_options=pacsv.ParseOptions(newlines_in_values=True),
            convert_options=pacsv.ConvertOptions(
                column_types={f"f{i}": pa.string() for i in range(256)},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
                null_values=[],
            ),
        )
    except (pa.ArrowInvalid, OSError):
        # A row of the wrong width, an empty file, bad UTF-8...: pandas fills, skips or raises
        # its own way, which callers rely on.
        return _pandas_read(path)
    names = [column[0].as_py() for column in table.columns] if table.num_rows else []
    if (
        len(names) < 2  # pandas skips whitespace-only lines, which one column would keep
        or len(set(names)) != len(names)
        or "" in names
        or any(column.type != pa.string() for column in table.columns)
    ):
        return _pandas_read(path)  # pandas renames such headers ("a.1", "Unnamed: 3")
    body = table.slice(1)
    return pd.DataFrame(
        {name: pd.Series(body.column(i), dtype=STRING) for i, name in enumerate(names)},
        index=pd.RangeIndex(body.num_rows),
    )


def _fixed(values: np.ndarray, decimals: int) -> pa.Array:
    """Non-negative floats as text with `decimals` digits, as ``"%.{decimals}f" % value``."""
    scale = 10**decimals
    scaled = values * scale
    units = np.rint(scaled).astype(np.int64)
    whole, frac = pa.array(units // scale), pa.array(units % scale)
    text = pc.binary_join_element_wise(
        pc.cast(whole, pa.string()), pc.utf8_lpad(pc.cast(frac, pa.string()), decimals, "0"), "."
    )
    # Near a half unit the product's own rounding may differ from printf's: ask printf.
    close = np.flatnonzero(np.abs(scaled - np.floor(scaled) - 0.5) < 1e-6)
    if close.size:
        text = text.to_numpy(zero_copy_only=False)
        text[close] = [f"{values[i]:.{decimals}f}" for i in close]
        text = pa.array(text, pa.string())
    return text


def _text_column(series: pd.Series, decimals: int) -> pa.Array | None:
    """The column as Arrow values that print as pandas prints them, or None when we cannot
    promise that (missing values, negative zero, text that would need quotes...)."""
    dtype = series.dtype
    if isinstance(dtype, np.dtype) and dtype.kind == "f":
        values = series.to_numpy(dtype=float)
        if np.isfinite(values).all() and not np.signbit(values).any() and (values < 1e9).all():
            return _fixed(values, decimals)
    elif isinstance(dtype, np.dtype) and dtype.kind in "iu":
        return pa.array(series.to_numpy())
    elif pd.api.types.is_string_dtype(dtype) and series.notna().all():
        text = pa.array(series.astype(STRING).array)
        if not pc.any(pc.match_substring_regex(text, _NEEDS_QUOTES)).as_py():
            return text
    return None


def write_csv(frame: pd.DataFrame, path, *, decimals=6):
    """Write `frame` without its index, floats with `decimals` digits, exactly as
    ``frame.to_csv(path, index=False, float_format=f"%.{decimals}f")`` would."""
    names = [str(name) for name in frame.columns]
    columns = []
    if len(set(names)) == len(names) and not any(re.search(_NEEDS_QUOTES, name) for name in names):
        for i in range(frame.shape[1]):
            column = _text_column(frame.iloc[:, i], decimals)
            if column is None:
                break
            columns.append(column)
    if len(columns) != len(names):
        frame.to_csv(path, index=False, float_format=f"%.{decimals}f")
        return
    with open(path, "wb") as out:
        out.write((",".join(names) + os.linesep).encode())
        pacsv.write_csv(
            pa.table(columns, names=[f"c{i}" for i in range(len(names))]),
            out,
            pacsv.WriteOptions(include_header=False, quoting_style="none", eol=os.linesep),
        )
