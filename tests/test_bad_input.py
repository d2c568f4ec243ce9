"""No input gives a 500: odd characters in the address, hostile JSON bodies, Unicode digits in
ids. Each answer is a 4xx in the API's error shape under /api/ (a plain page elsewhere)."""

import json

import pytest

from accounts.tests import factories as users
from accounts.tests.api_clients import error_of, key_client, session_client
from transactions.tests.factories import TransactionFactory

pytestmark = pytest.mark.django_db

VALID = {"card_id": "card_bad_input", "merchant_id": "m_bad_input", "amount": "12.50"}


@pytest.fixture
def superuser_api():
    client = key_client(users.UserFactory(is_superuser=True, is_staff=True, roles=[]))
    client.raise_request_exception = False
    return client


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", "/api/v1/transactions/%00/"),
        ("get", "/api/v1/transactions/%00/reports/"),
        ("delete", "/api/v1/keys/%00/"),
        ("get", "/api/v1/models/%00/"),
        ("get", "/api/v1/transactions/?card=%00"),
        ("get", "/api/v1/transactions/?page_size=%00"),
        ("get", "/api/v1/transactions/?cursor=a%00b"),
        ("get", "/api/v1/reports/?status=%01"),
        ("get", "/api/v1/transactions/?%00=1"),
        ("get", "/api/v1/transactions/?card=%C2%85"),  # a C1 control
        ("get", "/api/v1/models/a%0Ab/"),
    ],
)
def test_nul_and_controls_in_path_or_query_are_400_in_the_error_shape(superuser_api, method, url):
    response = getattr(superuser_api, method)(url)

    assert response.status_code == 400
    error = error_of(response)
    assert error["code"] == "bad_request"
    assert "U+00" in error["message"]


def test_nul_in_an_admin_filter_and_the_dashboard_is_a_plain_400(client):
    client.force_login(users.UserFactory(is_superuser=True, is_staff=True, roles=[]))
    client.raise_request_exception = False
    for url in [
        "/admin/detection/modelversion/?version=%00",
        "/admin/detection/retrainingrun/dashboard/models/?version=%00",
        "/admin/detection/retrainingrun/dashboard/traffic/?days=%00",
        "/admin/transactions/transaction/?status=%00",
        "/admin/transactions/transaction/%00/change/",
    ]:
        response = client.get(url)
        assert response.status_code == 400, url
        assert response["Content-Type"].startswith("text/plain")


@pytest.mark.parametrize("digits", ["%C2%B9", "%EF%BC%94%EF%BC%92", "%D9%A4", "9" * 30, "9" * 5000])
def test_non_ascii_or_huge_digits_as_a_transaction_id_are_404(superuser_api, digits):
    TransactionFactory()
    response = superuser_api.get(f"/api/v1/transactions/{digits}/")

    assert response.status_code in (404, 414)
    error_of(response)


def test_a_transaction_is_still_found_by_its_numeric_id(superuser_api):
    tx = TransactionFactory()
    assert superuser_api.get(f"/api/v1/transactions/{tx.pk}/").json()["transaction_id"] == tx.external_id


def test_an_address_over_the_limit_is_414_in_the_error_shape(superuser_api, settings):
    response = superuser_api.get("/api/v1/transactions/?card=" + "a" * settings.REQUEST_MAX_URI_LENGTH)

    assert response.status_code == 414
    assert error_of(response)["code"] == "uri_too_long"


def _post(client, body, url="/api/v1/decisions/score"):
    return client.post(url, body, content_type="application/json")


def test_json_nested_100000_deep_is_400(superuser_api):
    response = _post(superuser_api, '{"a":' * 100_000 + "1" + "}" * 100_000)

    assert response.status_code == 400
    assert "nests deeper" in error_of(response)["message"]


def test_json_nested_just_over_the_limit_is_400_and_at_the_limit_reaches_the_view(superuser_api, settings):
    depth = settings.API_JSON_MAX_DEPTH
    too_deep = {**VALID, "channel": json.loads("[" * depth + "]" * depth)}
    at_limit = {**VALID, "channel": json.loads("[" * (depth - 1) + "]" * (depth - 1))}

    assert "nests deeper" in error_of(_post(superuser_api, json.dumps(too_deep)))["message"]
    # One level less passes the parser; the serializer then refuses the list as a channel.
    assert "channel" in error_of(_post(superuser_api, json.dumps(at_limit)))["fields"]


@pytest.mark.parametrize(
    "field", ["channel", "card_id", "merchant_id", "merchant_name", "currency", "country"]
)
@pytest.mark.parametrize("escape", ["\\ud800", "\\udfff", "\\u0000", "\\u001b"])
@pytest.mark.parametrize("url", ["/api/v1/decisions/score", "/api/v1/transactions/"])
def test_lone_surrogates_and_nul_in_any_string_field_are_400_naming_the_field(
    superuser_api, url, field, escape
):
    body = json.dumps({**VALID, field: "x"}).replace('"x"', f'"a{escape}b"')
    response = _post(superuser_api, body, url)

    assert response.status_code == 400
    error = error_of(response)
    assert error["fields"] == {field: [error["fields"][field][0]]}
    assert "U+" in error["fields"][field][0]


def test_a_bad_character_in_a_key_or_a_nested_value_is_400(superuser_api):
    assert "U+D800" in error_of(_post(superuser_api, '{"\\ud800": 1}'))["message"]
    nested = error_of(_post(superuser_api, '{"a": [{"b": "\\u0000"}]}'))
    assert nested["fields"] == {"a.0.b": nested["fields"]["a.0.b"]}


def test_a_nul_in_a_body_with_an_idempotency_key_stores_no_claim(superuser_api):
    from api.models import IdempotencyRecord

    body = json.dumps({**VALID, "merchant_name": "x"}).replace('"x"', '"\\u0000"')
    response = superuser_api.post(
        "/api/v1/transactions/", body, content_type="application/json", HTTP_IDEMPOTENCY_KEY="k-nul"
    )

    assert response.status_code == 400
    assert not IdempotencyRecord.objects.exists()


def test_ordinary_text_and_line_breaks_pass_the_parser(superuser_api):
    tx = TransactionFactory()
    client = session_client(users.analyst())
    response = client.post(
        f"/api/v1/transactions/{tx.pk}/reports/",
        {"note": "Line one\nline two – ünïcödé 中文"},
        format="json",
    )
    assert response.status_code == 201, response.content
