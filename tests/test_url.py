"""URL canonical form, the ``url`` signal and ``looks_like_url``."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tahaluf.errors import ContentTooLarge, InvalidInput
from tahaluf.signals.url import (
    MAX_URL_BYTES,
    TRACKING_PARAMS,
    TRACKING_PREFIXES,
    canonicalize_url,
    looks_like_url,
    url_md5_signal,
    url_signal,
)

DOC = Path(__file__).parents[1] / "docs" / "url-canonical-form.md"
_ROW_RE = re.compile(r"^\| `([^`]+)` \| `([^`]+)` \|$")


def _doc_examples() -> list[tuple[str, str]]:
    rows = [_ROW_RE.match(line) for line in DOC.read_text(encoding="utf-8").splitlines()]
    return [(m.group(1), m.group(2)) for m in rows if m]


def test_doc_has_examples() -> None:
    assert len(_doc_examples()) >= 30


@pytest.mark.parametrize(("url", "expected"), _doc_examples())
def test_documented_examples(url: str, expected: str) -> None:
    assert canonicalize_url(url) == expected


CASES = [
    # scheme and host case, default port
    ("HTTPS://EXAMPLE.COM:443/Path", "https://example.com/Path"),
    # Arabic IDN: the IANA test domain (example.test in Arabic) and a .مصر host
    ("https://مثال.إختبار/", "https://xn--mgbh0fb.xn--kgbechtv/"),
    ("موقع.وزارة-الاتصالات.مصر/", "https://xn--4gbrim.xn----ymcbaaajlc6dj7bxne2c.xn--wgbh1c/"),
    # full-width letters and ideographic full stop are mapped (UTS #46)
    ("https://ｅｘａｍｐｌｅ。com/", "https://example.com/"),
    # Arabic path and query are percent-encoded as UTF-8
    ("https://example.com/أخبار?مدينة=القاهرة", None),
    # tabs/newlines inside are ignored, surrounding spaces trimmed
    ("  https://example.com/a\n/b\t ", "https://example.com/a/b"),
    # every tracking prefix and name is removed
    ("https://example.com/?utm_content=1&hsa_acc=2&pk_kwd=3&mtm_source=4&x=1", "https://example.com/?x=1"),
    ("https://example.com/?%75tm_source=x&x=1", "https://example.com/?x=1"),
    # underscores in ASCII host labels are tolerated
    ("https://my_host.example.com/", "https://my_host.example.com/"),
]


@pytest.mark.parametrize(("url", "expected"), CASES)
def test_canonical_cases(url: str, expected: str | None) -> None:
    canonical = canonicalize_url(url)
    assert canonical.isascii()
    if expected is not None:
        assert canonical == expected
    assert canonicalize_url(canonical) == canonical


def test_arabic_path_round_trip() -> None:
    raw = "https://example.com/أخبار?مدينة=القاهرة"
    encoded = canonicalize_url(raw)
    assert encoded.startswith("https://example.com/%D8%A3%D8%AE%D8%A8%D8%A7%D8%B1?")
    from urllib.parse import unquote

    assert unquote(encoded) == raw


@pytest.mark.parametrize("name", sorted(TRACKING_PARAMS))
def test_each_tracking_param_is_removed(name: str) -> None:
    url = f"https://example.com/story?id=42&{name}=abc123"
    assert canonicalize_url(url) == "https://example.com/story?id=42"


@pytest.mark.parametrize("prefix", TRACKING_PREFIXES)
def test_each_tracking_prefix_is_removed(prefix: str) -> None:
    url = f"https://example.com/story?{prefix}anything=1"
    assert canonicalize_url(url) == "https://example.com/story"


def test_similar_non_tracking_params_are_kept() -> None:
    url = "https://example.com/?size=1&utm=2&fbclid_x=3&t=30"
    assert canonicalize_url(url) == "https://example.com/?fbclid_x=3&size=1&t=30&utm=2"


def test_equivalent_urls_give_equal_signals() -> None:
    spellings = [
        "https://news.example.com/city/weather-report",
        "HTTPS://NEWS.EXAMPLE.COM:443/city/weather-report/",
        "news.example.com/city/./weather-report?utm_source=feed&fbclid=abc#top",
        "https://news.example.com./city/%77eather-report",
        "https://reader:pw@news.example.com/city/x/../weather-report",
    ]
    signals = [url_signal(url) for url in spellings]
    assert all(s == signals[0] for s in signals)
    signal = signals[0]
    assert signal.type == "url"
    canonical = "https://news.example.com/city/weather-report"
    assert signal.extra == {"canonical": canonical}
    assert signal.value == hashlib.sha256(canonical.encode()).hexdigest()
    assert signal.to_json()["canonical"] == canonical


def test_arabic_idn_and_punycode_give_equal_signals() -> None:
    assert url_signal("https://مثال.إختبار/رياضة") == url_signal(
        "https://xn--mgbh0fb.xn--kgbechtv/%d8%b1%d9%8a%d8%a7%d8%b6%d8%a9"
    )


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("https://example.com/football", "https://example.com/cooking"),
        ("https://example.com/News", "https://example.com/news"),
        ("https://example.com/a?id=1", "https://example.com/a?id=2"),
        ("https://example.com/a?flag", "https://example.com/a?flag="),
        ("http://example.com/a", "https://example.com/a"),
        ("https://www.example.com/a", "https://example.com/a"),
        ("https://example.com:8443/a", "https://example.com/a"),
        ("https://example.com/a%2Fb", "https://example.com/a/b"),
        ("https://example.com/#!/a", "https://example.com/#!/b"),
    ],
)
def test_different_urls_give_different_signals(a: str, b: str) -> None:
    assert url_signal(a).value != url_signal(b).value


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("javascript:alert(1)", "scheme 'javascript'"),
        ("mailto:editor@example.com", "scheme 'mailto'"),
        ("ftp://example.com/file", "scheme 'ftp'"),
        ("data:text/plain,hello", "scheme 'data'"),
        ("file:///etc/hosts", "scheme 'file'"),
        ("https://", "no host"),
        ("https:///path", "no host"),
        ("https://exa mple.com/", "spaces"),
        ("https://a..b/", "empty label"),
        ("https://-bad.example/", "invalid character"),
        ("https://bad<host>.example/", "invalid character"),
        ("https://" + "a" * 64 + ".example/", "length"),
        ("https://example.com:99999/", "invalid port"),
        ("https://example.com:8o/", "invalid port"),
        ("https://[::1/", "IPv6"),
        ("https://[zz::1]/", "IPv6"),
        ("http:example.com", "expected '//'"),
    ],
)
def test_invalid_urls(url: str, message: str) -> None:
    with pytest.raises(InvalidInput) as info:
        canonicalize_url(url)
    assert message in info.value.message
    assert info.value.code in {"invalid_input"}
    assert not looks_like_url(url)


def test_too_long_url_is_refused() -> None:
    ok = "https://example.com/" + "a" * (MAX_URL_BYTES - len("https://example.com/"))
    assert canonicalize_url(ok) == ok
    with pytest.raises(ContentTooLarge, match="8192 bytes"):
        canonicalize_url(ok + "a")


def test_non_string_is_refused() -> None:
    with pytest.raises(InvalidInput, match="must be a string"):
        canonicalize_url(b"https://example.com/")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "text",
    [
        "https://example.com",
        "http://example.com/a?b=1",
        "HTTPS://EXAMPLE.COM/",
        "www.example.com",
        "example.com",
        "t.me/channel_name",
        "news.example.co.uk/sport/football",
        "مثال.إختبار/رياضة",
        "xn--mgbh0fb.xn--kgbechtv",
        "example.com:8080/status",
        "  https://example.com/with-spaces-around  ",
    ],
)
def test_looks_like_url_true(text: str) -> None:
    assert looks_like_url(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "The weather in Cairo is sunny today.",
        "الطقس اليوم مشمس في القاهرة",
        "report.pdf",
        "photo.JPG",
        "notes.txt",
        "posts.jsonl",
        "editor@example.com",
        "3.14",
        "e.g.",
        "Done.",
        "javascript:alert(1)",
        "see example.com for details",
        "https://exa mple.com",
        "localhost",
    ],
)
def test_looks_like_url_false(text: str) -> None:
    assert not looks_like_url(text)


_label = st.from_regex(r"[a-z0-9]([a-z0-9\-]{0,10}[a-z0-9])?", fullmatch=True)
_segment = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=8
).map(lambda s: s.replace("/", "").replace("?", "").replace("#", ""))


@settings(max_examples=200, deadline=None)
@given(
    labels=st.lists(_label, min_size=1, max_size=3),
    upper=st.booleans(),
    segments=st.lists(_segment, max_size=4),
    params=st.lists(
        st.tuples(st.from_regex(r"[a-z]{1,4}", fullmatch=True), st.text(max_size=5)),
        max_size=4,
    ),
)
def test_canonical_form_is_idempotent_and_ascii(
    labels: list[str], upper: bool, segments: list[str], params: list[tuple[str, str]]
) -> None:
    host = ".".join(labels) + ".example"
    host = host.upper() if upper else host
    from urllib.parse import quote

    query = "&".join(f"{k}={quote(v, safe='')}" for k, v in params)
    url = f"https://{host}/" + "/".join(segments) + (f"?{query}" if query else "")
    canonical = canonicalize_url(url)
    assert canonical.isascii()
    assert canonicalize_url(canonical) == canonical
    assert canonical.startswith(f"https://{host.lower()}/")


@settings(max_examples=100, deadline=None)
@given(
    params=st.lists(
        st.tuples(st.from_regex(r"[a-z]{1,4}", fullmatch=True), st.from_regex(r"[a-z0-9]{0,4}", fullmatch=True)),
        min_size=1,
        max_size=5,
    ),
    seed=st.randoms(use_true_random=False),
)
def test_query_order_does_not_matter(params: list[tuple[str, str]], seed) -> None:  # type: ignore[no-untyped-def]
    shuffled = list(params)
    seed.shuffle(shuffled)
    a = "https://example.com/a?" + "&".join(f"{k}={v}" for k, v in params)
    b = "https://example.com/a?" + "&".join(f"{k}={v}" for k, v in shuffled)
    assert canonicalize_url(a) == canonicalize_url(b)


# URLs on which tahaluf's url_md5 must equal python-threatexchange's (plus its own examples)
_PYTX_URLS = [
    "https://example.org/weather/today?city=Tunis",
    "HTTPS://WWW.Example.ORG/Weather/Today?City=Tunis",
    "http://example.org/weather/today?city=Tunis",
    "example.org/weather/today?city=Tunis",
    "www.example.org/markets/",
    "https://example.org/markets/",
    "https://example.org/markets",
    "https://example.org",
    "https://example.org/",
    "https://example.org/library?b=2&a=1&utm_source=demo",
    "https://example.org/library?q=",
    "https://example.org/library?",
    "https://example.org/library#",
    "https://example.org/library#section-2",
    "https://example.org/app#!/weather/today",
    "https://example.org/a/./b/../c",
    "https://user:pass@Example.org:8443/x?y=z#w",
    "https://مثال.مصر/الطقس/اليوم?مدينة=تونس",
    "https://xn--mgbh0fb.xn--wgbh1c/",
    "https://example.org/%D8%B7%D9%82%D8%B3?q=%7e",
    "https://example.org/Straße/ÉTÉ",
    "https://example.org/i̇stanbul/İSTANBUL",
    "https://example.org/redirect?to=https://example.com/x",
    "https://[2001:db8::1]:8080/markets",
    "https://example.org/weather today",
    "https://example.org/weather%20today/",
    "HTTP://EXAMPLE.ORG/UPPER/CASE/",
    "https://example.org/emoji/☀️",
]


@pytest.mark.parametrize("url", _PYTX_URLS)
def test_url_md5_is_pytx_url_md5(url: str) -> None:
    from threatexchange.signal_type.url_md5 import UrlMD5Signal

    signal = url_md5_signal(url)
    assert signal.type == "url_md5" and re.fullmatch(r"[0-9a-f]{32}", signal.value)
    assert signal.value == UrlMD5Signal.hash_from_str(url)


def test_url_md5_of_pytx_examples() -> None:
    from threatexchange.signal_type.url import URLSignal
    from threatexchange.signal_type.url_md5 import UrlMD5Signal

    examples = URLSignal.get_examples()
    assert examples
    assert [url_md5_signal(u).value for u in examples] == UrlMD5Signal.get_examples()


def test_url_md5_refuses_what_the_url_signal_refuses() -> None:
    for bad in ("javascript:alert(1)", "", "https://exa mple.org/"):
        with pytest.raises(InvalidInput):
            url_md5_signal(bad)


@settings(max_examples=300, deadline=None)
@given(
    scheme=st.sampled_from(["http://", "https://", "HTTPS://", "HtTp://", ""]),
    host=st.sampled_from(["example.org", "WWW.Example.ORG", "مثال.مصر", "example.org:8080", "[2001:db8::1]"]),
    rest=st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=30),
)
def test_url_md5_matches_pytx_on_generated_urls(scheme: str, host: str, rest: str) -> None:
    from threatexchange.signal_type.url_md5 import UrlMD5Signal

    url = f"{scheme}{host}/{rest}"
    try:
        ours = url_md5_signal(url).value
    except (InvalidInput, ContentTooLarge):
        return  # not a web URL for tahaluf: neither signal is computed
    assert ours == UrlMD5Signal.hash_from_str(url.strip("\t\n\r\f\v "))
