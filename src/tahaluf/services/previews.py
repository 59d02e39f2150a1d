"""Small previews of content tahaluf itself reads: JPEG thumbnails of photos and video frames.

Used when a bank item is added from content (``bank add`` stores one with the
item) and by the HTML report for the user's own inputs. Never called on a path
taken from imported data. Every failure gives ``None`` (no preview), never an
error: a preview is a convenience, the signals are the record.
"""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Sequence

import av
import av.error
from PIL import Image

from tahaluf.errors import TahalufError
from tahaluf.signals.video import _open, _quiet_ffmpeg, _video_stream

__all__ = ["PREVIEW_SIDE", "photo_thumbnail", "video_thumbnails", "jpeg_data_uri"]

#: longest side of a stored or embedded thumbnail, in pixels
PREVIEW_SIDE = 240
_QUALITY = 75
#: time allowed for pulling a few frames out of one video
_VIDEO_BUDGET_S = 15.0


def _jpeg(im: Image.Image, side: int) -> bytes:
    im = im.convert("RGB")
    im.thumbnail((side, side))
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=_QUALITY)
    return buf.getvalue()


def photo_thumbnail(source: bytes | str, *, max_pixels: int = 64_000_000, side: int = PREVIEW_SIDE) -> bytes | None:
    """A JPEG thumbnail of a photo (bytes or a path the caller chose), or None."""
    try:
        with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as im:
            if im.width * im.height > max_pixels:
                return None
            im.draft("RGB", (side * 2, side * 2))  # JPEG: decode at a reduced size
            return _jpeg(im, side)
    except (OSError, ValueError, Image.DecompressionBombError):
        return None


def video_thumbnails(path: str, timestamps_s: Sequence[float], *, side: int = PREVIEW_SIDE) -> list[bytes | None]:
    """JPEG thumbnails of the frames of a video at (or just after) these times."""
    out: list[bytes | None] = [None] * len(timestamps_s)
    deadline = time.monotonic() + _VIDEO_BUDGET_S
    try:
        with _quiet_ffmpeg(), _open(path, _VIDEO_BUDGET_S, deadline) as container:
            stream = _video_stream(container)
            for n, ts in sorted(enumerate(timestamps_s), key=lambda p: p[1]):
                if time.monotonic() > deadline:
                    break
                container.seek(max(0, int(ts * 1_000_000)))  # microseconds: the keyframe before ts
                for frame in container.decode(stream):
                    if frame.time is None or frame.time + 1e-3 >= ts or time.monotonic() > deadline:
                        out[n] = _jpeg(frame.to_image(), side)
                        break
    except (TahalufError, av.error.FFmpegError, OSError, ValueError):
        pass  # no thumbnails for a video that cannot be read; the frames found so far are kept
    return out


def jpeg_data_uri(data: bytes) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(data).decode("ascii")
