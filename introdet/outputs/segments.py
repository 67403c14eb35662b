"""An episode's segments as one typed list (record schema 3): each with its type, start, end,
a confidence in [0, 1] and the evidence that decided it, in one sentence a person can check
("heard in 7 of 8 episodes compared, seen in 6", "chapter 'Opening'", "dark frames with text
from 41:12 to 43:05").

Types are those media servers know (Jellyfin's Intro, Outro, Recap, Preview, Commercial):
``intro``, ``credits``, ``recap``, ``preview``, ``commercial`` (a recurring ident or bumper
inside the episode). The record's ``intro`` and ``credits`` stay as they were (schema 2
readers keep working): they are the list's main intro and credits.
"""

from __future__ import annotations

from introdet.detection.episodes import Episode
from introdet.outputs.timeline import TYPES

PICTURES_CONFIDENCE = 0.5  # one video's own pictures, nothing else to agree with them


def episode_segments(e: Episode) -> list[dict]:
    """The typed segments of ``e``, in order of start."""
    season = e.season.evidence if e.season is not None else {}
    told = season.get("chapters", {})
    out = []
    if e.intro is not None:
        out.append(_segment("intro", e.intro.start, e.intro.end, *_intro_why(e, season, told)))
        if e.season is not None:  # the first of its season's episodes in broadcast order
            out[-1]["first_appearance"] = bool(season.get("first_appearance"))
    credits = e.season.credits if e.season is not None else None
    if credits is not None:
        if "credits" in told:
            why = (1.0, _chapter(told["credits"]))
        elif "end_pictures" in season:
            why = (PICTURES_CONFIDENCE, str(season["end_pictures"]))
        else:
            why = (credits.score, _heard(season.get("credits"), "its end"))
        out.append(_segment("credits", credits.start, credits.end, *why))
    for kind, where in (("preview", "next"), ("recap", "previous")):
        found = getattr(e.season, kind) if e.season is not None else None
        if found is not None:
            why = (1.0, _chapter(told[kind])) if kind in told else (
                found.score, _clips(season.get(kind), where))
            out.append(_segment(kind, found.start, found.end, *why))
    if "commercial" in told:
        c = told["commercial"]
        out.append(_segment("commercial", c["start"], c["end"], 1.0, _chapter(c)))
    elif e.season is not None:
        for ad, ev in zip(e.season.commercials, season.get("commercials", []), strict=False):
            out.append(_segment("commercial", ad.start, ad.end, ad.score, _heard(ev, "an ident")))
    return sorted(out, key=lambda s: (s["start"], TYPES.index(s["type"])))


def _intro_why(e: Episode, season: dict, told: dict) -> tuple[float, str]:
    if "intro" in told:
        return 1.0, _chapter(told["intro"])
    if e.mode == "season":
        return e.intro.score, _heard(season.get("intro"), "the theme")
    if e.mode == "clip":
        return e.intro.score, f"pictures that recur in the season, mean score {e.intro.score:.2f}"
    return e.intro.score, f"the model, mean probability {e.intro.score:.2f}"


def _heard(evidence: dict | None, what: str) -> str:
    """Season evidence in words: "the theme heard in 7 of 8 episodes compared, seen in 6"."""
    if not evidence:
        return f"{what} recurs in the season"
    partners = evidence.get("partners")
    of = f" of {partners}" if partners else ""
    heard, seen = evidence.get("heard", 0), evidence.get("seen", 0)
    parts = ([f"heard in {heard}{of} episodes compared"] if heard else []) + (
        [f"seen in {seen}" + ("" if heard else f"{of} episodes compared")] if seen else []
    )
    return f"{what} {', '.join(parts) or 'recurs in the season'}"


def _clips(evidence: dict | None, where: str) -> str:
    """A preview or recap in words: "3 clips heard and seen in the next episode"."""
    ev = evidence or {}
    how = " and ".join(k for k in ("heard", "seen") if ev.get(k)) or "found"
    return f"{ev.get('clips', 0)} clips {how} in the {where} episode"


def _chapter(c: dict) -> str:
    return f"chapter {c['chapter']!r}"


def _segment(kind: str, start: float, end: float, confidence: float, evidence: str) -> dict:
    return {"type": kind, "start": round(float(start), 3), "end": round(float(end), 3),
            "confidence": round(min(1.0, max(0.0, float(confidence))), 4),
            "evidence": evidence}  # fmt: skip
