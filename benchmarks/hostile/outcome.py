"""Running one command of a case, and classifying the case as exactly one outcome.

Outcomes, most severe first (a case takes the first that applies):

- ``unsafe``: something written outside the output folder, code run from a pickle, a file
  outside the library opened through an id;
- ``hang``: a command ran past its timeout (or left processes running after its parent died);
- ``traceback``: "Traceback (most recent call last)" in a command's output;
- ``lost, stale or wrong``: an output check failed (a good episode without its outputs, a
  partial file, features or intervals that differ from an uninterrupted run, an undocumented
  exit code, an error message that names no file or key, control characters printed raw...);
- ``handled``: the documented behaviour, every output check passed.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "disabled", "PYTHONUNBUFFERED": "1"}

HANDLED = "handled"
TRACEBACK = "traceback"
HANG = "hang"
WRONG = "lost, stale or wrong"
UNSAFE = "unsafe"
OUTCOMES = (HANDLED, TRACEBACK, HANG, WRONG, UNSAFE)

TB = "Traceback (most recent call last)"
# control characters that must never reach a terminal raw (tab, newline, CR are layout)
_RAW_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")

EXTRACT = [PY, "-m", "introdet.extract", "encoder=tiny", "progress=false"]
PREDICT = [PY, "predict.py", "progress=false"]
TRAIN = [PY, "train.py"]
VALIDATE = [PY, "-m", "introdet.validate"]
EXPORT = [PY, "-m", "introdet.export_onnx"]


def shown(cmd: Sequence[str], prefix: str = "") -> str:
    """A command line as a shell would take it, non-UTF-8 bytes escaped (\\xNN via $'...')."""
    parts = []
    for a in cmd:
        a = str(a)
        raw = os.fsencode(a)
        if all(0x20 <= b < 0x7F for b in raw):
            parts.append(shlex.quote(a))
        else:  # bash's $'...' form: bytes that are not printable ASCII as \xNN
            body = "".join(
                chr(b) if 0x20 <= b < 0x7F and chr(b) not in "'\\" else f"\\x{b:02x}" for b in raw
            )
            parts.append(f"$'{body}'")
    text = " ".join(parts).replace(f"{ROOT}/", "")  # run from the checkout's root
    if PY.endswith("/.venv/bin/python"):
        text = text.replace(shlex.quote(PY), ".venv/bin/python", 1)
    return f"{prefix}{text}"


def _text(data: bytes | None) -> str:
    return (data or b"").decode("utf-8", errors="backslashreplace")


@dataclass
class Run:
    """One finished (or killed) command."""

    cmd: list[str]
    rc: int | None
    out: str
    err: str
    seconds: float
    timed_out: bool = False
    prefix: str = ""  # what the shell line needs before the command (prlimit ...)

    @property
    def text(self) -> str:
        return self.out + self.err

    @property
    def line(self) -> str:
        return shown(self.cmd, self.prefix)

    def traceback(self) -> bool:
        return TB in self.text

    def errors(self) -> list[str]:
        return [ln for ln in self.err.splitlines() if ln.startswith("error:")]

    def failed_lines(self) -> list[str]:
        return [ln.strip() for ln in self.out.splitlines() if ln.strip().startswith("FAILED")]

    def last_exception(self) -> str:
        """The exception line that ends the last traceback (``ValueError: ...``)."""
        lines = self.text.splitlines()
        at = max(i for i, ln in enumerate(lines) if TB in ln)
        for ln in lines[at + 1 :]:
            if ln and not ln[0].isspace():
                return ln
        return lines[-1] if lines else ""

    def tail(self, n: int = 1500) -> str:
        return self.text[-n:]


def run(
    cmd: Sequence[str],
    timeout: float = 120,
    env: dict | None = None,
    preexec: Callable[[], None] | None = None,
    prefix: str = "",
    cwd: Path = ROOT,
) -> Run:
    """Run ``cmd`` in a session of its own; past ``timeout`` the whole session is killed."""
    cmd = [str(c) for c in cmd]
    t0 = time.monotonic()
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=env or ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL, start_new_session=True, preexec_fn=preexec,
    )  # fmt: skip
    timed_out = False
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        kill_group(proc.pid)
        out, err = proc.communicate()
    return Run(cmd, proc.returncode, _text(out), _text(err), time.monotonic() - t0, timed_out,
               prefix)  # fmt: skip


def kill_group(pgid: int) -> None:
    """SIGKILL the process group this runner started (its id is the leader's pid)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


class Started:
    """A command started in the background (for kills and concurrent jobs); its output goes to
    files, so that a full pipe never stalls it."""

    def __init__(self, cmd: Sequence[str], log: Path, env: dict | None = None) -> None:
        self.cmd = [str(c) for c in cmd]
        self.log = log
        log.parent.mkdir(parents=True, exist_ok=True)
        self._out = open(log.with_suffix(".out"), "wb")  # noqa: SIM115 (closed in finish)
        self._err = open(log.with_suffix(".err"), "wb")  # noqa: SIM115
        self.t0 = time.monotonic()
        self.proc = subprocess.Popen(
            self.cmd, cwd=ROOT, env=env or ENV, stdout=self._out, stderr=self._err,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        self.pid = self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill_parent(self) -> None:
        """SIGKILL the command's own process only, as the OOM killer or `kill -9 PID` would."""
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)

    def finish(self, timeout: float = 120) -> Run:
        timed_out = False
        try:
            self.proc.wait(timeout=max(0.1, timeout - (time.monotonic() - self.t0)))
        except subprocess.TimeoutExpired:
            timed_out = True
            kill_group(self.pid)
            self.proc.wait()
        self._out.close()
        self._err.close()
        out = _text(self.log.with_suffix(".out").read_bytes())
        err = _text(self.log.with_suffix(".err").read_bytes())
        return Run(self.cmd, self.proc.returncode, out, err, time.monotonic() - self.t0,
                   timed_out)  # fmt: skip


def group_members(pgid: int) -> list[tuple[int, str]]:
    """(pid, command) of the live (not zombie) processes of process group ``pgid``."""
    found = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
            # fields after the command in parentheses: state ppid pgrp ...
            state, _ppid, pgrp = stat[stat.rindex(")") + 2 :].split()[:3]
            if int(pgrp) == pgid and state != "Z":
                cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                found.append((int(d.name), cmd.strip()[:120]))
        except (OSError, ValueError):
            continue
    return found


@dataclass
class Check:
    """What a case's checks found; ``verdict`` turns it and the runs into one outcome."""

    runs: list[Run] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)
    unsafe: list[str] = field(default_factory=list)
    hang: list[str] = field(default_factory=list)  # beyond timeouts: orphan processes
    notes: list[str] = field(default_factory=list)  # said in the detail, change nothing

    def add(self, r: Run) -> Run:
        self.runs.append(r)
        return r

    def fail(self, why: str) -> None:
        self.wrong.append(why)

    def ok(self, cond: bool, why: str) -> bool:
        if not cond:
            self.wrong.append(why)
        return bool(cond)

    def note(self, why: str) -> None:
        self.notes.append(why)

    # --- common checks -------------------------------------------------------------------

    def exit(self, r: Run, codes: int | Iterable[int], what: str = "") -> bool:
        codes = {codes} if isinstance(codes, int) else set(codes)
        if r.timed_out or r.rc in codes:
            return True
        self.wrong.append(f"{what or _cmd_name(r)} exit {r.rc}, documented {sorted(codes)}")
        return False

    def one_error(self, r: Run, names: Sequence[str] = (), what: str = "") -> bool:
        """Exactly one ``error:`` line on stderr, naming one of ``names`` (a path, a key)."""
        lines = r.errors()
        who = what or _cmd_name(r)
        if len(lines) != 1:
            self.wrong.append(f"{who}: {len(lines)} 'error:' lines, want 1"
                              + (f" (stderr ends {_last_line(r.err)!r})"
                                 if not lines else ""))  # fmt: skip
            return False
        if names and not any(named(lines[0], n) for n in names):
            self.wrong.append(f"{who}: the error line names none of {list(names)[:3]}: "
                              f"{lines[0][:200]!r}")  # fmt: skip
            return False
        return True

    def no_raw_control(self, r: Run) -> bool:
        m = _RAW_CONTROL.search(r.text)
        if m:
            at = r.text[max(0, m.start() - 40) : m.start() + 20]
            self.wrong.append(
                f"{_cmd_name(r)} printed a raw control character {m.group()!r}: {at!r}"
            )
            return False
        return True


def named(line: str, name: str) -> bool:
    """Whether ``line`` names ``name``: as is, or with its odd characters escaped."""
    if name in line:
        return True
    esc = name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    if esc in line or ascii(name)[1:-1] in line:
        return True
    # the longest run of plain characters in it, when that is distinctive
    chunks = sorted(re.findall(r"[A-Za-z0-9_.\- ]{6,}", name), key=len, reverse=True)
    return bool(chunks) and chunks[0] in line


def _cmd_name(r: Run) -> str:
    for a in r.cmd[1:4]:
        if a.startswith("introdet.") or a.endswith(".py"):
            return a.removeprefix("introdet.").removesuffix(".py")
    return Path(r.cmd[0]).name


def _last_line(text: str) -> str:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return lines[-1][:160] if lines else ""


@dataclass
class Verdict:
    outcome: str
    detail: str
    run: Run | None


def verdict(ck: Check, main: Run | None = None) -> Verdict:
    """The one outcome of a case: the most severe thing its checks found."""
    runs = ck.runs
    notes = f" [{'; '.join(ck.notes)}]" if ck.notes else ""
    if ck.unsafe:
        return Verdict(UNSAFE, "; ".join(ck.unsafe) + notes, main or (runs[-1] if runs else None))
    hung = [r for r in runs if r.timed_out]
    if hung:
        r = hung[0]
        return Verdict(HANG, f"{_cmd_name(r)} still running after {r.seconds:.0f} s (killed)"
                       + notes, r)  # fmt: skip
    if ck.hang:
        return Verdict(HANG, "; ".join(ck.hang) + notes, main or (runs[-1] if runs else None))
    tb = [r for r in runs if r.traceback()]
    if tb:
        r = tb[0]
        return Verdict(TRACEBACK, f"{_cmd_name(r)} exit {r.rc}: {r.last_exception()[:300]}"
                       + notes, r)  # fmt: skip
    if ck.wrong:
        return Verdict(WRONG, "; ".join(ck.wrong) + notes, main or (runs[-1] if runs else None))
    detail = "; ".join(ck.notes) if ck.notes else "as documented"
    return Verdict(HANDLED, detail, main or (runs[-1] if runs else None))


# --- outputs -------------------------------------------------------------------------------


def _visible(root: Path, p: Path) -> bool:
    return not any(part.startswith(".") for part in p.relative_to(root).parts[:-1])


def temp_files(folder: Path) -> list[Path]:
    """Hidden temp files of atomic writes left under ``folder`` (logs left out)."""
    if not folder.is_dir():
        return []
    return [p for p in folder.rglob(".*.tmp*") if _visible(folder, p)]


def orphan_arrays(shards: Path) -> list[Path]:
    """Feature or print arrays whose metadata (.json) is missing: half a shard."""
    if not shards.is_dir():
        return []
    out = []
    for p in [*shards.rglob("*.npy"), *shards.rglob("*.prints.npz")]:
        if not _visible(shards, p):
            continue
        episode = p.name.removesuffix(".npy").removesuffix(".prints.npz")
        if not (p.parent / f"{episode}.json").is_file():
            out.append(p)
    return out


def shard_features(shards: Path) -> dict[str, tuple[dict, np.ndarray | None]]:
    """episode -> (metadata, features) of the complete shards (a .json with its .npy); the
    array is None when it does not load or its shape disagrees with the metadata."""
    found: dict[str, tuple[dict, np.ndarray | None]] = {}
    if not shards.is_dir():
        return found
    for meta_path in shards.rglob("*.json"):
        if not _visible(shards, meta_path) or meta_path.name.endswith(".prints.json"):
            continue
        npy = meta_path.with_suffix(".npy")
        if not npy.is_file():
            continue
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
            arr = np.load(npy, allow_pickle=False)
            if arr.shape[0] != meta["n_seconds"] or not np.all(np.isfinite(arr)):
                arr = None
        except (OSError, ValueError, KeyError, TypeError):
            meta, arr = {"episode": str(meta_path.relative_to(shards).with_suffix(""))}, None
        found[meta.get("episode", meta_path.stem)] = (meta, arr)
    return found


def manifest_ids(shards: Path) -> set[str] | None:
    path = shards / "manifest.jsonl"
    if not path.is_file():
        return None
    ids = set()
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.strip():
            try:
                ids.add(json.loads(line)["episode"])
            except (ValueError, KeyError, TypeError):
                ids.add("<bad line>")
    return ids


def check_shards(ck: Check, shards: Path, what: str = "shards") -> dict:
    """No half shard, no temp file, the manifest lists exactly the complete shards; returns
    the complete shards (episode -> (meta, features))."""
    found = shard_features(shards)
    bad = [ep for ep, (_, a) in found.items() if a is None]
    ck.ok(not bad, f"{what}: shards that do not load whole: {bad[:3]}")
    orphans = orphan_arrays(shards)
    ck.ok(not orphans, f"{what}: arrays without metadata left: {[p.name for p in orphans[:3]]}")
    temps = temp_files(shards)
    ck.ok(not temps, f"{what}: temp files left: {[p.name for p in temps[:3]]}")
    ids = manifest_ids(shards)
    if found:
        if ids is None:
            ck.fail(f"{what}: no manifest.jsonl beside {len(found)} complete shards")
        elif ids != set(found):
            ck.fail(f"{what}: manifest lists {sorted(ids - set(found))[:3]} without shard, "
                    f"misses {sorted(set(found) - ids)[:3]}")  # fmt: skip
    return found


SUFFIXES = {"json": ".json", "edl": ".edl", "ffmetadata": ".ffmetadata", "vtt": ".chapters.vtt"}


def records(out: Path) -> dict[str, dict]:
    """episode -> record of every whole JSON record under ``out`` (feature caches, ONNX
    exports and hidden folders left out); a file that does not read gives {"_bad": path}."""
    from introdet.outputs.layout import record_files

    found = {}
    if not out.is_dir():
        return found
    for key, path in record_files(out):
        if path.parent == out / "onnx":  # predict's ONNX cache (its feature cache is hidden)
            continue
        try:
            rec = json.loads(path.read_text(encoding="utf-8"))
            assert isinstance(rec, dict) and "schema_version" in rec and "probabilities" in rec
            rec["_path"] = str(path)
            found[rec.get("episode", key)] = rec
        except (OSError, ValueError, AssertionError):
            found[f"?{key}"] = {"_bad": str(path)}
    return found


def check_records(
    ck: Check,
    out: Path,
    formats: Sequence[str] = ("json",),
    what: str = "predict",
    whole_only: bool = False,
) -> dict[str, dict]:
    """Every record whole and with every asked format whole beside it; no temp files. With
    ``whole_only`` (right after a kill): only that every file present is whole. Returns the
    records."""
    recs = records(out)
    bad = [r["_bad"] for r in recs.values() if "_bad" in r]
    ck.ok(not bad, f"{what}: records that do not read: {bad[:3]}")
    for ep, rec in recs.items():
        if "_bad" in rec:
            continue
        base = rec["_path"].removesuffix(".json")
        for f in formats:
            p = Path(base + SUFFIXES[f])
            if not p.is_file():
                if not whole_only:
                    ck.fail(f"{what}: {ep} has no {f} file (formats all or none)")
                continue
            text = p.read_text(encoding="utf-8", errors="replace")
            if f == "ffmetadata" and not (text.startswith(";FFMETADATA1") and text.endswith("\n")):
                ck.fail(f"{what}: {p.name} is not whole")
            if f == "vtt" and not (text.startswith("WEBVTT") and text.endswith("\n")):
                ck.fail(f"{what}: {p.name} is not whole")
    if whole_only:
        for p in [*out.rglob("*.ffmetadata"), *out.rglob("*.chapters.vtt")] if out.is_dir() else []:
            text = p.read_text(encoding="utf-8", errors="replace")
            if not text.endswith("\n"):
                ck.fail(f"{what}: {p.name} is not whole")
    else:
        temps = temp_files(out)
        ck.ok(not temps, f"{what}: temp files left: {[p.name for p in temps[:3]]}")
    return recs


def csv_rows(out: Path) -> list[str] | None:
    p = out / "intros.csv"
    if not p.is_file():
        return None
    return p.read_text(encoding="utf-8", errors="replace").splitlines()[1:]


def same_intervals(a: dict, b: dict) -> bool:
    ia, ib = a.get("intro"), b.get("intro")
    if (ia is None) != (ib is None):
        return False
    if ia is not None and (ia["start"], ia["end"]) != (ib["start"], ib["end"]):
        return False
    pa, pb = np.asarray(a["probabilities"], float), np.asarray(b["probabilities"], float)
    return pa.shape == pb.shape and bool(np.allclose(pa, pb, atol=1e-4, rtol=0))


def compare_records(ck: Check, got: dict, ref: dict, what: str) -> None:
    """The same episodes as the reference run, with the same intervals and probabilities."""
    got = {k: v for k, v in got.items() if "_bad" not in v}
    missing = sorted(set(ref) - set(got))
    extra = sorted(set(got) - set(ref))
    ck.ok(not missing, f"{what}: {len(missing)} episodes without a record: {missing[:3]}")
    ck.ok(not extra, f"{what}: records of episodes the reference lacks: {extra[:3]}")
    differ = [ep for ep in set(got) & set(ref) if not same_intervals(got[ep], ref[ep])]
    ck.ok(not differ, f"{what}: {len(differ)} records differ from the uninterrupted run's "
          f"(intervals or probabilities): {sorted(differ)[:3]}")  # fmt: skip


def compare_features(ck: Check, got: dict, ref: dict, what: str, exact: bool = True) -> None:
    missing = sorted(set(ref) - set(got))
    ck.ok(not missing, f"{what}: {len(missing)} episodes without features: {missing[:3]}")
    differ = []
    for ep in set(got) & set(ref):
        a, b = got[ep][1], ref[ep][1]
        if a is None or b is None or a.shape != b.shape:
            same = False
        elif exact:
            same = np.array_equal(a, b)
        else:
            same = np.allclose(a.astype(np.float32), b.astype(np.float32), atol=1e-3)
        if not same:
            differ.append(ep)
    ck.ok(not differ, f"{what}: features of {sorted(differ)[:3]} differ from a fresh "
          "uninterrupted extraction")  # fmt: skip


def listing(folder: Path) -> dict[str, tuple[int, int]]:
    """relative path -> (size, mtime_ns) of everything under ``folder`` (links not followed)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        for n in dirnames + filenames:
            p = Path(dirpath) / n
            try:
                st = p.lstat()
            except OSError:
                continue
            out[str(p.relative_to(folder))] = (st.st_size, st.st_mtime_ns)
    return out


def strace_prefix(log: Path) -> list[str]:
    """Run a command under strace, logging every file it opens, creates or renames."""
    return ["strace", "-f", "-qq", "-e", "trace=open,openat,creat,mkdir,mkdirat,rename,renameat,"
            "renameat2,unlink,unlinkat", "-o", str(log)]  # fmt: skip


def opened_under(log: Path, folder: Path) -> list[str]:
    """The calls in a strace log that reached a path under ``folder`` (and succeeded), spelt
    either way: resolved, or with ``..`` still in it (then its name is what shows)."""
    if not log.is_file():
        return []
    hits = []
    for line in log.read_text(errors="replace").splitlines():
        if (str(folder) in line or f"/{folder.name}/" in line) and "= -1" not in line:
            hits.append(line.split(" ", 1)[-1][:200])
    return hits
