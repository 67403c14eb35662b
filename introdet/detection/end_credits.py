"""End credits of a video that has no season to compare with (a lone episode, a pilot, a
film), from its last pictures alone: the final stretch of dark frames, with text on them (a
roll, cards) or without (an end card, the black that closes a film).

A frame looks like credits when most of it is dark (``DARK`` of its pixels at or under
``DARK_LEVEL``) and hardly any of it is in between (under ``MAX_MID`` between ``DARK_LEVEL``
and ``LIT_LEVEL``): text on black is dark or lit, a scene is mostly mid-tones (measured on
the tails of the demo's and the season-traps library's episodes: credits frames 64-97 % dark
and at most 8 % mid; other frames at most 8 % dark in 99 of 100). The credits are the last
run of such frames, gaps of up to ``GAP`` s bridged (a dissolve, a logo card between rolls),
that starts in the video's second half and ends near its end (a "next time" preview may
follow: ``AFTER``, the smaller of 90 s and a quarter of the video; a title card in the
middle of a short video is not its credits). A run is taken when it lasts long enough for
what it shows: ``MIN_TEXT`` s with text on it, ``MIN_BLACK`` s of plain dark (a scene that fades
out leaves a second or two of black; an end card stays longer).

Only keyframes are decoded to find the run (``COARSE_FPS``, from the end back), and every
frame only over the few seconds where it begins (``FPS``): a 45-minute 1080p episode's
credits cost a few hundred keyframes, not minutes of decoding.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, replace

import av
import numpy as np

from introdet.detection.postprocess import Segment
from introdet.detection.season import SeasonEpisode
from introdet.media.labels import short_time
from introdet.media.probe import probe
from introdet.media.sampling import frames_per_second

log = logging.getLogger(__name__)

FPS = 4.0  # frames per second where the credits begin (the fine pass)
COARSE_FPS = 1.0  # samples per second of the keyframe pass
CHUNK = 60.0  # seconds of the keyframe pass at a time, from the end back
FINE_BACK = 4.0  # seconds before the first dark keyframe decoded frame by frame
# a keyframe shown for longer than this hides short credits: that stretch is sampled from
# every frame it needs instead (short files, long keyframe intervals)
MAX_HOLD = 2.0
SIZE = 48  # shortest side of the sampled thumbnails
TAIL = (240.0, 0.25, 1200.0)  # seconds looked at: the larger of 240 s and a quarter, at most
DARK_LEVEL, LIT_LEVEL = 48, 150  # 0..255 luma
DARK = 0.5  # share of a frame's pixels that must be dark
MAX_MID = 0.2  # share of a frame that may be neither dark nor lit
TEXT = 0.002  # share of lit pixels that makes a dark frame one with text
GAP = 2.0  # seconds of other frames bridged inside the credits
AFTER = (90.0, 0.25)  # seconds, share of the video: what may follow the credits (a preview)
MIN_TEXT, MIN_BLACK = 2.5, 10.0  # seconds a run must last, with text / plain dark
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)  # Rec. 601


@dataclass(frozen=True)
class FrameLooks:
    """What each sampled frame looks like: times [N] s, dark [N] bool, text [N] bool; same
    [N] bool: the picture of the sample before (a keyframe pass shows each keyframe until
    the next)."""

    times: np.ndarray
    dark: np.ndarray
    text: np.ndarray
    same: np.ndarray

    def __add__(self, later: FrameLooks) -> FrameLooks:
        pairs = zip(vars(self).values(), vars(later).values(), strict=True)
        return FrameLooks(*(np.concatenate([a, b]) for a, b in pairs))

    def longest_hold(self) -> int:
        """The most samples in a row that show one picture."""
        best = run = 1
        for same in self.same[1:]:
            run = run + 1 if same else 1
            best = max(best, run)
        return best if len(self.same) else 0


_NONE = FrameLooks(np.zeros(0), *(np.zeros(0, bool) for _ in range(3)))


def looks(gray: np.ndarray, times: np.ndarray) -> FrameLooks:
    """Gray thumbnails [N, h, w] uint8 sampled at ``times`` [N] -> what each looks like."""
    flat = gray.reshape(len(gray), -1)
    dark_share = (flat <= DARK_LEVEL).mean(axis=1)  # [N]
    lit_share = (flat >= LIT_LEVEL).mean(axis=1)  # [N]
    dark = (dark_share >= DARK) & (1.0 - dark_share - lit_share <= MAX_MID)
    same = np.zeros(len(flat), bool)
    same[1:] = (flat[1:] == flat[:-1]).all(axis=1)
    return FrameLooks(np.asarray(times, float), dark, dark & (lit_share >= TEXT), same)


def credits_from(
    seen: FrameLooks, duration: float, step: float = 1.0 / FPS
) -> tuple[Segment | None, str]:
    """The credits the frames (``step`` s apart) show, and a sentence saying what decided
    (or why none)."""
    seg, text = _candidate(seen, duration, step)
    if seg is None:
        return None, text
    return _judged(seg, text == "text")


def _candidate(seen: FrameLooks, duration: float, step: float) -> tuple[Segment | None, str]:
    """The last run of dark frames where credits can be, and "text" if text was seen on it
    ("" if not); or None and why not."""
    run = _last_run(seen, step)
    if run is None:
        return None, "no dark frames at the end"
    first, last = run
    start, end = float(seen.times[first]), min(duration, float(seen.times[last]) + step)
    if duration - end > min(AFTER[0], AFTER[1] * duration):
        return None, "the last dark frames are too far from the end"
    if start < 0.5 * duration:
        return None, f"dark frames from {short_time(start)}: in the first half, not credits"
    return Segment(start, end, 1.0), "text" if seen.text[first : last + 1].any() else ""


def _judged(seg: Segment, text: bool) -> tuple[Segment | None, str]:
    """``seg`` if it lasts long enough for what it shows (``MIN_TEXT``, ``MIN_BLACK``)."""
    length = seg.end - seg.start
    if length < (MIN_TEXT if text else MIN_BLACK):
        return None, f"dark frames at the end too short for credits ({length:.1f} s)"
    what = "dark frames with text" if text else "dark frames"
    return seg, f"{what} from {short_time(seg.start)} to {short_time(seg.end)}"


def _last_run(seen: FrameLooks, step: float) -> tuple[int, int] | None:
    """First and last index of the last run of dark frames, gaps up to ``GAP`` bridged."""
    idx = np.flatnonzero(seen.dark)
    if not len(idx):
        return None
    first = idx[-1]
    for k in idx[::-1][1:]:
        if seen.times[first] - seen.times[k] > GAP + step:
            break
        first = k
    return int(first), int(idx[-1])


def end_credits(path: str | os.PathLike) -> tuple[Segment | None, str]:
    """The credits at the end of ``path`` and why (``credits_from``): keyframes first, a
    minute at a time from the end back (``CHUNK``) until something other than credits comes
    before the last dark frames (or ``TAIL`` is seen), then every frame where they begin."""
    duration = probe(path).duration
    least, share, most = TAIL
    limit = max(0.0, duration - min(most, max(least, share * duration)))
    step = 1.0 / COARSE_FPS
    seen, lag = _NONE, step
    t1 = duration
    while t1 > limit:
        t0 = max(limit, t1 - CHUNK)
        part = _sampled(path, t0, t1, COARSE_FPS, "keyframes")
        if part.longest_hold() * step > MAX_HOLD:
            part = _sampled(path, t0, t1, COARSE_FPS, "needed")
        else:
            lag = max(lag, part.longest_hold() * step)
        seen = part + seen
        t1 = t0
        run = _last_run(seen, step)
        if run is None and duration - t0 > min(AFTER[0], AFTER[1] * duration) + GAP:
            break  # nothing dark where credits could still end
        if run is not None and seen.times[run[0]] - seen.times[0] > GAP + step:
            break  # something else before the dark frames: where they begin is seen
    seg, text = _candidate(seen, duration, step)
    if seg is None:
        return None, text
    # a keyframe sample shows the last keyframe before its time: the credits begin after the
    # last sample that was not dark, at most a keyframe interval before the first that was
    a = max(0.0, seg.start - max(FINE_BACK, lag) - step)
    fine = _sampled(path, a, seg.start + step, FPS, "needed")
    start, end = seg.start, seg.end
    if len(fine.times) and fine.dark[-1]:
        other = np.flatnonzero(~fine.dark)
        k = other[-1] + 1 if len(other) else 0
        start, text = float(fine.times[k]), text or ("text" if fine.text[k:].any() else "")
    if duration - end > step:  # something follows (a preview): where the credits give way
        fine = _sampled(path, max(start, end - step - max(FINE_BACK, lag)), end + step, FPS,
                        "needed")  # fmt: skip
        if len(fine.times) and fine.dark[0]:
            other = np.flatnonzero(~fine.dark)
            end = float(fine.times[other[0]]) if len(other) else end
    return _judged(Segment(start, end, 1.0), text == "text")


def _sampled(path: str | os.PathLike, t0: float, t1: float, fps: float, decode: str) -> FrameLooks:
    times, gray = [], []
    for k, frame in frames_per_second(path, fps=fps, size=SIZE, crop=False, start=t0,
                                      max_seconds=t1 - t0, decode=decode):  # fmt: skip
        times.append(t0 + k / fps)
        gray.append((frame.astype(np.float32) @ _LUMA).astype(np.uint8))
    if not gray:
        return _NONE
    return looks(np.stack(gray), np.array(times))


def with_end_credits(path: str | os.PathLike, found: SeasonEpisode) -> SeasonEpisode:
    """``found`` with the credits its last pictures show, where nothing else found any (a
    lone episode, a film, an episode whose season shares no end theme); what the pictures
    said goes in the evidence (``end_pictures``) either way. A video whose pictures cannot be
    read keeps ``found``."""
    if found.credits is not None:
        return found
    try:
        seg, why = end_credits(path)
    except (ValueError, OSError, EOFError, av.error.FFmpegError) as e:
        log.warning("%s: its last pictures not read for credits (%s)", path, e)
        return found
    return replace(found, credits=seg, evidence=found.evidence | {"end_pictures": why})
