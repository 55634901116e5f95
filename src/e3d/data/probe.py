"""Probe one video (a file PyAV can open, or a folder of JPEG frames) for the index.

A probe never raises for a bad video: it returns a `Probe` whose `reason` says why the video cannot
be used. Frame counts come from demuxing every video packet (cheap: nothing is decoded), because
containers such as WebM report no frame count at all and a truncated MP4 reports the count it
should have had; the first frame is decoded to prove the stream is decodable.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

FRAME_FOLDER_FPS = 12.0  # Something-Something V1 frames were extracted at 12 fps
JPEG_SUFFIXES = (".jpg", ".jpeg")


@dataclass
class Probe:
    num_frames: int = 0
    fps: float = 0.0
    duration: float = 0.0
    width: int = 0
    height: int = 0
    codec: str = ""
    reason: str = ""  # "" when the video is usable

    @property
    def ok(self) -> bool:
        return not self.reason


def probe(path: Path) -> Probe:
    """Inspect `path` and return its metadata, or a Probe with the reason it is unusable."""
    path = Path(path)
    if path.is_dir():
        return probe_frame_folder(path)
    if not path.exists():
        return Probe(reason="missing file")
    if not os.access(path, os.R_OK):
        return Probe(reason="unreadable file: permission denied")
    try:
        size = path.stat().st_size
    except OSError as exc:
        return Probe(reason=f"unreadable file: {exc.strerror or exc}")
    if size == 0:
        return Probe(reason="empty file: 0 bytes")
    return _probe_container(path)


def _probe_container(path: Path) -> Probe:
    import av

    try:
        container = av.open(str(path), mode="r", metadata_errors="ignore")
    except PermissionError:
        return Probe(reason="unreadable file: permission denied")
    except (av.error.FFmpegError, OSError, UnicodeDecodeError, ValueError) as exc:
        return Probe(reason=f"not a video: PyAV cannot open it ({_short(exc)})")
    with container:
        if not container.streams.video:
            kinds = sorted({s.type for s in container.streams}) or ["none"]
            return Probe(reason=f"no video stream: streams are {', '.join(kinds)}")
        stream = container.streams.video[0]
        ctx = stream.codec_context
        result = Probe(codec=ctx.name or "", width=int(ctx.width or 0), height=int(ctx.height or 0))
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        result.fps = float(rate) if rate else 0.0
        declared = int(stream.frames or 0)
        try:
            counted, decoded_first = _count_packets(container, stream)
        except (av.error.FFmpegError, OSError) as exc:
            return _fill_reason(result, f"truncated or corrupt: demuxing failed ({_short(exc)})")
        if not decoded_first:
            return _fill_reason(result, "undecodable: no frame could be decoded")
        if declared and counted < declared:
            return _fill_reason(result, f"truncated: header declares {declared} frames, file holds {counted}")
        result.num_frames = counted
        if result.width <= 0 or result.height <= 0:
            return _fill_reason(result, "undecodable: no frame size")
        if result.fps <= 0:
            return _fill_reason(result, "no frame rate")
        result.duration = counted / result.fps
        return result


def _count_packets(container, stream) -> tuple[int, bool]:
    """Count the video packets carrying data and decode the first frame only."""
    count, decoded_first = 0, False
    for packet in container.demux(stream):
        if packet.size == 0:
            continue  # the flush packet at the end
        count += 1
        if not decoded_first:
            try:
                decoded_first = bool(stream.codec_context.decode(packet))
            except Exception:  # noqa: BLE001 - any decoder error here means "not decodable yet"
                decoded_first = False
    if count and not decoded_first:
        # Codecs with frame delay (B-frames) only emit on flush.
        try:
            decoded_first = bool(stream.codec_context.decode(None))
        except Exception:  # noqa: BLE001
            decoded_first = False
    return count, decoded_first


def _fill_reason(result: Probe, reason: str) -> Probe:
    result.reason = reason
    return result


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]


def list_frame_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in JPEG_SUFFIXES and p.is_file())


def probe_frame_folder(folder: Path) -> Probe:
    """A Something-Something V1 style folder of numbered JPEG frames."""
    from PIL import Image, UnidentifiedImageError

    if not os.access(folder, os.R_OK | os.X_OK):
        return Probe(reason="unreadable file: permission denied on frame folder")
    frames = list_frame_files(folder)
    if not frames:
        return Probe(reason="empty file: frame folder holds no JPEG frames")
    try:
        with Image.open(frames[0]) as im:
            im.load()
            width, height = im.size
    except (OSError, UnidentifiedImageError) as exc:
        return Probe(reason=f"not a video: first frame {frames[0].name} is not a readable JPEG ({_short(exc)})")
    n = len(frames)
    return Probe(num_frames=n, fps=FRAME_FOLDER_FPS, duration=n / FRAME_FOLDER_FPS, width=width, height=height,
                 codec="jpeg")
