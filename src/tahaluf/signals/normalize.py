"""Arabic-first text normalisation for the ``text`` signal.

:func:`normalize_text` maps every spelling of "the same post" to one string,
so that re-typing, decoration and Unicode tricks do not change the signal.
It is deterministic (for one Unicode database version; the version in use is
:data:`UNICODE_VERSION`), idempotent and made of a few C-level passes:

1. ``NFKD`` (presentation forms FB50-FEFF, lam-alef ligatures, full-width
   letters, the ``ﬁ`` ligature, superscripts; precomposed letters split into a
   base letter and combining marks) and ``casefold`` (``ß`` -> ``ss``).
2. One ``str.translate`` pass with a lazily filled table (:data:`_TABLE`):

   - deleted: combining marks (Arabic tashkeel, Quranic annotation marks,
     superscript alef U+0670, hamza above/below left over by NFKD, Latin
     accents), tatweel U+0640, format characters (zero-width space/joiners,
     LRM/RLM, bidi embeddings and isolates, Arabic letter mark, BOM, soft
     hyphen, emoji tags);
   - folded: ``أ إ آ ٱ ٲ ٳ ٵ`` -> ``ا``; ``ؤ`` -> ``و`` and ``ئ`` -> ``ي``
     (the hamza seat is kept, the hamza dropped, as for ``أ``); stand-alone
     ``ء`` is kept; ``ى ی ې ۍ ے ۓ`` -> ``ي``; ``ة ۀ ە ہ ۂ ۃ ھ`` -> ``ه``;
     ``ک ڪ ػ ؼ`` -> ``ك``; Persian ``پ چ ژ گ`` are distinct letters and kept;
     every decimal digit (Arabic-Indic, Persian, ...) -> ASCII;
     ``œ æ ø ł đ ð þ ı`` -> ``oe ae o l d d th i``;
   - to a space: white space, control characters, non-ASCII punctuation
     (``، ؛ ؟ « » “ ” …``) and every non-ASCII symbol (emoji, skin-tone
     modifiers, regional-indicator flags, dingbats).

3. A token pass, only when the text holds ``@``, ``#``, ``/`` or ``www``:
   URLs and @mentions are dropped; hashtags at the start or end of the post
   (a leading or trailing run of hashtags, mentions and URLs) are dropped as
   decoration; hashtags inside a sentence keep their word (``#طقس_اليوم`` ->
   ``طقس اليوم``). The measured reason is in ``docs/text-signal.md``.
4. ASCII punctuation and symbols -> space, runs of white space -> one space,
   and ``NFC`` (only Hangul recomposes; it keeps the function idempotent).
"""

from __future__ import annotations

import re
import string
import unicodedata

__all__ = ["normalize_text", "NORMALIZATION_VERSION", "UNICODE_VERSION"]

#: bump when the output of :func:`normalize_text` changes for any input
NORMALIZATION_VERSION = 1
UNICODE_VERSION = unicodedata.unidata_version

_ALEF, _WAW, _YEH, _HEH, _KAF = "\u0627", "\u0648", "\u064a", "\u0647", "\u0643"

#: explicit folds, applied after NFKD + casefold; they win over categories
_FOLDS: dict[str, str | None] = {
    # alef forms that NFKD does not decompose
    "\u0671": _ALEF, "\u0672": _ALEF, "\u0673": _ALEF,
    "\u0674": None,  # high hamza (left by NFKD of U+0675..U+0678)
    "\u0640": None,  # tatweel
    "\u06e5": None, "\u06e6": None,  # Quranic small waw / small yeh
    # yeh forms (alef maqsura, Farsi yeh, Pashto/Urdu yeh)
    "\u0649": _YEH, "\u06cc": _YEH, "\u06d0": _YEH, "\u06cd": _YEH,
    "\u06d2": _YEH,
    # heh forms (teh marbuta, Persian/Urdu heh, ae)
    "\u0629": _HEH, "\u06d5": _HEH, "\u06c1": _HEH, "\u06c3": _HEH,
    "\u06be": _HEH,
    # kaf forms (keheh, swash kaf, Farsi keheh variants)
    "\u06a9": _KAF, "\u06aa": _KAF, "\u063b": _KAF, "\u063c": _KAF,
    # Latin letters that NFKD keeps whole
    "\u0153": "oe", "\u00e6": "ae", "\u00f8": "o", "\u0142": "l",
    "\u0111": "d", "\u00f0": "d", "\u00fe": "th", "\u0131": "i",
}
_FOLDS.update({c: c for c in _ALEF + _WAW + _YEH + _HEH + _KAF})


def _map_codepoint(cp: int) -> str | None:
    """Replacement of one code point in the main pass (None deletes it)."""
    ch = chr(cp)
    if ch in _FOLDS:
        return _FOLDS[ch]
    if cp < 0x80:
        # ASCII: letters and digits stay, control/space characters become a
        # space, punctuation waits for the token pass (URLs need it)
        return " " if ch.isspace() or cp < 0x20 or cp == 0x7F else ch
    cat = unicodedata.category(ch)
    if cat in ("Mn", "Me", "Cf"):
        return None
    if cat == "Nd":
        return str(unicodedata.decimal(ch))
    if cat[0] in "PSZ" or cat in ("Cc", "Cn", "Co", "Cs"):
        return " "
    return ch


class _LazyTable(dict[int, "str | None"]):
    """``str.translate`` table filled on first sight of each code point."""

    def __missing__(self, cp: int) -> str | None:
        value = _map_codepoint(cp)
        self[cp] = value
        return value


_TABLE = _LazyTable()
for _cp in range(0x80):  # warm the ASCII part (hit on every call)
    _TABLE[_cp]

_ASCII_PUNCT = str.maketrans({c: " " for c in string.punctuation})
_KEYCAP = re.compile("[0-9#*]\ufe0f?\u20e3")
_OPENERS = "".join(c for c in string.punctuation if c not in "#@")
_TOKEN_HINT = re.compile(r"[@#/]|www")


def _token_kind(token: str) -> str:
    """'url', 'mention', 'tag', 'punct' (no letter or digit) or 'word'."""
    token = token.lstrip(_OPENERS) or token
    if "://" in token or token.startswith("www."):
        return "url"
    if token[0] == "@":
        return "mention"
    if token[0] == "#":
        return "tag"
    if not any(c.isalnum() for c in token):
        return "punct"
    return "word"


def _drop_decoration(text: str) -> str:
    """Drop URLs, mentions and edge hashtag runs; keep inline hashtag words."""
    tokens = text.split()
    kinds = [_token_kind(t) for t in tokens]
    words = [i for i, k in enumerate(kinds) if k == "word"]
    if words:
        start, stop = words[0], words[-1] + 1
    else:  # a post made only of hashtags keeps their words
        start, stop = 0, len(tokens)
    kept = [
        tok.lstrip("#") if kind == "tag" else tok
        for tok, kind in zip(tokens[start:stop], kinds[start:stop], strict=True)
        if kind not in ("url", "mention")
    ]
    return " ".join(kept)


def normalize_text(text: str) -> str:
    """Return the canonical form of ``text`` (see the module docstring).

    The result is lower case, has no marks, no punctuation, no emoji, no
    URLs or mentions, single spaces and no leading or trailing space; it may
    be empty. ``normalize_text(normalize_text(s)) == normalize_text(s)``.
    """
    if "\u20e3" in text:
        text = _KEYCAP.sub(" ", text)
    text = unicodedata.normalize("NFKD", text).casefold().translate(_TABLE)
    if _TOKEN_HINT.search(text):
        text = _drop_decoration(text)
    text = " ".join(text.translate(_ASCII_PUNCT).split())
    if not text.isascii():
        text = unicodedata.normalize("NFC", text)
    return text
