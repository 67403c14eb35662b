"""Where a file's data ends by its container's own structure, when junk follows it: a
Matroska or WebM file whose Segment ends before the file does, an MP4 or MOV file whose
top-level boxes end in bytes that are no box, an AVI file whose RIFF chunks end so.

FFmpeg's demuxers read such a tail to its end, resynchronising byte by byte through it, in
every pass that reaches the end of the file (a 30-s Matroska file followed by 64 MiB of random
bytes made one prediction read a gigabyte). ``container_end`` finds the end from the headers
alone, with a few small reads at the start of the file (one per top-level box or RIFF chunk)
and one where the container ends. It never cuts what the demuxer could read as data:

- Matroska: the EBML header, then the Segment, whose size says where it ends. An unknown size
  (a live recording) gives no bound; nor does another Segment or EBML header, or an element
  of the Segment's own (a Cluster, the Cues...), where it ends: a second segment, or a size
  that is wrong.
- ISO BMFF (MP4, MOV, M4V, 3GP): top-level boxes walked from the start; the first header whose
  type is not four printable ASCII characters (or whose size is below a header's) is where the
  junk starts. A box that runs to (size 0) or past the end of the file (a file cut short)
  gives no bound, nor does a 32-bit box size that may have wrapped (WRAP).
- AVI: RIFF chunks ('AVI ', then 'AVIX' for files over 1 GB); the junk starts after the last,
  unless what is there is a chunk's four printable letters (an index outside the RIFF). A
  chunk that runs past the end (cut short, or a size never written) gives no bound, nor does
  a size that may have wrapped.

Other formats (MPEG-TS, raw streams) give no bound, nor does a tail of at most SLACK bytes.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

# bytes after the container's end that are read as they are, without a word: a writer's
# padding, a few stray bytes, costs nothing to read through
SLACK = 1 << 20
# top-level boxes walked at most: a fragmented MP4 has two per fragment, thousands in a long
# recording; past this many the file gets no bound (a few milliseconds of reads in the cache)
MAX_BOXES = 1024

# a 32-bit size (an MP4 box's, a RIFF chunk's) followed by at least this many bytes of the
# file may have wrapped: a writer that knew no 64-bit sizes, its mdat or RIFF chunk over 4 GiB.
# What follows it is then no sure junk
WRAP = 1 << 32

# Matroska element IDs (with their length marker bits, as written)
EBML = 0x1A45DFA3
SEGMENT = 0x18538067
# the Segment's own elements: one where the Segment claims to end means its size is wrong
LEVEL1 = frozenset({
    0x114D9B74,  # SeekHead
    0x1549A966,  # Info
    0x1654AE6B,  # Tracks
    0x1F43B675,  # Cluster
    0x1C53BB6B,  # Cues
    0x1043A770,  # Chapters
    0x1254C367,  # Tags
    0x1941A469,  # Attachments
})  # fmt: skip
# the types a top-level box starts an ISO BMFF file with
FIRST_BOXES = frozenset({b"ftyp", b"styp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot",
                         b"uuid", b"sidx", b"junk"})  # fmt: skip


@dataclass(frozen=True)
class ContainerEnd:
    size: int  # bytes in the file
    data_end: int  # where the container's last element, box or chunk ends
    where: str  # what ends there, for a message: "its Matroska segment ends"

    @property
    def read_end(self) -> int:  # where reading stops: the junk is not read at all
        return self.data_end

    @property
    def junk(self) -> int:
        return self.size - self.data_end


def container_end(path: str | os.PathLike) -> ContainerEnd | None:
    """Where ``path``'s container ends, when more than SLACK bytes of something else follow;
    None for a file that ends with its container, or where its structure says nothing sure."""
    with open(path, "rb", buffering=0) as f:
        fd = f.fileno()
        size = os.fstat(fd).st_size
        if size <= SLACK:
            return None
        head = os.pread(fd, 12, 0)
        for walk, where in (
            (_matroska_end, "its Matroska segment ends"),
            (_bmff_end, "its last MP4 box ends"),
            (_avi_end, "its last AVI RIFF chunk ends"),
        ):
            end = walk(fd, size, head)
            if end is not None:
                return ContainerEnd(size, end, where) if 0 < end < size - SLACK else None
    return None


def _vint(data: bytes, at: int, marker: bool) -> tuple[int, int] | None:
    """An EBML variable-length integer at ``data[at:]``: (value, bytes it takes), the length
    marker kept for an ID (``marker``), -1 for a size of all ones (unknown); None if cut off
    or invalid."""
    if at >= len(data) or data[at] == 0:
        return None
    n = 9 - data[at].bit_length()  # leading zeros + 1
    if n > (4 if marker else 8) or at + n > len(data):
        return None
    value = int.from_bytes(data[at : at + n], "big")
    if marker:
        return value, n
    value &= (1 << (7 * n)) - 1
    return (-1 if value == (1 << (7 * n)) - 1 else value), n


def _element(fd: int, at: int) -> tuple[int, int, int] | None:
    """The EBML element header at ``at``: (ID, size or -1 if unknown, where its data starts)."""
    data = os.pread(fd, 12, at)
    eid = _vint(data, 0, marker=True)
    if eid is None:
        return None
    size = _vint(data, eid[1], marker=False)
    if size is None:
        return None
    return eid[0], size[0], at + eid[1] + size[1]


def _matroska_end(fd: int, size: int, head: bytes) -> int | None:
    if not head.startswith(EBML.to_bytes(4, "big")):
        return None
    header = _element(fd, 0)
    if header is None or header[1] < 0:
        return None
    segment = _element(fd, header[2] + header[1])
    if segment is None or segment[0] != SEGMENT or segment[1] < 0:
        return None  # not a Segment after the header, or one of unknown size: no bound
    end = segment[2] + segment[1]
    if end >= size:
        return size  # the file ends with it (or is cut short)
    after = int.from_bytes(os.pread(fd, 4, end), "big")
    if after in (EBML, SEGMENT) or after in LEVEL1:
        return None  # another segment follows, or this one's size is wrong
    return end


def _bmff_end(fd: int, size: int, head: bytes) -> int | None:
    if len(head) < 8 or head[4:8] not in FIRST_BOXES:
        return None
    at, wraps = 0, False
    for _ in range(MAX_BOXES):
        if at >= size:
            return size
        box = _box(os.pread(fd, 16, at))
        if box is None:  # no box: the demuxer cannot read past it either
            return None if wraps else at
        if box[0] == 0:
            return None  # the box runs to the end of the file
        if at + box[0] > size:
            return None  # a box cut short (mdat of a download stopped early): not junk
        wraps = box[1] and size - at >= WRAP
        at += box[0]
    return None  # too many boxes to walk


def _box(data: bytes) -> tuple[int, bool] | None:
    """The size of the ISO BMFF box whose header ``data`` starts with (0: to the end of the
    file), and whether it was written in 32 bits; None where no box header is."""
    if len(data) < 8 or not _printable(data[4:8]):
        return None
    (box,) = struct.unpack(">I", data[:4])
    if box == 1:  # a 64-bit size follows the type
        if len(data) < 16:
            return None
        (box,) = struct.unpack(">Q", data[8:16])
        return (box, False) if box >= 16 else None
    return (box, True) if box == 0 or box >= 8 else None


def _avi_end(fd: int, size: int, head: bytes) -> int | None:
    if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"AVI ":
        return None
    at = last = 0  # last: where the last RIFF chunk starts
    while at < size:
        data = os.pread(fd, 12, at)
        if len(data) < 12 or data[:4] != b"RIFF" or (at and data[8:12] != b"AVIX"):
            # four letters where the RIFF chunks end: a chunk outside them (an index a writer
            # put there), not junk; nor is what follows a size that may have wrapped
            return None if _printable(data[:4]) or size - last >= WRAP else at
        (chunk,) = struct.unpack("<I", data[4:8])
        if chunk < 4 or at + 8 + chunk > size:
            return None  # a size never written (0, -1) or a chunk cut short
        last, at = at, at + 8 + chunk
        if chunk & 1 and os.pread(fd, 4, at) != b"RIFF":
            at += 1  # RIFF chunks are padded to an even size (by most writers)
    return size


def _printable(kind: bytes) -> bool:
    return len(kind) == 4 and all(0x20 <= c <= 0x7E for c in kind)
