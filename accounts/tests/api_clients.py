"""API clients for tests: an integrator speaks with a key, everyone else with a session."""

from rest_framework.test import APIClient

from accounts.services import api_key_create


def key_client(user, *, name="test key"):
    _key, secret = api_key_create(owner=user, name=name)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Api-Key {secret}")
    client.secret = secret
    return client


def session_client(user):
    client = APIClient()
    client.force_login(user)
    return client


def anonymous_client():
    return APIClient()


def error_of(response):
    """The error object of a response, asserting the one shape every error has."""
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "fields"}, body
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body["error"]
