"""The review page in a real browser: the real command (``python -m introdet.review``) serves a
generated library, Debian's headless Chromium drives it through chromedriver (selenium, no
download at run time), and the labels file on disk is read back with the validator's reader.

Skipped, with the reason in the warnings summary, where chromium or chromedriver is missing
(``apt-get install chromium chromium-driver``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import pytest

from introdet.media.labels import load_annotations
from tests.test_review import review_library

pytestmark = pytest.mark.browser

CHROMIUM = next(filter(None, map(shutil.which, ("chromium", "chromium-browser"))), None)
DRIVER = shutil.which("chromedriver") or next(
    (p for p in ("/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver") if Path(p).exists()),
    None,
)
WAIT = 20  # seconds for the page to get somewhere (2 shared cores: chromium starts slowly)


def _missing() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[dev]')"
    if not CHROMIUM or not DRIVER:
        return "chromium or chromedriver not found (apt-get install chromium chromium-driver)"
    return None


_EPISODES: list[str] = []  # the library's episode ids, once the server fixture made it


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """The real command on a generated library: (page address, labels file)."""
    out, truth = review_library(tmp_path_factory)
    _EPISODES[:] = sorted(truth["episodes"])
    labels = tmp_path_factory.mktemp("browser") / "labels.json"
    cmd = [sys.executable, "-m", "introdet.review", f"input={out / 'lib' / 'videos'}",
           f"predictions={out / 'pred' / 'season'}", f"labels={labels}", "port=0"]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            cwd=labels.parent, env=env)  # fmt: skip
    lines: list[str] = []
    try:
        for line in proc.stdout:  # the address comes once the socket listens
            lines.append(line)
            m = re.search(r"open (http://127\.0\.0\.1:\d+/\?token=\S+)", line)
            if m:
                break
        else:
            pytest.fail(f"the command printed no address: {''.join(lines)}")
        threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True).start()
        yield m.group(1), labels
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.fixture(scope="module")
def driver():
    why = _missing()
    if why:
        warnings.warn(f"browser tests skipped: {why}", UserWarning, stacklevel=1)
        pytest.skip(why)
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager must fetch nothing
    options = Options()
    options.binary_location = CHROMIUM
    flags = ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--mute-audio",
             "--window-size=1400,900", "--autoplay-policy=no-user-gesture-required")  # fmt: skip
    for arg in flags:
        options.add_argument(arg)
    browser = webdriver.Chrome(service=Service(executable_path=DRIVER), options=options)
    try:
        yield browser
    finally:
        browser.quit()


def js(driver, expr: str):
    return driver.execute_script(f"return {expr};")


def until(driver, expr: str, timeout: float = WAIT):
    """Wait until a JS expression is truthy; fail with what it was."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = js(driver, expr)
        if value:
            return value
        time.sleep(0.1)
    status = js(driver, "document.getElementById('status').textContent")
    pytest.fail(f"timed out waiting for {expr} (status: {status!r})")


def keys(driver, *strokes: str, shift: bool = False) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    chain = ActionChains(driver)
    if shift:
        chain.key_down(Keys.SHIFT)
    for k in strokes:
        chain.send_keys(k)
    if shift:
        chain.key_up(Keys.SHIFT)
    chain.perform()


def open_episode(driver, url: str, episode: str, mode: str) -> None:
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    driver.get(url)
    every = len(_EPISODES)  # the whole list is drawn: the library's every video
    until(driver, f"document.querySelectorAll('#episodes li').length === {every}")
    until(driver, "window.review.state.ep")  # the first episode is open: the list redrawn
    for _ in range(5):  # a save elsewhere may redraw the list between find and click
        try:
            driver.find_element(By.CSS_SELECTOR, f"#episodes li[data-id='{episode}']").click()
            break
        except StaleElementReferenceException:
            time.sleep(0.2)
    until(driver, f"window.review.state.ep && window.review.state.ep.id === '{episode}'")
    until(driver, f"document.body.dataset.mode === '{mode}'")


def seek(driver, t: float) -> None:
    js(driver, f"window.review.seek({t})")
    until(driver, f"Math.abs(window.review.now() - {t}) < 1e-6")


def saved_label(labels: Path, episode: str, interval, timeout: float = WAIT, kind="intro"):
    """The label (of ``kind``) as the validator reads it from disk, once it is ``interval``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if labels.exists():
            ann = load_annotations(labels)
            intro = ann.intros.get(episode)
            got = intro and (intro.interval if kind == "intro" else intro.segments.get(kind))
            if intro is not None and got == interval:
                return ann
        time.sleep(0.1)
    text = labels.read_text() if labels.exists() else "(no file)"
    pytest.fail(f"{episode} never saved as {interval}: {text}")


def test_label_with_shortcuts_and_with_buttons(driver, server):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    url, labels = server
    assert js(driver, "1") == 1
    open_episode(driver, url, "harbor_s01e02", "video")  # H.264 MP4: the browser plays it
    # every segment of the record, each with why it was found
    shown = js(driver, "document.getElementById('segments-text').textContent")
    assert re.fullmatch(r"(intro [\d:.]+ – [\d:.]+ \(made by the test\); )?"
                        r"credits [\d:.]+ – [\d:.]+ \(made by the test\)", shown), shown
    first = js(driver, "document.querySelector('#episodes li').dataset.id")
    assert first in ("quarry_s01e02", "harbor_s00e01", "northwind_s01e01 (1)")  # no record
    until(driver, "document.getElementById('video').readyState >= 2")
    keys(driver, Keys.SPACE)  # play ...
    until(driver, "document.getElementById('video').currentTime > 0.3")
    keys(driver, Keys.SPACE)  # ... and pause
    until(driver, "document.getElementById('video').paused")
    canvas = driver.find_element(By.ID, "timeline")
    from selenium.webdriver.common.action_chains import ActionChains

    ActionChains(driver).move_to_element(canvas).click().perform()  # the middle: half-way
    half = js(driver, "window.review.state.ep.media.duration") / 2
    until(driver, f"Math.abs(window.review.now() - {half}) < 0.5")

    seek(driver, 6.0)
    keys(driver, "i")  # start = 6.0
    seek(driver, 9.0)
    keys(driver, Keys.ARROW_RIGHT)  # 10.0
    keys(driver, Keys.ARROW_LEFT, shift=True)  # one frame (25 fps) back: 9.96
    # a slow answer to the save (a loaded machine): nudges made while it is on its way count
    js(driver, "(() => { const f = window.fetch; window.fetch = (u, o) => f(u, o).then("
               "(r) => new Promise((ok) => setTimeout(() => ok(r), 1500))); return 1; })()")
    keys(driver, "o")  # end = 9.96: saved
    saved_label(labels, "harbor_s01e02", (6.0, 9.96))
    keys(driver, "z", shift=True)  # start one second earlier: 5.0, the answer still to come
    until(driver, "document.getElementById('status').textContent.startsWith('saved')")
    keys(driver, "x")  # one frame later: 5.04
    saved_label(labels, "harbor_s01e02", (5.04, 9.96))
    until(driver, "document.getElementById('status').textContent.startsWith('saved')")

    open_episode(driver, url, "northwind_s01e02", "video")  # VP9 WebM, with the buttons
    seek(driver, 7.44)
    driver.find_element(By.ID, "btn-start").click()
    seek(driver, 13.96)
    driver.find_element(By.ID, "btn-end").click()
    ann = saved_label(labels, "northwind_s01e02", (7.44, 13.96))
    assert ann.intros["harbor_s01e02"].interval == (5.04, 9.96) and not ann.rejected
    row = labels.read_text(encoding="utf-8")
    assert '"start": "0:00:07.440"' in row and '"end": "0:00:13.960"' in row

    keys(driver, "t")  # the same episode's credits now
    until(driver, "window.review.state.kind === 'credits'")
    seek(driver, 18.0)
    keys(driver, "i")
    seek(driver, 21.0)
    keys(driver, "o")
    ann = saved_label(labels, "northwind_s01e02", ((18.0, 21.0),), kind="credits")
    assert ann.intros["northwind_s01e02"].interval == (7.44, 13.96)  # the intro as it was
    for _ in range(3):  # recap, preview, and the intro again
        keys(driver, "t")
    until(driver, "window.review.state.kind === 'intro'")
    assert js(driver, "[window.review.state.saved.start, window.review.state.saved.end]") == [
        7.44, 13.96
    ]

    order = js(driver, "window.review.state.order")
    keys(driver, "k")  # the next episode in the list
    nxt = order[order.index("northwind_s01e02") + 1]
    until(driver, f"window.review.state.ep.id === '{nxt}'")


def test_frame_strip_for_a_file_the_browser_cannot_play(driver, server):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    url, labels = server
    open_episode(driver, url, "quarry_s01e01", "strip")  # MPEG-4 Part 2 in AVI
    assert "AVI" in js(driver, "document.getElementById('strip-note').textContent")
    until(driver, "document.getElementById('frame').complete && "
                  "document.getElementById('frame').naturalWidth > 0")  # fmt: skip
    n = until(driver, "document.querySelectorAll('#strip figure').length")
    assert n == 21  # a thumbnail a second over ~20.4 s
    until(driver, "document.querySelector('#strip figure img').naturalWidth > 0")
    driver.find_element(By.CSS_SELECTOR, "#strip figure[data-t='2']").click()
    until(driver, "window.review.now() === 2")
    until(driver, "Math.abs(window.review.state.frameShown - 2) < 0.05")  # the frame at 2 s
    until(driver, "document.getElementById('frame').complete")
    keys(driver, Keys.SPACE)  # plays on the server's frames ...
    until(driver, "window.review.now() > 2.5")
    keys(driver, Keys.SPACE)  # ... and stops
    keys(driver, "a")  # accept the prediction: 0.0-3.1
    saved_label(labels, "quarry_s01e01", (0.0, 3.1))


def test_falls_back_to_frames_when_the_video_element_fails(driver, server):
    url, _ = server
    open_episode(driver, url, "harbor_s01e01", "video")
    js(driver, "document.getElementById('video').dispatchEvent(new Event('error'))")
    until(driver, "document.body.dataset.mode === 'strip'")
    assert "could not play" in js(driver, "document.getElementById('strip-note').textContent")
    until(driver, "document.getElementById('frame').naturalWidth > 0")
