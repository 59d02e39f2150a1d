"""Canonical URLs and the ``url`` signal.

Two spellings of the same web address should give the same signal, so a URL
is first rewritten into a canonical form and the signal is the SHA-256 of
that form. The rules, with examples and the reasons behind each decision,
are in ``docs/url-canonical-form.md``; in short:

* scheme and host lower-case; ``http``/``https`` only; a bare
  ``example.com/x`` gets ``https://``; ``http`` is *not* rewritten to ``https``;
* internationalised hosts to punycode (IDNA 2008 with UTS #46 mapping via the
  ``idna`` package; IDNA 2003 only as a fallback for labels IDNA 2008 forbids,
  such as emoji); one trailing dot removed; ``www.`` kept;
* user name and password dropped; default ports (80, 443) dropped;
* percent-encoding normalised (unreserved characters decoded, other escapes in
  upper-case hex, non-ASCII encoded as UTF-8); dot-segments resolved; empty
  path becomes ``/``; a trailing slash is removed except for the root;
* fragment removed (except ``#!`` "hash-bang" routes);
* tracking parameters (:data:`TRACKING_PARAMS`, :data:`TRACKING_PREFIXES`)
  removed; the remaining query parameters sorted.

:func:`url_md5_signal` gives a second signal for the same URL, ``url_md5``: the
MD5 python-threatexchange computes (its own, simpler normalisation), so that
pytx data sets of URL MD5s can be matched.

Pure: standard library and ``idna`` only, no network access, deterministic.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import unicodedata
from urllib.parse import urlparse

import idna

from tahaluf.errors import ContentTooLarge, InvalidInput
from tahaluf.signals.base import Signal

__all__ = [
    "MAX_URL_BYTES",
    "TRACKING_PARAMS",
    "TRACKING_PREFIXES",
    "canonicalize_url",
    "looks_like_url",
    "url_md5_signal",
    "url_signal",
]

#: URLs longer than this (UTF-8 bytes, after trimming whitespace) are refused.
MAX_URL_BYTES = 8 * 1024

#: Query parameters removed wherever they appear (compared case-insensitively).
TRACKING_PARAMS = frozenset(
    {
        # Google / Google Ads / Analytics
        "gclid", "gclsrc", "dclid", "gbraid", "wbraid", "_ga", "_gl",
        # Meta (Facebook, Instagram)
        "fbclid", "igshid", "igsh",
        # Microsoft, Yandex, X/Twitter, TikTok, LinkedIn
        "msclkid", "yclid", "twclid", "ttclid", "li_fat_id", "ref_src", "ref_url",
        # YouTube / Spotify share links
        "si",
        # Mailchimp, HubSpot, Marketo, Vero, Olytics, Drip
        "mc_cid", "mc_eid", "_hsenc", "_hsmi", "mkt_tok", "vero_id", "vero_conv",
        "oly_anon_id", "oly_enc_id", "__s",
        # Rakuten, Wicked Reports
        "rb_clickid", "wickedid",
    }
)  # fmt: skip

#: Query parameters whose (lower-cased) name starts with one of these are removed.
TRACKING_PREFIXES = ("utm_", "hsa_", "pk_", "mtm_")

_SCHEMES = {"http": 80, "https": 443}
_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*):")
# RFC 3986, appendix B, with the scheme already removed.
_PARTS_RE = re.compile(r"^//([^/?#]*)([^?#]*)(?:\?([^#]*))?(?:#(.*))?$", re.DOTALL)
_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_SUB_DELIMS = "!$&'()*+,;="
# Characters left as they are (not percent-encoded) in each component.
_PATH_SAFE = _UNRESERVED | frozenset(_SUB_DELIMS + ":@/")
_QUERY_SAFE = _PATH_SAFE | frozenset("?")
_HEX = frozenset("0123456789abcdefABCDEF")
_ASCII_LABEL_RE = re.compile(r"^[a-z0-9_](?:[a-z0-9_\-]*[a-z0-9_])?$")
_DOT_LIKE = str.maketrans({"\u3002": ".", "\uff0e": ".", "\uff61": "."})
_WS_STRIP = "\t\n\r\f\v "


def canonicalize_url(url: str) -> str:
    """Return the canonical form of an ``http``/``https`` URL.

    Raises :class:`~tahaluf.errors.InvalidInput` for anything that is not an
    absolute web URL (no host, a space in the host, another scheme such as
    ``javascript:``, a bad port) and :class:`~tahaluf.errors.ContentTooLarge`
    for URLs longer than :data:`MAX_URL_BYTES`.
    """
    if not isinstance(url, str):
        raise InvalidInput(f"URL must be a string, not {type(url).__name__}")
    raw = url.strip(_WS_STRIP)
    if len(raw.encode("utf-8", "surrogatepass")) > MAX_URL_BYTES:
        raise ContentTooLarge(f"URL is longer than {MAX_URL_BYTES} bytes")
    if not raw:
        raise InvalidInput("empty URL")
    # Like browsers, ignore tabs and newlines inside a URL (wrapped lines).
    raw = raw.replace("\t", "").replace("\n", "").replace("\r", "")
    scheme, rest = _split_scheme(raw)
    match = _PARTS_RE.match(rest)
    if match is None:  # pragma: no cover - the pattern matches any "//..." string
        raise InvalidInput(f"not a URL: {_preview(url)}")
    authority, path, query, fragment = match.groups()
    host, port = _split_authority(authority, url)
    out = [scheme, "://", _canonical_host(host, url)]
    if port is not None and port != _SCHEMES[scheme]:
        out.append(f":{port}")
    out.append(_canonical_path(path))
    if query:
        canonical_query = _canonical_query(query)
        if canonical_query:
            out.append("?" + canonical_query)
    if fragment and fragment.startswith("!"):
        out.append("#" + _normalise_escapes(fragment, _QUERY_SAFE))
    return "".join(out)


def url_signal(url: str) -> Signal:
    """The ``url`` signal: SHA-256 (hex) of :func:`canonicalize_url`."""
    canonical = canonicalize_url(url)
    digest = hashlib.sha256(canonical.encode("ascii")).hexdigest()
    return Signal("url", digest, {"canonical": canonical})


def url_md5_signal(url: str) -> Signal:
    """The ``url_md5`` signal: the MD5 (hex) python-threatexchange's ``url_md5``
    signal type computes for a URL, so that pytx data sets can be matched.

    pytx's own normalisation, not :func:`canonicalize_url`: the URL lower-cased,
    the scheme and ``://`` removed (its first occurrence), UTF-8 encoded. Only
    URLs :func:`canonicalize_url` accepts are hashed, so a post gets both
    signals or neither.
    """
    canonicalize_url(url)  # the same checks as the url signal
    try:
        parsed = urlparse(url.strip(_WS_STRIP).lower())
    except ValueError as exc:  # pragma: no cover - canonicalize_url refuses these first
        raise InvalidInput(f"not a URL: {_preview(url)}") from exc
    pytx_form = parsed.geturl().replace(f"{parsed.scheme}://", "", 1)
    digest = hashlib.md5(pytx_form.encode("utf-8", "surrogatepass"), usedforsecurity=False).hexdigest()
    return Signal("url_md5", digest)


# Common file extensions that are also (or look like) top-level domains:
# "report.pdf" or "photo.jpg" on its own is a file name, not a web address.
_FILE_SUFFIXES = frozenset(
    "txt text md csv tsv json jsonl xml yaml yml toml ini log pdf doc docx odt rtf "
    "xls xlsx ppt pptx jpg jpeg png gif webp bmp tif tiff heic avif svg mp3 mp4 m4a "
    "mov avi mkv webm flv wav ogg zip rar gz tgz bz2 xz 7z tar py js ts sh exe bin "
    "dat db html htm php".split()
)
_BARE_HOST_RE = re.compile(r"^[^\s/?#@:]+\.([^\W\d_]{2,}|xn--[a-z0-9\-]+)(?::\d{1,5})?(?:[/?#]\S*)?$")


def looks_like_url(s: str) -> bool:
    """True if ``s`` (one token, no inner spaces) should be treated as a web URL.

    Accepts ``http://``/``https://`` URLs, ``www.`` addresses and bare
    ``host.tld/...`` forms whose last label is alphabetic and is not a common
    file extension (so ``report.pdf`` stays a file name, ``t.me/channel`` is a
    URL). E-mail addresses and sentences are not URLs.
    """
    if not isinstance(s, str):
        return False
    token = s.strip(_WS_STRIP)
    if not token or any(ch.isspace() for ch in token):
        return False
    lowered = token.lower()
    if not lowered.startswith(("http://", "https://", "www.")):
        bare = _BARE_HOST_RE.match(token)
        if bare is None or bare.group(1).lower() in _FILE_SUFFIXES:
            return False
    try:
        canonicalize_url(token)
    except InvalidInput:
        return False
    return True


def _split_scheme(raw: str) -> tuple[str, str]:
    """Return (lower-case scheme, the rest starting with ``//``)."""
    match = _SCHEME_RE.match(raw)
    if match is not None and not raw[match.end() :][:1].isdigit():
        scheme = match.group(1).lower()
        rest = raw[match.end() :]
        if scheme not in _SCHEMES:
            raise InvalidInput(
                f"unsupported URL scheme {scheme!r}: only http and https URLs are accepted"
            )
        if not rest.startswith("//"):
            raise InvalidInput(f"malformed URL (expected '//' after '{scheme}:'): {_preview(raw)}")
        return scheme, rest
    # No scheme ("example.com/x", "localhost:8080/x" or "//example.com/x").
    return "https", raw if raw.startswith("//") else "//" + raw


def _split_authority(authority: str, url: str) -> tuple[str, int | None]:
    """Drop user info; split ``host[:port]``; check the port."""
    hostport = authority.rpartition("@")[2]
    if hostport.startswith("["):
        end = hostport.find("]")
        if end < 0:
            raise InvalidInput(f"unterminated IPv6 address in URL: {_preview(url)}")
        host, after = hostport[: end + 1], hostport[end + 1 :]
        if after and not after.startswith(":"):
            raise InvalidInput(f"unexpected text after IPv6 address in URL: {_preview(url)}")
        port_text = after[1:] if after else None
    else:
        host, sep, port_text = hostport.partition(":")
        port_text = port_text if sep else None
    if port_text is None or port_text == "":
        return host, None
    if not port_text.isascii() or not port_text.isdigit() or int(port_text) > 65535:
        raise InvalidInput(f"invalid port {port_text!r} in URL: {_preview(url)}")
    return host, int(port_text)


def _canonical_host(host: str, url: str) -> str:
    if host.startswith("["):
        try:
            address = ipaddress.IPv6Address(host[1:-1])
        except ValueError as exc:
            raise InvalidInput(f"invalid IPv6 address {host!r} in URL") from exc
        return f"[{address.compressed}]"
    host = _percent_decode_host(host).translate(_DOT_LIKE)
    if host.endswith("."):
        host = host[:-1]
    if not host:
        raise InvalidInput(f"URL has no host: {_preview(url)}")
    if any(ch.isspace() or unicodedata.category(ch) == "Cc" for ch in host):
        raise InvalidInput(f"URL host contains spaces or control characters: {_preview(url)}")
    labels = [_ascii_label(label, host) for label in host.split(".")]
    return ".".join(labels)


def _ascii_label(label: str, host: str) -> str:
    if not label:
        raise InvalidInput(f"URL host {host!r} has an empty label ('..')")
    if label.isascii():
        ascii_label = label.lower()
    else:
        ascii_label = _idna_label(label, host)
    if len(ascii_label) > 63 or not _ASCII_LABEL_RE.match(ascii_label):
        raise InvalidInput(f"invalid character or length in URL host {host!r}")
    return ascii_label


def _idna_label(label: str, host: str) -> str:
    """IDNA 2008 + UTS #46; IDNA 2003 (Python's codec) only if 2008 refuses."""
    try:
        return idna.encode(label, uts46=True).decode("ascii")
    except UnicodeError as exc_2008:  # idna.IDNAError is a UnicodeError
        try:
            return unicodedata.normalize("NFC", label).encode("idna").decode("ascii").lower()
        except UnicodeError:
            raise InvalidInput(
                f"URL host {host!r} is not a valid internationalised domain name: {exc_2008}"
            ) from exc_2008


def _percent_decode_host(host: str) -> str:
    if "%" not in host:
        return host
    data = _escapes_to_bytes(host)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"URL host {host!r} has percent-escapes that are not UTF-8") from exc


def _escapes_to_bytes(text: str) -> bytes:
    out = bytearray()
    i = 0
    while i < len(text):
        if text[i] == "%" and text[i + 1 : i + 3].isascii() and _is_hex2(text, i + 1):
            out.append(int(text[i + 1 : i + 3], 16))
            i += 3
        else:
            out += text[i].encode("utf-8", "surrogatepass")
            i += 1
    return bytes(out)


def _is_hex2(text: str, start: int) -> bool:
    pair = text[start : start + 2]
    return len(pair) == 2 and pair[0] in _HEX and pair[1] in _HEX


def _normalise_escapes(text: str, safe: frozenset[str]) -> str:
    """Decode escapes of unreserved characters, upper-case the others, and
    percent-encode (as UTF-8) every character outside ``safe``."""
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "%" and _is_hex2(text, i + 1):
            decoded = chr(int(text[i + 1 : i + 3], 16))
            out.append(decoded if decoded in _UNRESERVED else "%" + text[i + 1 : i + 3].upper())
            i += 3
            continue
        if ch in safe:
            out.append(ch)
        else:
            out.extend(f"%{b:02X}" for b in ch.encode("utf-8", "surrogatepass"))
        i += 1
    return "".join(out)


def _canonical_path(path: str) -> str:
    path = _remove_dot_segments(_normalise_escapes(path, _PATH_SAFE))
    if not path.startswith("/"):
        path = "/" + path
    if len(path) > 1 and path.endswith("/"):
        path = path.rstrip("/") or "/"
    return path


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4, on an absolute path."""
    segments = path.split("/")
    out: list[str] = []
    for i, segment in enumerate(segments):
        last = i == len(segments) - 1
        if segment == ".":
            if last:
                out.append("")
        elif segment == "..":
            if len(out) > 1:
                out.pop()
            if last:
                out.append("")
        else:
            out.append(segment)
    result = "/".join(out)
    return result if result.startswith("/") else "/" + result


def _canonical_query(query: str) -> str:
    pairs: list[tuple[str, str]] = []
    for item in query.split("&"):
        if not item:
            continue
        name, sep, value = item.partition("=")
        name = _normalise_escapes(name, _QUERY_SAFE)
        if _is_tracking(name):
            continue
        pairs.append((name, sep + _normalise_escapes(value, _QUERY_SAFE)))
    pairs.sort()
    return "&".join(name + value for name, value in pairs)


def _is_tracking(name: str) -> bool:
    lowered = _escapes_to_bytes(name).decode("utf-8", "replace").lower()
    return lowered in TRACKING_PARAMS or lowered.startswith(TRACKING_PREFIXES)


def _preview(url: str, limit: int = 80) -> str:
    text = url.strip()
    return repr(text if len(text) <= limit else text[:limit] + "...")
