"""Where a file's data ends when it ends in a long run of zero bytes: a preallocated download
not finished, a copy whose tail was never written.

FFmpeg's demuxers read such a tail to its end, resynchronising byte by byte through gigabytes
of zeros (a 30-s Matroska file followed by 20 GB of zeros is read at disk speed for minutes).
``zero_tail`` finds the run without reading it through: a hole the file system reports
(``SEEK_DATA``) costs no read at all, zeros that were written are found by probing blocks at
doubling distances back from the end, then by bisection, and are checked by reading blocks
spread over the whole run. A file whose last block holds data costs one read of that block.
"""

from __future__ import annotations

import errno
import os
from dataclasses import dataclass

# the shortest run of zeros to the end of the file that counts as a tail not to read: no
# muxer pads a media file so (Matroska's Void elements, MP4's free atoms hold kilobytes), and
# reading this much costs a fraction of a second
MIN_TAIL = 16 << 20
# zeros kept after the last non-zero byte: a file's last element may end in zero bytes of its
# own (a float 0.0, a position's low byte, a Void element), which a cut at the last non-zero
# byte would clip. Under 64 KiB: MPEG-TS resynchronises over at most that much junk, and past
# it ends in an error (EAGAIN) instead of at the end of the file
MARGIN = 32 << 10
BLOCK = 64 << 10  # bytes read per probe
# blocks read, evenly spread, to check a run of written zeros found by probing: data after a
# gap of zeros (pieces of a download written out of order) shows in one of them; 16 MiB read
CHECKS = 256


@dataclass(frozen=True)
class ZeroTail:
    size: int  # bytes in the file
    data_end: int  # offset after its last non-zero byte
    read_end: int  # where reading stops: ``data_end`` plus MARGIN

    @property
    def zeros(self) -> int:
        return self.size - self.data_end


def zero_tail(path: str | os.PathLike) -> ZeroTail | None:
    """The run of zeros that ends ``path`` where it is at least MIN_TAIL long, else None."""
    with open(path, "rb", buffering=0) as f:
        fd = f.fileno()
        size = os.fstat(fd).st_size
        if size < MIN_TAIL or _data_end(fd, size - BLOCK, size) is not None:
            return None  # the usual file: its last block holds data
        sparse = _hole_start(fd, size)  # the file system knows where a sparse tail starts
        end = _written_zeros_start(fd, sparse)
        if size - end < MIN_TAIL or not _all_zero(fd, end, sparse):
            return None
        return ZeroTail(size, end, min(size, end + MARGIN))


def _data_end(fd: int, start: int, stop: int) -> int | None:
    """Offset after the last non-zero byte in [start, stop), None where all are zero."""
    start = max(0, start)
    data = os.pread(fd, stop - start, start).rstrip(b"\0")
    return start + len(data) if data else None


def _hole_start(fd: int, size: int) -> int:
    """Where the hole that runs to the end of the file starts (``size``: none, or the file
    system does not say). Bisection on SEEK_DATA (is there data at or after an offset?)
    finds it in ~35 calls, however fragmented the file is."""
    if not hasattr(os, "SEEK_DATA"):  # Windows: the zeros are probed as if written
        return size
    try:
        if not _data_after(fd, 0):
            return 0
        lo, hi = 0, size  # data at or after lo; none at or after hi
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if _data_after(fd, mid):
                lo = mid
            else:
                hi = mid
        return hi
    except OSError:  # no SEEK_DATA here (EINVAL): the zeros are probed as if written
        return size


def _data_after(fd: int, offset: int) -> bool:
    try:
        os.lseek(fd, offset, os.SEEK_DATA)
        return True
    except OSError as e:
        if e.errno == errno.ENXIO:  # nothing but a hole from offset to the end
            return False
        raise


def _written_zeros_start(fd: int, end: int) -> int:
    """Where the run of zero bytes that ends at ``end`` starts, found by probing blocks back
    from ``end`` at doubling distances until one holds data, then bisecting between the two
    last probes. The blocks in between are not read: ``_all_zero`` checks them."""
    if end <= 0:
        return 0
    step, zero_at = BLOCK, end  # zero_at: a block known to be all zeros starts here
    while True:
        at = max(0, end - step)
        last = _data_end(fd, at, min(at + BLOCK, end))
        if last is not None:
            break
        if at == 0:
            return 0  # zeros all the way to the start
        zero_at, step = at, step * 2
    if zero_at == end:
        return last  # the block just before ``end`` holds data
    lo, hi = at, zero_at  # the block at lo holds data, the one at hi is all zeros
    while hi - lo > BLOCK:
        mid = (lo + hi) // 2
        if _data_end(fd, mid, min(mid + BLOCK, end)) is None:
            hi = mid
        else:
            lo = mid
    return _data_end(fd, lo, hi) or hi


def _all_zero(fd: int, start: int, stop: int) -> bool:
    """Whether [start, stop) reads as zeros: read whole up to CHECKS blocks, else CHECKS
    blocks spread evenly over it (the first and the last among them)."""
    span = stop - start
    if span <= CHECKS * BLOCK:
        offsets = range(start, stop, BLOCK)
    else:
        gap = (span - BLOCK) / (CHECKS - 1)
        offsets = [start + round(i * gap) for i in range(CHECKS)]
    return all(_data_end(fd, at, min(at + BLOCK, stop)) is None for at in offsets)
