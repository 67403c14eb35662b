"""What the browser can play, and frames decoded here (PyAV) for the videos it cannot.

Browsers play few of the codecs a TV library holds: H.264, VP8/VP9 and AV1 with AAC, MP3,
Opus, Vorbis or FLAC, in MP4 or WebM. HEVC (outside some hardware), MPEG-4 Part 2, AVI, WMV,
MPEG-2 transport streams and the like get a strip of frames instead, decoded server-side; the
page also falls back to the strip when its ``<video>`` reports an error.
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass
from pathlib import Path

import av
from PIL import Image

from introdet.errors import VideoError
from introdet.media.container import failure, open_input
from introdet.media.probe import probe
from introdet.media.sampling import frames_per_second

_MP4 = ("video/mp4", "mp4", {"h264", "av1", "vp9"}, {"aac", "mp3", "opus", "flac"})
_WEBM = ("video/webm", "webm", {"vp8", "vp9", "av1"}, {"opus", "vorbis"})
# suffix -> (MIME type, FFmpeg demuxer, video codecs, audio codecs) that Chromium and Firefox
# play as shipped; a Matroska file holding only WebM's codecs is WebM to a browser. The
# demuxer is checked too: a transport stream named .mp4 is no MP4 to a browser
PLAYABLE = {".mp4": _MP4, ".m4v": _MP4, ".mov": _MP4, ".webm": _WEBM, ".mkv": _WEBM}
STRIP_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300)  # seconds between the strip's thumbnails
STRIP_MAX = 150  # thumbnails per episode at most
SIZES = (90, 180, 360, 720)  # the frame sizes served (shortest side, pixels): a small cache


@dataclass(frozen=True)
class Media:
    duration: float
    fps: float | None
    codec: str
    audio: str | None  # the first audio stream's codec; None without sound
    playable: bool  # the browser plays it in <video>
    why: str  # what was found, said for the page
    mime: str | None

    @property
    def strip_step(self) -> int:
        """Seconds between thumbnails: the shortest step giving at most STRIP_MAX of them."""
        return next((s for s in STRIP_STEPS if self.duration / s <= STRIP_MAX), STRIP_STEPS[-1])


@functools.lru_cache(maxsize=4096)
def inspect(path: Path) -> Media:
    """Probe a video once (cached: the page asks on every visit) and judge its playability."""
    info = probe(path)
    try:
        with open_input(path) as c:
            audio = c.streams.audio[0].codec_context.name if c.streams.audio else None
            kind = c.format.name  # "mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", "mpegts", ...
    except (av.FFmpegError, OSError) as e:
        raise VideoError(path, f"not a readable media file ({failure(e)})") from e
    mime, demuxer, videos, audios = PLAYABLE.get(path.suffix.lower(), (None, "", set(), set()))
    found = f"{info.codec}" + (f" + {audio}" if audio else "") + f" in {path.suffix[1:].upper()}"
    if mime is None:
        playable, why = False, f"{found}: browsers do not play this container"
    elif demuxer not in kind.split(","):
        playable, why = False, f"{found}: the file is {kind}, not what its name says"
    elif info.codec not in videos:
        playable, why = False, f"{found}: browsers do not play {info.codec} video here"
    elif audio is not None and audio not in audios:
        playable, why = False, f"{found}: browsers do not play {audio} sound here"
    else:
        playable, why = True, found
    return Media(
        info.duration, info.fps, info.codec, audio, playable, why, mime if playable else None
    )


def frame_jpeg(path: Path, seconds: float, size: int) -> bytes:
    """The frame on screen at ``seconds`` (clamped to the video), its shortest side ``size``
    (one of SIZES, rounded up), as a JPEG."""
    size = next((s for s in SIZES if s >= size), SIZES[-1])
    media = inspect(path)
    t = round(min(max(seconds, 0.0), max(media.duration - 0.001, 0.0)), 3)
    return _frame_jpeg(path, t, size)


@functools.lru_cache(maxsize=1024)
def _frame_jpeg(path: Path, seconds: float, size: int) -> bytes:
    # one sample at `seconds`: the project's sampler seeks to the keyframe before it and
    # returns the frame on screen then (rotation and pixel aspect applied)
    samples = frames_per_second(path, fps=1000.0, size=size, crop=False, start=seconds,
                                max_seconds=0.001)  # fmt: skip
    frame = next((f for _, f in samples), None)
    if frame is None:
        raise VideoError(path, f"no frame decodes at {seconds:.3f} s")
    buf = io.BytesIO()
    Image.fromarray(frame).save(buf, format="JPEG", quality=82)
    return buf.getvalue()
