"""A "previously on" recap: the stretch before an episode's intro made of clips of the
episode before it.

A recap quotes the last episode's story in shots of a second or two, each at another place
of that episode: too short for the season's matching (``season.min_seconds``, 1.5 s), and
shared by two episodes only. So each episode's opening minutes (up to its intro) are heard
once more against the episode before it in broadcast order, with clips from ``CLIP`` s on;
``MIN_CLIPS`` clips, each from elsewhere in that episode's story than it plays here (not its
intro, credits or preview, not a studio jingle both play at 0:00), from as many places of it
and as many shots of this one (a music cue the score repeats is heard at several places, but
is one shot), make a recap, from its first clip to its last.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from introdet.detection.matching import audio_times, match_audio
from introdet.detection.postprocess import Segment
from introdet.detection.season import SeasonConfig, SeasonEpisode
from introdet.features.audio import AudioPrint
from introdet.features.fingerprints import EpisodePrints

CLIP = 0.8  # seconds: the shortest quoted clip heard (recap shots: 1 to 3 s)
MIN_CLIPS = 3  # clips of the episode before that make a recap: one or two are chance
MIN_SHIFT = 1.0  # seconds: a clip this close to its own place in the episode before is an
# opening both share (a studio jingle, a cold open's sting), not a quote
NO_INTRO_HEAD = 120.0  # seconds looked at where an episode has no intro
SHARE = 0.5  # a clip overlapping the intro or credits of its source by this share is theirs


def find_recaps(
    prints: Sequence[EpisodePrints], results: Sequence[SeasonEpisode], cfg: SeasonConfig
) -> None:
    """Each episode's recap (``results[k].recap``, and its evidence), in place; the episodes
    in broadcast order."""
    for k in range(1, len(prints)):
        me, before = prints[k], prints[k - 1]
        if me.audio is None or before.audio is None:
            continue
        intro = results[k].intro
        end = intro.start if intro is not None else min(NO_INTRO_HEAD, me.duration / 4)
        clips = _clips(before, _head(me.audio, end))
        quoted = [c for c in clips if c.quoted(_taken(results[k - 1]))]
        n = min(_places(quoted), _shots(quoted))
        if n < MIN_CLIPS:
            continue
        start, stop = _extent(quoted, clips)
        start = 0.0 if start <= cfg.snap_start else start
        results[k].recap = Segment(start, stop, 1.0)
        results[k].evidence["recap"] = {"heard": 1, "clips": n}


@dataclass(frozen=True)
class _Clip:
    start: float  # in the episode
    end: float
    source: float  # where it plays in the episode before
    source_end: float

    def quoted(self, taken: list[tuple[float, float]]) -> bool:
        """From elsewhere in the episode before, and from its story."""
        if abs(self.source - self.start) < MIN_SHIFT:
            return False
        length = max(self.source_end - self.source, 1e-9)
        return all(max(0.0, min(self.source_end, e) - max(self.source, s)) < SHARE * length
                   for s, e in taken)  # fmt: skip


def _head(p: AudioPrint, end: float) -> AudioPrint:
    n = max(0, int((end - p.start) / p.hop))
    return replace(p, codes=p.codes[:n], silent=p.silent[:n])


def _taken(r: SeasonEpisode) -> list[tuple[float, float]]:
    """The stretches of an episode a recap does not quote: its intro, its credits, and its
    "next time on" (the next episode's own scenes, which that one plays, not quotes)."""
    return [(s.start, s.end) for s in (r.intro, r.credits, r.preview) if s is not None]


def _clips(before: EpisodePrints, head: AudioPrint) -> list[_Clip]:
    """The stretches of ``head`` heard in ``before``, each with where it plays there."""
    if len(head) == 0:
        return []
    found = []
    for source in (before.audio, before.tail):
        if source is not None and len(source):
            for m in match_audio(source, head, min_seconds=CLIP):
                a0, a1, b0, b1 = audio_times(m, source, head)
                found.append(_Clip(b0, b1, a0, a1))
    return found


def _places(clips: list[_Clip]) -> int:
    """How many places of the episode before the clips come from (shots quoted one after the
    other, at one offset, are one)."""
    places, last = 0, None
    for shift in sorted(c.source - c.start for c in clips):
        places += last is None or shift - last > MIN_SHIFT
        last = shift
    return places


def _shots(clips: list[_Clip]) -> int:
    """How many stretches of this episode the clips are (one heard at several places of the
    episode before, a music cue its score repeats, is one)."""
    shots: list[tuple[float, float]] = []
    for c in sorted(clips, key=lambda c: c.start):
        if shots:
            s, e = shots[-1]
            if min(e, c.end) - c.start > 0.5 * min(e - s, c.end - c.start):
                shots[-1] = (s, max(e, c.end))
                continue
        shots.append((c.start, c.end))
    return len(shots)


def _extent(quoted: list[_Clip], clips: list[_Clip], gap: float = 2.0) -> tuple[float, float]:
    """From the first quoted clip to the last, with any clip heard next to them (the first
    shot may quote the episode before's own first seconds)."""
    start, stop = min(c.start for c in quoted), max(c.end for c in quoted)
    grown = True
    while grown:
        grown = False
        for c in clips:
            near = c.end >= start - gap and c.start <= stop + gap
            if near and (c.start < start or c.end > stop):
                start, stop, grown = min(start, c.start), max(stop, c.end), True
    return start, stop
