"""Generate tahaluf's neutral demo content (deterministic; output is committed).

    .venv/bin/python scripts/make_demo_data.py

Writes into ``src/tahaluf/demo/``:
- ``content/photos/*.png|jpg``: generated pictures (gradients, shapes, a
  procedural landscape) — no third-party images;
- ``content/video/shapes.mp4``: a 3-second generated H.264 clip;
- ``content/posts/*.txt`` and ``posts.jsonl`` are hand-written (not generated
  here) neutral Arabic, English and French posts.
Everything is labelled with the fictional ``demo-entity`` when banked.
"""

from __future__ import annotations

import math
from pathlib import Path

import av
import numpy as np
from PIL import Image, ImageDraw

OUT = Path(__file__).resolve().parents[1] / "src" / "tahaluf" / "demo" / "content"
SIZE = (320, 240)


def landscape(seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    w, h = SIZE
    y = np.linspace(0, 1, h)[:, None]
    sky = np.stack([90 + 100 * y, 140 + 80 * y, 230 - 40 * y], axis=-1) * np.ones((h, w, 1))
    img = Image.fromarray(sky.astype(np.uint8))
    d = ImageDraw.Draw(img)
    for layer in range(3):
        base = h * (0.45 + 0.15 * layer)
        pts = [(0, h)]
        for x in range(0, w + 16, 16):
            pts.append((x, base - 40 * math.sin(x / (30 + 20 * layer) + seed) - rng.uniform(0, 15)))
        pts.append((w, h))
        g = 60 + 50 * layer
        d.polygon(pts, fill=(30 + 20 * layer, g, 40 + 10 * layer))
    d.ellipse((w - 80, 20, w - 40, 60), fill=(250, 230, 120))
    return img


def shapes(seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    img = Image.new("RGB", SIZE, tuple(int(v) for v in rng.integers(180, 255, 3)))
    d = ImageDraw.Draw(img)
    for _ in range(12):
        x, y = rng.integers(0, SIZE[0]), rng.integers(0, SIZE[1])
        r = int(rng.integers(10, 60))
        colour = tuple(int(v) for v in rng.integers(0, 200, 3))
        if rng.random() < 0.5:
            d.ellipse((x - r, y - r, x + r, y + r), fill=colour)
        else:
            d.rectangle((x - r, y - r, x + r, y + r // 2), fill=colour)
    return img


def stripes(seed: int) -> Image.Image:
    w, h = SIZE
    xx, yy = np.meshgrid(np.arange(w), np.arange(h))
    a = np.sin((xx * math.cos(seed) + yy * math.sin(seed)) / 9.0)
    b = np.cos(np.hypot(xx - w / 2, yy - h / 2) / 14.0)
    rgb = np.stack([128 + 100 * a, 128 + 100 * b, 128 + 60 * a * b], axis=-1)
    return Image.fromarray(rgb.clip(0, 255).astype(np.uint8))


def write_photos() -> None:
    photos = OUT / "photos"
    photos.mkdir(parents=True, exist_ok=True)
    landscape(1).save(photos / "hills.jpg", quality=90)
    landscape(7).save(photos / "valley.png")
    shapes(3).save(photos / "shapes.png")
    shapes(11).save(photos / "market-stalls.jpg", quality=90)
    stripes(0.6).save(photos / "pattern.webp", quality=90)


def write_video(path: Path, seconds: int = 3, fps: int = 10, crf: str = "23",
                out_size: tuple[int, int] = (160, 120)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    w, h = 160, 120
    with av.open(str(path), "w", options={"movflags": "+faststart"}) as box:
        stream = box.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = out_size[0], out_size[1], "yuv420p"
        stream.options = {"crf": crf, "preset": "medium"}
        for i in range(seconds * fps):
            img = Image.new("RGB", (w, h), (200, 220, 240))
            d = ImageDraw.Draw(img)
            x = int((w - 40) * i / (seconds * fps))
            d.ellipse((x, 30, x + 40, 70), fill=(220, 120, 40))
            d.rectangle((0, 90, w, h), fill=(60, 140, 60))
            d.rectangle((w - x - 30, 75, w - x, 95), fill=(40, 40, 160))
            frame = av.VideoFrame.from_image(img.resize(out_size) if out_size != (w, h) else img)
            for packet in stream.encode(frame):
                box.mux(packet)
        for packet in stream.encode():
            box.mux(packet)


NEWSLETTER = [
    "Riverside Community Newsletter - demo document",
    "",
    "The riverside park reopens on Saturday with new benches and a playground.",
    "Volunteers will plant two hundred trees along the cycle path in spring.",
    "The weekly market moves to the old railway square while the street is repaved.",
    "",
    "La bibliotheque municipale prolonge ses horaires pendant les vacances d'ete.",
    "Un atelier de lecture pour les enfants a lieu chaque mercredi apres-midi.",
]


def write_pdf(path: Path, lines: list[str]) -> None:
    """A one-page PDF with real text in the standard Helvetica font."""
    esc = [ln.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)") for ln in lines]
    body = "BT /F1 12 Tf 16 TL 56 760 Td " + " ".join(f"({ln}) Tj T*" for ln in esc) + " ET"
    stream = body.encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, obj in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, obj)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % off for off in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(out))


INBOX = OUT.parent / "inbox"
ALLOW = OUT.parent / "allow"

# A neutral "news report" that quotes the demo library notice: it belongs in
# the allow bank (reporting about content must not be actioned).
NEWS_REPORT_FR = (
    "Revue de presse locale. Dans un communiqué publié lundi, la mairie a annoncé : "
    "« La bibliothèque municipale prolonge ses horaires pendant les vacances d'été : "
    "elle ouvrira désormais jusqu'à vingt heures du mardi au samedi. » "
    "Les associations de parents saluent la décision, tandis que le personnel demande "
    "des renforts pour assurer l'accueil du public en soirée."
)
NEWS_QUOTE_EN = (
    "Morning briefing: in other local news, the council noticeboard said today that "
    "\"the Saturday farmers' market moves to the old railway square next month while the "
    "main street is repaved\", and traders told our reporter they expect busier mornings. "
    "Road works are due to finish before the autumn fair."
)


def edited_photos() -> None:
    from PIL import ImageOps

    src = OUT / "photos"
    INBOX.mkdir(parents=True, exist_ok=True)
    hills = Image.open(src / "hills.jpg").convert("RGB")
    hills.resize((160, 120)).save(INBOX / "hills-small-lowq.jpg", quality=35)
    stalls = Image.open(src / "market-stalls.jpg").convert("RGB")
    bar = Image.new("RGB", (stalls.width, stalls.height + 40), (250, 250, 250))
    bar.paste(stalls, (0, 40))
    ImageDraw.Draw(bar).text((8, 12), "Saturday market, photo of the week", fill=(20, 20, 20))
    bar.save(INBOX / "stalls-captioned.jpg", quality=85)
    ImageOps.mirror(Image.open(src / "valley.png").convert("RGB")).save(INBOX / "valley-mirrored.png")
    shp = Image.open(src / "shapes.png").convert("RGB")
    w, h = shp.size
    shp.crop((int(w * .06), int(h * .06), int(w * .94), int(h * .94))).save(INBOX / "shapes-cropped.png")
    pat = Image.open(src / "pattern.webp").convert("RGB")
    box = Image.new("RGB", (pat.width * 16 // 9 + 2, pat.height), (0, 0, 0))
    box.paste(pat, ((box.width - pat.width) // 2, 0))
    box.save(INBOX / "pattern-letterboxed.jpg", quality=90)
    landscape(99).save(INBOX / "unrelated-landscape.jpg", quality=90)
    shapes(77).save(INBOX / "unrelated-shapes.png")


def edited_posts() -> None:
    INBOX.mkdir(parents=True, exist_ok=True)
    ALLOW.mkdir(parents=True, exist_ok=True)
    posts = OUT / "posts"
    weather = (posts / "weather-ar.txt").read_text(encoding="utf-8").strip()
    # the same post re-typed: diacritics, tatweel, other alef forms, a hashtag and a link
    retyped = (weather.replace("الجوية", "الجـــويّة").replace("أجواءً", "اجواءً")
               .replace("الساحلية", "السَّاحليَّة") + " #طقس https://example.org/w")
    market = (posts / "market-en.txt").read_text(encoding="utf-8").strip()
    truncated = market[: int(len(market) * 0.6)]
    lines = [
        {"id": "inbox-1", "text": retyped},
        {"id": "inbox-2", "text": truncated.upper()},
        {"id": "inbox-3", "text": NEWS_QUOTE_EN},
        {"id": "inbox-4", "text": NEWS_REPORT_FR},
        {"id": "inbox-5", "text": "يتوقع المزارعون موسماً جيداً للزيتون هذا العام بعد أمطار الربيع الغزيرة."},
        {"id": "inbox-6", "text": "The weather service expects a mild weekend with light winds on the coast."},
    ]
    import json

    with open(INBOX / "posts.jsonl", "w", encoding="utf-8") as fh:
        for obj in lines:
            fh.write(json.dumps(obj, ensure_ascii=False) + "\n")
    (ALLOW / "press-review-fr.txt").write_text(NEWS_REPORT_FR + "\n", encoding="utf-8")


def main() -> None:
    write_pdf(OUT / "documents" / "newsletter.pdf", NEWSLETTER)
    write_photos()
    write_video(OUT / "video" / "shapes.mp4")
    edited_photos()
    edited_posts()
    write_video(INBOX / "shapes-reencoded.mp4", seconds=3, fps=10, crf="36", out_size=(128, 96))
    print(f"wrote demo content under {OUT.parent}")


if __name__ == "__main__":
    main()
