"""Pairwise alignment of two episodes' fingerprint sequences: the stretches they share.

Two sequences of integer codes (32-bit audio codes, 64-bit picture hashes) share a stretch when,
at one offset ``d`` (code i of A against code i + d of B), the bit error rate stays low for a
while. Finding it takes two steps, as Chromaprint-style matchers do:

1. candidate offsets: every code is cut into overlapping 16-bit keys; pairs of codes with an
   equal key (found by sorting B's keys, never by an all-pairs table) vote for their offset,
   and the offsets with the most votes (summed with their neighbours) become candidates;
2. run extension: along each candidate diagonal (and its two neighbours, since the two grids
   may be shifted by part of a hop) the per-code bit error rate, averaged over a centred
   window, is thresholded; runs closer than ``max_gap`` merge, and each run's ends are then
   set where the average crosses the midpoint between the run's own error rate and 0.5 (the
   rate of unrelated codes), so a centred window puts them where the shared stretch begins
   and ends.

Codes flagged in ``skip`` (silent audio, flat pictures) count as unrelated (error 0.5): silence
never matches silence.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from introdet.errors import MatchingError
from introdet.features.audio import AudioPrint
from introdet.features.picture import hamming

KEY_BITS = 16  # bits per vote key; keys start every KEY_BITS // 2 bits
OUTLIER = 0.02  # share of codes inside a shared stretch that look unrelated
MAX_BUCKET = 64  # a key held by more codes of B than this (a long steady sound) does not vote


@dataclass(frozen=True)
class Match:
    """A stretch shared by A and B, in codes: A[start_a + k] ~ B[start_b + k] for k < length."""

    start_a: int
    start_b: int
    length: int
    ber: float  # mean bit error rate over the stretch

    @property
    def offset(self) -> int:
        return self.start_b - self.start_a


def _check(codes: np.ndarray, skip: np.ndarray | None, bits: int, name: str) -> np.ndarray:
    if codes.ndim != 1 or codes.dtype.kind != "u" or codes.dtype.itemsize * 8 < bits:
        raise MatchingError(f"{name}: expected unsigned codes [N] of {bits} bits, got "
                            f"{codes.dtype} {codes.shape}")  # fmt: skip
    if skip is None:
        return np.ones(len(codes), bool)
    if skip.shape != codes.shape:
        raise MatchingError(f"{name}: skip mask {skip.shape} does not match codes {codes.shape}")
    return ~skip.astype(bool)


def candidate_offsets(
    a: np.ndarray, b: np.ndarray, bits: int, use_a: np.ndarray, use_b: np.ndarray,
    max_candidates: int = 12, min_votes: int = 3,
) -> list[int]:  # fmt: skip
    """Offsets d (B index - A index) voted for by equal 16-bit keys, best first."""
    ia, ib = np.flatnonzero(use_a), np.flatnonzero(use_b)  # [Na'], [Nb']
    votes = np.zeros(len(a) + len(b) + 1, np.int64)  # index d + len(a)
    mask = np.uint64((1 << KEY_BITS) - 1)
    for shift in range(0, bits - KEY_BITS + 1, KEY_BITS // 2):
        ka = (a[ia].astype(np.uint64) >> np.uint64(shift)) & mask  # [Na']
        kb = (b[ib].astype(np.uint64) >> np.uint64(shift)) & mask  # [Nb']
        order = np.argsort(kb, kind="stable")
        sorted_kb = kb[order]
        lo = np.searchsorted(sorted_kb, ka, "left")  # [Na']
        count = np.searchsorted(sorted_kb, ka, "right") - lo  # [Na']
        count[count > MAX_BUCKET] = 0
        total = int(count.sum())
        if total == 0:
            continue
        first = np.repeat(np.cumsum(count) - count, count)  # [P]
        j = ib[order[np.repeat(lo, count) + np.arange(total) - first]]  # [P] B indices
        votes += np.bincount(j - np.repeat(ia, count) + len(a), minlength=len(votes))
    smooth = np.convolve(votes, np.ones(3, np.int64), mode="same")  # a sub-hop shift splits
    found: list[int] = []
    while len(found) < max_candidates:
        k = int(np.argmax(smooth))
        if smooth[k] < min_votes:
            break
        lo = max(0, k - 1)
        found.append(lo + int(np.argmax(votes[lo : k + 2])) - len(a))  # the best of the three
        smooth[max(0, k - 2) : k + 3] = 0
    return found


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """[start, end) of each run of True in a bool [L]."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()
    return list(zip(starts, ends, strict=True))


def _centred_mean(x: np.ndarray, window: int) -> np.ndarray:
    """Mean of x [L] over a centred window, shrunk at the ends: float64 [L]; the window of
    ``np.convolve(x, ones(window), "same")`` (``window // 2`` codes before, the rest after),
    from one cumulative sum (the codes' error rates are multiples of 1/bits: the sums are
    exact either way)."""
    n = len(x)
    w = max(1, min(window, n))
    after = (w - 1) // 2
    cum = np.concatenate([[0.0], np.cumsum(x, dtype=np.float64)])  # [L + 1]
    i = np.arange(n)
    lo, hi = np.maximum(i - (w - 1 - after), 0), np.minimum(i + after + 1, n)
    return (cum[hi] - cum[lo]) / (hi - lo)


def _diagonal(
    a: np.ndarray, b: np.ndarray, d: int, use_a: np.ndarray, use_b: np.ndarray, bits: int,
    max_ber: float, window: int, min_length: int, max_gap: int,
) -> list[Match]:  # fmt: skip
    """Shared runs along offset d (code i of A against code i + d of B)."""
    i0, i1 = max(0, -d), min(len(a), len(b) - d)
    if i1 - i0 < min_length:
        return []
    err = hamming(a[i0:i1], b[i0 + d : i1 + d]) / bits  # [L]
    ok = use_a[i0:i1] & use_b[i0 + d : i1 + d]  # [L]
    err = np.where(ok, err, 0.5)
    smooth = _centred_mean(err, window)  # [L]
    runs: list[tuple[int, int]] = []
    for s, e in _runs(smooth <= max_ber):
        if runs and s - runs[-1][1] <= max_gap:
            runs[-1] = (runs[-1][0], e)
        else:
            runs.append((s, e))
    found = []
    for s, e in runs:
        s, e = _edges(err, ok, bits, s, e, window)
        if e - s >= min_length:
            found.append(Match(i0 + s, i0 + s + d, e - s, float(err[s:e].mean())))
    return found


def _edges(
    err: np.ndarray, ok: np.ndarray, bits: int, s: int, e: int, window: int
) -> tuple[int, int]:
    """Change points of a run [s, e) of err [L]: the ends that best split matching codes, of
    the run's own bit error rate p (plus OUTLIER unrelated ones), from unrelated ones (rate
    0.5), by the likelihood ratio."""
    core = err[s + window : e - window] if e - s > 3 * window else err[s:e]
    p = float(np.clip(np.mean(core), 0.01, 0.45))
    mid = (s + e) // 2
    lo, a = max(0, s - window), min(s + window, mid)
    b, hi = max(e - window, mid), min(len(err), e + window)

    def gained(x0: int, x1: int) -> np.ndarray:
        """Log-likelihood gained over [x0, k) for k = x0 .. x1: float64 [x1 - x0 + 1]."""
        n_err = err[x0:x1] * bits
        ratio = n_err * np.log(2 * p) + (bits - n_err) * np.log(2 * (1 - p))  # log-likelihood
        # a matching stretch holds some codes as bad as unrelated ones (steady notes leave
        # their bits to chance): a mixture, so that one bad code costs at most log(OUTLIER)
        gain = np.logaddexp(np.log(1 - OUTLIER) + ratio, np.log(OUTLIER))
        return np.concatenate([[0.0], np.cumsum(np.where(ok[x0:x1], gain, 0.0))])

    # most gained over [start, a); of equal gains the latest start: codes silent in both (a
    # pause before an ident) gain nothing and are not the match's
    start = lo + int(np.argmin(gained(lo, a)))  # most gained over [start, a)
    end = b + int(np.argmax(gained(b, hi)))  # most gained over [b, end)
    return start, max(end, start)


def _same(m: Match, n: Match) -> bool:
    """Whether two matches cover mostly the same codes of both A and B."""
    half = min(m.length, n.length) // 2

    def overlap(s1: int, s2: int) -> int:
        return min(s1 + m.length, s2 + n.length) - max(s1, s2)

    return overlap(m.start_a, n.start_a) > half and overlap(m.start_b, n.start_b) > half


def shared_segments(
    codes_a: np.ndarray, codes_b: np.ndarray, *, bits: int,
    skip_a: np.ndarray | None = None, skip_b: np.ndarray | None = None,
    max_ber: float = 0.3, window: int = 15, min_length: int = 50, max_gap: int = 10,
    max_candidates: int = 12, join_gap: int = 0, join_ber: float = 0.42,
) -> list[Match]:  # fmt: skip
    """Stretches that A [Na] and B [Nb] share, longest first, at most one per stretch.

    ``bits``: code width (32 audio, 64 pictures); ``max_ber``: the mean bit error rate over
    ``window`` codes below which codes match; ``min_length``/``max_gap`` in codes; stretches
    at one offset are joined across gaps of up to ``join_gap`` codes whose mean error is at
    most ``join_ber``.
    """
    use_a = _check(codes_a, skip_a, bits, "A")
    use_b = _check(codes_b, skip_b, bits, "B")
    found: list[Match] = []
    piece = max(1, min_length // 2) if join_gap > 0 else min_length  # joined, then judged
    for d in candidate_offsets(codes_a, codes_b, bits, use_a, use_b, max_candidates):
        for dd in (d - 1, d, d + 1):
            found += _diagonal(codes_a, codes_b, dd, use_a, use_b, bits, max_ber, window,
                               piece, max_gap)  # fmt: skip
    found.sort(key=lambda m: m.length * (0.5 - m.ber), reverse=True)
    kept: list[Match] = []
    for m in found:
        if not any(_same(m, k) for k in kept):
            kept.append(m)
    kept = _joined(kept, codes_a, codes_b, use_a, use_b, bits, join_gap, join_ber)
    return sorted((m for m in kept if m.length >= min_length), key=lambda m: m.length,
                  reverse=True)  # fmt: skip


def _gap_error(
    a: np.ndarray, b: np.ndarray, use_a: np.ndarray, use_b: np.ndarray, bits: int, d: int,
    lo: int, hi: int,
) -> float | None:  # fmt: skip
    """Mean bit error rate of A[lo:hi] against B at offset d, over codes both can use (None:
    there are none: a pause in both)."""
    lo, hi = max(lo, -d, 0), min(hi, len(b) - d, len(a))
    if hi <= lo:
        return None
    ia = np.arange(lo, hi)
    ok = use_a[ia] & use_b[ia + d]
    if not ok.any():
        return None
    return float(hamming(a[ia[ok]], b[ia[ok] + d]).mean() / bits)


def _joined(
    found: list[Match], a: np.ndarray, b: np.ndarray, use_a: np.ndarray, use_b: np.ndarray,
    bits: int, max_gap: int, max_ber: float,
) -> list[Match]:  # fmt: skip
    """Matches at one offset (within a code) joined across gaps of at most ``max_gap`` codes
    where the bits are noisy but still related (mean error at most ``max_ber``, well under
    the 0.5 of unrelated codes) or silent in both: a theme whose bits a low mix, clipping or
    dialogue over it blurs is one stretch, not four."""
    if max_gap <= 0 or len(found) < 2:
        return found
    pending = sorted(found, key=lambda m: m.start_a)
    out: list[Match] = []
    for m in pending:
        prev = next((p for p in reversed(out) if abs(p.offset - m.offset) <= 1), None)
        gap = m.start_a - (prev.start_a + prev.length) if prev is not None else -1
        if prev is not None and 0 <= gap <= max_gap:
            err = _gap_error(a, b, use_a, use_b, bits, prev.offset, m.start_a - gap, m.start_a)
            if err is None or err <= max_ber:
                end = max(m.start_a + m.length, prev.start_a + prev.length)
                n_prev, n_m = prev.length, m.length
                ber = (prev.ber * n_prev + m.ber * n_m) / (n_prev + n_m)
                out[out.index(prev)] = Match(prev.start_a, prev.start_b, end - prev.start_a, ber)
                continue
        out.append(m)
    return out


# offsets tried per pair of sound prints: a theme whose bars repeat votes for the offsets of
# its repeats too (a 45-s theme with 5.6-s bars: its first 12 candidates were all its own
# repeats, and a 4-s ident after it went unheard); the votes, not the candidates, cost the time
AUDIO_CANDIDATES = 24


def match_audio(
    a: AudioPrint, b: AudioPrint, min_seconds: float = 5.0, max_ber: float = 0.3,
    window_seconds: float = 1.5, max_gap_seconds: float = 1.0, join_seconds: float = 0.0,
) -> list[Match]:  # fmt: skip
    """Stretches of sound two prints share, at least ``min_seconds`` long; pieces at one
    offset are joined across noisy gaps of up to ``join_seconds``. Prints of two hops (one
    made at another speed) align code by code: code k of each stands for the same moment."""
    if abs(a.hop - b.hop) > 0.1 * a.hop:
        raise MatchingError(f"prints of different hops ({a.hop} s, {b.hop} s) cannot be aligned")
    return shared_segments(
        a.codes, b.codes, bits=32, skip_a=a.silent, skip_b=b.silent, max_ber=max_ber,
        window=max(1, round(window_seconds / a.hop)), min_length=round(min_seconds / a.hop),
        max_gap=round(max_gap_seconds / a.hop), join_gap=round(join_seconds / a.hop),
        max_candidates=AUDIO_CANDIDATES,
    )  # fmt: skip


def audio_times(m: Match, a: AudioPrint, b: AudioPrint) -> tuple[float, float, float, float]:
    """(start in A, end in A, start in B, end in B), in seconds on the files' timelines: each
    print its own clock (a copy played faster has shorter codes)."""
    last = m.length - 1
    return (
        a.time(m.start_a),
        a.end_time(m.start_a + last),
        b.time(m.start_b),
        b.end_time(m.start_b + last),
    )


def match_pictures(
    hashes_a: np.ndarray, hashes_b: np.ndarray, flat_a: np.ndarray | None = None,
    flat_b: np.ndarray | None = None, min_length: int = 5, max_ber: float = 0.2,
    window: int = 3, max_gap: int = 2, join_gap: int = 0,
) -> list[Match]:  # fmt: skip
    """Stretches two 64-bit picture hash sequences (one rate) share (lengths in codes)."""
    return shared_segments(
        hashes_a, hashes_b, bits=64, skip_a=flat_a, skip_b=flat_b, max_ber=max_ber,
        window=window, min_length=min_length, max_gap=max_gap, join_gap=join_gap,
        join_ber=0.3,
    )  # fmt: skip
