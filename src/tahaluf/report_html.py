"""The HTML scan report: one self-contained page a reviewer can open anywhere.

Each input that matched (or failed) gets a card: what matched in which bank,
how it matched in words (mirrored, rotated 90°, cropped, caption removed),
the bank item's labels, and the content side by side: photos (the input's
thumbnail and the bank item's stored thumbnail), video frames that matched,
and texts with the passages they share highlighted, right-to-left for
Arabic. Inputs without matches are listed at the end.

Safety rules, because everything shown comes from users or partners:

* every string is HTML-escaped, names and labels are isolated with
  ``<bdi dir="auto">`` so right-to-left text cannot reorder the page;
* images are embedded as ``data:`` JPEGs made from the user's own inputs and
  from previews tahaluf stored itself at ``bank add`` time, never from a path
  named by a bank item's provenance (partners' data);
* photos are blurred until a reviewer presses them (a ``<button>``: mouse or
  keyboard), never revealed on hover;
* a Content-Security-Policy allows only this page's own style and script.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from tahaluf.errors import TahalufError
from tahaluf.services.matching import Match
from tahaluf.services.previews import jpeg_data_uri, photo_thumbnail, video_thumbnails
from tahaluf.services.scanning import ScanResult
from tahaluf.signals import text as textmod
from tahaluf.signals.normalize import normalize_text
from tahaluf.signals.photo import DIHEDRAL_ORDER
from tahaluf.signals.photo_variants import query_variants
from tahaluf.signals.text import text_signal
from tahaluf.storage.repository.base import ItemPreviewRecord, ItemRecord, Repository

__all__ = ["HtmlReport", "highlight_shared", "describe_photo_match"]

#: consecutive shared shingles needed to highlight a passage (~ 2 words)
MIN_PASSAGE_WINDOWS = 6
#: at most this many matched frames of a video are shown
VIDEO_FRAMES_SHOWN = 4
#: a video frame "matches" a bank frame within this PDQ distance (vPDQ's default)
VIDEO_FRAME_DISTANCE = 31

#: how the query photo relates to the bank photo when its dihedral hash ``name`` matched
_ORIENTATION = {
    "original": "",
    "rotate90": "rotated 90° clockwise",
    "rotate180": "rotated 180°",
    "rotate270": "rotated 90° counter-clockwise",
    "flipx": "flipped upside down",
    "flipy": "mirrored",
    "flip_plus1": "mirrored and rotated 90°",
    "flip_minus1": "mirrored and rotated 90°",
}
_QUERY_VARIANT = {"trimmed": "borders removed", "caption": "caption removed", "?": "borders or caption removed"}
_BANK_CROP = {"trimmed": "borders removed", "center94": "cropped (about 3% off each side)",
              "center88": "cropped (about 6% off each side)", "center82": "cropped (about 9% off each side)"}
_RELATION = {
    "near_duplicate": "near-duplicate text",
    "query_within_item": "the input is a part of the bank text (a shortened repost)",
    "item_within_query": "the bank text is quoted within the longer input",
}

_CSS = """
body{font-family:system-ui,'Noto Naskh Arabic','Segoe UI',sans-serif;margin:2em;color:#222;max-width:72em}
h1{font-size:1.4em} h2{font-size:1.1em;margin:.2em 0} h3{font-size:1em;margin:.6em 0 .2em}
.input{border:1px solid #ccc;border-radius:6px;padding:1em;margin:1em 0}
.match{border-top:1px solid #eee;padding-top:.4em}
.badge{display:inline-block;padding:.1em .5em;border-radius:4px;font-size:.85em;color:#fff}
.known{background:#b3261e} .allow{background:#2e7d32} .err{background:#e65100}
.how{margin:.2em 0;font-weight:600} .note{color:#555;font-style:italic}
.pair{display:flex;gap:1em;align-items:flex-start;flex-wrap:wrap} figure{margin:0;max-width:260px}
figcaption{font-size:.85em;color:#444}
.reveal{padding:0;border:2px solid #888;border-radius:4px;background:#000;cursor:pointer;overflow:hidden;display:block}
.reveal img{display:block;filter:blur(18px);transform:scale(1.1)}
.reveal[aria-pressed=true] img{filter:none;transform:none}
.reveal:focus-visible{outline:3px solid #1a73e8;outline-offset:2px}
.texts{display:grid;grid-template-columns:1fr 1fr;gap:1em}
.text{white-space:pre-wrap;background:#fafafa;padding:.6em;border-radius:4px;line-height:1.7;margin:0}
mark{background:#ffe082} dl.labels{display:flex;flex-wrap:wrap;gap:.3em 1em;margin:.3em 0}
dl.labels dt{font-weight:600} dl.labels dt::after{content:":"} dl.labels dd{margin:0}
.chip{display:inline-block;background:#eef;border-radius:3px;padding:0 .4em;margin-inline-end:.3em}
.evidence{font-size:.85em;color:#555}
"""

# A click (mouse, or Enter/Space on the focused button) shows or hides one photo.
_SCRIPT = """document.addEventListener('click',function(e){var b=e.target.closest('button.reveal');
if(!b)return;var on=b.getAttribute('aria-pressed')!=='true';b.setAttribute('aria-pressed',on?'true':'false');
b.title=on?'Hide the photo':'Show the photo';});"""


def _esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _bdi(value: Any) -> str:
    """User or partner text inline: escaped and isolated from the page's direction."""
    return f'<bdi dir="auto">{_esc(value)}</bdi>'


def _csp_hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def _is_rtl(text: str) -> bool:
    letters = [c for c in text[:2000] if c.isalpha()]
    rtl = sum(1 for c in letters if "\u0590" <= c <= "\u08ff" or "\ufb1d" <= c <= "\ufefc")
    return bool(letters) and rtl * 2 >= len(letters)


def _dir_attrs(text: str) -> str:
    return 'dir="rtl" lang="ar"' if _is_rtl(text) else 'dir="auto"'


def highlight_shared(text: str, other_sketch: str) -> str:
    """HTML of the normalised ``text`` with the passages whose shingles are in ``other_sketch`` marked."""
    norm = normalize_text(text)
    sketch = textmod.TextSketch.from_value(other_sketch)
    n = textmod.SHINGLE_CHARS
    if len(norm) < n:
        return html.escape(norm)
    hit = np.isin(textmod.window_hashes(norm, n), sketch.hashes)
    marked = np.zeros(len(norm), dtype=bool)
    start = None
    for i, h in enumerate([*hit.tolist(), False]):
        if h and start is None:
            start = i
        elif not h and start is not None:
            if i - start >= MIN_PASSAGE_WINDOWS:  # a passage, not a shared syllable
                marked[start : i - 1 + n] = True
            start = None
    out, i = [], 0
    while i < len(norm):
        j = i
        while j < len(norm) and marked[j] == marked[i]:
            j += 1
        chunk = html.escape(norm[i:j])
        out.append(f"<mark>{chunk}</mark>" if marked[i] else chunk)
        i = j
    return "".join(out)


# -- how a photo matched ------------------------------------------------------
def _distance(a: str, b: str) -> int:
    try:
        return (int(a, 16) ^ int(b, 16)).bit_count()
    except ValueError:
        return 256


def _query_candidates(r: ScanResult) -> list[tuple[str, str, str]]:
    """``(variant, orientation, hash)`` of every hash the query photo was matched with."""
    sig = next((s for s in r.signals if s.type == "pdq"), None)
    if sig is None:
        return []
    dihedral = sig.extra.get("dihedral") or [sig.value]
    out = [("", o, h) for o, h in zip(DIHEDRAL_ORDER, dihedral, strict=False)]
    variants = list(sig.extra.get("variants") or [])
    per = 8 if len(dihedral) == 8 else 1
    names = ["trimmed", "caption"] if len(variants) == 2 * per else [_variant_name(r)]
    for k, h in enumerate(variants):
        out.append((names[min(k // per, len(names) - 1)], DIHEDRAL_ORDER[k % per] if per == 8 else "original", h))
    return out


def _variant_name(r: ScanResult) -> str:
    """Which single variant (borders or caption removed) the query photo had: recomputed from the file."""
    if not r.path:
        return "?"
    try:
        with Image.open(r.path) as im:
            if im.width * im.height > 64_000_000:
                return "?"
            rgb = np.asarray(im.convert("RGB"))
        names = [name for name, _, _ in query_variants(rgb)]
    except (OSError, ValueError, UnidentifiedImageError, Image.DecompressionBombError):
        return "?"
    return names[0] if len(names) == 1 else "?"


def describe_photo_match(r: ScanResult, item: ItemRecord | None, distance: int | None) -> str:
    """In words, how the input photo differs from the bank photo it matched."""
    bank = [(s.extra or {}).get("crop") or "" for s in (item.signals if item else ()) if s.signal_type == "pdq"]
    bank_values = [s.value for s in (item.signals if item else ()) if s.signal_type == "pdq"]
    best: tuple[int, int, str, str, str] | None = None
    for rank, (variant, orientation, h) in enumerate(_query_candidates(r)):
        for crop, value in zip(bank, bank_values, strict=True):
            d = _distance(h, value)
            key = (d, rank, variant, orientation, crop)
            if best is None or key[:2] < best[:2]:
                best = key
    if best is None:
        return "similar photo" if distance is None else f"similar photo (PDQ distance {distance} of 256 bits)"
    d, _, variant, orientation, crop = best
    words = [w for w in (_ORIENTATION.get(orientation, orientation), _QUERY_VARIANT.get(variant, variant),
                         _BANK_CROP.get(crop, crop)) if w]
    what = ", ".join(words) if words else ("identical picture" if d == 0 else "same picture, re-encoded or resized")
    return f"{what} (PDQ distance {d} of 256 bits)"


# -- video frames -------------------------------------------------------------
def _frames(value: str) -> tuple[np.ndarray, list[float]]:
    try:
        items = json.loads(value)
        hexes = [str(x).split(",")[0] for x in items]
        stamps = [float(str(x).split(",")[2]) for x in items]
        bits = np.array([np.frombuffer(bytes.fromhex(h), dtype=np.uint8) for h in hexes], dtype=np.uint8)
    except (ValueError, IndexError, TypeError):
        return np.zeros((0, 32), dtype=np.uint8), []
    return bits.reshape(-1, 32), stamps


_POPCOUNT = np.array([bin(i).count("1") for i in range(256)], dtype=np.uint16)


def _spread(n: int, most: int) -> np.ndarray:
    return np.unique(np.linspace(0, n - 1, min(n, most)).round().astype(np.int64))


def matched_frames(query_vpdq: str, bank_vpdq: str, limit: int = VIDEO_FRAMES_SHOWN) -> list[tuple[float, float]]:
    """``(input time, bank time)`` of up to ``limit`` matching frames, spread over the input.

    At most 400 input frames and 4000 bank frames (evenly spread) are compared,
    a few thousand rows at a time, so a long video costs little memory.
    """
    q, q_ts = _frames(query_vpdq)
    b, b_ts = _frames(bank_vpdq)
    if not len(q) or not len(b):
        return []
    q_rows, b_rows = _spread(len(q), 400), _spread(len(b), 4000)
    q, b = q[q_rows], b[b_rows]
    best = np.empty(len(q), dtype=np.int64)
    best_d = np.empty(len(q), dtype=np.uint16)
    step = max(1, 500_000 // len(b))
    for start in range(0, len(q), step):
        d = _POPCOUNT[q[start : start + step, None, :] ^ b[None, :, :]].sum(axis=2)
        best[start : start + step] = d.argmin(axis=1)
        best_d[start : start + step] = d.min(axis=1)
    ok = np.flatnonzero(best_d <= VIDEO_FRAME_DISTANCE)
    if not len(ok):
        return []
    pick = ok[_spread(len(ok), limit)]
    return [(q_ts[q_rows[i]], b_ts[b_rows[best[i]]]) for i in pick.tolist()]


def _clock(seconds: float) -> str:
    minutes, rest = divmod(max(0.0, seconds), 60)
    return f"{int(minutes)}:{rest:04.1f}"


# -- the page -------------------------------------------------------------------
def _photo(uri: str | None, caption: str) -> str:
    if uri is None:
        return f'<figure><p class="note">{_esc(caption)}</p></figure>'
    return (f'<figure><button type="button" class="reveal" aria-pressed="false" title="Show the photo">'
            f'<img src="{uri}" alt="{_esc(caption)} (blurred: press to show)"></button>'
            f"<figcaption>{_esc(caption)}</figcaption></figure>")


def _labels(labels: dict[str, Any]) -> str:
    if not labels:
        return ""
    rows = []
    for key, value in labels.items():
        values = value if isinstance(value, list) else [value]
        chips = "".join(f'<span class="chip">{_bdi(v)}</span>' for v in values)
        rows.append(f"<dt>{_bdi(key)}</dt><dd>{chips}</dd>")
    return f'<dl class="labels">{"".join(rows)}</dl>'


def _how(m: Match, r: ScanResult, item: ItemRecord | None) -> str:
    ev = m.evidence
    if m.signal_type == "pdq":
        how = "Photo: " + describe_photo_match(r, item, m.distance)
    elif m.signal_type in ("md5", "sha256"):
        how = f"Identical file (same {m.signal_type.upper().replace('SHA256', 'SHA-256')})"
    elif m.signal_type == "url":
        how = "Same URL (canonical form)"
    elif m.signal_type == "url_md5":
        how = "Same URL (python-threatexchange url_md5)"
    elif m.signal_type == "text":
        how = f"Text: {_RELATION.get(ev.get('relation', ''), 'similar text')}"
    elif m.signal_type == "vpdq":
        how = (f"Video: {ev.get('query_match_pct', 0):g}% of the input's frames match the bank video; "
               f"{ev.get('index_match_pct', 0):g}% of the bank video's frames are in the input")
    else:
        how = f"{m.signal_type} match"
    also = ev.get("also_matched")
    if also:
        how += f"; also matched by {', '.join(map(str, also))}"
    return f'<p class="how">{_esc(how)}</p>'


def _evidence(m: Match) -> str:
    parts = []
    if m.signal_type == "text":
        ev = m.evidence
        parts.append(f"Jaccard similarity {ev.get('jaccard', m.similarity or 0):.2f}")
        parts.append(f"{100 * float(ev.get('query_in_item', 0)):.0f}% of the input's passages are in the bank text")
        parts.append(f"{100 * float(ev.get('item_in_query', 0)):.0f}% of the bank text's passages are in the input")
    return f'<p class="evidence">{_esc("; ".join(parts))}</p>' if parts else ""


class HtmlReport:
    """Collects results; :meth:`render` returns the page."""

    def __init__(self, repo: Repository, title: str = "tahaluf scan report") -> None:
        self.repo, self.title = repo, title
        self.parts: list[str] = []
        self.unmatched: list[str] = []
        self.counts = {"inputs": 0, "matched": 0, "actionable": 0, "allowed": 0, "errors": 0}

    def add(self, r: ScanResult) -> None:
        c = self.counts
        c["inputs"] += 1
        c["matched"] += bool(r.matches)
        c["actionable"] += r.actionable
        c["allowed"] += r.allowed
        c["errors"] += bool(r.error)
        if r.matches or r.error:
            self.parts.append(self._input_html(r))
        else:
            self.unmatched.append(r.input)

    def _input_html(self, r: ScanResult) -> str:
        if r.error:
            badge = '<span class="badge err">error</span>'
        elif r.allowed:
            badge = '<span class="badge allow">allow-listed: do not action</span>'
        else:
            badge = '<span class="badge known">matches known content</span>'
        rows = [f'<section class="input"><h2>{_bdi(r.input)} {badge}</h2>']
        if r.error:
            rows.append(f'<p dir="auto">{_esc(r.error)}</p>')
        ids = [m.item_id for m in r.matches]
        items = self.repo.get_items(ids) if ids else {}
        previews = self.repo.get_item_previews(ids) if ids else {}
        query_thumb = self._input_thumb(r)
        for m in r.matches:
            rows.append(self._match_html(r, m, items.get(m.item_id), previews.get(m.item_id), query_thumb))
        rows.append("</section>")
        return "\n".join(rows)

    @staticmethod
    def _input_thumb(r: ScanResult) -> str | None:
        if r.content_type != "photo" or not r.path or not r.matches:
            return None
        data = photo_thumbnail(r.path)  # the user's own input file
        return jpeg_data_uri(data) if data else None

    def _match_html(self, r: ScanResult, m: Match, item: ItemRecord | None,
                    preview: ItemPreviewRecord | None, query_thumb: str | None) -> str:
        kind = '<span class="badge allow">allow bank</span>' if m.bank_kind == "allow" else \
            '<span class="badge known">known bank</span>'
        head = f'<div class="match"><h3>{kind} {_bdi(m.bank)} · item {_bdi(m.external_id)}</h3>'
        body = ""
        bank_image = jpeg_data_uri(preview.image) if preview and preview.image else None
        if r.content_type == "photo":
            body = ('<div class="pair">' + _photo(query_thumb, "input")
                    + _photo(bank_image, "bank item" if bank_image else
                             "bank item: no picture held here (signals only)") + "</div>")
        elif m.signal_type == "vpdq":
            body = self._video_html(r, item, bank_image)
        elif m.signal_type == "text" and r.text:
            body = self._text_html(r, item, preview)
        return f"{head}{_how(m, r, item)}{_labels(m.labels)}{_evidence(m)}{body}</div>"

    @staticmethod
    def _text_html(r: ScanResult, item: ItemRecord | None, preview: ItemPreviewRecord | None) -> str:
        bank_sketch = next((s.value for s in (item.signals if item else ()) if s.signal_type == "text"), None)
        left = (f'<div><h4>Input (normalised), shared passages marked</h4>'
                f'<p class="text" {_dir_attrs(r.text or "")}>'
                f'{highlight_shared(r.text or "", bank_sketch) if bank_sketch else _esc(r.text)}</p></div>')
        if preview and preview.text:
            try:
                query_sketch = text_signal(r.text or "").value
                bank_html = highlight_shared(preview.text, query_sketch)
            except TahalufError:
                bank_html = _esc(preview.text)
            right = (f'<div><h4>Bank item (normalised)</h4>'
                     f'<p class="text" {_dir_attrs(preview.text)}>{bank_html}</p></div>')
        else:
            right = ('<div><h4>Bank item</h4><p class="note">The bank holds only this item\'s text sketch '
                     "(signals, not content), so its text cannot be shown here; the passages it shares "
                     "with the input are marked in the input.</p></div>")
        return f'<div class="texts">{left}{right}</div>'

    @staticmethod
    def _video_html(r: ScanResult, item: ItemRecord | None, bank_image: str | None) -> str:
        query = next((s.value for s in r.signals if s.type == "vpdq"), None)
        bank = next((s.value for s in (item.signals if item else ()) if s.signal_type == "vpdq"), None)
        pairs = matched_frames(query, bank) if query and bank else []
        figs = []
        if pairs and r.path:
            thumbs = video_thumbnails(r.path, [q for q, _ in pairs])  # the user's own input file
            for (q_ts, b_ts), data in zip(pairs, thumbs, strict=True):
                caption = f"input at {_clock(q_ts)} (matches the bank video at {_clock(b_ts)})"
                figs.append(_photo(jpeg_data_uri(data) if data else None, caption))
        if not figs:
            figs.append('<figure><p class="note">no frame of the input can be shown</p></figure>')
        figs.append(_photo(bank_image, "bank video" if bank_image else
                           "bank video: no picture held here (signals only)"))
        return f'<div class="pair">{"".join(figs)}</div>'

    def render(self) -> str:
        c = self.counts
        summary = " · ".join(f"{k}: {v}" for k, v in c.items())
        csp = (f"default-src 'none'; img-src data:; style-src {_csp_hash(_CSS)}; "
               f"script-src {_csp_hash(_SCRIPT)}; base-uri 'none'; form-action 'none'")
        unmatched = ""
        if self.unmatched:
            names = "".join(f"<li>{_bdi(n)}</li>" for n in self.unmatched)
            unmatched = (f'<section class="input"><details><summary>Inputs without matches '
                         f"({len(self.unmatched)})</summary><ul>{names}</ul></details></section>")
        return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
                f'<meta http-equiv="Content-Security-Policy" content="{csp}">'
                f"<title>{_esc(self.title)}</title><style>{_CSS}</style></head><body>"
                f"<h1>{_esc(self.title)}</h1><p>{summary}</p>"
                f"<p>A match is evidence for human review, not a verdict. Photos are blurred: "
                f"press one (or focus it and press Enter) to show it.</p>"
                + "\n".join(self.parts) + unmatched + f"<script>{_SCRIPT}</script></body></html>")

