"""Which webhook URLs the hub accepts, and which addresses its deliverer may call.

:func:`check_url` refuses what is not an http(s) URL with a host (no
credentials, no fragment); :func:`url_warnings` says when a valid URL names a
private or loopback address, which the deliverer refuses unless
``allow_private_networks``; :func:`is_public` is the check the transport makes
on every resolved address (IPv4 embedded in IPv6 through a translator or a
tunnel included).
"""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

import httpx

from tahaluf.errors import InvalidInput

__all__ = ["MAX_URL_CHARS", "check_url", "is_public", "url_warnings"]

MAX_URL_CHARS = 2048

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052: the IPv4 address is the last 32 bits
_NAT64_LOCAL = ipaddress.IPv6Network("64:ff9b:1::/48")  # RFC 8215: a network's own translator
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")  # deprecated ::a.b.c.d


def check_url(url: str) -> str:
    """An http(s) URL with a host and without credentials, else InvalidInput."""
    url = url.strip()
    shown = url[:100]
    if not url or len(url) > MAX_URL_CHARS or any(c.isspace() or not c.isprintable() for c in url):
        raise InvalidInput(f"webhook url must be 1-{MAX_URL_CHARS} printable characters without spaces")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
        httpx.URL(url)
    except (ValueError, httpx.InvalidURL):
        raise InvalidInput(f"not a valid URL: {shown!r}") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise InvalidInput(f"webhook url must start with http:// or https://, not {shown!r}")
    if not parts.hostname:
        raise InvalidInput(f"webhook url has no host: {shown!r}")
    if parts.username is not None or parts.password is not None:
        raise InvalidInput("webhook url must not carry a user or password; calls are signed with the secret")
    if parts.fragment:
        raise InvalidInput("webhook url must not have a #fragment")
    return url


def url_warnings(url: str) -> list[str]:
    """Why the deliverer may refuse a valid webhook URL (empty when it will try it).

    Without ``allow_private_networks`` the deliverer calls only public
    addresses; a URL naming a private or loopback address (or ``localhost``)
    is accepted, for hubs that allow them, but said to fail elsewhere.
    Host names are not resolved here: that happens at each call.
    """
    host = (urlsplit(url.strip()).hostname or "").rstrip(".").lower()
    try:
        private = not is_public(host)
    except ValueError:  # a name, not an address
        private = host == "localhost" or host.endswith(".localhost")
    if not private:
        return []
    return [(f"{host} is a private or loopback address: the hub calls it only when its deliverer allows "
             "private networks (tahaluf serve --allow-private-networks); otherwise every call fails")]


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address] | None:
    """The IPv4 addresses an IPv6 address reaches through a translator or tunnel
    (mapped, IPv4-compatible, NAT64, 6to4, Teredo server and client); None when it embeds none."""
    if ip.ipv4_mapped is not None:
        return [ip.ipv4_mapped]
    if ip in _NAT64 or (ip in _IPV4_COMPATIBLE and int(ip) > 1):
        return [ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF)]
    if ip.sixtofour is not None:
        return [ip.sixtofour]
    if ip.teredo is not None:
        return list(ip.teredo)
    return None


def is_public(address: str) -> bool:
    """True for a global unicast address; ValueError when ``address`` is not an IP address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if ip in _NAT64_LOCAL:  # translated to whatever the local network chooses: never known to be public
            return False
        if ip.ipv4_mapped is not None or (ip in _IPV4_COMPATIBLE and int(ip) > 1):
            return is_public(str(ipaddress.IPv4Address(int(ip) & 0xFFFF_FFFF)))
        embedded = _embedded_ipv4(ip)
        if embedded is not None and not all(is_public(str(v4)) for v4 in embedded):
            return False  # NAT64, 6to4 or Teredo towards a private address
    return ip.is_global and not ip.is_multicast
