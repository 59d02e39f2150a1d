"""Scan reports: JSON lines, CSV and a self-contained HTML page.

The HTML report shows each input with its matches and their evidence: photos
side by side with the bank item's source when that file is readable here
(original media stays with its owner, so usually only the query is shown),
and texts with the passage shared with the bank item highlighted, laid out
right-to-left where the text is Arabic. The highlight is computed from the
bank item's ``text`` signal (its hashed shingles), so no bank text is needed.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
import os
from typing import Any, TextIO

import numpy as np

from tahaluf.services.scanning import ScanResult
from tahaluf.storage.repository.base import Repository

__all__ = ["CSV_FIELDS", "write_jsonl_line", "CsvReport", "HtmlReport", "highlight_shared"]

#: consecutive shared shingles needed to highlight a passage (~ 2 words)
MIN_PASSAGE_WINDOWS = 6

CSV_FIELDS = (
    "input", "content_type", "error", "allowed", "actionable", "bank", "bank_kind",
    "item_id", "external_id", "signal_type", "distance", "similarity", "evidence", "labels",
)


def write_jsonl_line(out: TextIO, result: ScanResult) -> None:
    out.write(json.dumps(result.to_json(), ensure_ascii=False) + "\n")


class CsvReport:
    """One row per match (and one row for an input without matches)."""

    def __init__(self, out: TextIO) -> None:
        self.writer = csv.DictWriter(out, fieldnames=CSV_FIELDS)
        self.writer.writeheader()

    def add(self, r: ScanResult) -> None:
        base = {"input": r.input, "content_type": r.content_type, "error": r.error or "",
                "allowed": r.allowed, "actionable": r.actionable}
        if not r.matches:
            self.writer.writerow(base)
        for m in r.matches:
            j = m.to_json()
            self.writer.writerow({**base, **{k: j.get(k, "") for k in CSV_FIELDS if k in j},
                                  "evidence": json.dumps(m.evidence, ensure_ascii=False),
                                  "labels": json.dumps(m.labels, ensure_ascii=False)})


def _is_rtl(text: str) -> bool:
    letters = [c for c in text[:2000] if c.isalpha()]
    rtl = sum(1 for c in letters if "\u0590" <= c <= "\u08ff" or "\ufb1d" <= c <= "\ufefc")
    return bool(letters) and rtl * 2 >= len(letters)


def highlight_shared(text: str, bank_value: str) -> str:
    """HTML of the normalised ``text`` with the shingles found in ``bank_value`` marked."""
    from tahaluf.signals import text as textmod
    from tahaluf.signals.normalize import normalize_text

    norm = normalize_text(text)
    sketch = textmod.TextSketch.from_value(bank_value)
    n = textmod.SHINGLE_CHARS
    if len(norm) < n:
        return html.escape(norm)
    windows = textmod.window_hashes(norm, n)
    hit = np.isin(windows, sketch.hashes)
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


def _thumb(path: str | None, max_side: int = 240) -> str | None:
    if not path or not os.path.isfile(path):
        return None
    from PIL import Image

    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            im.thumbnail((max_side, max_side))
            buf = io.BytesIO()
            im.save(buf, "JPEG", quality=80)
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


_CSS = """
body{font-family:system-ui,'Noto Naskh Arabic','Segoe UI',sans-serif;margin:2em;color:#222}
h1{font-size:1.4em} .input{border:1px solid #ccc;border-radius:6px;padding:1em;margin:1em 0}
.badge{display:inline-block;padding:.1em .5em;border-radius:4px;font-size:.85em;color:#fff}
.known{background:#b3261e} .allow{background:#2e7d32} .none{background:#777} .err{background:#e65100}
.pair{display:flex;gap:1em;align-items:flex-start} .pair figure{margin:0}
.text{white-space:pre-wrap;background:#fafafa;padding:.6em;border-radius:4px;line-height:1.7}
mark{background:#ffe082} table{border-collapse:collapse} td,th{padding:.2em .6em;text-align:start}
"""


class HtmlReport:
    """Collects results; :meth:`render` returns the page."""

    def __init__(self, repo: Repository, title: str = "tahaluf scan report") -> None:
        self.repo, self.title, self.parts = repo, title, []
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

    def _input_html(self, r: ScanResult) -> str:
        if r.error:
            badge = '<span class="badge err">error</span>'
        elif r.allowed:
            badge = '<span class="badge allow">allow-listed: do not action</span>'
        else:
            badge = '<span class="badge known">matches known content</span>'
        rows = [f'<div class="input"><h2>{html.escape(r.input)} {badge}</h2>']
        if r.error:
            rows.append(f"<p>{html.escape(r.error)}</p>")
        items = self.repo.get_items([m.item_id for m in r.matches])
        for m in r.matches:
            rows.append(self._match_html(r, m, items.get(m.item_id)))
        rows.append("</div>")
        return "\n".join(rows)

    def _match_html(self, r: ScanResult, m: Any, item: Any) -> str:
        score = f"distance {m.distance}" if m.distance is not None else f"similarity {m.similarity:.2f}"
        head = (f"<h3>{html.escape(m.bank)} ({m.bank_kind}) · {html.escape(m.external_id)} · "
                f"{m.signal_type} · {score}</h3>")
        table = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(json.dumps(v, ensure_ascii=False))}</td></tr>"
                        for k, v in {**m.evidence, **m.labels}.items())
        body = ""
        if m.signal_type in ("pdq",) and r.content_type == "photo":
            q, b = _thumb(r.path), _thumb(getattr(item, "source", None))
            figs = [f'<figure><img src="{q}" alt="input"><figcaption>input</figcaption></figure>' if q else ""]
            figs.append(f'<figure><img src="{b}" alt="bank item"><figcaption>bank item</figcaption></figure>'
                        if b else "<figure><em>bank media not held here (signals only)</em></figure>")
            body = f'<div class="pair">{"".join(figs)}</div>'
        elif m.signal_type == "text" and r.text and item is not None:
            bank_value = next((s.value for s in item.signals if s.signal_type == "text"), None)
            if bank_value:
                direction = "rtl" if _is_rtl(r.text) else "ltr"
                body = (f'<p>Shared passage highlighted in the normalised input:</p>'
                        f'<div class="text" dir="{direction}" lang="{"ar" if direction == "rtl" else ""}">'
                        f"{highlight_shared(r.text, bank_value)}</div>")
        return f"{head}{body}<table>{table}</table>"

    def render(self) -> str:
        c = self.counts
        summary = " · ".join(f"{k}: {v}" for k, v in c.items())
        return (f'<!doctype html><html lang="en"><head><meta charset="utf-8">'
                f"<title>{html.escape(self.title)}</title><style>{_CSS}</style></head><body>"
                f"<h1>{html.escape(self.title)}</h1><p>{summary}</p>"
                f"<p>A match is evidence for human review, not a verdict.</p>"
                + "\n".join(self.parts) + "</body></html>")
