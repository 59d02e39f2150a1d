"""What evidence is and how a reviewer first sees it: media types, and previews made on the server.

A preview is never the original: a photo becomes a small greyscale JPEG,
blurred; a video a strip of a few sampled frames, each greyscale and blurred,
in one JPEG (no sound). Media that cannot be decoded gives a
:class:`~tahaluf.errors.DecodeError` (or another ``InvalidInput``) saying so,
never a traceback.
"""

from __future__ import annotations

import io
import time

import av
import av.error
from PIL import Image, ImageFilter

from tahaluf.errors import DecodeError, UnsupportedContent
from tahaluf.signals.photo import load_photo
from tahaluf.signals.sniff import sniff_content_type
from tahaluf.signals.video import _open, _quiet_ffmpeg, _video_stream

__all__ = ["PREVIEW_SIDE", "STRIP_FRAMES", "media_type", "photo_preview", "preview", "video_strip"]

#: longest side of a photo preview, in pixels
PREVIEW_SIDE = 320
#: frames sampled into a video's strip, and the side of each
STRIP_FRAMES = 6
FRAME_SIDE = 160
#: blur radius as a share of the preview's longest side
BLUR_SHARE = 1 / 40
_QUALITY = 70
_PHOTO_TYPES = {"JPEG": "image/jpeg", "PNG": "image/png", "GIF": "image/gif", "WEBP": "image/webp",
                "TIFF": "image/tiff", "BMP": "image/bmp"}


def media_type(head: bytes) -> str:
    """The media type of content from its first bytes (the bytes decide, never a name)."""
    kind = sniff_content_type(head)
    if kind == "photo":
        try:
            with Image.open(io.BytesIO(head)) as im:
                return _PHOTO_TYPES.get(im.format or "", "image/octet-stream")
        except (OSError, ValueError, Image.DecompressionBombError):
            return "image/octet-stream"
    if kind == "video":
        if head[4:8] == b"ftyp":
            return "video/quicktime" if head[8:10] == b"qt" else "video/mp4"
        if head.startswith(b"\x1a\x45\xdf\xa3"):
            return "video/webm" if b"webm" in head[:64] else "video/x-matroska"
        if head.startswith(b"RIFF"):
            return "video/x-msvideo"
        if head.startswith(b"FLV"):
            return "video/x-flv"
        return "video/mp2t"
    return {"pdf": "application/pdf", "text": "text/plain"}.get(kind, "application/octet-stream")


def _soften(im: Image.Image, side: int) -> Image.Image:
    im = im.convert("L")
    im.thumbnail((side, side))
    return im.filter(ImageFilter.GaussianBlur(radius=max(2.0, max(im.size) * BLUR_SHARE)))


def _jpeg(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=_QUALITY)
    return buf.getvalue()


def photo_preview(data: bytes, *, max_pixels: int = 64_000_000, side: int = PREVIEW_SIDE) -> bytes:
    """A blurred, greyscale JPEG of a photo, at most ``side`` pixels long."""
    rgb = load_photo(data, max_pixels=max_pixels, min_side=side)
    return _jpeg(_soften(Image.fromarray(rgb), side))


def video_strip(data: bytes, *, frames: int = STRIP_FRAMES, side: int = FRAME_SIDE, timeout_s: float = 30.0
                ) -> bytes:
    """``frames`` frames sampled evenly through a video, each blurred and greyscale, side by side."""
    deadline = time.monotonic() + timeout_s
    picked: list[Image.Image] = []
    try:
        with _quiet_ffmpeg(), _open(data, timeout_s, deadline) as container:
            stream = _video_stream(container)
            duration_s = _duration_s(container, stream)
            times = [duration_s * (n + 0.5) / frames for n in range(frames)]
            for ts in times:
                if time.monotonic() > deadline:
                    break
                container.seek(max(0, int(ts * 1_000_000)))
                for frame in container.decode(stream):
                    if frame.time is None or frame.time + 1e-3 >= ts or time.monotonic() > deadline:
                        picked.append(_soften(frame.to_image(), side))
                        break
    except (av.error.FFmpegError, ValueError, OSError) as exc:
        raise DecodeError(f"cannot decode this video for a preview: {' '.join(str(exc).split())}") from exc
    if not picked:
        raise DecodeError("the video holds no decodable frames")
    width = sum(im.width for im in picked) + 4 * (len(picked) - 1)
    strip = Image.new("L", (width, max(im.height for im in picked)), 0)
    x = 0
    for im in picked:
        strip.paste(im, (x, 0))
        x += im.width + 4
    return _jpeg(strip)


def _duration_s(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return max(0.0, float(stream.duration * stream.time_base))
    if container.duration is not None:
        return max(0.0, container.duration / 1_000_000)
    return 0.0


def preview(data: bytes, media: str, *, timeout_s: float = 30.0) -> bytes:
    """The preview of evidence of media type ``media`` (photos and videos only; a video's
    decoding bounded by ``timeout_s``)."""
    if media.startswith("image/"):
        return photo_preview(data)
    if media.startswith("video/"):
        return video_strip(data, timeout_s=timeout_s)
    raise UnsupportedContent(f"no preview for {media}: open the original (the reveal is logged)")
