"""Helpers of the evidence tests: neutral generated media, and submitting bytes through the service."""

from __future__ import annotations

import hashlib
import io
import tempfile
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np
from PIL import Image

from tahaluf.access import Principal
from tahaluf.services.evidence import EvidenceUpload
from tahaluf.services.hashing import HashOptions, InputItem, hash_item
from tahaluf.services.hub import Hub
from tahaluf.services.reviews import ReviewService

__all__ = ["Kept", "member", "photo_bytes", "submit_bytes", "video_bytes"]


@dataclass(frozen=True)
class Kept:
    submission_id: int
    sha256: str


def photo_bytes(seed: int = 1, size: tuple[int, int] = (320, 240), fmt: str = "PNG") -> bytes:
    """A neutral photo: smooth colour gradients with fine random texture (high-frequency detail)."""
    w, h = size
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 255 / w, y * 255 / h, (x + y) * 127 / (w + h)], axis=-1)
    noise = rng.integers(-60, 60, size=(h, w, 3))
    checks = ((x // 4 + y // 4) % 2)[..., None] * 60
    img = np.clip(base + noise + checks, 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, fmt)
    return buf.getvalue()


def video_bytes(frames: int = 24, size: tuple[int, int] = (96, 64), fps: int = 12) -> bytes:
    """A neutral MP4: a bright square moving across a finely checked gradient, two seconds."""
    buf = io.BytesIO()
    with av.open(buf, mode="w", format="mp4") as out:
        stream = out.add_stream("mpeg4", rate=fps)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        stream.bit_rate = 4_000_000
        y, x = np.mgrid[0:size[1], 0:size[0]]
        checks = (((x // 2 + y // 2) % 2) * 120).astype(np.uint8)  # fine texture: high-frequency detail
        for n in range(frames):
            img = np.zeros((size[1], size[0], 3), np.uint8)
            img[..., 1] = np.linspace(0, 120, size[0], dtype=np.uint8)[None, :] + checks
            x = (n * 3) % (size[0] - 16)
            img[20:36, x:x + 16] = 255
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return buf.getvalue()


def member(hub: Hub, name: str, roles: tuple[str, ...] = ("reviewer",)) -> Principal:
    found = hub.hubstore.get_member(name)
    if found is None:
        found, _key = hub.accounts.add_member("cli", name, list(roles))
    return Principal(found.id, name, found.roles)


def submit_bytes(hub: Hub, who: str | Principal, data: bytes, *, suffix: str = ".bin") -> Kept:
    """Hash ``data`` like an upload and submit it with its evidence, as ``who``."""
    if not hub.ready:
        hub.load()
    principal = who if isinstance(who, Principal) else member(hub, who)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"upload{suffix}"
        path.write_bytes(data)
        [result] = hash_item(InputItem("file", str(path)), HashOptions(trim_borders=True, bank_crops=True))
    assert result.ok, result.error
    out = ReviewService(hub).submit_content(principal, result, None, EvidenceUpload(data))
    return Kept(out.submission_id, hashlib.sha256(data).hexdigest())
