"""Hostile libraries: names that are not UTF-8, manifests that point outside their folder,
labels with control characters or foreign digits, edits that keep a file's size."""

from __future__ import annotations

import json
import os
import pickle
import resource
import shutil
import signal
import subprocess
import sys
import zipfile
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from introdet.demo.make_library import make_library
from introdet.features.encoder import ClipEncoder
from introdet.features.extraction import extract
from introdet.features.shards import read_manifest
from introdet.media.labels import parse_annotations, parse_time
from introdet.media.library import content_hash
from introdet.media.sampling import SamplerConfig
from introdet.outputs.layout import record_files
from introdet.predict import predict
from tests import badfiles
from tests.commands import run_command
from tests.conftest import compose_cfg, make_feature_set

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("hostile")
    return out, make_library(out, seed=0, size="tiny")


def test_a_name_that_is_not_utf8_is_extracted_and_predicted(demo, tmp_path, capsys):
    lib, truth = demo
    show = tmp_path / "lib" / "Northwind"
    show.mkdir(parents=True)
    e1, e2 = (truth["episodes"][f"northwind_s01e0{k}"] for k in (1, 2))
    odd = show / os.fsdecode(b"northwind \xff\xfe e1.webm")  # bytes from an old Samba share
    shutil.copy(lib / e1["path"], odd)
    shutil.copy(lib / e2["path"], show / "northwind e2.webm")
    enc = ClipEncoder("introdet-tiny", pretrained=None)
    summary = extract(tmp_path / "lib", tmp_path / "shards", enc, SamplerConfig(), progress=False)
    assert sorted(summary.done) == sorted([odd.stem, "northwind e2"]) and not summary.failed
    assert set(read_manifest(tmp_path / "shards")) == {odd.stem, "northwind e2"}
    cfg = compose_cfg("predict", [f"input={tmp_path / 'lib'}", f"out={tmp_path / 'o'}",
                                  "progress=false", "formats=[json,edl]"])  # fmt: skip
    assert predict(cfg) == 0
    said = capsys.readouterr().out
    assert "predicted 2 episodes" in said
    records = {json.loads(p.read_text())["source"]: p for _, p in record_files(tmp_path / "o")}
    assert str(odd) in records  # the record names the file it came from, byte for byte
    assert (tmp_path / "o" / "Northwind" / f"{odd.stem}.edl").is_file()


def test_a_manifest_id_that_climbs_out_is_skipped_and_the_rest_predicted(tmp_path, caplog):
    shards, _ = make_feature_set(tmp_path / "f", n_series=1, n_episodes=3, seconds=40)
    lines = (shards / "manifest.jsonl").read_text().splitlines()
    evil = json.loads(lines[0]) | {"episode": "../../../ESCAPED/PWN"}
    (shards / "manifest.jsonl").write_text("\n".join([*lines, json.dumps(evil)]) + "\n")
    cfg = compose_cfg("predict", [f"input={shards}", f"out={tmp_path / 'o'}",
                                  "method=clip", "progress=false"])  # fmt: skip
    assert predict(cfg) == 0
    assert len(list(record_files(tmp_path / "o"))) == 3
    assert not list(tmp_path.rglob("PWN*")) and not (tmp_path / "ESCAPED").exists()
    assert "'../../../ESCAPED/PWN' cannot be used as a path" in caplog.text


def test_label_ids_with_control_characters_are_rejected_and_shown_escaped():
    row = {"name": "x", "start": "0:00:01", "end": "0:00:05"}
    ann = parse_annotations([("ep\x001", row), ("ep\x1b[2J", row), ("ok", row)])
    assert list(ann.intros) == ["ok"]
    assert all("\x00" not in line and "\x1b" not in line for line in ann.report)
    assert any("'ep\\x001'" in line for line in ann.report)


@pytest.mark.parametrize("text", ["٠:٠١:٠٢", "١٢", "0:0١:02", "１２"])
def test_times_are_ascii_digits_only(text):
    with pytest.raises(ValueError, match="not a time"):
        parse_time(text)


def test_an_edit_that_keeps_the_size_changes_the_identity(tmp_path):
    path = tmp_path / "v.bin"
    data = np.random.default_rng(0).integers(0, 256, 4 << 20, dtype=np.uint8)
    path.write_bytes(data.tobytes())
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    before = content_hash(path)
    data[int(1.2 * (1 << 20))] ^= 0xFF  # between the sampled first and middle MiB
    path.write_bytes(data.tobytes())
    assert path.stat().st_size == 4 << 20
    assert content_hash(path) != before
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))  # even with the time put back...
    assert content_hash(path) == before  # ...the sampled chunks cannot see it: documented


def _predict_with_file_size_limit(limit: int, *args: str) -> subprocess.CompletedProcess:
    """``predict.py`` where no file may grow past ``limit`` bytes: writes fail as on a full
    disk (EFBIG instead of ENOSPC, the same OSError path)."""

    def cap() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failed write, not a killed process
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "disabled"}
    cmd = [sys.executable, str(ROOT / "predict.py"), *args]
    return subprocess.run(cmd, preexec_fn=cap, capture_output=True, text=True, env=env, cwd=ROOT)


def test_a_full_disk_is_one_line_and_no_episode_is_left_with_some_formats(tmp_path):
    shards, _ = make_feature_set(tmp_path / "f", n_series=1, n_episodes=6, seconds=60)
    formats = ("json", "edl", "ffmetadata", "vtt")
    args = ["method=clip", f"input={shards}", "progress=false",
            f"formats=[{','.join(formats)}]"]  # fmt: skip
    assert _predict_with_file_size_limit(1 << 30, *args, f"out={tmp_path / 'free'}").returncode == 0
    sizes = sorted(p.stat().st_size for _, p in record_files(tmp_path / "free"))
    limit = sizes[0] - 1  # no record fits any more
    run = _predict_with_file_size_limit(limit, *args, f"out={tmp_path / 'full'}")
    assert run.returncode == 2, run.stderr[-2000:]
    errors = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and ".json" in errors[0] and "Traceback" not in run.stderr
    suffixes = (".json", ".edl", ".ffmetadata", ".chapters.vtt")
    for _, free in record_files(tmp_path / "free"):
        stem = tmp_path / "full" / free.relative_to(tmp_path / "free").with_suffix("")
        have = [Path(f"{stem}{s}").is_file() for s in suffixes]
        assert all(have) or not any(have), stem  # all of an episode's formats, or none
    assert not list((tmp_path / "full").rglob(".*.tmp"))


def test_extract_on_a_full_disk_names_the_file_and_leaves_no_half_shard(demo, tmp_path):
    lib, truth = demo
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "disabled"}

    def cap() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))  # prints fit, features not

    out = tmp_path / "shards"
    cmd = [sys.executable, "-m", "introdet.extract", f"input={lib / 'videos'}", f"out={out}",
           "encoder=tiny", "progress=false"]  # fmt: skip
    run = subprocess.run(cmd, preexec_fn=cap, capture_output=True, text=True, env=env, cwd=ROOT)
    assert run.returncode == 2, run.stderr[-2000:]
    errors = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and ".npy" in errors[0] and "Traceback" not in run.stderr
    for array in [*out.rglob("*.npy"), *out.rglob("*.prints.npz")]:
        episode = array.name.removesuffix(".npy").removesuffix(".prints.npz")
        assert (array.parent / f"{episode}.json").is_file(), array  # no half shard
    assert not list(out.rglob(".*.tmp"))


def test_a_file_cut_short_gives_no_sample_from_a_frame_it_lacks(tmp_path, caplog):
    from introdet.media.sampling import frames_per_second
    from tests import badfiles

    whole = badfiles.good(tmp_path / "whole.mkv", seed=8)
    # the header still counts 0.6 s that the file no longer has (under the 1-s gap that probing
    # alone calls truncation)
    cut = badfiles.wrong_duration(tmp_path / "cut", claimed=5.6)
    rows = [f for _, f in frames_per_second(cut, size=32)]
    want = [f for _, f in frames_per_second(whole, size=32)]
    assert len(rows) == len(want) == 5  # no sixth row at 5 s from the frame shown at 4.9 s
    assert all(np.array_equal(a, b) for a, b in zip(rows, want, strict=True))
    assert "1 sample(s) after that left out" in caplog.text


@pytest.mark.parametrize("suffix", [".avi", ".mkv"])
def test_frames_between_keyframes_still_count_as_on_screen(tmp_path, caplog, suffix):
    """Keyframe-only decoding (the coarse pass) sees the last keyframe only: the packets after
    it, not decoded, still say the picture goes on to the end, so no row is lost."""
    from introdet.demo.videofile import write_video
    from introdet.media.sampling import frames_per_second
    from tests import badfiles

    # a slow fade (noise would make every frame a keyframe): keyframes at 0 and 2.5 s only, so
    # the samples at 3 s and 4 s lie after the last keyframe's own frame
    n = badfiles.SECONDS * badfiles.FPS
    frames = [np.full((badfiles.H, badfiles.W, 3), 40 + 3 * i, np.uint8) for i in range(n)]
    path = write_video(
        tmp_path / f"fade{suffix}",
        frames,
        fps=badfiles.FPS,
        codec="mpeg4",
        gop=25,
        options={"sc_threshold": "1000000000"},  # no keyframe on scene changes
    )
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        keys = [p.pts for p in container.demux(stream) if p.is_keyframe]
    assert len(keys) == 2, keys
    for decode in ("keyframes", "needed", "all"):
        rows = list(frames_per_second(path, size=16, decode=decode))
        assert [k for k, _ in rows] == list(range(badfiles.SECONDS)), decode
    assert "left out" not in caplog.text


class _RunsCode:
    """Unpickling this would run ``touch`` on a marker file (a checkpoint someone tampered)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _damaged(kind: str, good: Path, ckpt: Path, marker: Path) -> Path:
    data = bytearray(good.read_bytes())
    if kind == "flipped":  # inside a tensor's bytes, which torch reads without a check
        with zipfile.ZipFile(good) as archive:
            entries = [i for i in archive.infolist() if "/data/" in i.filename]
            tensor = archive.read(max(entries, key=lambda i: i.file_size))
        at = data.find(tensor) + len(tensor) // 2
        data[at] ^= 0x40
    ckpt.write_bytes(
        {
            "random": np.random.default_rng(0).bytes(4096),
            "empty": b"",
            "cut": bytes(data[: len(data) // 3]),
            "code": pickle.dumps({"state_dict": _RunsCode(marker)}),
            "flipped": bytes(data),
        }.get(kind, b"")  # the other kinds are saved by torch below
    )
    if kind == "not_lightning":
        torch.save({"weights": torch.zeros(3)}, ckpt)
    if kind == "window_0":  # plain data whose hyper-parameters cannot build a model
        saved = torch.load(good, weights_only=True)
        saved["hyper_parameters"]["window"] = 0
        torch.save(saved, ckpt)
    if kind in _SHAPES:  # plain data of the wrong shape where weights or settings go
        saved = torch.load(good, weights_only=True)
        _SHAPES[kind](saved)
        torch.save(saved, ckpt)
    return ckpt


_SHAPES = {
    "weights_list": lambda c: c.update(state_dict=list(c["state_dict"].values())),
    "weights_numbered": lambda c: c.update(state_dict=dict(enumerate(c["state_dict"].values()))),
    "weights_text": lambda c: c.update(state_dict={k: "w" for k in c["state_dict"]}),
    "settings_list": lambda c: c.update(hyper_parameters=[1, 2]),
}


@pytest.mark.parametrize("kind", ["cut", "code", "flipped", "window_0", *_SHAPES])
def test_export_refuses_a_damaged_checkpoint_in_one_line(kind, tmp_path, model_ckpt, capfd):
    """export_onnx read the file without the checks predict makes: a traceback, or (flipped
    bytes, a refused hyper-parameter) an export of other weights or an error naming a key."""
    from introdet.export_onnx import main

    marker = tmp_path / "code-ran"
    ckpt = _damaged(kind, model_ckpt, tmp_path / f"{kind}.ckpt", marker)
    capfd.readouterr()
    assert run_command(main, f"ckpt={ckpt}", f"out={tmp_path / 'onnx'}") == 2
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {ckpt}: "), err
    assert not (tmp_path / "onnx").exists() and not marker.exists()


@pytest.mark.slow
@pytest.mark.parametrize(
    "kind", ["random", "empty", "cut", "code", "not_lightning", "flipped", "window_0", *_SHAPES]
)
def test_a_refused_checkpoint_is_one_error_line_and_runs_no_code(kind, tmp_path, model_ckpt):
    marker = tmp_path / "code-ran"
    ckpt = _damaged(kind, model_ckpt, tmp_path / f"{kind}.ckpt", marker)
    video = badfiles.good(tmp_path / "videos" / "e1.mp4")
    run = _predict_with_file_size_limit(
        1 << 30, f"ckpt={ckpt}", f"input={video.parent}", f"out={tmp_path / 'out'}"
    )
    assert run.returncode == 2, run.stderr[-2000:]
    assert run.stderr.startswith("error: ") and str(ckpt) in run.stderr, run.stderr[-2000:]
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr  # no Hydra banner, no traceback
    assert not marker.exists()


def test_control_characters_in_a_name_are_printed_escaped(tmp_path):
    """A file name holding a terminal escape sequence and a bell: every line about it (the
    FAILED line, the log) shows them escaped, never raw for the terminal to obey."""
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "\x1b[31mred\x1b[0m\x07.mp4").write_bytes(b"")  # zero bytes: it fails, is named
    badfiles.good(folder / "fine.mp4")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "disabled"}
    cmd = [sys.executable, "-m", "introdet.extract", "encoder=tiny", "progress=false",
           f"input={folder}", f"out={tmp_path / 'shards'}"]  # fmt: skip
    run = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=ROOT)
    assert run.returncode == 1, run.stderr[-2000:]
    shown = run.stdout + run.stderr
    assert "\x1b" not in shown and "\x07" not in shown
    assert "\\x1b[31mred\\x1b[0m\\x07.mp4" in shown  # named, escaped


@pytest.mark.parametrize("stem", ["a" * 250, "э" * 110])  # 250 bytes; 220 bytes in UTF-8
def test_a_name_too_long_for_its_files_fails_alone(stem, tmp_path, capsys):
    """A 250-byte name leaves no room for '.prints.npz' and the temporary name around it: that
    file fails with its reason, the one beside it is extracted (was: a traceback)."""
    folder = tmp_path / "in"
    badfiles.good(folder / f"{stem}.mp4")
    badfiles.good(folder / "fine.mp4", seed=1)
    summary = extract(folder, tmp_path / "s", ClipEncoder("introdet-tiny", pretrained=None),
                      SamplerConfig(), progress=False)  # fmt: skip
    assert [Path(p).stem for p, _ in summary.failed] == [stem]
    assert "file name too long" in summary.failed[0][1]
    assert sorted(read_manifest(tmp_path / "s")) == ["fine"]


@pytest.mark.parametrize(
    "command, bad, key",
    [
        ("predict", "refine.span=0", "refine.span"),
        ("predict", "refine.black_level=-1", "refine.black_level"),
        ("predict", "refine.match_level=nan", "refine.match_level"),
        ("predict", "postprocess.fps=0", "postprocess.fps"),
        ("predict", "postprocess.keep=bogus", "postprocess.keep"),
        ("predict", "postprocess.max_gap=nan", "postprocess.max_gap"),
        ("predict", "postprocess.smooth=2", "postprocess.smooth"),
        ("predict", "coarse.margin=-1", "coarse.margin"),
        ("predict", "season.logo_max=nan", "season.logo_max"),
        ("predict", "sampler.threads=100000", "sampler.threads"),  # stalled the decoder
        ("predict", "stride=abc", "stride"),
        ("predict", "batch_size=1e12", "batch_size"),
        ("predict", "decoders=-1", "decoders"),
        ("predict", "sidecars=maybe", "sidecars"),
        ("predict", "tuned_postprocess=maybe", "tuned_postprocess"),
        ("extract", "decoders=abc", "decoders"),
        ("extract", "decoders=1e9", "decoders"),
        ("extract", "prints=maybe", "prints"),
        ("extract", "season.scan=0", "season.scan"),
        ("extract", "season.scan_fraction=2", "season.scan_fraction"),
        ("extract", "sampler.fps=1e-9", "sampler.fps"),
        ("extract", "sampler.start=nan", "sampler.start"),
        ("extract", "encoder.batch_size=0", "encoder.batch_size"),
        ("extract", "encoder.precision=bogus", "encoder.precision"),
        ("export_onnx", "opset=6", "opset"),
    ],
)
def test_a_bad_value_stops_the_command_with_one_line_naming_it(command, bad, key, tmp_path, capfd):
    """Values the hostile corpus found accepted (a wrong run, a stalled decoder), or refused
    with a traceback: each now stops the command before any work, naming the key."""
    import importlib

    main = importlib.import_module(f"introdet.{command}").main
    badfiles.good(tmp_path / "in" / "e1.mp4")
    out = f"out={tmp_path / 'out'}"
    where = {
        "predict": [f"input={tmp_path / 'in'}", out],
        "extract": ["encoder=tiny", f"input={tmp_path / 'in'}", out],
        "export_onnx": [f"ckpt={tmp_path / 'x.ckpt'}", out],
    }[command]
    assert run_command(main, *where, bad) == 2
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {key} must be"), err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.json"))


@pytest.mark.slow
def test_training_on_a_full_disk_is_one_error_line(tmp_path):
    """A file size limit under the checkpoint (EFBIG, the path of a full disk's ENOSPC): was a
    traceback from torch.save; now one line naming what could not be written, exit 2."""
    from tests.conftest import train_overrides

    shards, labels = make_feature_set(tmp_path / "f")

    def cap() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))

    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "disabled"}
    run = tmp_path / "run"
    overrides = train_overrides(shards, labels, run, "test_after_fit=false")
    cmd = [sys.executable, "train.py", *overrides]
    done = subprocess.run(cmd, preexec_fn=cap, capture_output=True, text=True, env=env, cwd=ROOT)
    assert done.returncode == 2, done.stderr[-2000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "cannot write (File too large)" in errors[0], done.stderr[-2000:]
    assert "Traceback" not in done.stderr
