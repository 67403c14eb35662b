"""What the kinds of issue #27 share (library, changes, outputs, paths, resources, review):
libraries laid out from the demo episodes, runs of ``predict``, and the checks every such run
gets: no traceback or raw control character, and item 18 of the issue, every segment of every
written EDL, FFMETADATA, WebVTT and JSON file inside [0, duration] and non-empty. Also the
source videos' hashes, ``intros.csv`` read with the csv module, and the ways a case makes a
folder unreadable or unwritable although the corpus runs as root.
"""

from __future__ import annotations

import csv
import ctypes
import hashlib
import json
import os
import re
import resource
import shutil
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path

from benchmarks.hostile.assets import AssetError, Assets
from benchmarks.hostile.outcome import PREDICT, Check, Run, records, run

ALL = "formats=[json,edl,ffmetadata,vtt]"
PLAYER_SUFFIXES = (".edl", ".ffmetadata", ".chapters.vtt")
EPS = 0.0015  # s: times are written to the ms
# the tiny demo library's episodes (Assets.lib): 20-25 s, 160x90, with sound
DEMO = {
    "v1": "Американский вандал/vandal_s01e01.mkv",  # HEVC + AAC, Matroska
    "v2": "Американский вандал/vandal_s01e02.mkv",
    "n1": "Northwind/northwind_s01e01.webm",  # VP9 + Opus, WebM
    "n2": "Northwind/northwind_s01e02.webm",
    "h1": "Harbor/Season 1/harbor_s01e01.mp4",  # H.264 + AAC x2, MP4
    "h2": "Harbor/Season 1/harbor_s01e02.mp4",
    "q1": "Quarry/quarry_s01e01.avi",  # MPEG-4 + AAC, AVI
    "q2": "Quarry/quarry_s01e02.avi",
}
# a library of three shows in Plex's layout (ids unique: the stems differ)
SHOWS = {
    "Vandal/Season 1/Vandal - S01E01.mkv": "v1",
    "Vandal/Season 1/Vandal - S01E02.mkv": "v2",
    "Northwind/Season 1/Northwind - S01E01.webm": "n1",
    "Northwind/Season 1/Northwind - S01E02.webm": "n2",
    "Harbor/Season 1/Harbor - S01E01.mp4": "h1",
    "Harbor/Season 1/Harbor - S01E02.mp4": "h2",
}


def demo(a: Assets, name: str) -> Path:
    return a.lib / "videos" / DEMO[name]


def place(a: Assets, root: Path, layout: Mapping[str, str | Path], how: str = "copy"
          ) -> dict[str, Path]:  # fmt: skip
    """Each ``rel -> demo name (or a file)`` of ``layout`` at ``root/rel``: a copy, a hard link
    or a symbolic link (absolute) of the demo episode. Returns rel -> path."""
    out = {}
    for rel, src in layout.items():
        src = demo(a, src) if isinstance(src, str) else Path(src)
        dst = root / rel
        dst.parent.mkdir(parents=True, exist_ok=True)
        if how == "hardlink":
            os.link(src, dst)
        elif how == "symlink":
            os.symlink(src, dst)
        else:
            shutil.copyfile(src, dst)
        out[rel] = dst
    return out


def predict(ck: Check, *args: str, timeout: float = 150, preexec=None, prefix: str = "",
            ckpt: Path | None = None) -> Run:  # fmt: skip
    cmd = [*PREDICT, *([f"ckpt={ckpt}"] if ckpt else []), *args]
    return ck.add(run(cmd, timeout=timeout, preexec=preexec, prefix=prefix))


def broken(r: Run) -> bool:
    """A run the case cannot judge further: hung or a traceback (``verdict`` names it)."""
    return r.timed_out or r.traceback()


def sane(ck: Check, r: Run, codes: Iterable[int] = (0,), what: str = "") -> bool:
    """The exit code documented, nothing printed raw; False when the run hung or crashed."""
    if broken(r):
        return False
    codes = set(codes)
    if r.rc not in codes:
        said = (r.errors() or r.failed_lines() or stderr_lines(r)[-1:] or [""])[0]
        ck.fail(f"{what or 'predict'} exit {r.rc}, documented {sorted(codes)}: {said[:240]}")
    ck.no_raw_control(r)
    return True


# --- hashes and listings -------------------------------------------------------------------


def sha(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def tree_hashes(root: Path, suffixes: Iterable[str] | None = None) -> dict[str, str]:
    """rel -> SHA-256 of each regular file under ``root`` (links not followed: a link is
    ``-> target``); ``suffixes``: only those files."""
    found = {}
    for dp, dns, fns in os.walk(root):
        for n in fns + [d for d in dns if os.path.islink(os.path.join(dp, d))]:
            p = Path(dp) / n
            if suffixes is not None and not any(n.lower().endswith(s) for s in suffixes):
                continue
            rel = str(p.relative_to(root))
            try:
                found[rel] = f"-> {os.readlink(p)}" if p.is_symlink() else sha(p)
            except OSError as e:
                found[rel] = f"unreadable {e.errno}"
    return found


VIDEO = (".mkv", ".mp4", ".webm", ".avi", ".mov", ".ts", ".m4v")


def unchanged(ck: Check, before: dict[str, str], after: dict[str, str], what: str) -> None:
    """The source videos: the same files with the same bytes (chapters written into one, a
    copy put beside them, one removed: unsafe)."""
    changed = sorted(k for k in before if after.get(k) != before[k])
    added = sorted(set(after) - set(before))
    if changed:
        ck.unsafe.append(f"{what}: source videos changed or removed: {changed[:3]}")
    if added:
        ck.unsafe.append(f"{what}: videos added to the library: {added[:3]}")


# --- outputs -------------------------------------------------------------------------------


def csv_table(out: Path, name: str = "intros.csv") -> list[dict] | None:
    """intros.csv as the csv module reads it (None when missing)."""
    p = out / name
    if not p.is_file():
        return None
    with open(p, newline="", encoding="utf-8", errors="surrogateescape") as f:
        return list(csv.DictReader(f))


FORMULA = "=+-@\t\r\uff1d\uff0b\uff0d\uff20"


def no_formula(ck: Check, rows: list[dict]) -> None:
    bad = [v for r in rows for v in r.values() if isinstance(v, str) and v and v[0] in FORMULA]
    ck.ok(not bad, f"intros.csv cells a spreadsheet runs as formulas: {bad[:3]}")


def _clock(text: str) -> float:
    h, m, s = text.strip().split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)


def segments(path: Path) -> list[tuple[float, float]] | str:
    """The (start, end) seconds of each segment of a player file; a string when it does not
    parse."""
    try:
        text = path.read_text(encoding="utf-8")
        if path.name.endswith(".edl"):
            spans = []
            for line in text.splitlines():
                if line.strip():
                    s, e, _action = line.split()
                    spans.append((float(s), float(e)))
            return spans
        if path.name.endswith(".ffmetadata"):
            spans = []
            for block in text.split("[CHAPTER]")[1:]:
                kv = dict(ln.split("=", 1) for ln in block.splitlines() if "=" in ln)
                num, den = (int(x) for x in kv["TIMEBASE"].split("/"))
                spans.append((int(kv["START"]) * num / den, int(kv["END"]) * num / den))
            return spans
        spans = []
        for line in text.splitlines():
            if "-->" in line:
                a, b = line.split("-->")
                spans.append((_clock(a), _clock(b.split()[0])))
        return spans
    except (OSError, ValueError, KeyError, UnicodeDecodeError) as e:
        return f"{type(e).__name__}: {e}"


def _record_spans(rec: dict) -> list[tuple[str, float, float]]:
    spans = []
    if isinstance(rec.get("intro"), dict):
        spans.append(("intro", rec["intro"]["start"], rec["intro"]["end"]))
    if rec.get("credits"):
        spans.append(("credits", *rec["credits"]))
    for i, other in enumerate(rec.get("other_intros") or []):
        spans.append((f"other_intros[{i}]", other[0], other[1]))
    for i, seg in enumerate(rec.get("segments") or []):  # schema 3: every type
        spans.append((f"segments[{i}] ({seg.get('type')})", seg.get("start"), seg.get("end")))
    return spans


def check_writers(ck: Check, out: Path, beside: Iterable[Path] = (), user: Iterable[Path] = (),
                  what: str = "") -> dict[str, dict]:  # fmt: skip
    """Item 18 over every file the run left: each record's intro, credits and other intros,
    and each EDL / FFMETADATA / WebVTT segment under ``out`` and beside the videos under
    ``beside`` (sidecars), inside [0, duration] and non-empty; a player file in ``out``
    without its record is stale. ``user``: files a user made (left unjudged). Returns the
    records."""
    user = {os.path.abspath(p) for p in user}
    recs = {k: v for k, v in records(out).items() if "_bad" not in v}
    where = f"{what}: " if what else ""
    bad: list[str] = []
    by_file: dict[str, dict] = {}
    for ep, rec in recs.items():
        dur = rec.get("duration", 0)
        for name, s, e in _record_spans(rec):
            if not (0 <= s < e <= dur + EPS):
                bad.append(f"{ep}.json {name} [{s}, {e}] (duration {dur})")
        base = rec["_path"].removesuffix(".json")
        by_file[os.path.abspath(base)] = rec
        src = rec.get("source")
        if src:
            by_file[os.path.abspath(os.path.join(os.path.dirname(src), Path(src).stem))] = rec
    stale = []
    roots = [out, *beside]
    for root in roots:
        if not Path(root).is_dir():
            continue
        for dp, dns, fns in os.walk(root):
            dns[:] = [d for d in dns if not d.startswith(".")]
            for n in fns:
                suffix = next((s for s in PLAYER_SUFFIXES if n.endswith(s)), None)
                p = os.path.abspath(os.path.join(dp, n))
                if suffix is None or p in user:
                    continue
                rec = by_file.get(p[: -len(suffix)])
                if rec is None:
                    if root == out:
                        stale.append(os.path.relpath(p, out))
                    continue
                spans = segments(Path(p))
                if isinstance(spans, str):
                    bad.append(f"{n} does not parse ({spans})")
                    continue
                dur = rec["duration"]
                for s, e in spans:
                    if not (0 <= s < e <= dur + EPS):
                        bad.append(f"{n} segment [{s}, {e}] (duration {dur})")
    ck.ok(not bad, f"{where}segments outside [0, duration] or empty: {bad[:3]}")
    ck.ok(not stale, f"{where}player files in out/ without their record: {stale[:3]}")
    return recs


def keys_of(recs: dict[str, dict]) -> set[tuple[str, str]]:
    return {(r.get("episode", ""), r.get("key", "")) for r in recs.values()}


def under(path: str | Path, folder: Path) -> bool:
    try:
        Path(os.path.abspath(path)).relative_to(os.path.abspath(folder))
        return True
    except ValueError:
        return False


def says(line: str, text: str) -> bool:
    """Whether ``line`` holds ``text`` whole: as is, or with its odd characters escaped
    (stricter than ``outcome.named``, which takes a distinctive part of a name)."""
    esc = text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    return text in line or esc in line or ascii(text)[1:-1] in line or _printed(text) in line


def _printed(text: str) -> str:
    from introdet.errors import printable

    return printable(text)


def failed_naming(r: Run, name: str) -> list[str]:
    """The FAILED lines that name ``name`` whole."""
    return [ln for ln in r.failed_lines() if says(ln, name)]


def names_folder(line: str, folder: Path) -> bool:
    """Whether ``line`` names ``folder`` itself (not only a path below it)."""
    for form in {str(folder), _printed(str(folder))}:
        at = line.find(form)
        while at >= 0:
            nxt = line[at + len(form) : at + len(form) + 1]
            if nxt != "/":
                return True
            at = line.find(form, at + 1)
    return False


# --- a root that permission bits stop -------------------------------------------------------

_PR_CAPBSET_DROP = 24
_DAC_CAPS = (1, 2, 3)  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER
NOCAPS_PREFIX = "setpriv --bounding-set=-dac_override,-dac_read_search,-fowner -- "
_libc = ctypes.CDLL(None, use_errno=True)


def nocaps() -> None:
    """preexec: the command runs without the capabilities that let root pass over permission
    bits (a root process is then refused a folder of mode 000 like any user; the corpus runs
    as root, and the venv's Python is under /root, which other users cannot reach)."""
    if os.geteuid() != 0:
        return
    for cap in _DAC_CAPS:
        if _libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


_ENFORCED: dict[str, bool] = {}


def need_permissions(where: Path) -> None:
    """AssetError (case not run) when permission bits do not stop the commands here."""
    if "ok" not in _ENFORCED:
        probe = where / ".perm_probe"
        probe.mkdir(parents=True, exist_ok=True)
        probe.chmod(0)
        r = subprocess.run(["ls", str(probe)], preexec_fn=nocaps, capture_output=True)
        probe.chmod(0o700)
        probe.rmdir()
        _ENFORCED["ok"] = r.returncode != 0
    if not _ENFORCED["ok"]:
        raise AssetError("permission bits do not stop this user here (root without a way to "
                         "drop CAP_DAC_OVERRIDE): not run")  # fmt: skip


def as_limit(n: int):
    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (n, n))

    return cap


def rw_tree(root: Path) -> None:
    """Give every folder under ``root`` its modes back (the runner removes the case folder)."""
    for dp, dns, _ in os.walk(root):
        for d in dns:
            p = Path(dp) / d
            if not p.is_symlink():
                p.chmod(0o755)


def read_json(p: Path) -> dict | None:
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else None
    except (OSError, ValueError):
        return None


def stderr_lines(r: Run) -> list[str]:
    """stderr's lines that are neither warnings nor blank (what a refusal printed)."""
    return [ln for ln in r.err.splitlines() if ln.strip() and not ln.startswith("warning:")]


HYDRA_NOISE = re.compile(
    r"mismatched input|no viable alternative|token recognition error|HYDRA_FULL_ERROR|"
    r"LexerNoViableAltException|GrammarParseError"
)
