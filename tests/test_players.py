"""Real players read introdet's outputs: MPlayer skips what the EDL says and shows the chapters
``apply_chapters`` wrote; ffprobe (the system's FFmpeg, not PyAV's) reads them too."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from introdet.demo.videofile import write_video
from introdet.detection.postprocess import Segment
from introdet.outputs.chapters import apply_chapters
from introdet.outputs.export import episode_record, write_episode

MPLAYER = shutil.which("mplayer")
FFPROBE = shutil.which("ffprobe")
needs_mplayer = pytest.mark.skipif(
    MPLAYER is None, reason="no mplayer on PATH (apt-get install mplayer)"
)
needs_ffprobe = pytest.mark.skipif(
    FFPROBE is None, reason="no ffprobe on PATH (apt-get install ffmpeg)"
)

SECONDS = 20
INTRO = Segment(5.0, 12.0, 0.9)
CREDITS = [15.0, 18.0]


@pytest.fixture(scope="module")
def episode(tmp_path_factory) -> Path:
    """A 20-s clip, 10 fps with sound and a key frame each second, so that seeks land on time."""
    path = tmp_path_factory.mktemp("players") / "S01E01.mkv"
    frames = [np.full((48, 64, 3), (7 * i) % 256, np.uint8) for i in range(SECONDS * 10)]
    return write_video(path, frames, fps=10, audio=True, gop=10)


def record() -> dict:
    return episode_record("S01E01", None, SECONDS, 10.0, "vit", INTRO, [], credits=CREDITS)


def mplayer(args: list[str], home: Path) -> str:
    """MPlayer's whole output (status lines split), run as fast as it decodes, no user config."""
    cmd = [MPLAYER, "-noconfig", "all", "-nolirc", "-vo", "null", *args]
    # HOME: MPlayer creates ~/.mplayer on its first run
    env = {**os.environ, "HOME": str(home)}
    run = subprocess.run(
        cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=60, check=True
    )
    return (run.stdout + run.stderr).decode(errors="replace").replace("\r", "\n")


def play_with_edl(video: Path, edl: Path, home: Path) -> tuple[list[float], str]:
    """The video clock of each of MPlayer's status lines while it plays ``video`` with ``edl``,
    and its output (``-msglevel cplayer=9`` prints an ``EDL_SKIP`` line per skip)."""
    fast = ["-ao", "pcm:fast:file=/dev/null", "-benchmark"]  # not in real time
    out = mplayer([*fast, "-msglevel", "cplayer=9", "-edl", str(edl), str(video)], home)
    # status lines: "A:   4.9 V:   4.9 A-V: ..."; A-V is not the video clock
    return [float(t) for t in re.findall(r"(?<![-\w])V:\s*(-?\d+\.\d+)", out)], out


def shown(times: list[float], start: float, end: float) -> int:
    return len({t for t in times if start <= t < end})


@needs_mplayer
def test_mplayer_skips_intro_and_credits_with_edl_action_0(episode, tmp_path):
    (edl,) = write_episode(record(), tmp_path, ["edl"], edl_action=0)
    assert edl.name == f"{episode.stem}.edl"  # the name Kodi looks for beside the video
    times, out = play_with_edl(episode, edl, tmp_path)
    assert "Read 2 EDL actions." in out
    assert re.findall(r"EDL_SKIP: pts \[[\d.]+\], offset \[[\d.]+\], start \[([\d.]+)\]", out) == [
        "5.000000",
        "15.000000",
    ]
    # the picture stops at the intro's start and resumes at its end (the next key frame)
    assert shown(times, 0.0, 5.0) >= 45 and shown(times, 12.0, 15.0) >= 20
    assert shown(times, 5.5, 12.0) == 0 and shown(times, 15.5, 18.0) == 0
    assert max(times) >= SECONDS - 0.5  # played on to the end


@needs_mplayer
def test_mplayer_plays_through_edl_action_3(episode, tmp_path):
    """MPlayer reads Kodi's commercial breaks (3) and ignores them: why edl_action exists."""
    (edl,) = write_episode(record(), tmp_path, ["edl"], edl_action=3)
    times, out = play_with_edl(episode, edl, tmp_path)
    assert "Read 2 EDL actions." in out  # read, not rejected
    assert "EDL_SKIP" not in out
    assert shown(times, 5.5, 12.0) >= 60 and shown(times, 15.5, 18.0) >= 20
    assert max(times) >= SECONDS - 0.5


def applied(episode: Path, dest: Path) -> Path:
    return apply_chapters(episode, record(), dest)


EXPECTED = [
    ("Episode", 0, 5000),
    ("Intro", 5000, 12000),
    ("Episode", 12000, 15000),
    ("Credits", 15000, 18000),
    ("Episode", 18000, 20000),
]


@needs_mplayer
@pytest.mark.parametrize("suffix", [".mkv", ".mp4"])
def test_mplayer_shows_the_applied_chapters(episode, tmp_path, suffix):
    video = applied(episode, tmp_path / f"S01E01{suffix}")
    out = mplayer(["-identify", "-frames", "0", "-ao", "null", str(video)], tmp_path)
    ids = dict(re.findall(r"^(ID_CHAPTER\w*)=(.*)$", out, flags=re.MULTILINE))
    assert ids["ID_CHAPTERS"] == str(len(EXPECTED))
    got = [
        (
            ids[f"ID_CHAPTER_{i}_NAME"],
            int(ids[f"ID_CHAPTER_{i}_START"]),
            int(ids[f"ID_CHAPTER_{i}_END"]),
        )
        for i in range(len(EXPECTED))
    ]
    assert got == EXPECTED


@needs_ffprobe
@pytest.mark.parametrize("suffix", [".mkv", ".mp4"])
def test_ffprobe_reads_the_applied_chapters(episode, tmp_path, suffix):
    video = applied(episode, tmp_path / f"S01E01{suffix}")
    cmd = [FFPROBE, "-v", "error", "-show_chapters", "-of", "json", str(video)]
    run = subprocess.run(cmd, capture_output=True, timeout=60, check=True, text=True)
    got = [
        (
            c["tags"]["title"],
            round(float(c["start_time"]) * 1000),
            round(float(c["end_time"]) * 1000),
        )
        for c in json.loads(run.stdout)["chapters"]
    ]
    assert got == EXPECTED


MPV = shutil.which("mpv")
# mpv's property expansion: the count, then each chapter's title@start (s)
TITLES = "${chapter-list/count} " + " ".join(
    f"${{chapter-list/{i}/title}}@${{=chapter-list/{i}/time}}" for i in range(5)
)


@pytest.mark.skipif(MPV is None, reason="no mpv on PATH (apt-get install mpv)")
def test_mpv_shows_the_ffmetadata_chapters_as_the_readme_says(episode, tmp_path):
    written = write_episode(record(), tmp_path, ["ffmetadata"])
    # the README's line: mpv --chapters-file="E1.ffmetadata" "E1.mkv"
    run = subprocess.run(
        [MPV, "--no-config", "--vo=null", "--ao=null", "--frames=1",
         f"--chapters-file={written[0]}", "--term-playing-msg=CHAPTERS " + TITLES,
         str(episode)],
        env={**os.environ, "HOME": str(tmp_path)}, stdin=subprocess.DEVNULL,
        capture_output=True, timeout=60, check=True,
    )  # fmt: skip
    out = (run.stdout + run.stderr).decode(errors="replace")
    line = next(x for x in out.splitlines() if x.startswith("CHAPTERS"))
    got = [(t.split("@")[0], float(t.split("@")[1])) for t in line.split()[2:]]
    assert line.split()[1] == "5" and got == [
        ("Episode", 0), ("Intro", 5), ("Episode", 12), ("Credits", 15), ("Episode", 18)
    ]  # fmt: skip


# --- schema 3: every segment type reaches the players ------------------------------------------

# the recap starts after 0:00 and the preview ends before the file: MPlayer run headless here
# bounces back from a skip at the first frame and does not return from one to the end
TYPED = [("recap", 1.0, 3.0), ("intro", 5.0, 12.0), ("commercial", 13.0, 14.0),
         ("credits", 15.0, 18.0), ("preview", 18.0, 19.0)]  # fmt: skip
TYPED_CHAPTERS = [("Episode", 0, 1000), ("Recap", 1000, 3000), ("Episode", 3000, 5000),
                  ("Intro", 5000, 12000), ("Episode", 12000, 13000), ("Commercial", 13000, 14000),
                  ("Episode", 14000, 15000), ("Credits", 15000, 18000),
                  ("Preview", 18000, 19000), ("Episode", 19000, 20000)]  # fmt: skip


def typed_record() -> dict:
    segments = [{"type": k, "start": a, "end": b, "confidence": 1.0, "evidence": "test"}
                for k, a, b in TYPED]  # fmt: skip
    return episode_record("S01E01", None, SECONDS, 10.0, "vit", INTRO, [], credits=CREDITS,
                          segments=segments)  # fmt: skip


@needs_mplayer
def test_mplayer_skips_every_segment_type(episode, tmp_path):
    (edl,) = write_episode(typed_record(), tmp_path, ["edl"], edl_action=0)
    times, out = play_with_edl(episode, edl, tmp_path)
    assert "Read 4 EDL actions." in out  # the credits and the preview after them: one line
    starts = re.findall(r"EDL_SKIP: pts \[[\d.]+\], offset \[[\d.]+\], start \[([\d.]+)\]", out)
    # MPlayer may skip a segment again after a seek to the key frame before its end
    assert sorted({float(t) for t in starts}) == [1.0, 5.0, 13.0, 15.0]
    # each skipped (a status line or two where MPlayer's clock jumps), the episode between shown
    assert shown(times, 5.5, 12.0) <= 3 and shown(times, 15.5, 18.0) <= 3
    assert shown(times, 3.5, 5.0) >= 10 and shown(times, 19.0, 20.0) >= 5


@needs_mplayer
def test_mplayer_skips_the_types_given_its_action_and_plays_the_others(episode, tmp_path):
    """Kodi's action for the intro and credits, MPlayer's for the recap and the ident; the
    preview left out of the player files (``segments=``): MPlayer skips just the two."""
    types = ["intro", "credits", "recap", "commercial"]
    (edl,) = write_episode(typed_record(), tmp_path, ["edl"], {"recap": 0, "commercial": 0},
                           types)  # fmt: skip
    times, out = play_with_edl(episode, edl, tmp_path)
    starts = re.findall(r"EDL_SKIP: pts \[[\d.]+\], offset \[[\d.]+\], start \[([\d.]+)\]", out)
    assert sorted({float(t) for t in starts}) == [1.0, 13.0]
    assert shown(times, 1.5, 3.0) <= 3 and shown(times, 5.0, 12.0) >= 30
    assert shown(times, 15.0, 20.0) >= 30  # credits (Kodi's) and preview (not chosen) play


@needs_ffprobe
def test_ffprobe_reads_every_segment_types_chapter(episode, tmp_path):
    video = apply_chapters(episode, typed_record(), tmp_path / "S01E01.mkv")
    cmd = [FFPROBE, "-v", "error", "-show_chapters", "-of", "json", str(video)]
    run = subprocess.run(cmd, capture_output=True, timeout=60, check=True, text=True)
    chapters = json.loads(run.stdout)["chapters"]
    got = [(c["tags"]["title"], round(float(c["start_time"]) * 1000),
            round(float(c["end_time"]) * 1000)) for c in chapters]  # fmt: skip
    assert got == TYPED_CHAPTERS


@pytest.mark.skipif(MPV is None, reason="no mpv on PATH (apt-get install mpv)")
def test_mpv_shows_every_segment_types_ffmetadata_chapter(episode, tmp_path):
    (written,) = write_episode(typed_record(), tmp_path, ["ffmetadata"])
    titles = "${chapter-list/count} " + " ".join(
        f"${{chapter-list/{i}/title}}@${{=chapter-list/{i}/time}}" for i in range(10)
    )
    run = subprocess.run(
        [MPV, "--no-config", "--vo=null", "--ao=null", "--frames=1",
         f"--chapters-file={written}", "--term-playing-msg=CHAPTERS " + titles, str(episode)],
        env={**os.environ, "HOME": str(tmp_path)}, stdin=subprocess.DEVNULL,
        capture_output=True, timeout=60, check=True,
    )  # fmt: skip
    out = (run.stdout + run.stderr).decode(errors="replace")
    line = next(x for x in out.splitlines() if x.startswith("CHAPTERS"))
    got = [(t.split("@")[0], float(t.split("@")[1])) for t in line.split()[2:] if "@" in t]
    want = [(title, a / 1000) for title, a, _ in TYPED_CHAPTERS]
    assert line.split()[1] == str(len(TYPED_CHAPTERS)) and got[: len(want)] == want


def test_the_readme_warns_that_mplayer_seeks_to_keyframes():
    """MPlayer's EDL skip resumes at a keyframe (a file with one every 10 s lost 7.4 s of
    episode after the intro): the README says so and sends those who mind to mpv's chapters."""
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    mplayer_line = readme[readme.index("- MPlayer skips action 0") :].split("\n- ")[0]
    assert "keyframe" in mplayer_line and "mpv" in mplayer_line
