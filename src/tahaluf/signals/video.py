"""vPDQ: one PDQ hash per video frame, compatible with Meta's reference.

Reproduces ``vpdq-hash-video`` from facebook/ThreatExchange (``vpdq/cpp``),
the tool that produced the published sample hashes, with PyAV (bundled
FFmpeg) for decoding and ``pdqhash`` (the reference C++ PDQ) for hashing:

- the first video stream is decoded packet by packet; ``frame_number`` is the
  index of the decoded frame (FFmpeg's ``frame_num - 1``);
- each hashed frame is converted to RGB24 by swscale, at the stream's size or
  at ``downscale_px`` x ``downscale_px``, with ``SWS_LANCZOS`` (the reference's
  interpolation) plus ``SWS_ACCURATE_RND``: FFmpeg 8's fast unscaled YUV->RGB
  path differs from the one the sample hashes were made with, the accurate
  path reproduces them (checked against every reference video);
- PDQ runs on the full RGB frame (luma 0.299/0.587/0.114, Jarosz filters);
- ``timestamp_s = frame_number / frame_rate`` with the stream's average frame
  rate (falling back to ``r_frame_rate``), in seconds rounded to milliseconds;
- sampling: with ``fps`` only frames where ``frame_number % frame_mod == 0``
  are hashed, ``frame_mod = max(1, int(frame_rate / fps))`` (the reference's
  ``seconds_per_hash * frame_rate``).

Text format (``format_vpdq``/``parse_vpdq``), as written by the reference::

    frame_number,quality,pdq_hex,timestamp_seconds

Failure policy: a file that cannot be opened, holds no decodable video, or
fails to decode part-way (truncated, corrupt) raises :class:`DecodeError`
("decoding failed at frame N: ..."); the reference tool also fails on such
files and writes no hashes, so no partial result is returned. Decoding uses
slice threads, like the reference, because frame threading hides the error of
a truncated last packet. Limitation: where FFmpeg itself sees a clean end of
file, a truncated file is hashed as a shorter video, as the reference does:
an MP4 cut exactly at a packet boundary, and truncated MKV/WebM files (the
Matroska demuxer drops the incomplete last block silently).

Safety: inputs are read through FFmpeg's ``file`` protocol (or from memory)
and only the container formats in :data:`VIDEO_FORMATS` may be probed, so a
playlist or concat file cannot make FFmpeg read other files or URLs. FFmpeg
logging is kept off (``av.logging`` level ``None``) while a video is hashed.
The timeout is checked between frames, so it bounds the whole decode but not
a single frame's decoding.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import av
import av.error
import av.logging
import numpy as np
import pdqhash
from av.video.reformatter import Interpolation, VideoReformatter

from tahaluf.errors import (
    ContentTooLarge,
    DecodeError,
    InvalidInput,
    NotFound,
    Timeout,
    UnsupportedContent,
)
from tahaluf.signals.base import Signal

__all__ = [
    "DEFAULT_MAX_FRAMES",
    "DEFAULT_TIMEOUT_S",
    "FrameHash",
    "format_vpdq",
    "hash_video",
    "parse_vpdq",
    "video_signal",
]

#: Bound on the whole decode of one video.
DEFAULT_TIMEOUT_S = 300.0
#: Bound on decoded frames (4 hours at 30 frames/s); stops endless streams.
DEFAULT_MAX_FRAMES = 432_000
#: Largest frame accepted (8K UHD is 33.2 Mpx).
MAX_FRAME_PIXELS = 7680 * 4320
#: The reference refuses frames smaller than this in either dimension.
MIN_HASHABLE_DIM = 5
#: FFmpeg demuxers that may be probed: MP4/MOV/3GP, MKV/WebM, AVI, FLV, MPEG-TS.
VIDEO_FORMATS = "mov,mp4,m4a,3gp,3g2,mj2,matroska,webm,avi,flv,mpegts"
TIMESTAMP_DECIMALS = 3

_SWS_FLAGS = Interpolation.LANCZOS | Interpolation.ACCURATE_RND
_LINE_RE = re.compile(r"(\d+),(\d+),([0-9a-fA-F]{64}),(\d+(?:\.\d*)?)")


@dataclass(frozen=True, slots=True)
class FrameHash:
    """The PDQ hash of one decoded frame.

    ``quality`` is PDQ's 0-100 quality; ``pdq_hex`` 64 lowercase hex digits;
    ``timestamp_s`` is rounded to milliseconds, as the reference prints it.
    """

    frame_number: int
    quality: int
    pdq_hex: str
    timestamp_s: float


@dataclass(frozen=True, slots=True)
class _Plan:
    width: int
    height: int
    frame_rate: float
    frame_mod: int


def hash_video(
    source: str | os.PathLike[str] | bytes,
    *,
    fps: float | None = None,
    downscale_px: int | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    max_frames: int | None = DEFAULT_MAX_FRAMES,
) -> list[FrameHash]:
    """Hash every frame of a video (or about ``fps`` frames a second).

    ``source`` is a file path or the file's bytes. ``downscale_px`` scales
    frames to a square of that many pixels before hashing (the reference's
    ``-s``). Raises :class:`DecodeError` for unreadable, truncated or corrupt
    videos, :class:`UnsupportedContent` when there is no hashable video
    stream, :class:`NotFound` for a missing file, :class:`ContentTooLarge`
    past ``max_frames`` decoded frames or :data:`MAX_FRAME_PIXELS`, and
    :class:`Timeout` when the whole decode takes longer than ``timeout_s``.
    """
    _check_args(fps, downscale_px, timeout_s, max_frames)
    deadline = time.monotonic() + timeout_s
    with _quiet_ffmpeg(), _open(source, timeout_s, deadline) as container:
        stream = _video_stream(container)
        plan = _plan(stream, fps, downscale_px)
        # Slice threads, as the reference: FFmpeg's frame threading drops the
        # decode error of a truncated last packet and would return a partial
        # hash silently. Hashing, not decoding, dominates the time anyway.
        stream.thread_type = "SLICE"
        return _hash_frames(container, stream, plan, deadline, timeout_s, max_frames)


def format_vpdq(frames: Sequence[FrameHash]) -> str:
    """The reference text format: one ``frame,quality,hex,seconds`` line each."""
    return "".join(
        f"{f.frame_number},{f.quality},{f.pdq_hex},{f.timestamp_s:.{TIMESTAMP_DECIMALS}f}\n"
        for f in frames
    )


def parse_vpdq(text: str) -> list[FrameHash]:
    """Parse :func:`format_vpdq` output (or a reference ``.txt`` hash file).

    Blank lines are skipped; any other malformed line raises
    :class:`InvalidInput` naming its 1-based line number.
    """
    frames = []
    for line_number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped:
            continue
        match = _LINE_RE.fullmatch(stripped)
        if match is None:
            raise InvalidInput(
                f"vPDQ line {line_number}: expected "
                f"'frame_number,quality,pdq_hex,timestamp_seconds', got {stripped[:90]!r}"
            )
        frame_number, quality, pdq_hex, timestamp = match.groups()
        if int(quality) > 100:
            raise InvalidInput(f"vPDQ line {line_number}: quality {quality} is above 100")
        frames.append(
            FrameHash(int(frame_number), int(quality), pdq_hex.lower(), float(timestamp))
        )
    return frames


def video_signal(frames: Sequence[FrameHash]) -> Signal:
    """A ``vpdq`` :class:`Signal` for hashed frames.

    ``value`` is python-threatexchange's ``VPDQSignal`` serialisation: a JSON
    list with one ``"pdq_hex,quality,timestamp"`` string per frame (frame
    numbers are not kept), written compactly with millisecond timestamps; it
    passes ``VPDQSignal.validate_signal_str``. ``extra`` holds ``frames`` (the
    number of hashed frames) and ``duration_s`` (the last hashed frame's
    timestamp).
    """
    if not frames:
        raise InvalidInput("a vPDQ signal needs at least one hashed frame")
    value = json.dumps(
        [f"{f.pdq_hex},{f.quality},{f.timestamp_s:.{TIMESTAMP_DECIMALS}f}" for f in frames],
        separators=(",", ":"),
    )
    duration_s = max(f.timestamp_s for f in frames)
    return Signal("vpdq", value, {"frames": len(frames), "duration_s": duration_s})


# ---------------------------------------------------------------- internals


def _check_args(
    fps: float | None,
    downscale_px: int | None,
    timeout_s: float,
    max_frames: int | None,
) -> None:
    if fps is not None and not (math.isfinite(fps) and fps > 0):
        raise InvalidInput(f"fps must be a positive number, got {fps!r}")
    if downscale_px is not None and not (
        isinstance(downscale_px, int) and MIN_HASHABLE_DIM <= downscale_px <= 8192
    ):
        raise InvalidInput(
            f"downscale_px must be an integer from {MIN_HASHABLE_DIM} to 8192, got {downscale_px!r}"
        )
    if not (isinstance(timeout_s, int | float) and timeout_s > 0):
        raise InvalidInput(f"timeout_s must be a positive number, got {timeout_s!r}")
    if max_frames is not None and not (isinstance(max_frames, int) and max_frames >= 1):
        raise InvalidInput(f"max_frames must be a positive integer or None, got {max_frames!r}")


@contextmanager
def _quiet_ffmpeg() -> Iterator[None]:
    """Keep FFmpeg's log off while hashing, then restore the caller's level."""
    previous = av.logging.get_level()
    av.logging.set_level(None)
    try:
        yield
    finally:
        av.logging.set_level(previous)


@contextmanager
def _open(
    source: str | os.PathLike[str] | bytes, timeout_s: float, deadline: float
) -> Iterator[av.container.InputContainer]:
    options = {"format_whitelist": VIDEO_FORMATS}
    if isinstance(source, bytes | bytearray | memoryview):
        target: str | io.BytesIO = io.BytesIO(bytes(source))
    elif isinstance(source, str | os.PathLike):
        path = os.path.abspath(os.fspath(source))
        if not os.path.isfile(path):
            raise NotFound(f"video file not found: {os.fspath(source)}")
        target = "file:" + path
        options["protocol_whitelist"] = "file"
    else:
        raise TypeError(f"source must be a path or bytes, not {type(source).__name__}")
    try:
        container = av.open(target, mode="r", options=options, timeout=timeout_s)
    except av.error.FFmpegError as exc:
        if time.monotonic() > deadline:
            raise Timeout(f"opening the video took longer than {timeout_s:g} s") from exc
        raise DecodeError(
            f"cannot open video: not a readable MP4/MOV/MKV/WebM/AVI/FLV/TS file ({_reason(exc)})"
        ) from exc
    try:
        yield container
    finally:
        container.close()


def _video_stream(container: av.container.InputContainer) -> av.video.stream.VideoStream:
    if not container.streams.video:
        raise UnsupportedContent("the file holds no video stream")
    stream = container.streams.video[0]
    ctx = stream.codec_context
    if ctx.width <= 0 or ctx.height <= 0:
        raise DecodeError("the video stream has no frame size")
    if ctx.width < MIN_HASHABLE_DIM or ctx.height < MIN_HASHABLE_DIM:
        raise UnsupportedContent(
            f"video frames are {ctx.width}x{ctx.height}; vPDQ needs at least "
            f"{MIN_HASHABLE_DIM}x{MIN_HASHABLE_DIM} pixels"
        )
    if ctx.width * ctx.height > MAX_FRAME_PIXELS:
        raise ContentTooLarge(
            f"video frames are {ctx.width}x{ctx.height}, above the {MAX_FRAME_PIXELS} pixel limit"
        )
    return stream


def _plan(
    stream: av.video.stream.VideoStream, fps: float | None, downscale_px: int | None
) -> _Plan:
    rate = stream.average_rate or stream.base_rate
    if not rate:
        raise DecodeError("the video stream declares no frame rate")
    frame_rate = float(rate)
    frame_mod = 1 if fps is None else max(1, int(frame_rate / fps + 1e-9))
    ctx = stream.codec_context
    width = downscale_px or ctx.width
    height = downscale_px or ctx.height
    return _Plan(width, height, frame_rate, frame_mod)


def _hash_frames(
    container: av.container.InputContainer,
    stream: av.video.stream.VideoStream,
    plan: _Plan,
    deadline: float,
    timeout_s: float,
    max_frames: int | None,
) -> list[FrameHash]:
    hashes: list[FrameHash] = []
    reformatter = VideoReformatter()
    decoded = container.decode(stream)
    frame_number = 0
    while True:
        if time.monotonic() > deadline:
            raise Timeout(
                f"video hashing stopped after {timeout_s:g} s (timeout) at frame {frame_number}"
            )
        try:
            frame = next(decoded, None)
            if frame is None:
                break
            if max_frames is not None and frame_number >= max_frames:
                raise ContentTooLarge(
                    f"video has more than {max_frames} frames (the max_frames limit)"
                )
            if frame_number % plan.frame_mod == 0:
                hashes.append(_hash_frame(reformatter, frame, frame_number, plan))
        except (av.error.FFmpegError, ValueError) as exc:
            if time.monotonic() > deadline:  # PyAV's read timeout interrupted FFmpeg
                raise Timeout(
                    f"video hashing stopped after {timeout_s:g} s (timeout) at frame {frame_number}"
                ) from exc
            raise DecodeError(f"decoding failed at frame {frame_number}: {_reason(exc)}") from exc
        frame_number += 1
    if frame_number == 0:
        raise DecodeError("the video stream holds no decodable frames")
    return hashes


def _hash_frame(
    reformatter: VideoReformatter, frame: av.VideoFrame, frame_number: int, plan: _Plan
) -> FrameHash:
    rgb = reformatter.reformat(
        frame, plan.width, plan.height, "rgb24", interpolation=_SWS_FLAGS
    ).to_ndarray()
    bits, quality = pdqhash.compute(rgb)
    pdq_hex = np.packbits(np.asarray(bits, dtype=np.uint8)).tobytes().hex()
    timestamp_s = round(frame_number / plan.frame_rate, TIMESTAMP_DECIMALS)
    return FrameHash(frame_number, int(quality), pdq_hex, timestamp_s)


def _reason(exc: Exception) -> str:
    """One line of FFmpeg's error text, without PyAV's errno and call site."""
    text = getattr(exc, "strerror", None) or str(exc)
    return " ".join(str(text).split())
