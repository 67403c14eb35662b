"""Where a stretch two episodes share begins and ends, as their pictures show it.

Around an edge of an intro (or the start of the credits) found in both episodes of a pair, a
few seconds of pictures of each are sampled densely and compared at the pair's offset: the
run of matching pictures found inside the stretch, followed outward, is where the title
sequence begins or ends. It may move an edge outward (dialogue over the theme's first
seconds: the pictures show the title sequence from its first frame) or, where the pictures
before it are clearly other pictures, inward (a theme that leads in over the cold open,
another dub); text over the title, a fade or a flat frame never move an edge in.
"""

from __future__ import annotations

import numpy as np

from introdet.detection.links import Link
from introdet.features.fingerprints import PicturePrint
from introdet.features.picture import cosine, hamming

EDGE_BITS = 12  # of 64: two samples of one picture (another encode, text over it) stay under
OTHER_BITS = 22  # of 64: two unrelated pictures differ in about 32 bits, rarely in fewer
SAME_COSINE, OTHER_COSINE = 0.95, 0.6  # of thumbnails: one picture; surely not one


def _distance(a: PicturePrint, b: PicturePrint, d: float) -> np.ndarray:
    """Bits in which each sample of ``a`` differs from the picture ``b`` shows ``d`` s later
    (nearest sample by time); -1 where either is flat or ``b`` has no sample: int [len(a)]."""
    if len(a.hashes) == 0 or len(b.hashes) == 0:
        return np.full(len(a.hashes), -1)
    t = a.start + np.arange(len(a.hashes)) / a.fps + d - b.start  # [N] into b
    k = np.round(t * b.fps).astype(np.int64)
    inside = (k >= 0) & (k < len(b.hashes))
    k = np.clip(k, 0, len(b.hashes) - 1)
    bits = hamming(a.hashes, b.hashes[k])
    if a.thumbs is not None and b.thumbs is not None:  # smooth pictures: the hash is noise
        cos = cosine(a.thumbs, b.thumbs[k])
        bits = np.where(cos >= SAME_COSINE, np.minimum(bits, EDGE_BITS), bits)
        bits = np.where(cos > OTHER_COSINE, np.minimum(bits, OTHER_BITS - 1), bits)
    return np.where(inside & ~a.flat & ~b.flat[k], bits, -1)


def _run_to(ok: np.ndarray, inner: int, step: int) -> int:
    """From sample ``inner`` (a match) outward by ``step`` (-1: back, +1: on), the last sample
    of the run of matches that holds it (one missing sample bridged)."""
    k, last = inner, inner
    while 0 <= k + step < len(ok):
        k += step
        if ok[k]:
            last = k
        elif not (0 <= k + step < len(ok) and ok[k + step]):
            break
    return last


def _other(bits: np.ndarray) -> bool:
    """Whether samples show other pictures than their partner's (not the same picture with
    text over it or a fade): most of those compared differ in OTHER_BITS or more."""
    seen = bits[bits >= 0]
    return len(seen) > 0 and float(np.mean(seen >= OTHER_BITS)) >= 0.75


def _seen_edge(
    bits: np.ndarray, at: int, rising: bool, inward: bool = True, look: int | None = None
) -> int | None:  # fmt: skip
    """The sample where the pictures' match begins (``rising``) or its last sample, near
    sample ``at`` of the edge given: the run of matches found first inside the stretch (from
    sample ``look`` on, or back: where the partner's edge falls, if further out), followed
    outward; None: no match inside, or a match that starts inside ``at`` for no reason the
    pictures show."""
    look = at if look is None else look
    ok = (bits >= 0) & (bits <= EDGE_BITS)
    inside = np.flatnonzero(ok[look:]) + look if rising else np.flatnonzero(ok[: look + 1])
    if len(inside) == 0:
        return None
    inner = int(inside[0] if rising else inside[-1])
    edge = _run_to(ok, inner, -1 if rising else 1)
    between = bits[at:edge] if rising else bits[edge + 1 : at + 1]
    if len(between) > 1 and not (inward and _other(between)):
        return None  # the title with text over it, a fade: the sound's edge stands
    return edge


def _offset(
    a: tuple[PicturePrint | None, PicturePrint | None],
    b: tuple[PicturePrint | None, PicturePrint | None],
    d: float, span: tuple[float, float], search: float,
) -> float:  # fmt: skip
    """The offset within ``search`` s of ``d`` at which the pictures of ``a``'s windows inside
    ``span`` match ``b``'s best (an offset found on pictures 0.5 s apart is only that close)."""
    if search <= 0:
        return d
    step = min((1 / w.fps for w in (*a, *b) if w is not None and len(w.hashes)), default=0.0)
    if step == 0.0:
        return d
    best, score = d, -1
    for dd in sorted(d + np.arange(-search, search + step / 2, step), key=lambda x: abs(x - d)):
        n = 0
        for wa, wb in zip(a, b, strict=True):
            if wa is None or wb is None or not len(wa.hashes):
                continue
            t = wa.start + np.arange(len(wa.hashes)) / wa.fps
            bits = _distance(wa, wb, dd)
            n += int(np.sum((bits >= 0) & (bits <= EDGE_BITS) & (t >= span[0]) & (t < span[1])))
        if n > score:
            best, score = dd, n
    return best


def edge_link(
    i: int, j: int, d: float, heard: tuple[float, float],
    windows_i: tuple[PicturePrint | None, PicturePrint | None],
    windows_j: tuple[PicturePrint | None, PicturePrint | None], search: float = 0.0,
    inward: bool = True, theirs: tuple[float, float] | None = None,
) -> Link | None:  # fmt: skip
    """What the pictures around the edges of an occurrence ``heard`` of episode i show, where
    j has it ``d`` s later (to within ``search`` s): from where they begin to match to where
    they stop, as a picture link; an edge the pictures do not show keeps the one given, and
    without ``inward`` so does one they would move inside it (credits whose names differ
    from episode to episode look like other pictures). ``theirs``: j's own edges, on i's
    timeline (its window is around them). None: the pictures show neither edge."""
    start, end = heard
    look_start, look_end = theirs if theirs is not None else heard
    step = 0.0
    (si, ei), (sj, ej) = windows_i, windows_j
    d = _offset(windows_i, windows_j, d, heard, search)

    def index(w: PicturePrint, t: float, rising: bool) -> int:
        k = np.ceil((t - w.start) * w.fps) if rising else np.floor((t - w.start) * w.fps) - 1
        return int(np.clip(k, 0, len(w.hashes) - 1))

    if si is not None and sj is not None and len(si.hashes):
        at = index(si, start, True)
        look = min(at, index(si, look_start, True))
        first = _seen_edge(_distance(si, sj, d), at, True, inward, look)
        if first is not None:
            start, step = si.start + first / si.fps, 1 / si.fps
    if ei is not None and ej is not None and len(ei.hashes):
        at = index(ei, end, False)
        look = max(at, index(ei, look_end, False))
        last = _seen_edge(_distance(ei, ej, d), at, False, inward, look)
        if last is not None:
            end, step = ei.start + (last + 1) / ei.fps, 1 / ei.fps
    if step == 0.0:
        return None
    return Link(i, j, start, end, start + d, end + d, "picture", step, exact=True)
