"""The fast CSV paths must give exactly what pandas gives (frames, errors, bytes written)."""

import numpy as np
import pandas as pd
import pytest

from detection import dataset
from detection.dataset import read_transactions_csv
from detection.ml import csv_io

H = "a,b,c\n"
FILES = {
    "plain": H + "1,2,3\n",
    "quoted": H + '"1,x",2,3\n"a""b",,"q"\n',
    "stray quotes": H + 'ab"c,"ab"cd,3\n',
    "newline in quotes": H + '"x\ny",2,3\n',
    "blank lines": H + "1,2,3\n\n4,5,6\n",
    "whitespace-only line": H + "1,2,3\n   \n4,5,6\n",
    "short row": H + "1,2\n",
    "long row": H + "1,2,3,4\n",
    "crlf": "a,b,c\r\n 1 ,2\t,3\r\n",
    "bom": "\ufeff" + H + "1,2,3\n",
    "no final newline": H + "1,2,3",
    "header only": H,
    "repeated header": "a,a,c\n1,2,3\n",
    "empty header": "a,b,c,\n1,2,3,\n",
    "one column": "a\nx\n   \ny\n",
    "many columns": ",".join(f"c{i}" for i in range(300)) + "\n" + ",".join(map(str, range(300))) + "\n",
    "unterminated quote": H + '"ab,2,3\n',
    "empty file": "",
}


def outcome(read, path):
    try:
        return read(path)
    except Exception as error:  # the same error type is part of the contract
        return type(error)


@pytest.mark.parametrize("name", FILES)
def test_read_strings_gives_what_pandas_gives(tmp_path, name):
    path = tmp_path / "f.csv"
    path.write_text(FILES[name], encoding="utf-8")
    fast, reference = outcome(csv_io.read_strings, path), outcome(csv_io._pandas_read, path)
    if isinstance(reference, pd.DataFrame):
        pd.testing.assert_frame_equal(fast, reference)
    else:
        assert fast is reference


def test_read_strings_hands_bad_utf8_to_pandas(tmp_path):
    path = tmp_path / "f.csv"
    path.write_bytes("a,b\n\xe9,1\n".encode("latin-1"))
    with pytest.raises(UnicodeDecodeError):
        csv_io.read_strings(path)


def test_an_ordinary_file_takes_the_fast_path(tmp_path, monkeypatch):
    path = tmp_path / "f.csv"
    path.write_text(FILES["quoted"], encoding="utf-8")
    monkeypatch.setattr(csv_io, "_pandas_read", lambda path: pytest.fail("fell back to pandas"))
    assert csv_io.read_strings(path)["a"].tolist() == ["1,x", 'a"b']


TRANSACTIONS = (
    "transaction_id, occurred_at ,card_id,merchant_id,amount,is_fraud,label_known_at,country,channel\n"
    "t1,2025-01-01T10:00:00,c1,m1,12.5,0,,fr,Web\n"
    " t2 ,2025-01-01T12:00:00+02:00,c1,m2, 3 ,1,2025-01-02T00:00:00Z,FR,\n"
    "t3,yesterday,c2,m1,1,,,,\n"
    "t4,2025-01-01T10:00:00Z,,m1,1,,,,\n"
    "t5,2025-01-01T10:00:00Z,c2,m1,-1,,,,\n"
    "t6,2025-01-01T10:00:00Z,c2,m1,abc,,,,\n"
    "t7,2025-01-01T10:00:00Z,c2,m1,1,2,,,\n"
    "t8,2025-01-01T10:00:00Z,c2,m1,1,,2025-01-03,,\n"
    "t1,2025-01-02T10:00:00Z,c2,m1,1,0,,,\n"
    '"t,9",2025-01-01T10:00:00.123456-05:00,c3,m3,"1,5",,,,\n'
    "t10,2025-01-01T10:00:00Z,c3,m3,7.005,TRUE,,,\n"
)


def test_transactions_read_the_same_through_either_parser(tmp_path, monkeypatch):
    path = tmp_path / "tx.csv"
    path.write_text(TRANSACTIONS, encoding="utf-8")
    fast, fast_rejected = read_transactions_csv(path)
    monkeypatch.setattr(dataset, "read_strings", csv_io._pandas_read)
    reference, reference_rejected = read_transactions_csv(path)
    pd.testing.assert_frame_equal(fast, reference)
    assert fast_rejected == reference_rejected
    assert [row["line"] for row in fast_rejected] == [4, 5, 6, 7, 8, 9, 10, 11]
    assert fast_rejected[-2]["reason"] == "duplicate transaction_id 't1' (first on line 2)"
    assert fast.loc[3, "transaction_id"] == "t2" and fast.loc[3, "amount"] == 3.0


def written(tmp_path, frame, writer):
    path = tmp_path / f"{writer}.csv"
    if writer == "fast":
        csv_io.write_csv(frame, path, decimals=6)
    else:
        frame.to_csv(path, index=False, float_format="%.6f")
    return path.read_bytes()


def scores_frame(n=5000, seed=1):
    scores = np.random.default_rng(seed).random(n)
    scores[:6] = [0.0, 1.0, 0.5, 1e-7, 5e-7, 0.9999995]
    return pd.DataFrame(
        {
            "transaction_id": [f"T{i:07d}" for i in range(n)],
            "score": scores.round(6),
            "unrounded": scores,
            "risk_score": np.clip(np.rint(scores * 100), 0, 100).astype(int),
            "decision": np.where(scores > 0.9, "review", "approve").astype(object),
            "reasons": np.where(scores > 0.9, "amount_high;card_velocity", "").astype(object),
        }
    )


@pytest.mark.parametrize(
    "change",
    [
        "none",
        "half units",
        "quotes and commas",
        "negative",
        "negative zero",
        "missing",
        "empty",
    ],
)
def test_write_csv_writes_what_pandas_writes(tmp_path, change):
    frame = scores_frame()
    if change == "half units":  # where x * 1e6 rounds differently from printf
        frame = pd.DataFrame({"x": np.arange(2000) / 1e6 + 5e-7, "y": np.arange(2000) / 1e3 + 5e-4})
    elif change == "quotes and commas":
        frame.loc[3, "transaction_id"], frame.loc[4, "reasons"] = "a,b", 'say "hi"'
    elif change == "negative":
        frame["score"] = -frame["score"]
    elif change == "negative zero":
        frame.loc[0, "score"] = -0.0
    elif change == "missing":
        frame.loc[2, "score"], frame.loc[3, "reasons"] = np.nan, None
    elif change == "empty":
        frame = frame.head(0)
    assert written(tmp_path, frame, "fast") == written(tmp_path, frame, "pandas")


def test_an_ordinary_score_frame_takes_the_fast_path(tmp_path, monkeypatch):
    frame = scores_frame()
    monkeypatch.setattr(pd.DataFrame, "to_csv", lambda *a, **k: pytest.fail("fell back to pandas"))
    csv_io.write_csv(frame, tmp_path / "out.csv")
    assert (tmp_path / "out.csv").read_text().splitlines()[1] == "T0000000,0.000000,0.000000,0,approve,"
