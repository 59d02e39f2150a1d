"""``tahaluf hash`` through the CLI: output shape, content sniffing, bad input, exit status."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

from PIL import Image
from typer.testing import CliRunner

from tahaluf.cli.main import app

runner = CliRunner()


def run_hash(*args: str, stdin: str | None = None) -> tuple[int, list[dict], str]:
    result = runner.invoke(app, ["hash", "--jobs", "1", *args], input=stdin)
    lines = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
    return result.exit_code, lines, result.stderr


def types_of(obj: dict) -> list[str]:
    return [s["type"] for s in obj["signals"]]


def write_png(path: Path, size=(64, 48), colour=(10, 120, 200)) -> Path:
    img = Image.new("RGB", size, colour)
    for x in range(size[0]):
        img.putpixel((x, x % size[1]), (255, 255, 0))
    img.save(path, format="PNG")
    return path


def test_photo_gets_digests_and_pdq_with_quality_and_dihedral(tmp_path):
    code, out, _ = run_hash(str(write_png(tmp_path / "a.png")))
    assert code == 0
    [obj] = out
    assert obj["content_type"] == "photo" and obj["error"] is None
    assert types_of(obj) == ["md5", "sha256", "pdq"]
    pdq = obj["signals"][2]
    assert len(pdq["value"]) == 64 and 0 <= pdq["quality"] <= 100
    assert len(pdq["dihedral"]) == 8 and pdq["dihedral"][0] == pdq["value"]


def test_content_type_comes_from_bytes_not_extension(tmp_path):
    photo_named_txt = write_png(tmp_path / "really-a-photo.txt")
    text_named_jpg = tmp_path / "really-text.jpg"
    text_named_jpg.write_text("A short note about the bus timetable for the summer.", encoding="utf-8")
    code, out, _ = run_hash(str(photo_named_txt), str(text_named_jpg))
    assert code == 0
    assert [o["content_type"] for o in out] == ["photo", "text"]
    assert "pdq" in types_of(out[0]) and "text" in types_of(out[1])


def test_folders_are_walked_and_stdin_dash_reads_paths(tmp_path):
    (tmp_path / "sub").mkdir()
    a = write_png(tmp_path / "sub" / "a.png")
    b = tmp_path / "b.txt"
    b.write_text("The library opens at nine on Saturdays.", encoding="utf-8")
    code, out, _ = run_hash(str(tmp_path))
    assert code == 0 and sorted(o["path"] for o in out) == sorted([str(a), str(b)])
    code, out2, _ = run_hash("-", stdin=f"{a}\n{b}\n")
    assert code == 0 and [o["path"] for o in out2] == [str(a), str(b)]


def test_inline_text_and_url():
    code, out, _ = run_hash("--text", "مرحبا بكم في معرض الكتاب", "--url", "HTTPS://Example.COM:443/a?utm_source=x")
    assert code == 0
    assert out[0]["content_type"] == "text" and types_of(out[0]) == ["text"]
    assert out[1]["content_type"] == "url" and types_of(out[1]) == ["url", "url_md5"]
    _, again, _ = run_hash("--url", "https://example.com/a")
    assert again[0]["signals"][0]["value"] == out[1]["signals"][0]["value"]
    from threatexchange.signal_type.url_md5 import UrlMD5Signal  # pytx's own URL MD5

    assert out[1]["signals"][1]["value"] == UrlMD5Signal.hash_from_str("HTTPS://Example.COM:443/a?utm_source=x")


def test_jsonl_posts_each_get_a_line_and_bad_lines_an_error(tmp_path):
    posts = tmp_path / "posts.jsonl"
    posts.write_text(
        '{"id": "p1", "text": "The football match starts at eight tonight."}\n'
        "this line is not json\n"
        '{"id": "p3", "text": "Le marché ouvre à sept heures."}\n'
        '{"id": "p4", "nothing": 1}\n',
        encoding="utf-8",
    )
    code, out, _ = run_hash(str(posts))
    assert code == 3
    assert [o.get("id") for o in out] == ["p1", None, "p3", "p4"]
    assert [o["error"] is None for o in out] == [True, False, True, False]
    assert "line 2" in out[1]["error"] and "line 4" in out[3]["error"]


BAD_INPUTS = {
    "empty.jpg": b"",
    "random.jpg": os.urandom(4096),
    "random.mp4": os.urandom(4096),
    "truncated.png": None,  # filled below
    "latin1.txt": "caf\xe9 cr\xe8me".encode("latin-1") + bytes([0xC7, 0xE1, 0xCD]),
}


def _truncated_png() -> bytes:
    buf = io.BytesIO()
    Image.effect_noise((256, 256), 64).convert("RGB").save(buf, "PNG")
    return buf.getvalue()[: len(buf.getvalue()) // 2]


def _bomb_png() -> bytes:
    """A valid-looking PNG header that claims 100,000 x 100,000 pixels."""
    import struct
    import zlib

    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 2, 0, 0, 0)
    chunk = lambda t, d: struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def test_bad_inputs_each_get_an_error_and_the_rest_is_hashed(tmp_path):
    files = dict(BAD_INPUTS, **{"truncated.png": _truncated_png(), "bomb.png": _bomb_png()})
    paths = []
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        paths.append(str(tmp_path / name))
    good = write_png(tmp_path / "zz-good.png")
    code, out, err = run_hash(*paths, str(good))
    assert code == 3
    by_name = {Path(o["path"]).name: o for o in out}
    assert set(by_name) == set(files) | {"zz-good.png"}
    for name in files:
        msg = by_name[name]["error"]
        assert msg and "Traceback" not in msg and "\n" not in msg, (name, msg)
    assert "empty" in by_name["empty.jpg"]["error"]
    assert "pixel" in by_name["bomb.png"]["error"]
    assert "UTF-8" in by_name["latin1.txt"]["error"]
    assert by_name["zz-good.png"]["error"] is None and "pdq" in types_of(by_name["zz-good.png"])
    assert "Traceback" not in err


def test_missing_path_is_reported_in_order(tmp_path):
    good = write_png(tmp_path / "g.png")
    code, out, _ = run_hash(str(tmp_path / "nope.jpg"), str(good))
    assert code == 3
    assert "no such file" in out[0]["error"] and out[1]["error"] is None


def test_gigantic_text_is_refused_with_a_clear_error(tmp_path):
    big = tmp_path / "big.txt"
    big.write_text("word " * 300_000, encoding="utf-8")
    code, out, _ = run_hash("--max-text-chars", "1000000", str(big))
    assert code == 3 and "limit" in out[0]["error"]
    assert types_of(out[0]) == ["md5", "sha256"]  # digests are still given


def test_parallel_output_equals_serial_output(demo_dir):
    serial = runner.invoke(app, ["hash", "--jobs", "1", str(demo_dir)])
    parallel = runner.invoke(app, ["hash", "--jobs", "2", str(demo_dir)])
    assert serial.exit_code == parallel.exit_code == 0
    assert serial.stdout == parallel.stdout
    assert len(serial.stdout.splitlines()) >= 10


def test_nothing_to_hash_is_a_usage_error():
    result = runner.invoke(app, ["hash"])
    assert result.exit_code == 2 and "nothing to hash" in result.stderr


def test_real_process_prints_no_traceback_for_bad_input(tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 definitely not a jpeg")
    proc = subprocess.run(
        [sys.executable, "-m", "tahaluf", "hash", str(bad), "--text", "A calm sunny morning."],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 3
    assert "Traceback" not in proc.stderr
    lines = [json.loads(x) for x in proc.stdout.splitlines()]
    assert lines[0]["error"] is None and lines[1]["error"]


def test_format_vpdq_prints_the_reference_text_format(reference_dir):
    name = "test-padded-dimensions"
    video = reference_dir / "vpdq" / "videos" / f"{name}.mp4"
    expected = (reference_dir / "vpdq" / "expected" / f"{name}.txt").read_text().splitlines()
    result = runner.invoke(app, ["hash", "-j", "1", "--format", "vpdq", str(video)])
    assert result.exit_code == 0
    ours = result.stdout.splitlines()
    assert len(ours) == len(expected)
    for mine, ref in zip(ours, expected):
        n, q, h, ts = mine.split(",")
        rn, rq, rh, rts = ref.split(",")
        assert (n, ts) == (rn, rts) and abs(int(q) - int(rq)) <= 1
        assert bin(int(h, 16) ^ int(rh, 16)).count("1") <= 10


def test_format_vpdq_refuses_non_videos(tmp_path):
    result = runner.invoke(app, ["hash", "-j", "1", "--format", "vpdq", str(write_png(tmp_path / "p.png"))])
    assert result.exit_code == 3 and "needs videos" in result.stderr and result.stdout == ""


def test_video_that_fails_mid_way_gets_an_error_and_the_rest_is_hashed(reference_dir, tmp_path):
    data = (reference_dir / "vpdq" / "videos" / "doorknob-hd-no-bar.mp4").read_bytes()
    broken = tmp_path / "half.mp4"
    broken.write_bytes(data[: len(data) // 2])
    good = write_png(tmp_path / "z.png")
    code, out, err = run_hash(str(broken), str(good))
    assert code == 3 and "Traceback" not in err
    assert out[0]["content_type"] == "video" and "decod" in out[0]["error"]
    assert [s["type"] for s in out[0]["signals"]] == ["md5", "sha256"]
    assert out[1]["error"] is None


def test_video_over_its_time_budget_is_stopped(reference_dir):
    video = reference_dir / "vpdq" / "videos" / "doorknob-hd-no-bar.mp4"
    code, out, _ = run_hash("--video-timeout", "0.05", str(video))
    assert code == 3
    assert "timeout" in out[0]["error"] and "0.05 s" in out[0]["error"]
