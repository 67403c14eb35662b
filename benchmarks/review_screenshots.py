"""Screenshots of the review page for docs/review.md: ``python benchmarks/review_screenshots.py
[--videos demo/library/videos] [--predictions demo/predictions/season] [--out docs]``.

Starts the real command on a copy of the labels file (the library's own is not touched), opens
the page in Debian's headless Chromium (selenium + /usr/bin/chromedriver, nothing downloaded)
at 1400x900, and writes ``review.png`` (an episode the browser plays, with its timeline) and
``review-strip.png`` (the frame strip of one it cannot play). Prints what it wrote.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from introdet.errors import BenchError

ROOT = Path(__file__).resolve().parents[1]


def start_server(videos: Path, predictions: Path, folder: Path) -> tuple[subprocess.Popen, str]:
    """The command, run in ``folder`` on ``folder/labels.json`` (the page shows "labels.json")."""
    cmd = [sys.executable, "-m", "introdet.review", f"input={videos.resolve()}",
           f"predictions={predictions.resolve()}", "labels=labels.json", "port=0"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            cwd=folder)  # fmt: skip
    for line in proc.stdout:
        m = re.search(r"open (http://\S+)", line)
        if m:
            return proc, m.group(1)
        print(line, end="")
    raise BenchError(f"the review command printed no address (exit code {proc.wait()})")


def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not chromium or not driver:
        raise BenchError(
            "chromium and chromedriver are needed: apt-get install chromium chromium-driver"
        )
    os.environ["SE_OFFLINE"] = "true"
    options = Options()
    options.binary_location = chromium
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--mute-audio",
                "--window-size=1400,900", "--hide-scrollbars"):  # fmt: skip
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(executable_path=driver), options=options)


def until(driver, expr: str, timeout: float = 30.0) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = driver.execute_script(f"return {expr};")
        if value:
            return value
        time.sleep(0.1)
    raise BenchError(f"the page never got to: {expr}")


def show(driver, url: str, episode: str | None, playable: bool) -> str:
    """Open the page on ``episode`` (None: the first the list holds that the browser plays
    or not, as asked), put the playhead inside its intro; returns the episode's id."""
    driver.get("about:blank")
    driver.get(url)
    until(driver, "window.review && window.review.state.ep")
    if episode is None:
        episode = until(driver, f"""(async () => {{
            for (const id of window.review.state.order) {{
              const headers = {{"X-Introdet-Token": TOKEN}};
              const r = await fetch(`/api/episode/${{enc(id)}}`, {{headers}});
              const ep = await r.json();
              const labelled = ep.label && ep.label.start !== null;
              if (ep.media.playable === {str(playable).lower()} && ep.timeline.intro
                  && (labelled || !{str(playable).lower()})) return id;
            }}
          }})()""")  # fmt: skip
    driver.execute_script("window.review.openEpisode(arguments[0])", episode)
    until(driver, f"window.review.state.ep.id === {episode!r}")
    ep = driver.execute_script("return window.review.state.ep")
    intro = (
        ep["label"] if ep["label"] and ep["label"]["start"] is not None else ep["timeline"]["intro"]
    )
    t = (intro["start"] + intro["end"]) / 2 if intro else 5.0
    if playable:
        until(driver, "document.getElementById('video').readyState >= 2")
    driver.execute_script("window.review.seek(arguments[0])", t)
    if playable:
        until(driver, "!document.getElementById('video').seeking")
    else:
        until(driver, "document.getElementById('frame').complete && !window.review.state.frameBusy")
        until(driver, "[...document.querySelectorAll('#strip img')]"
                      ".filter((i) => i.getBoundingClientRect().right > 0 "
                      "&& i.getBoundingClientRect().left < innerWidth)"
                      ".every((i) => i.complete && i.naturalWidth > 0)")  # fmt: skip
    time.sleep(0.5)  # the next animation frame draws the playhead
    return episode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=Path, default=ROOT / "demo" / "library" / "videos")
    parser.add_argument(
        "--predictions", type=Path, default=ROOT / "demo" / "predictions" / "season"
    )
    parser.add_argument(
        "--labels", type=Path, default=None, help="default: <videos>/../train_labels.json"
    )
    parser.add_argument("--episode", default=None, help="the playable episode to show")
    parser.add_argument("--strip-episode", default=None, help="the unplayable episode to show")
    parser.add_argument("--out", type=Path, default=ROOT / "docs")
    args = parser.parse_args()
    labels = args.labels or args.videos.parent / "train_labels.json"
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "labels.json"
        if labels.exists():
            shutil.copy(labels, copy)
        driver = browser()
        proc = None
        try:
            proc, url = start_server(args.videos, args.predictions, Path(tmp))
            args.out.mkdir(parents=True, exist_ok=True)
            shots = (
                ("review.png", args.episode, True),
                ("review-strip.png", args.strip_episode, False),
            )
            for name, episode, playable in shots:
                shown = show(driver, url, episode, playable)
                path = args.out / name
                driver.save_screenshot(str(path))
                print(f"{path}: {shown}")
        finally:
            driver.quit()
            if proc is not None:
                proc.terminate()
                proc.wait(timeout=20)


if __name__ == "__main__":
    main()
