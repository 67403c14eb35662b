"""Segments told by the names of a file's own chapters: "Opening", "OP 2", "Vorspann",
"Générique de fin", "Previously on Lost", "次回予告"...

A chapter counts when its whole title (or the part before a ``:`` / `` - ``, as in
"Opening: Unravel") is a name of one kind, after case, accents, numbering ("Chapter 3 -",
"02.") and a version number ("OP2", "Ending 1") are set aside: "Opening Night" or "The Credits
Scene" are stories, not segments. A named chapter whose length or place no segment of its kind
has (an "Opening" of 25 minutes, "Credits" at the start of a film) is not taken, and the note
says why: a file's chapters are the author's answer when they are plausible, not when they
are mislabelled.
"""

from __future__ import annotations

import os
import re
import unicodedata
from dataclasses import dataclass, replace

from introdet.detection.postprocess import Segment
from introdet.detection.season import SeasonEpisode
from introdet.errors import VideoError
from introdet.media.file_chapters import FileChapter, FileChapters, read_chapters
from introdet.media.labels import short_time

INTRO, CREDITS, RECAP, PREVIEW, COMMERCIAL = "intro", "credits", "recap", "preview", "commercial"
KINDS = (INTRO, CREDITS, RECAP, PREVIEW, COMMERCIAL)

# names after ``_normal`` (lower case, no accents, punctuation as spaces), by kind; a name
# ending in " *" is a prefix that anything may follow ("previously on" + the show's name)
# fmt: off
NAMES: dict[str, tuple[str, ...]] = {
    INTRO: (
        "intro", "op", "opening", "opening credits", "opening titles", "opening theme",
        "opening sequence", "opening song", "title sequence", "titles", "main titles",
        "main title", "main title sequence", "theme song", "theme", "ncop",
        "vorspann", "titelsequenz", "generique", "generique de debut", "generique d ouverture",
        "generique du debut", "apertura", "cabecera", "cortinilla", "sigla", "sigla iniziale",
        "sigla di apertura", "sigla d apertura", "titoli di testa", "abertura", "begintitels",
        "intro muziek", "czolowka", "czołowka", "forteksti", "fortexter", "vinjett",
        "alkutunnus", "tunnari", "заставка", "опенинг", "вступление", "オープニング",
        "オープニングテーマ", "片头", "片頭", "片头曲", "片頭曲", "오프닝",
    ),
    CREDITS: (
        "ed", "ending", "end credits", "ending credits", "closing credits", "credits",
        "closing", "closing titles", "end titles", "end title", "ending theme", "ending song",
        "outro", "credit roll", "nced", "abspann", "nachspann", "generique de fin",
        "generique final", "generique fin", "creditos", "creditos finales", "titulos de credito",
        "sigla finale", "sigla di chiusura", "titoli di coda", "creditos finais", "encerramento",
        "aftiteling", "napisy koncowe", "eftertexter", "lopputekstit", "титры",
        "финальные титры", "эндинг", "エンディング", "エンディングテーマ", "片尾", "片尾曲",
        "엔딩",
    ),
    RECAP: (
        "recap", "previously", "previously on *", "last time", "last time on *",
        "the story so far", "story so far", "what has gone before", "was bisher geschah",
        "ruckblick", "zuvor bei *", "precedemment", "precedemment dans *", "resume",
        "anteriormente", "anteriormente en *", "resumen", "riassunto",
        "nelle puntate precedenti", "nella puntata precedente", "eerder in *", "tidigare i *",
        "aiemmin", "ранее", "ранее в *", "в предыдущих сериях", "前回のあらすじ", "あらすじ",
        "前情提要", "지난 이야기",
    ),
    PREVIEW: (
        "preview", "next time", "next time on *", "next episode", "next episode preview",
        "next week", "next week on *", "next on *", "coming up", "coming up next",
        "episode preview", "vorschau", "demnachst", "prochainement", "prochain episode",
        "apercu", "bande annonce", "avance", "proximo episodio", "proximamente", "anteprima",
        "prossimamente", "prossimo episodio", "previa", "volgende keer", "nasta avsnitt",
        "ensi jaksossa", "анонс", "превью", "в следующей серии", "次回予告", "予告", "次回",
        "下集预告", "다음 이야기", "예고",
    ),
    COMMERCIAL: (
        "commercial", "commercial break", "commercials", "advertisement", "advert", "ad",
        "ads", "ad break", "sponsor", "sponsors", "sponsor message", "eyecatch", "eye catch",
        "werbung", "werbepause", "publicite", "pubblicita", "publicidad", "reclame", "реклама",
        "アイキャッチ", "cm",
    ),
}
# fmt: on

# (shortest, longest) seconds, and where in the file (a fraction of its duration) the segment
# must start after / end before: a named chapter outside these is mislabelled
BOUNDS: dict[str, tuple[float, float, float, float]] = {
    INTRO: (3.0, 300.0, 0.0, 0.6),  # anime openings 90 s, a film's title sequence up to 5 min
    CREDITS: (3.0, 1200.0, 0.5, 1.0),  # a film's crawl up to 20 min
    RECAP: (3.0, 300.0, 0.0, 0.5),
    PREVIEW: (3.0, 240.0, 0.5, 1.0),
    COMMERCIAL: (1.0, 600.0, 0.0, 1.0),
}

_SEPARATOR = re.compile(r"\s*[:|–—(\[]\s*|\s+-\s+")  # "Opening: Unravel", "Credits (cont.)"
_NUMBERING = re.compile(
    r"^(?:(?:chapter|chapitre|kapitel|capitulo|capitolo|hoofdstuk|глава|part|teil)\s*)?"
    r"\d+\s*[.)]?\s+"
)  # "Chapter 3 Opening", "02. Opening", "1) Opening"
# "OP2", "Ending 1", "Opening II", "OP v2", "Opening A", "OP part 2"
_VERSION = re.compile(r"(?:\s+(?:part|pt)\s*\d+|\s*\d+|\s+(?:[ivx]+|v\d+|[ab]))$")


@dataclass(frozen=True)
class NamedSegment:
    kind: str
    start: float
    end: float
    chapter: str  # the chapter's title, as the file has it

    @property
    def evidence(self) -> str:
        return f"chapter {self.chapter!r}"


@dataclass(frozen=True)
class ChapterReading:
    segments: tuple[NamedSegment, ...]  # in order of start
    notes: tuple[str, ...]  # named chapters not taken, and why

    def of(self, kind: str) -> NamedSegment | None:
        """The first segment of ``kind`` (the main one: an intro, the credits)."""
        return next((s for s in self.segments if s.kind == kind), None)


def kind_of(title: str) -> str | None:
    """The segment kind a chapter title names, or None."""
    text = title.strip()
    heads = [text]
    parts = _SEPARATOR.split(text, maxsplit=1)
    if len(parts) == 2 and parts[0]:
        heads.append(parts[0])  # "Opening: Unravel" -> "Opening"
    for head in heads:
        name = _NUMBERING.sub("", _normal(head))
        for candidate in (name, _VERSION.sub("", name)):
            kind = _named(candidate)
            if kind is not None:
                return kind
    return None


def segments_of(found: FileChapters) -> ChapterReading:
    """The segments a file's chapters name, neighbours of one kind joined ("OP part 1" and
    "OP part 2"), each checked against ``BOUNDS``."""
    duration = found.duration or max((c.end for c in found.chapters), default=0.0)
    runs: list[tuple[str, list[FileChapter]]] = []
    for c in found.chapters:
        kind = kind_of(c.title)
        if kind is None:
            continue
        if runs and runs[-1][0] == kind and abs(runs[-1][1][-1].end - c.start) < 0.5:
            runs[-1][1].append(c)
        else:
            runs.append((kind, [c]))
    taken, notes = [], []
    for kind, chapters in runs:
        seg = NamedSegment(kind, chapters[0].start, chapters[-1].end, chapters[0].title)
        why = _implausible(seg, duration)
        if why:
            span = f"{short_time(seg.start)}-{short_time(seg.end)}"
            notes.append(f"chapter {seg.chapter!r} ({span}) not taken as the {kind}: {why}")
        else:
            taken.append(seg)
    return ChapterReading(tuple(taken), tuple(notes))


def _implausible(seg: NamedSegment, duration: float) -> str | None:
    shortest, longest, after, before = BOUNDS[seg.kind]
    length = seg.end - seg.start
    if length < shortest:
        return f"{length:.1f} s is shorter than any ({shortest:g} s)"
    if length > longest:
        return f"{length:.0f} s is longer than any ({longest:g} s)"
    if duration > 0 and seg.start < after * duration:
        return f"it starts in the first {after:.0%} of the file"
    if duration > 0 and seg.end > before * duration + 0.5:
        return f"it ends after the first {before:.0%} of the file"
    return None


def _named(name: str) -> str | None:
    for kind, names in NAMES.items():
        for n in names:
            if name == n or n.endswith(" *") and name.startswith(n[:-1]) and len(name) > len(n):
                return kind
    return None


def _normal(text: str) -> str:
    """Lower case, accents off, punctuation as spaces, spaces single: "Générique (de fin)"
    -> "generique de fin"; letters of other scripts stay as they are."""
    kept, latin = [], False
    for ch in unicodedata.normalize("NFKD", text.casefold()):
        if not unicodedata.combining(ch):
            latin = ch < "\u0250"
        elif latin:
            continue  # an accent of a Latin letter; a kana's voicing mark or Cyrillic й stays
        kept.append(ch)
    text = unicodedata.normalize("NFKC", "".join(kept))
    return " ".join(re.sub(r"[^\w]+|_", " ", text).split())


def with_chapters(path: str | os.PathLike, found: SeasonEpisode) -> SeasonEpisode:
    """``found`` with the intro and credits that ``path``'s own chapters name, where they
    name them plausibly: the author's answer wins over what the season suggests. Every named
    chapter, taken or not, goes in the evidence (``chapters``); the season's evidence of a
    segment the chapters replaced goes. A file whose chapters cannot be read keeps ``found``."""
    try:
        reading = segments_of(read_chapters(path))
    except VideoError:
        return found
    return _told(reading, found)


@dataclass(frozen=True)
class ChapterAnswer:
    """What a file's chapters alone decide: its duration and its segments."""

    duration: float
    found: SeasonEpisode


def chapters_answer(path: str | os.PathLike) -> ChapterAnswer | None:
    """The whole answer ``path``'s chapters give, an intro and credits both named plausibly
    (and what else they name); None where they do not (its sound is heard then)."""
    try:
        chapters = read_chapters(path)
    except VideoError:
        return None
    reading = segments_of(chapters)
    if not chapters.duration or reading.of(INTRO) is None or reading.of(CREDITS) is None:
        return None
    return ChapterAnswer(chapters.duration, _told(reading, SeasonEpisode()))


def _told(reading: ChapterReading, found: SeasonEpisode) -> SeasonEpisode:
    reading = _agreeing(reading, found)
    if not reading.segments and not reading.notes:
        return found
    told: dict = {s.kind: {"start": round(s.start, 3), "end": round(s.end, 3),
                           "chapter": s.chapter} for s in reversed(reading.segments)}  # fmt: skip
    if reading.notes:
        told["not_taken"] = list(reading.notes)
    evidence = {k: v for k, v in found.evidence.items() if k not in told}
    named = {k: Segment(s.start, s.end, 1.0) for k in (INTRO, CREDITS, PREVIEW, RECAP)
             if (s := reading.of(k)) is not None}  # fmt: skip
    return replace(found, **named, evidence=evidence | {"chapters": told})


def _agreeing(reading: ChapterReading, found: SeasonEpisode) -> ChapterReading:
    """``reading`` without the named segments that miss what the season found of their kind
    ("Intro" over a cold open while the theme plays after it, "Ending" over the last scene
    before the credits heard in every episode: less than half of the shorter of the two
    shared): a chapter named by its story, not its segment. Where they agree, the chapter's
    edges are the author's and stay."""
    kept, notes = [], list(reading.notes)
    for seg in reading.segments:
        heard = getattr(found, seg.kind, None) if seg.kind in found.evidence else None
        shared = 0.0 if heard is None else min(seg.end, heard.end) - max(seg.start, heard.start)
        if heard is None or shared >= 0.5 * min(seg.end - seg.start, heard.end - heard.start):
            kept.append(seg)
            continue
        notes.append(f"chapter {seg.chapter!r} ({short_time(seg.start)}-{short_time(seg.end)}) "
                     f"not taken as the {seg.kind}: the season's is at "
                     f"{short_time(heard.start)}-{short_time(heard.end)}")  # fmt: skip
    return ChapterReading(tuple(kept), tuple(notes))


def by_chapters(found: SeasonEpisode | None, kind: str = INTRO) -> bool:
    """Whether ``found``'s segment of ``kind`` is the one its file's chapters name (its
    edges are the author's: not moved to a cut)."""
    return found is not None and kind in found.evidence.get("chapters", {})
