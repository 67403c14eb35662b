"""End credits of episodes decided alone, from their last pictures (``end_credits``): every
episode of a library with a truth file, and each episode cut just before its credits (a copy
of its packets up to 0.5 s before them: a video that ends without credits).

``python -m benchmarks.lone_credits truth=DIR/truth.json library=DIR [cut=FOLDER]``

Works with the demo library (``truth.json`` beside ``videos/``: ``library=DIR``) and the
season-traps library (``library=DIR/library``). Prints, per library: the episodes, credits
starts within 1 s and 3 s, both edges within 1 s, and credits found in the cut copies
(false), with the seconds per episode.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import av

from introdet.detection.end_credits import end_credits


def cut_before(src: Path, dst: Path, until: float) -> Path:
    """``src``'s video and audio packets before ``until`` s, copied to ``dst``."""
    with av.open(str(src)) as i, av.open(str(dst), "w") as o:
        copies = {s.index: o.add_stream_from_template(s, opaque=True) for s in i.streams
                  if s.type in ("video", "audio")}  # fmt: skip
        for p in i.demux([i.streams[k] for k in copies]):
            if p.size and p.pts is not None and float(p.pts * p.time_base) < until:
                p.stream = copies[p.stream.index]
                o.mux(p)
    return dst


def run(truth: Path, library: Path, cut: Path) -> dict:
    episodes = json.loads(truth.read_text())["episodes"]
    cut.mkdir(parents=True, exist_ok=True)
    n = start1 = start3 = both1 = false = 0
    seconds, wrong = 0.0, []
    for k, e in sorted(episodes.items()):
        truth_credits = e.get("credits")
        if not truth_credits:
            continue
        video = library / e["path"]
        t0 = time.perf_counter()
        seg, why = end_credits(video)
        seconds += time.perf_counter() - t0
        n += 1
        a, b = truth_credits["start"], truth_credits["end"]
        if seg is not None and abs(seg.start - a) <= 1:
            start1 += 1
        if seg is not None and abs(seg.start - a) <= 3:
            start3 += 1
        if seg is not None and abs(seg.start - a) <= 1 and abs(seg.end - b) <= 1:
            both1 += 1
        else:
            found = "none" if seg is None else f"{seg.start:.2f}-{seg.end:.2f}"
            wrong.append(f"{k}: truth {a:.2f}-{b:.2f}, found {found} ({why})")
        short = cut_before(video, cut / f"{n:04d}{video.suffix}", a - 0.5)
        got, why = end_credits(short)
        if got is not None:
            false += 1
            wrong.append(f"{k} cut at {a - 0.5:.2f}: found {got.start:.2f}-{got.end:.2f} ({why})")
    return {"episodes": n, "start<=1s": start1, "start<=3s": start3, "both<=1s": both1,
            "false (cut copies)": false, "s/episode": round(seconds / max(n, 1), 3),
            "wrong": wrong}  # fmt: skip


def main(argv: list[str]) -> int:
    args = dict(a.split("=", 1) for a in argv)
    truth, library = Path(args["truth"]), Path(args["library"])
    cut = Path(args.get("cut", truth.parent / "credits_cut"))
    res = run(truth, library, cut)
    wrong = res.pop("wrong")
    print(" | ".join(f"{k} {v}" for k, v in res.items()))
    for w in wrong:
        print("  " + w)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
