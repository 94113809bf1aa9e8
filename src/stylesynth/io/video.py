"""Reading clips and writing them: a video file (PyAV, FFmpeg in its wheels) or a folder or glob
of frames in; a video file, an animated GIF/WebP (Pillow) or a folder of frames out.

`open_source` reads the whole selection once before any work, so that a bad input (not a video,
no frames, an undecodable stream, a frame size change) is refused with one line and nothing
written; `Source.frames()` then decodes it again, one frame at a time. `write_video` assembles
frames into a file atomically (a temporary file renamed at the end), copying the input's audio
(the packets as they are, trimmed to the selection) when there is some and the container takes
its codec.
"""

from __future__ import annotations

import glob
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import InputError, StylesynthError
from .images import UMASK, one_line, open_image

# Output suffixes: (PyAV's container format, video codec); GIF and WebP are written by Pillow.
CONTAINERS = {".mp4": ("mp4", "libx264"), ".mov": ("mov", "libx264"), ".mkv": ("matroska", "libx264"),
              ".webm": ("webm", "libvpx-vp9"), ".avi": ("avi", "mpeg4")}
ANIMATIONS = (".gif", ".webp")
VIDEO_SUFFIXES = tuple(CONTAINERS) + ANIMATIONS
FRAME_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")
DEFAULT_FPS = 24


def _av():
    try:
        import av
    except ImportError:
        raise InputError("video needs PyAV and OpenCV: pip install 'stylesynth[video]'") from None
    av.logging.set_level(None)  # FFmpeg's own log lines: errors are reported as one line here
    return av


def _natural(path: Path) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


@dataclass
class Source:
    """A validated selection of frames: where from, how many, their size and rate."""

    path: str
    files: list[Path] | None  # the frames' files, or None for a video file
    fps: Fraction
    count: int  # frames selected
    size: tuple[int, int]  # (width, height) of the input's frames
    skip: int = 0  # frames of the video before the selection
    start_time: float = 0.0  # seconds (the video's clock) of the first selected frame
    end_time: float = 0.0  # seconds just after the last selected frame
    audio: str | None = None  # the audio codec's name, when the video has audio
    identity: list = field(default_factory=list)  # what the run's fingerprint takes from the input

    def frames(self) -> Iterator[np.ndarray]:
        """The selected frames, HxWx3 uint8, decoded one at a time."""
        if self.files is not None:
            for path in self.files:
                yield np.asarray(open_image(path))
            return
        yield from (a for _, _, a in _decode(self.path, self.skip, self.count, self.size))


def _decode(path: str, skip: int, count: int | None, size: tuple[int, int] | None,
            start: float = 0.0, end: float | None = None) -> Iterator[tuple[int, float, np.ndarray]]:
    """(index, seconds, frame) of the video's frames from `skip` on (at most `count`, or those in
    [start, end) when count is None); refuses undecodable streams and size changes."""
    av = _av()
    name = os.path.basename(path)
    try:
        with av.open(path) as container:
            if not container.streams.video:
                raise InputError(one_line(f"{name} has no video stream"))
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            base = stream.time_base or Fraction(1, DEFAULT_FPS)
            rate = float(stream.average_rate or DEFAULT_FPS)
            index = yielded = 0
            for frame in container.decode(stream):
                if count is not None and yielded >= count:
                    return
                seconds = float(frame.pts * base) if frame.pts is not None else index / rate
                index += 1
                if index <= skip or (count is None and seconds < start - 1e-6):
                    continue
                if count is None and end is not None and seconds >= end - 1e-6:
                    return
                if size is None:
                    size = (frame.width, frame.height)
                if (frame.width, frame.height) != size:
                    raise InputError(one_line(
                        f"{name}: the frame size changes from {size[0]}x{size[1]} to "
                        f"{frame.width}x{frame.height} at frame {index}: stylize the parts separately"))
                yielded += 1
                yield index - 1, seconds, frame.to_ndarray(format="rgb24")
    except av.error.FFmpegError as e:
        raise InputError(one_line(f"cannot read {name} as a video: {e.strerror or e}")) from None


def open_source(spec: str | os.PathLike, *, fps: float | None = None, start: float = 0.0,
                end: float | None = None, max_frames: int | None = None) -> Source:
    """Check and measure the input: a video file, a folder of frames, or a glob of frames.

    The selection: frames from `start` seconds to before `end`, at most `max_frames` of them
    (checked by the caller: options.py VideoOptions).
    """
    text = str(spec)
    path = Path(text)
    if path.is_dir() or (not path.exists() and any(c in text for c in "*?[")):
        files = (sorted((p for p in path.iterdir() if p.suffix.lower() in FRAME_SUFFIXES), key=_natural)
                 if path.is_dir() else sorted((Path(p) for p in glob.glob(text)), key=_natural))
        if not files:
            raise InputError(one_line(f"no frames in {text}: expected image files "
                                       f"({', '.join(FRAME_SUFFIXES)})"))
        rate = Fraction(fps or DEFAULT_FPS).limit_denominator(1001)
        first = int(np.ceil(start * rate - 1e-9))
        last = len(files) if end is None else min(len(files), int(np.ceil(end * rate - 1e-9)))
        files = files[first:last][:max_frames]
        if not files:
            raise InputError(one_line(f"no frames of {text} from {start:g} s" +
                                       (f" to {end:g} s" if end is not None else " on")))
        size = open_image(files[0]).size
        for k, p in enumerate(files[1:], 2):
            other = open_image(p).size
            if other != size:
                raise InputError(one_line(f"{p.name}: the frame size changes from {size[0]}x{size[1]} "
                                           f"to {other[0]}x{other[1]} at frame {k}: all frames must have one size"))
        identity = [(str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns) for p in files]
        return Source(text, files, rate, len(files), size, start_time=first / rate,
                      end_time=(first + len(files)) / rate, identity=identity)
    if not path.is_file():
        raise InputError(one_line(f"no such file or folder: {text}"))
    av = _av()
    try:
        with av.open(text) as container:
            streams = container.streams
            if not streams.video:
                raise InputError(one_line(f"{path.name} has no video stream"))
            rate = streams.video[0].average_rate or streams.video[0].guessed_rate
            audio = streams.audio[0].codec_context.name if streams.audio else None
    except av.error.FFmpegError as e:
        raise InputError(one_line(f"cannot read {path.name} as a video: {e.strerror or e}")) from None
    rate = Fraction(fps).limit_denominator(1001) if fps else Fraction(rate or DEFAULT_FPS)
    times, size, skip = [], None, 0
    for index, seconds, frame in _decode(text, 0, None, None, start, end):
        if not times:
            size, skip = (frame.shape[1], frame.shape[0]), index
        times.append(seconds)
        if max_frames is not None and len(times) >= max_frames:
            break
    if not times:
        what = "no frames" if start == 0 and end is None else \
            f"no frames from {start:g} s" + (f" to {end:g} s" if end is not None else " on")
        raise InputError(one_line(f"{path.name} has {what}: nothing to stylize"))
    stat = path.stat()
    return Source(text, None, rate, len(times), size, skip=skip, start_time=times[0],
                  end_time=times[-1] + 1 / float(rate), audio=audio,
                  identity=[str(path.resolve()), stat.st_size, stat.st_mtime_ns])


def is_video_path(path: Path) -> bool:
    return path.suffix.lower() in VIDEO_SUFFIXES


def write_video(frames: list[Path], out: Path, fps: Fraction, audio_from: Source | None = None) -> str | None:
    """Encode `frames` (image files of one size) into `out` at `fps`, atomically; copy the audio
    of `audio_from` (trimmed to its selection) when it has some. Returns a warning, or None."""
    suffix = out.suffix.lower()
    if suffix not in VIDEO_SUFFIXES:
        raise InputError(f"unsupported video format '{suffix}': use {', '.join(VIDEO_SUFFIXES)}")
    fd, tmp = tempfile.mkstemp(prefix=".stylesynth-", suffix=suffix, dir=out.parent)
    os.close(fd)
    warning = None
    try:
        if suffix in ANIMATIONS:
            images = [Image.open(p).convert("RGB") for p in frames]
            duration = round(1000 / float(fps))
            # WebP: quality 70 at the slowest method keeps a 384 px clip near 25 KB a frame.
            options = {"quality": 70, "method": 6} if suffix == ".webp" else {"optimize": False}
            images[0].save(tmp, save_all=True, append_images=images[1:], duration=duration, loop=0, **options)
            if audio_from is not None and audio_from.audio:
                warning = f"{suffix} has no sound: the input's audio is not copied"
        else:
            warning = _encode(frames, tmp, fps, suffix, audio_from)
        os.chmod(tmp, 0o666 & ~UMASK)
        os.replace(tmp, out)
    except OSError as e:
        raise StylesynthError(one_line(f"could not write {out}: {e}")) from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return warning


def _encode(frames: list[Path], tmp: str, fps: Fraction, suffix: str, audio_from: Source | None) -> str | None:
    av = _av()
    fmt, codec = CONTAINERS[suffix]
    warning = None
    with av.open(tmp, "w", format=fmt) as out:
        first = Image.open(frames[0])
        stream = out.add_stream(codec, rate=fps)
        stream.width, stream.height = first.size
        stream.pix_fmt = "yuv420p"
        if codec == "libx264":
            stream.options = {"crf": "18", "preset": "medium"}
        packets, audio = [], None
        if audio_from is not None and audio_from.audio:
            with av.open(audio_from.path) as source:
                template = source.streams.audio[0]
                if template.codec_context.name not in out.supported_codecs:
                    warning = (f"the input's audio ({template.codec_context.name}) does not go into "
                               f"{suffix}: the video has none")
                else:
                    audio = out.add_stream_from_template(template)
                    packets = _audio_packets(source, template, audio_from)
        pending = iter(packets)
        packet = next(pending, None)
        for k, path in enumerate(frames):
            frame = av.VideoFrame.from_ndarray(np.asarray(Image.open(path).convert("RGB")), format="rgb24")
            for encoded in stream.encode(frame):
                out.mux(encoded)
            now = k / float(fps)
            while packet is not None and packet.pts * packet.time_base <= now:
                packet.stream = audio
                out.mux(packet)
                packet = next(pending, None)
        for encoded in stream.encode():
            out.mux(encoded)
        while packet is not None:
            packet.stream = audio
            out.mux(packet)
            packet = next(pending, None)
    return warning


def _audio_packets(container, stream, source: Source) -> list:
    """The audio packets of the selection, their clock moved to start at the first frame."""
    base = stream.time_base
    offset = round(source.start_time / base)
    packets = []
    for packet in container.demux(stream):
        if packet.pts is None or packet.size == 0:
            continue
        seconds = float(packet.pts * base)
        ends = seconds + float((packet.duration or 0) * base)
        # From the clip's beginning, all packets before the end (an AAC priming packet too).
        if seconds >= source.end_time - 1e-6 or (source.skip and ends <= source.start_time + 1e-6):
            continue
        packet.pts -= offset
        if packet.dts is not None:
            packet.dts -= offset
        packets.append(packet)
    return packets
