"""No card number is stored or logged, whatever the channel.

Canary card numbers (distinct, Luhn-valid, of several brands, written with separators, in
fullwidth or Arabic-Indic digits, glued to letters) are sent through every way data comes in:
API fields, query strings and URL paths, the customer's forms, the admin, batch and import CSVs,
notes, names, login attempts. Then everything we keep is searched for their digits: every text
and JSON column of every table (and, on SQLite, the raw database file), every file under
MEDIA_ROOT, and what the logs wrote; in the second test, a real gunicorn's access and error logs.
A canary's digits found anywhere (separators removed, any digits read as 0-9) is a leak."""

import contextlib
import io
import json
import logging
import random
import socket
import subprocess
import sys
import unicodedata
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from axes.models import AccessAttempt
from django.apps import apps
from django.contrib.sessions.models import Session
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.db import connection, models
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditEntry, IntegratorKey, User
from accounts.roles import Role
from accounts.services import api_key_create, user_set_roles
from accounts.tests import factories as users
from accounts.tests.api_clients import key_client, session_client
from core.cardnumbers import contains_card_number, luhn_valid
from core.logging import CardNumberFilter
from detection.models import ListEntry
from tests.servers import IMMEDIATE_TASKS, Gunicorn, django_env
from transactions.models import Card, FraudReport, Merchant, Transaction

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parent.parent
# (issuer prefix, length) of the brands the canaries imitate.
BRANDS = [
    ("4", 16),  # Visa
    ("51", 16),  # Mastercard
    ("2221", 16),  # Mastercard, 2-series
    ("37", 15),  # American Express
    ("6011", 16),  # Discover
    ("3530", 16),  # JCB
    ("36", 14),  # Diners Club
    ("62", 19),  # UnionPay
    ("4", 13),  # old Visa
]


def _fold(text):
    """Any digit as 0-9 (fullwidth, Arabic-Indic, superscript...), everything else kept."""
    out = []
    for char in text:
        if char.isdigit() and not char.isascii():
            with contextlib.suppress(TypeError, ValueError):
                char = str(unicodedata.digit(char))
        out.append(char)
    return "".join(out)


def digits_of(text):
    return "".join(char for char in _fold(text) if char.isascii() and char.isdigit())


class Canaries:
    """Distinct canary numbers, each remembered with the channel it went through."""

    DISGUISES = [
        lambda n: n,
        lambda n: " ".join(n[i : i + 4] for i in range(0, len(n), 4)),
        lambda n: "-".join(n[i : i + 4] for i in range(0, len(n), 4)),
        lambda n: ".".join(n[i : i + 4] for i in range(0, len(n), 4)),
        lambda n: f"card_{n}",
        lambda n: f"{n}x",
        lambda n: "".join(chr(0xFF10 + int(d)) for d in n),  # fullwidth
        lambda n: "".join(chr(0x0660 + int(d)) for d in n),  # Arabic-Indic
        lambda n: " - ".join(n[i : i + 4] for i in range(0, len(n), 4)),
    ]

    def __init__(self, seed):
        self.random = random.Random(seed)
        self.planted = {}  # digits -> channel

    def number(self):
        prefix, length = BRANDS[len(self.planted) % len(BRANDS)]
        while True:
            body = prefix + "".join(self.random.choice("0123456789") for _ in range(length - len(prefix) - 1))
            number = next(body + d for d in "0123456789" if luhn_valid(body + d))
            if number not in self.planted:
                return number

    def __call__(self, channel, disguise=None):
        number = self.number()
        self.planted[number] = channel
        index = len(self.planted) if disguise is None else disguise
        text = self.DISGUISES[index % len(self.DISGUISES)](number)
        assert contains_card_number(text), text
        return text

    def found_in(self, text, where):
        digits = digits_of(text)
        return [f"{channel} -> {where}" for number, channel in self.planted.items() if number in digits]


# ---- what we keep --------------------------------------------------------------------------


def _text_columns(model):
    return [
        field.attname
        for field in model._meta.concrete_fields
        if isinstance(field, models.CharField | models.TextField | models.JSONField)
    ]


def scan_database(canaries):
    leaks = []
    for model in apps.get_models():
        columns = _text_columns(model)
        if not columns:
            continue
        for row in model._default_manager.values_list("pk", *columns):
            for column, value in zip(columns, row[1:], strict=True):
                if value is None:
                    continue
                text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
                leaks += canaries.found_in(text, f"{model._meta.label}.{column} #{row[0]}")
    for session in Session.objects.all():  # messages and form data may wait in a session
        decoded = json.dumps(session.get_decoded(), ensure_ascii=False, default=str)
        leaks += canaries.found_in(decoded, f"session {session.pk}")
    if connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        name = Path(connection.settings_dict["NAME"])
        for path in (name, Path(f"{name}-wal")):
            if path.exists():
                text = _read_in_another_process(path).decode("utf-8", errors="replace")
                leaks += canaries.found_in(text, f"database file {path.name}")
    return leaks


def _read_in_another_process(path):
    """The file's bytes, read by a child process: closing a descriptor of the database file in
    this process would drop SQLite's POSIX locks on it, and the next process to close its own
    connection would then delete the write-ahead log under this one's feet."""
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; sys.stdout.buffer.write(open(sys.argv[1], 'rb').read())",
            str(path),
        ],
        capture_output=True,
        check=True,
    ).stdout


def scan_files(canaries, root):
    leaks = []
    for path in Path(root).rglob("*"):
        if path.is_file():
            text = path.read_bytes().decode("utf-8", errors="replace")
            leaks += canaries.found_in(text, f"file {path}")
    return leaks


@pytest.fixture
def log_output():
    """What the configured handlers write (their streams, swapped for a buffer)."""
    buffer = io.StringIO()
    handlers = [h for h in logging.getLogger().handlers if isinstance(h, logging.StreamHandler)]
    handlers = [h for h in handlers if any(isinstance(f, CardNumberFilter) for f in h.filters)]
    assert handlers, "the root logger has no handler with the card-number filter"
    previous = [handler.setStream(buffer) for handler in handlers]
    yield buffer
    for handler, stream in zip(handlers, previous, strict=True):
        handler.setStream(stream)


@pytest.fixture
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


# ---- the channels ----------------------------------------------------------------------------

API = "/api/v1/transactions/"


def _api_channels(canary, integrator, analyst):
    client = key_client(integrator)
    base = {"card_id": "card_ok_1", "merchant_id": "m_ok_1", "amount": "12.00", "currency": "EUR"}
    refused = {}

    def submit(label, key=None, **fields):
        headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
        response = client.post(API, base | fields, format="json", **headers)
        refused[label] = response.status_code
        return response

    # Identifiers: refused (400), with and without an Idempotency-Key (whose record keeps the answer).
    for field in ("card_id", "transaction_id", "merchant_id", "merchant_name", "merchant_category"):
        submit(f"api {field}", **{field: canary(f"api {field}")})
        submit(f"api {field} + key", key=f"k-{field}", **{field: canary(f"api {field} + key")})
    # Fields with a fixed shape, whose errors must not quote the value either.
    for field in ("channel", "currency", "country", "occurred_at", "amount"):
        submit(f"api {field}", key=f"k-{field}", **{field: canary(f"api {field}")})
    client.post("/api/v1/decisions/score", base | {"card_id": canary("api score card_id")}, format="json")

    # Reads: query strings and URL paths (logged, never stored).
    client.get(API, {"card": canary("api query card"), "merchant": canary("api query merchant")})
    client.get(f"{API}{canary('api url path', disguise=0)}/")
    client.get(f"{API}{canary('api url path glued', disguise=4)}/reports/")

    # A stored transaction, then its report and resolution with card numbers in the notes.
    created = submit("api good", transaction_id="tx_canary_ok")
    assert created.status_code == 201, created.content
    assert submit("api good 2", transaction_id="tx_canary_ok2").status_code == 201
    tx_id = created.json()["id"]
    report = client.post(
        f"{API}{tx_id}/reports/", {"note": f"stolen: {canary('api report note')}"}, format="json"
    )
    assert report.status_code == 201, report.content
    resolved = session_client(analyst).patch(
        f"/api/v1/reports/{report.json()['id']}/",
        {"status": "confirmed", "note": f"cardholder said {canary('api resolution note')}"},
        format="json",
    )
    assert resolved.status_code == 200, resolved.content
    key = client.post("/api/v1/keys/", {"name": canary("api key name")}, format="json")
    assert key.status_code == 201, key.content
    return refused


def _form_channels(canary):
    client = Client(HTTP_USER_AGENT=f"Mozilla/5.0 {canary('user agent at registration')}")
    password = "a-much-better-passphrase"
    client.post(
        reverse("register"),
        {
            "email": "canary.customer@example.com",
            "display_name": canary("register display name"),
            "password1": password,
            "password2": password,
        },
    )
    customer = User.objects.get(email="canary.customer@example.com")
    client.post(
        reverse("profile_edit"),
        {
            "display_name": f"Al {canary('profile display name')}",
            "phone": canary("profile phone", disguise=0),
        },
    )
    year = timezone.now().year + 2
    # The card form: the number itself is the canary (kept only as first 6 / last 4), and one
    # typed into the name on the card.
    client.post(
        reverse("transactions:card_add"),
        {
            "number": canary("card form number", disguise=1),
            "expiry_month": 5,
            "expiry_year": year,
            "cardholder_name": canary("card form name"),
        },
    )
    client.post(
        reverse("transactions:card_add"),
        {"number": canary("card form fullwidth number", disguise=6), "expiry_month": 5, "expiry_year": year},
    )
    card = Card.objects.filter(owner=customer).first()
    assert card is not None, "the card form refused a valid card"
    now = timezone.localtime().strftime("%Y-%m-%dT%H:%M")
    pay = {"card": card.pk, "amount": "9.99", "occurred_at": now}
    client.post(
        reverse("transactions:transaction_new"), pay | {"new_merchant": canary("typed merchant name")}
    )
    client.post(reverse("transactions:transaction_new"), pay | {"new_merchant": "Canary Corner Shop"})
    tx = Transaction.objects.get(card=card, merchant__name="Canary Corner Shop")
    client.post(
        reverse("transactions:transaction_report", args=[tx.pk]), {"note": canary("report form note")}
    )
    # An integrator's key page (a customer gets the role for it).
    user_set_roles(user=customer, roles=[Role.CUSTOMER, Role.INTEGRATOR])
    client.post(reverse("api_keys"), {"name": canary("key form name")})
    # Sign-in attempts: username, user agent, query string and an extra field (axes keeps them).
    attacker = Client(HTTP_USER_AGENT=canary("login user agent"))
    login = reverse("login") + f"?next=/x/{canary('login next', disguise=2)}"
    for _attempt in range(2):
        attacker.post(login, {"username": f"{canary('login username')}@example.com", "password": "nope-nope"})
        attacker.post(
            login,
            {"username": customer.email, "password": "wrong-password", "memo": canary("login extra field")},
        )
    assert attacker.post(login, {"username": customer.email, "password": password}).status_code == 302
    return customer


def _admin_channels(canary, admin_user):
    client = Client()
    client.force_login(admin_user)
    queue = reverse("admin:transactions_review_queue")
    reported = Transaction.objects.get(merchant__name="Canary Corner Shop")
    held = Transaction.objects.get(external_id="tx_canary_ok2")  # pending review, no report
    client.post(queue, {"single": f"note:{reported.pk}", f"note-{reported.pk}": canary("analyst note")})
    client.post(queue, {"single": f"confirm_fraud:{held.pk}", f"note-{held.pk}": canary("review note")})
    user = User.objects.get(email="canary.customer@example.com")
    change = reverse("admin:accounts_user_change", args=[user.pk])
    client.post(
        change,
        {
            "email": user.email,
            "display_name": canary("admin display name"),
            "phone": canary("admin phone", disguise=0),
            "is_active": "on",
            "date_joined_0": "2026-01-01",
            "date_joined_1": "10:00:00",
        },
    )
    merchant = Merchant.objects.get(external_id="m_ok_1")
    client.post(
        reverse("admin:transactions_merchant_change", args=[merchant.pk]),
        {"external_id": "m_ok_1", "name": canary("admin merchant name"), "category": "5411", "country": ""},
    )
    client.post(
        reverse("admin:detection_listentry_add"),
        {
            "list_type": "block",
            "kind": "card_id",
            "value": canary("admin list value"),
            "reason": "x",
            "active": "on",
        },
    )
    client.post(
        reverse("admin:detection_listentry_add"),
        {
            "list_type": "block",
            "kind": "merchant_id",
            "value": "m_ok_1",
            "reason": canary("admin list reason"),
            "active": "on",
        },
    )


CSV_HEADER = (
    "transaction_id,occurred_at,card_id,merchant_id,amount,currency,merchant_category,channel,country,memo\n"
)


def _csv(canary, channel):
    good = "t_{n},2026-01-01T10:00:00Z,c1,m1,5.00,EUR,5411,online,FR,ok\n"
    rows = [
        good.format(n=1),
        f"{canary(f'{channel} transaction_id')},2026-01-01T10:00:00Z,c1,m1,5.00,EUR,5411,online,FR,ok\n",
        f"t_3,2026-01-01T10:00:00Z,{canary(f'{channel} card_id')},m1,5.00,EUR,5411,online,FR,ok\n",
        f"t_4,2026-01-01T10:00:00Z,c1,{canary(f'{channel} merchant_id', disguise=4)},5.00,EUR,5411,online,FR,ok\n",
        f"t_5,2026-01-01T10:00:00Z,c1,m1,5.00,EUR,{canary(f'{channel} merchant_category', disguise=5)},online,FR,ok\n",
        f"t_6,2026-01-01T10:00:00Z,c1,m1,5.00,EUR,5411,online,FR,{canary(f'{channel} extra column', disguise=0)}\n",
        f"t_7,2026-01-01T10:00:00Z,c1,m1,{canary(f'{channel} amount', disguise=0)},EUR,5411,online,FR,ok\n",
    ]
    return CSV_HEADER + "".join(rows)


def _csv_channels(canary, integrator, tmp_path, refused):
    """Both CSV channels; returns what they answered (to be searched too)."""
    upload = key_client(integrator).post(
        "/api/v1/batches/",
        {"file": SimpleUploadedFile("batch.csv", _csv(canary, "batch csv").encode(), "text/csv")},
        format="multipart",
    )
    refused["batch csv"] = upload.status_code
    path = tmp_path / "import.csv"
    path.write_text(_csv(canary, "import csv"), encoding="utf-8")
    stdout, stderr = io.StringIO(), io.StringIO()
    try:
        call_command("import_transactions", str(path), stdout=stdout, stderr=stderr)
    except CommandError as error:
        stderr.write(str(error))
        refused["import csv"] = 400
    else:
        refused["import csv"] = 200
    return upload.content.decode() + stdout.getvalue() + stderr.getvalue()


def test_no_canary_is_stored_or_logged_from_any_channel(
    admin_user, media_root, log_output, tmp_path, django_capture_on_commit_callbacks, request
):
    try:  # the records pytest captures, as well as what the handlers wrote (unless -p no:logging)
        caplog = request.getfixturevalue("caplog")
    except pytest.FixtureLookupError:
        caplog = None
    else:
        caplog.set_level(logging.INFO)
    canary = Canaries(seed=13)
    integrator, analyst = users.integrator(), users.analyst()

    with django_capture_on_commit_callbacks(execute=True):
        refused = _api_channels(canary, integrator, analyst)
        _form_channels(canary)
        _admin_channels(canary, admin_user)
        csv_messages = _csv_channels(canary, integrator, tmp_path, refused)

    leaks = scan_database(canary) + scan_files(canary, media_root)
    leaks += canary.found_in(csv_messages, "CSV error messages")
    leaks += canary.found_in(log_output.getvalue(), "log output")
    if caplog is not None:
        leaks += canary.found_in(caplog.text, "captured log records")
    assert not leaks, "\n".join(leaks)
    # The identifiers were refused, not quietly masked and stored.
    assert {label: code for label, code in refused.items() if "good" not in label and code != 400} == {}
    assert "line 4: card_id holds a card number" in csv_messages  # with its line, not its digits
    # ...and free text was kept, masked: the channels did run.
    masked = "•••• "
    assert masked in User.objects.get(email="canary.customer@example.com").display_name
    assert masked in User.objects.get(email="canary.customer@example.com").phone
    assert Card.objects.filter(cardholder_name__contains=masked).count() == 1
    assert FraudReport.objects.filter(note__contains=masked).count() == 2
    assert FraudReport.objects.filter(resolution_note__contains=masked).count() == 1
    assert AuditEntry.objects.filter(action="transaction.note", note__contains=masked).count() == 1
    assert AuditEntry.objects.filter(action="transaction.review_fraud", note__contains=masked).count() == 1
    assert IntegratorKey.objects.filter(name__contains=masked).count() == 2
    assert ListEntry.objects.filter(reason__contains=masked).count() == 1
    assert AccessAttempt.objects.filter(username__contains=masked).count() == 2
    assert Merchant.objects.get(external_id="m_ok_1").name == ""
    assert len(canary.planted) > 50


def test_no_canary_is_stored_from_the_idempotency_key(integrator):
    canary = Canaries(seed=17)
    client = key_client(integrator)
    body = {"card_id": "card_ok_2", "merchant_id": "m_ok_2", "amount": "3.00"}

    response = client.post(API, body, format="json", HTTP_IDEMPOTENCY_KEY=canary("Idempotency-Key"))

    assert response.status_code == 400
    assert not scan_database(canary)


# ---- a real gunicorn ----------------------------------------------------------------------


def _request(url, *, method="GET", headers=None, body=None):
    request = urllib.request.Request(url, method=method, headers=headers or {}, data=body)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - our own server
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def _raw(port, payload):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(payload)
        try:
            return sock.recv(65536)
        except OSError:
            return b""


def test_gunicorn_logs_no_canary(integrator, tmp_path):
    canary = Canaries(seed=29)
    _key, secret = api_key_create(owner=integrator, name="gunicorn")
    access, errors = tmp_path / "access.log", tmp_path / "error.log"
    env = django_env(
        db_name=str(connection.settings_dict["NAME"]),
        tasks=IMMEDIATE_TASKS,
        DETECTION_MODELS_DIR=str(tmp_path / "models"),
    )
    server = Gunicorn(
        env,
        log_dir=tmp_path,
        extra_args=["--access-logfile", str(access), "--error-logfile", str(errors), "--log-level", "debug"],
    )
    try:
        server.wait_ready()
        port = server.port
        base = f"http://127.0.0.1:{port}"
        auth = {"Authorization": f"Api-Key {secret}"}
        spaced = canary("gunicorn query, %20-encoded", disguise=1).replace(" ", "%20")
        assert _request(f"{base}{API}?card={spaced}", headers=auth) == 200
        assert (
            _request(f"{base}{API}?card={canary('gunicorn query, dashed', disguise=2)}", headers=auth) == 200
        )
        assert _request(f"{base}{API}?card={canary('gunicorn query, plain', disguise=0)}") == 401
        assert _request(f"{base}{API}{canary('gunicorn url path', disguise=0)}/", headers=auth) == 404
        assert _request(f"{base}/nowhere/{canary('gunicorn 404 page', disguise=4)}/") == 404
        assert (
            _request(
                f"{base}/?q={canary('gunicorn home query', disguise=3)}",
                headers={
                    "User-Agent": f"bot {canary('gunicorn user agent', disguise=0)}",
                    "Referer": f"https://shop.example/?pan={canary('gunicorn referer', disguise=0)}",
                },
            )
            == 200
        )
        body = json.dumps(
            {"card_id": canary("gunicorn body card_id", disguise=0), "merchant_id": "m", "amount": "1"}
        )
        assert (
            _request(
                f"{base}{API}",
                method="POST",
                headers={**auth, "Content-Type": "application/json"},
                body=body.encode(),
            )
            == 400
        )
        # A request line gunicorn refuses itself (it logs why, at debug level).
        _raw(
            port,
            f"GET /?card={canary('gunicorn bad request line', disguise=0)} HTTP/1.1 extra\r\n\r\n".encode(),
        )
        _raw(
            port,
            f"GET /?card={canary('gunicorn bad header', disguise=0)} HTTP/1.1\r\nBad Header\r\n\r\n".encode(),
        )
    finally:
        server.stop()

    output = server.log_path
    logs = {path.name: path.read_text(errors="replace") for path in (access, errors, output) if path.exists()}
    assert "GET /api/v1/transactions/?card=•••• " in logs["access.log"]  # the requests were logged...
    leaks = [leak for name, text in logs.items() for leak in canary.found_in(text, name)]
    assert not leaks, "\n".join(leaks)  # ...without the numbers
