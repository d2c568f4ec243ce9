"""Where we agree to send a webhook (the SSRF guard): https only, to a host whose every address is
public. Refused: private networks (10/8, 172.16/12, 192.168/16, fc00::/7), loopback, link-local
(169.254/16, where cloud metadata lives, and fe80::/10), shared, reserved, multicast and
unspecified addresses, IPv4 hidden in IPv6, user:password@ in the URL, control characters and any
character outside ASCII (an international domain is written in its xn-- form, so no look-alike
letter or full-width digit can stand for a dot or a digit). WEBHOOKS_ALLOW_LOOPBACK lets
development and tests use 127.0.0.1, ::1 and localhost, over http too.

The URL is checked when it is given (API, console) and its host resolved again before every
delivery, which connects to the address it checked (a name that changes its answer in between, DNS
rebinding, cannot lead the request elsewhere)."""

import ipaddress
import socket
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from api.webhooks import conf
from core.validators import refuse_card_number

MAX_URL_LENGTH = 2000
LOOPBACK_NAMES = {"localhost", "localhost."}


class AddressRefused(Exception):
    """The URL may not be called; the message says why (no secret, no body in it)."""


def _refuse(message):
    raise ValidationError(message, code="webhook_url")


def _allowed(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_loopback:
        return conf.allow_loopback()
    return address.is_global and not address.is_multicast


def check_url(url) -> str:
    """The URL as it will be called, or ValidationError saying what is wrong with it."""
    if not isinstance(url, str) or not url:
        _refuse(_("Enter the URL to send events to."))
    if len(url) > MAX_URL_LENGTH:
        _refuse(_("The URL can have at most %(max)d characters.") % {"max": MAX_URL_LENGTH})
    if not url.isascii() or any(not ch.isprintable() or ch.isspace() for ch in url):
        _refuse(
            _(
                "Write the URL in plain ASCII, without spaces or control characters (an international domain in its xn-- form)."
            )
        )
    refuse_card_number(url)  # an address is stored and shown: never with a card number in it
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        _refuse(_("This is not a valid URL."))
    host = parts.hostname or ""
    if parts.scheme not in ("https", "http") or not host:
        _refuse(_("Use an https:// URL."))
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        _refuse(_("The URL may not carry a user name or password."))
    if parts.fragment:
        _refuse(_("The URL may not have a #fragment."))
    loopback_only = host.lower() in LOOPBACK_NAMES
    if parts.scheme == "http" and not (
        conf.allow_loopback() and (loopback_only or _is_loopback_literal(host))
    ):
        _refuse(_("Use an https:// URL."))
    if loopback_only and not conf.allow_loopback():
        _refuse(_("The URL must point to a public address, not a private, loopback or link-local one."))
    try:
        resolve(host, port or (443 if parts.scheme == "https" else 80))
    except AddressRefused as refused:
        _refuse(str(refused))
    return url


def _is_loopback_literal(host):
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def resolve(host: str, port: int) -> str:
    """The address to connect to for `host`: every address it resolves to must be allowed (one
    private answer among public ones is a way in). AddressRefused otherwise."""
    try:
        answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise AddressRefused(_("The URL's host name could not be resolved.")) from None
    addresses = []
    for _family, _type, _proto, _name, sockaddr in answers:
        address = ipaddress.ip_address(sockaddr[0].split("%")[0])
        if not _allowed(address):
            raise AddressRefused(
                _("The URL must point to a public address, not a private, loopback or link-local one.")
            )
        addresses.append(str(address))
    if not addresses:
        raise AddressRefused(_("The URL's host name could not be resolved."))
    return addresses[0]
