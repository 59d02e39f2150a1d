"""Generate the Arabic PDF fixtures of tests/test_pdf_arabic.py (output is committed).

    apt-get install -y chromium libreoffice-writer-nogui fonts-noto-core
    .venv/bin/python scripts/make_arabic_pdfs.py

Writes into ``tests/data/arabic_pdf/``: ``source.txt`` (neutral Arabic
paragraphs: weather, football, a library, a market; one line mixes in Latin
words and numbers) and the same text printed to PDF by real producers:

- ``chromium-naskh.pdf``: headless Chromium (Skia), Noto Naskh Arabic;
- ``chromium-sans.pdf``: headless Chromium, Noto Sans Arabic;
- ``libreoffice.pdf``: LibreOffice Writer (HTML import, PDF export).

Tests read the committed files; they never need Chromium or LibreOffice.
"""

from __future__ import annotations

import html
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "data" / "arabic_pdf"
sys.path.insert(0, str(ROOT / "tests"))

from neutral_posts import OTHER_AR, POST_AR  # noqa: E402

PARAGRAPHS = [
    POST_AR,
    OTHER_AR,
    (ROOT / "src" / "tahaluf" / "demo" / "content" / "posts" / "weather-ar.txt").read_text(encoding="utf-8").strip(),
    "افتتحت مكتبة المدينة قسما جديدا باسم Open Library يضم 3000 كتاب، ويفتح أبوابه من الساعة 9 صباحا "
    "حتى 6 مساء كل يوم ما عدا الجمعة.",
    "ارتفع سعر القمح في سوق الجملة بنسبة 5 في المئة هذا الأسبوع، بينما بقي سعر البن مستقرا.",
]
FONTS = {"chromium-naskh": "Noto Naskh Arabic", "chromium-sans": "Noto Sans Arabic"}


def page_html(font: str) -> str:
    body = "\n".join(f"<p>{html.escape(p)}</p>" for p in PARAGRAPHS)
    return (f'<!doctype html><html lang="ar" dir="rtl"><head><meta charset="utf-8"><title>demo-entity</title>'
            f'<style>body{{font-family:"{font}",serif;font-size:15pt}}</style></head><body>{body}</body></html>')


def chromium(src: Path, out: Path, profile: Path) -> None:
    subprocess.run(["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    f"--user-data-dir={profile}", "--no-pdf-header-footer", f"--print-to-pdf={out}", str(src)],
                   check=True, capture_output=True, timeout=120)


def libreoffice(src: Path, out: Path, work: Path) -> None:
    subprocess.run(["soffice", "--headless", f"-env:UserInstallation=file://{work}/profile",
                    "--infilter=HTML (StarWriter)", "--convert-to", "pdf:writer_pdf_Export",
                    "--outdir", str(work), str(src)], check=True, capture_output=True, timeout=180)
    shutil.move(work / (src.stem + ".pdf"), out)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "source.txt").write_text("\n\n".join(PARAGRAPHS) + "\n", encoding="utf-8")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name, font in FONTS.items():
            src = work / f"{name}.html"
            src.write_text(page_html(font), encoding="utf-8")
            chromium(src, OUT / f"{name}.pdf", work / f"profile-{name}")
        src = work / "libreoffice.html"
        src.write_text(page_html("Noto Naskh Arabic"), encoding="utf-8")
        libreoffice(src, OUT / "libreoffice.pdf", work)
    for path in sorted(OUT.iterdir()):
        print(f"{path.relative_to(ROOT)}: {path.stat().st_size:,} bytes")


if __name__ == "__main__":
    main()
