import json

import pytest
from django.core.management import CommandError, call_command

from detection.ml import simulator
from transactions.models import Card, Merchant, Transaction

HEADER = "transaction_id,occurred_at,card_id,merchant_id,amount,channel,country,is_fraud,label_known_at\n"


def write(tmp_path, text):
    path = tmp_path / "tx.csv"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.django_db
def test_import_creates_cards_merchants_and_labelled_transactions(tmp_path, capsys):
    path = write(
        tmp_path,
        HEADER
        + "t1,2025-01-01T10:00:00,c1,m1,12.50,online,FR,0,\n"
        + "t2,2025-01-01T11:00:00Z,c1,m2,300,atm,FR,1,2025-01-02T00:00:00Z\n"
        + "t3,2025-01-02T11:00:00Z,c2,m1,7,,,,\n",
    )
    call_command("import_transactions", str(path), json=True)
    summary = json.loads(capsys.readouterr().out)
    assert summary["imported"] == 3 and summary["cards_created"] == 2 and summary["merchants_created"] == 2
    fraud = Transaction.objects.get(external_id="t2")
    assert fraud.is_fraud is True and fraud.status == Transaction.Status.CONFIRMED_FRAUD
    assert fraud.label_source == "import" and fraud.label_known_at.isoformat() == "2025-01-02T00:00:00+00:00"
    legit = Transaction.objects.get(external_id="t1")
    assert legit.status == Transaction.Status.APPROVED and legit.is_fraud is False
    assert legit.label_known_at.isoformat() == "2025-01-08T10:00:00+00:00"  # the label delay
    assert str(legit.amount) == "12.50" and legit.card.external_id == "c1"
    unlabelled = Transaction.objects.get(external_id="t3")
    assert unlabelled.is_fraud is None and unlabelled.label_source == ""
    assert {tx.decision for tx in Transaction.objects.all()} == {""}  # never decided online


@pytest.mark.django_db
def test_declined_attempts_are_imported_as_blocked_and_read_back_as_attempts(tmp_path):
    from datetime import UTC, datetime

    from transactions.history import DatabaseHistory

    path = write(
        tmp_path,
        "transaction_id,occurred_at,card_id,merchant_id,amount,is_fraud,declined\n"
        "t1,2025-01-01T10:00:00Z,c1,m1,4999.99,0,1\n"
        "t2,2025-01-01T10:05:00Z,c1,m1,800,1,1\n"
        "t3,2025-01-01T10:10:00Z,c1,m2,7.77,0,0\n",
    )
    call_command("import_transactions", str(path))
    refused = Transaction.objects.get(external_id="t1")
    assert refused.decision == "block" and refused.status == Transaction.Status.DECLINED
    fraud = Transaction.objects.get(external_id="t2")
    assert fraud.decision == "block" and fraud.status == Transaction.Status.CONFIRMED_FRAUD
    assert Transaction.objects.get(external_id="t3").decision == ""
    window = DatabaseHistory().card_window(
        "c1", datetime(2025, 1, 1, tzinfo=UTC), datetime(2025, 1, 2, tzinfo=UTC)
    )
    assert sorted(window.declined.tolist()) == [False, True, True]


@pytest.mark.django_db
def test_a_single_bad_row_imports_nothing_and_every_bad_row_is_reported(tmp_path, capsys):
    path = write(
        tmp_path,
        HEADER
        + "t1,2025-01-01T10:00:00,c1,m1,12.50,online,FR,0,\n"
        + "t2,2025-01-01T10:00:00,c1,m1,-1,online,FR,0,\n"
        + "t3,2025-01-01T10:00:00,c1,m1,5,teleport,FR,0,\n"
        + "t4,2025-01-01T10:00:00,c1,m1,5,online,FRA,0,\n",
    )
    with pytest.raises(CommandError, match="3 row"):
        call_command("import_transactions", str(path))
    err = capsys.readouterr().err
    assert "line 3: amount is negative" in err
    assert "line 4: channel must be one of" in err
    assert "line 5: country is longer" in err
    assert not Transaction.objects.exists() and not Card.objects.exists() and not Merchant.objects.exists()


@pytest.mark.django_db
def test_ids_already_imported_are_reported_as_duplicates(tmp_path, capsys):
    path = write(tmp_path, HEADER + "t1,2025-01-01T10:00:00,c1,m1,12.50,,,0,\n")
    call_command("import_transactions", str(path))
    path = write(
        tmp_path, HEADER + "t1,2025-01-01T10:00:00,c1,m1,12.50,,,0,\nt2,2025-01-01T12:00:00,c1,m1,1,,,0,\n"
    )
    call_command("import_transactions", str(path), json=True)
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["imported"] == 1 and summary["duplicates"] == 1 and summary["duplicate_ids"] == ["t1"]
    assert Transaction.objects.count() == 2


@pytest.mark.django_db
def test_other_headers_are_imported_through_a_mapping(tmp_path):
    path = write(
        tmp_path,
        "TRANSACTION_ID,TX_DATETIME,CUSTOMER_ID,TERMINAL_ID,TX_AMOUNT,TX_FRAUD\n0,2018-04-01 00:00:31,596,3156,57.16,1\n",
    )
    call_command(
        "import_transactions",
        str(path),
        map=[
            "transaction_id=TRANSACTION_ID",
            "occurred_at=TX_DATETIME",
            "card_id=CUSTOMER_ID",
            "merchant_id=TERMINAL_ID",
            "amount=TX_AMOUNT",
            "is_fraud=TX_FRAUD",
        ],
    )
    tx = Transaction.objects.get()
    assert tx.card.external_id == "596" and tx.merchant.external_id == "3156" and tx.is_fraud is True


def test_bad_arguments_are_clear_errors(tmp_path):
    with pytest.raises(CommandError, match="No such file"):
        call_command("import_transactions", str(tmp_path / "missing.csv"))
    with pytest.raises(CommandError, match="our_column=their_column"):
        call_command("import_transactions", str(tmp_path / "missing.csv"), map=["nonsense"])


@pytest.mark.django_db
def test_simulated_history_imports_whole(tmp_path):
    frame = simulator.simulate(customers=60, merchants=30, days=5, seed=4)
    path = tmp_path / "sim.csv"
    simulator.write_csv(frame, path)
    call_command("import_transactions", str(path), verbosity=0)
    assert Transaction.objects.count() == len(frame)
    assert (
        Transaction.objects.filter(status=Transaction.Status.CONFIRMED_FRAUD).count()
        == frame["is_fraud"].sum()
    )
