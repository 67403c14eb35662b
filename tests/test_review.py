"""The review app through Starlette's TestClient, on real videos from the demo generator:
the doubt order, the timeline data, video with Range, the frame strip for files a browser
cannot play, label saving (validated, in place, atomic) and the safety rules."""

from __future__ import annotations

import io
import json
import shutil
import socket
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from PIL import Image
from starlette.testclient import TestClient

from introdet.demo.make_library import make_library
from introdet.media.labels import format_time, load_annotations, parse_time
from introdet.media.library import content_hash
from introdet.review.__main__ import bind, build, main, url_of
from introdet.review.app import TOKEN_HEADER, create_app
from introdet.review.labels import LabelsFile
from introdet.validate import main as validate_main
from tests.commands import help_text, run_command
from tests.conftest import compose_cfg

TOKEN = "test-token-123"
SCHEMA = Path(__file__).resolve().parents[1] / "introdet" / "outputs" / "record.schema.json"
# a row for an episode that is not in the library, with fields introdet does not know: kept
GONE = (
    '"gone_s09e09": {"name": "Gone", "url": "u", "start": "0:00:05", '
    '"extra": [1, {"a": null}], "end": 9}'
)


def make_review_library(out: Path) -> dict:
    """4 series x 2 episodes, 20-25 s each (H.264 MP4, HEVC MKV, VP9 WebM, MPEG-4 AVI), a
    special and a copy under ``out/lib/videos``, season-mode records under ``out/pred/season``
    (none for quarry_s01e02, the special or the copy)
    and single-mode ones under ``out/pred/single``. Returns the library's truth."""
    truth = make_library(out / "lib", seed=0, size="tiny")
    videos = out / "lib" / "videos"
    recs = {
        # id: (intro, score, recurring intro, mode)
        "harbor_s01e01": ((6.2, 9.6), 0.97, None, "season"),
        "harbor_s01e02": (None, None, None, "season"),
        "vandal_s01e01": ((6.0, 9.9), 0.31, None, "single"),  # low score
        "vandal_s01e02": ((7.8, 10.0), 0.95, None, "season"),
        "northwind_s01e01": ((2.1, 8.6), 0.9, (8.0, 14.0), "season"),  # recurrence disagrees
        "northwind_s01e02": ((7.4, 14.0), 0.96, (7.5, 14.0), "season"),
        "quarry_s01e01": ((0.0, 3.1), 0.99, (0.0, 3.1), "season"),
    }
    for ep, (intro, score, recurring, mode) in recs.items():
        _write_record(out / "pred" / "season", videos, truth["episodes"][ep], intro, score,
                      recurring, mode)  # fmt: skip
    # a sibling folder with single-mode results: one of them disagrees with season mode
    _write_record(out / "pred" / "single", videos, truth["episodes"]["harbor_s01e01"],
                  (12.0, 18.0), 0.8, None, "single")  # fmt: skip
    return truth


_BUILT: dict[str, tuple[Path, dict]] = {}


def review_library(tmp_path_factory) -> tuple[Path, dict]:
    """``make_review_library`` once per test session (the browser tests use it too): the
    tests write their labels elsewhere and leave it as it is."""
    if "library" not in _BUILT:
        out = tmp_path_factory.mktemp("review")
        _BUILT["library"] = (out, make_review_library(out))
    return _BUILT["library"]


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> tuple[Path, dict]:
    return review_library(tmp_path_factory)


def _write_record(folder, videos, row, intro, score, recurring, mode) -> None:
    path = videos.parent / row["path"]
    key = path.relative_to(videos).with_suffix("").as_posix()
    n = int(row["duration"]) + 1
    probs = [0.9 if intro and intro[0] <= k < intro[1] else 0.05 for k in range(n)]
    record = {
        "schema_version": 3, "episode": path.stem, "key": key, "source": str(path),
        "source_hash": content_hash(path), "series": row["series"], "duration": row["duration"],
        "fps": 1.0, "video_fps": row["fps"], "encoder": "none", "mode": mode,
        "intro": None if intro is None else {"start": intro[0], "end": intro[1], "score": score},
        "probabilities": probs, "credits": [row["duration"] - 3, row["duration"]],
        "provenance": {"introdet": "0.1.0", "method": "season", "checkpoint": None,
                       "postprocess": None, "sampler": None, "refine": {}},
    }  # fmt: skip
    spans = ([("intro", intro)] if intro else []) + [("credits", record["credits"])]
    record["segments"] = [{"type": k, "start": a, "end": b, "confidence": 1.0,
                           "evidence": "made by the test"} for k, (a, b) in spans]  # fmt: skip
    if recurring:
        record["season"] = {"recurring": [[*recurring, "intro", 2]]}
    Draft202012Validator(json.loads(SCHEMA.read_text())).validate(record)  # the real format
    out = folder / f"{key}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(record), encoding="utf-8")


@pytest.fixture
def labels(library, tmp_path) -> Path:
    """The demo's train labels (with its typing slips) plus a row for a missing episode."""
    text = (library[0] / "lib" / "train_labels.json").read_text(encoding="utf-8")
    text = text.rstrip()[:-1].rstrip() + f",\n  {GONE}\n}}\n"
    path = tmp_path / "labels.json"
    path.write_text(text, encoding="utf-8")
    return path


def _client(library, labels, *extra: str) -> TestClient:
    out, _ = library
    cfg = compose_cfg("review", [f"input={out / 'lib' / 'videos'}",
                                 f"predictions={out / 'pred' / 'season'}",
                                 f"labels={labels}", *extra])  # fmt: skip
    return TestClient(create_app(build(cfg, token=TOKEN)), headers={TOKEN_HEADER: TOKEN})


@pytest.fixture
def client(library, labels) -> TestClient:
    return _client(library, labels)


def _put(client, episode, body, **kw):
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.put(f"/api/label/{episode}", content=data, **kw)


# --- the list and the data the page draws ----------------------------------------------------


def test_help(capsys):
    text = help_text(main, capsys)
    for word in ("input", "predictions", "labels", "port", "host", "open", "token"):
        assert word in text, word


def test_episodes_sorted_by_doubt_with_reasons(client, library):
    rows = client.get("/api/episodes").json()["episodes"]
    ids = [r["id"] for r in rows]
    assert sorted(ids) == sorted(library[1]["episodes"])  # every video of the library
    unrecorded = {"quarry_s01e02", "harbor_s00e01", "northwind_s01e01 (1)"}  # a special, a copy
    assert set(ids[:3]) == unrecorded
    assert all(r["reasons"] == ["no prediction record"] for r in rows[:3])
    assert ids[3] == "vandal_s01e01" and "low score 0.31" in rows[3]["reasons"]
    why = {r["id"]: "; ".join(r["reasons"]) for r in rows}
    assert "season recurrence says 8.0–14.0 s" in why["northwind_s01e01"]
    assert "single says 12.0–18.0 s" in why["harbor_s01e01"]
    assert "no label" in why["harbor_s01e02"]
    assert why["northwind_s01e02"] == "no label"  # recurrence within 2 s: agrees
    tiers = [r["tier"] for r in rows]
    assert tiers == sorted(tiers)


def test_episode_timeline_and_playability(client, library):
    out, truth = library
    record = json.loads(
        (out / "pred" / "season" / "Northwind" / "northwind_s01e01.json").read_text()
    )
    ep = client.get("/api/episode/northwind_s01e01").json()
    assert ep["timeline"]["probabilities"] == record["probabilities"]
    assert ep["timeline"]["recurring"] == [[8.0, 14.0, "intro", 2]]
    assert ep["timeline"]["intro"] == {"start": 2.1, "end": 8.6, "score": 0.9}
    assert ep["timeline"]["credits"] == record["credits"]
    assert ep["timeline"]["segments"] == record["segments"]  # each with its evidence
    assert ep["label"] == {"start": 2.0, "end": 9.0, "problem": None, "segments": {}}
    playable = {
        e: client.get(f"/api/episode/{e}").json()["media"]
        for e in ("harbor_s01e01", "vandal_s01e01", "northwind_s01e01", "quarry_s01e01")
    }
    assert playable["harbor_s01e01"]["mime"] == "video/mp4"
    assert playable["northwind_s01e01"]["mime"] == "video/webm"
    assert not playable["vandal_s01e01"]["playable"] and "hevc" in playable["vandal_s01e01"]["why"]
    assert not playable["quarry_s01e01"]["playable"] and "AVI" in playable["quarry_s01e01"]["why"]
    assert playable["harbor_s01e01"]["duration"] == pytest.approx(
        truth["episodes"]["harbor_s01e01"]["duration"], abs=0.05
    )


def test_video_is_served_with_range(client, library):
    path = library[0] / "lib" / library[1]["episodes"]["harbor_s01e01"]["path"]
    r = client.get("/video/harbor_s01e01", headers={"Range": "bytes=100-1099"})
    assert r.status_code == 206
    assert r.headers["content-range"] == f"bytes 100-1099/{path.stat().st_size}"
    assert r.content == path.read_bytes()[100:1100]
    assert r.headers["content-type"] == "video/mp4"


@pytest.mark.parametrize("episode", ["quarry_s01e01", "vandal_s01e02"])  # MPEG-4 AVI, HEVC MKV
def test_frame_strip_for_files_the_browser_cannot_play(client, episode):
    media = client.get(f"/api/episode/{episode}").json()["media"]
    assert not media["playable"] and media["strip_step"] == 1  # ~20 s: a thumbnail a second
    shots = []
    for t in range(0, int(media["duration"]), 5):
        r = client.get(f"/frame/{episode}", params={"t": t, "size": 90})
        assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
        image = Image.open(io.BytesIO(r.content))
        image.load()
        assert image.size == (160, 90)
        shots.append(image.tobytes())
    assert len(set(shots)) > 1  # different times, different pictures
    assert client.get(f"/frame/{episode}", params={"t": 1e9}).status_code == 200  # clamped
    assert client.get(f"/frame/{episode}", params={"t": "x"}).status_code == 400


# --- saving labels ------------------------------------------------------------------------


def test_new_label_row_is_what_train_reads_and_other_rows_stay(client, labels):
    before = labels.read_text(encoding="utf-8")
    r = _put(client, "harbor_s01e02", {"start": 6.2, "end": 9.64})
    assert r.status_code == 200, r.text
    assert r.json()["label"] == {"start": 6.2, "end": 9.64, "problem": None, "segments": {}}
    after = labels.read_text(encoding="utf-8")
    # the file up to its last row is byte for byte what it was; the new row comes last
    head = before[: before.rindex("}")].rstrip()
    assert after.startswith(head + ",\n")
    row = json.loads(after)["harbor_s01e02"]
    assert row == {"name": "harbor_s01e02", "url": "", "series": "Harbor",
                   "start": "0:00:06.200", "end": "0:00:09.640"}  # fmt: skip
    ann = load_annotations(labels)
    assert ann.intros["harbor_s01e02"].interval == (6.2, 9.64)
    assert "gone_s09e09" in ann.intros and not ann.rejected
    assert run_command(validate_main, f"labels={labels}") == 0


def test_edit_in_place_keeps_every_other_byte(client, labels):
    before = labels.read_text(encoding="utf-8")
    r = _put(client, "northwind_s01e01", {"start": 2.08, "end": 8.6})
    assert r.status_code == 200, r.text
    after = labels.read_text(encoding="utf-8")
    old_rows = json.loads(before, object_pairs_hook=list)
    new_rows = json.loads(after, object_pairs_hook=list)
    assert [k for k, _ in new_rows] == [k for k, _ in old_rows]  # same ids, same order
    for (k, old), (_, new) in zip(old_rows, new_rows, strict=True):
        if k != "northwind_s01e01":
            assert new == old, k
    edited = dict(new_rows)["northwind_s01e01"]
    assert [k for k, _ in edited] == ["name", "url", "start", "end"]
    assert (dict(edited)["start"], dict(edited)["end"]) == ("0:00:02.080", "0:00:08.600")
    start = before.index('"northwind_s01e01"')
    assert after[:start] == before[:start]
    next_row = before.index('"vandal_s01e01"')
    assert after[after.index('"vandal_s01e01"') :] == before[next_row:]
    assert GONE in after
    assert load_annotations(labels).intros["northwind_s01e01"].interval == (2.08, 8.6)


def test_times_round_to_the_millisecond_and_read_back():
    assert format_time(27.2) == "0:00:27.200" and parse_time("0:00:27.200") == 27.2
    assert format_time(3723.0) == "1:02:03" and parse_time("1:02:03") == 3723.0
    assert format_time(1.23456) == "0:00:01.235" and parse_time(format_time(1.23456)) == 1.235
    assert format_time(59.9996) == "0:01:00"


def test_no_intro_and_a_new_file(library, tmp_path):
    labels = tmp_path / "new" / "labels.json"
    client = _client(library, labels)
    assert not labels.exists()  # created on the first save, not before
    assert _put(client, "harbor_s01e02", {"start": None, "end": None}).status_code == 200
    assert json.loads(labels.read_text())["harbor_s01e02"]["start"] is None
    assert not load_annotations(labels).intros["harbor_s01e02"].has_intro
    assert _put(client, "quarry_s01e02", {"start": 0, "end": 3.128}).status_code == 200
    assert list(json.loads(labels.read_text())) == ["harbor_s01e02", "quarry_s01e02"]
    assert load_annotations(labels).intros["quarry_s01e02"].interval == (0.0, 3.128)


@pytest.mark.parametrize(
    ("text", "added"),
    [
        # a byte-order mark and Windows line ends: both kept, the new row's lines end alike
        ('\ufeff{\r\n  "a": {\r\n    "start": 1,\r\n    "end": 2\r\n  }\r\n}\r\n',
         ',\r\n  "harbor_s01e02": {\r\n    "name": "harbor_s01e02",'),
        # a row per line: the new one on one line too
        ('{\n "a": {"start": 1, "end": 2},\n "b": {"start": 1e0, "end": 2.50}\n}',
         ',\n "harbor_s01e02": {"name": "harbor_s01e02", "url": "", "series": "Harbor", '
         '"start": "0:00:06", "end": "0:00:09"}\n}'),
        # all on one line
        ('{"a": {"start": 1, "end": 2}}', ', "harbor_s01e02": {"name": '),
        ("{}", '{\n  "harbor_s01e02": {\n    "name": "harbor_s01e02",'),
        ("", '{\n  "harbor_s01e02": {\n    "name": "harbor_s01e02",'),
    ],
)  # fmt: skip
def test_a_new_row_follows_the_file_s_own_layout(library, tmp_path, text, added):
    path = tmp_path / "labels.json"
    path.write_bytes(text.encode())
    assert _put(_client(library, path), "harbor_s01e02", {"start": 6, "end": 9}).status_code == 200
    after = path.read_bytes().decode()
    kept = text.rstrip()[:-1].rstrip() if text.strip() not in ("", "{}") else ""
    assert after.startswith(kept) and added in after, after
    assert load_annotations(path).intros["harbor_s01e02"].interval == (6.0, 9.0)


def test_the_validator_refuses_and_nothing_is_written(client, library, labels, tmp_path):
    before = labels.read_bytes()
    r = _put(client, "harbor_s01e02", {"start": 5, "end": 500})  # past the 24 s episode
    assert r.status_code == 422
    why = "rejected harbor_s01e02: intro ends at 500 s, beyond the episode's 24 s"
    assert why in r.json()["error"]
    assert labels.read_bytes() == before
    twice = tmp_path / "twice.json"  # a duplicate id: the validator rejects both rows
    twice.write_text(
        '{"harbor_s01e02": {"start": 1, "end": 2},\n "harbor_s01e02": {"start": 3, "end": 4}}'
    )
    before = twice.read_bytes()
    r = _put(_client(library, twice), "harbor_s01e02", {"start": 6, "end": 9})
    assert r.status_code == 422 and "duplicate id (2 rows)" in r.json()["error"]
    assert twice.read_bytes() == before


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ("{not json", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        ("[1, 2]", "expected"),
        ({"start": 1}, "expected"),
        ({"start": 1, "end": 2, "path": "/etc/passwd"}, "expected"),
        ({"start": "0:00:01", "end": 2}, "start must be a number"),
        ({"start": True, "end": 2}, "start must be a number"),
        ({"start": 1, "end": None}, "end must be a number"),
        ({"start": -1, "end": 2}, "start must be a finite number >= 0"),
        ('{"start": NaN, "end": 2}', "start must be a finite number >= 0"),
        ('{"start": 1, "end": 1e999}', "end must be a finite number >= 0"),
        ('{"start": 1, "end": 2' + "0" * 400 + "}", "end must be a finite number >= 0"),
        ('{"start": 1, "end": 2' + "0" * 5000 + "}", "not JSON"),
        ({"start": 5, "end": 4}, "end 4 is not after start 5"),
        ({"start": 5, "end": 5}, "end 5 is not after start 5"),
    ],
)
def test_bad_requests_get_a_clear_4xx_and_change_nothing(client, labels, body, why):
    before = labels.read_bytes()
    r = _put(client, "harbor_s01e02", body)
    assert r.status_code == 400, r.text
    assert why in r.json()["error"]
    assert labels.read_bytes() == before


# --- safety -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/video/..%2F..%2Flabels.json",
        "/video/%2e%2e/%2e%2e/train_labels.json",
        "/video/%2E%2E%2Ftruth.json",
        "/video//etc/passwd",
        "/video/%2Fetc%2Fpasswd",
        "/frame/../../truth.json",
        "/api/episode/Harbor/../Harbor/harbor_s01e01",
        "/video/Harbor/harbor_s01e01",  # a key is no id while its stem is unique
        "/video/no_such_episode",
        "/video/harbor_s01e01.mp4",
        "/static/../review/app.py",
        "/static/%2e%2e/app.py",
    ],
)
def test_paths_outside_the_list_are_refused(client, path):
    r = client.get(path)
    assert r.status_code in (400, 404), (path, r.status_code)
    assert "error" in r.json() or r.status_code == 404


def test_traversal_in_a_write_is_refused(client, labels):
    before = labels.read_bytes()
    for episode in ("..%2Flabels", "%2e%2e/%2e%2e/x", "%2Ftmp%2Fx", "nope"):
        r = _put(client, episode, {"start": 1, "end": 2})
        assert r.status_code in (400, 404), episode
    assert labels.read_bytes() == before


def test_the_token_guards_reads_and_writes(library, labels, tmp_path):
    client = _client(library, labels)
    bare = TestClient(client.app)
    before = labels.read_bytes()
    for token in (
        {},
        {TOKEN_HEADER: "wrong"},
        {TOKEN_HEADER: TOKEN + "x"},
        {TOKEN_HEADER: "é".encode()},
    ):
        for method, url in (
            ("get", "/"),
            ("get", "/api/episodes"),
            ("get", "/video/harbor_s01e01"),
            ("get", "/frame/harbor_s01e01"),
        ):
            assert getattr(bare, method)(url, headers=token).status_code == 403, (url, token)
        r = bare.put("/api/label/harbor_s01e02", content='{"start": 1, "end": 2}', headers=token)
        assert r.status_code == 403 and "token" in r.json()["error"]
    assert bare.put("/api/label/harbor_s01e02?token=nope", content="{}").status_code == 403
    assert labels.read_bytes() == before
    fresh = tmp_path / "never.json"  # a refused write creates no file either
    refused = TestClient(_client(library, fresh).app)
    assert (
        refused.put("/api/label/harbor_s01e02", content='{"start": 1, "end": 2}').status_code == 403
    )
    assert not fresh.exists()
    # the page's code needs no token; the page itself and the data take it as a query too
    assert bare.get("/static/review.js").status_code == 200
    assert bare.get(f"/?token={TOKEN}").status_code == 200
    assert bare.get(f"/api/episodes?token={TOKEN}").status_code == 200


def test_saves_at_once_lose_none(library, labels):
    client = _client(library, labels)
    episodes = ["harbor_s01e02", "vandal_s01e02", "northwind_s01e02", "quarry_s01e01",
                "quarry_s01e02", "harbor_s01e01", "vandal_s01e01", "northwind_s01e01"]  # fmt: skip
    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda e: _put(client, e, {"start": 1.5, "end": 3}).status_code,
                              episodes))  # fmt: skip
    assert codes == [200] * len(episodes)
    ann = load_annotations(labels)
    assert all(ann.intros[e].interval == (1.5, 3.0) for e in episodes)
    assert "gone_s09e09" in ann.intros


def test_every_type_is_labelled_beside_the_intro_which_stays(client, labels):
    before = load_annotations(labels).intros["harbor_s01e01"]
    r = _put(client, "harbor_s01e01", {"type": "credits", "start": 15.5, "end": 24.0})
    assert r.status_code == 200, r.text
    assert r.json()["label"]["segments"] == {"credits": [15.5, 24.0]}
    none = _put(client, "harbor_s01e01", {"type": "recap", "start": None, "end": None})
    assert none.status_code == 200
    row = json.loads(labels.read_text(encoding="utf-8"))["harbor_s01e01"]
    assert row["credits"] == ["0:00:15.500", "0:00:24"] and row["recap"] is None
    after = load_annotations(labels).intros["harbor_s01e01"]
    assert after.interval == before.interval  # the intro (its slip fixed) as it was
    assert after.segments == {"credits": ((15.5, 24.0),), "recap": ()}
    page = client.get("/api/episode/harbor_s01e01").json()["label"]
    assert page["segments"] == {"credits": [15.5, 24.0], "recap": None}
    # a type no page edits, and a row that does not exist yet: refused, nothing written
    text = labels.read_text(encoding="utf-8")
    r = _put(client, "harbor_s01e01", {"type": "commercial", "start": 1, "end": 2})
    assert r.status_code == 400 and "type must be one of" in r.text
    r = _put(client, "quarry_s01e02", {"type": "credits", "start": 1, "end": 2})
    assert r.status_code == 422 and "label its intro first" in r.text
    assert labels.read_text(encoding="utf-8") == text


def test_labels_file_class_reads_what_the_validator_reads(labels):
    rows = LabelsFile(labels).labels()
    assert rows["harbor_s01e01"].interval == (6.0, 10.0)  # the one-minute slip, fixed
    assert rows["gone_s09e09"].interval == (5.0, 9.0)


# --- ids, the command ----------------------------------------------------------------------


def test_ids_are_keys_when_stems_collide(library, tmp_path):
    src = library[0] / "lib" / library[1]["episodes"]["harbor_s01e01"]["path"]
    for show in ("Show A", "Show B"):
        (tmp_path / "lib" / show).mkdir(parents=True)
        shutil.copy(src, tmp_path / "lib" / show / "pilot.mp4")
    cfg = compose_cfg("review", [f"input={tmp_path / 'lib'}", f"labels={tmp_path / 'l.json'}"])
    client = TestClient(create_app(build(cfg, token=TOKEN)), headers={TOKEN_HEADER: TOKEN})
    rows = client.get("/api/episodes").json()["episodes"]
    assert sorted(r["id"] for r in rows) == ["Show A/pilot", "Show B/pilot"]
    assert rows[0]["reasons"] == ["no predictions folder given"]
    assert client.get("/api/episode/Show%20A/pilot").status_code == 200
    assert client.get("/api/episode/pilot").status_code == 404
    assert _put(client, "Show%20B/pilot", {"start": 6, "end": 9}).status_code == 200
    assert load_annotations(tmp_path / "l.json").intros["Show B/pilot"].interval == (6.0, 9.0)


@pytest.mark.parametrize(
    ("args", "why"),
    [
        (["input=/nonexistent/videos"], "no such file or folder"),
        (["labels={bad}"], "not valid JSON"),
        (["predictions=/nonexistent/pred"], "no such folder (predictions)"),
        (["port=70000"], "port must be 0..65535"),
        (["low_score=abc"], "low_score must be a number"),
    ],
)
def test_bad_input_is_one_error_line(library, tmp_path, capsys, args, why):
    bad = tmp_path / "bad.json"
    bad.write_text("{oops")
    base = [f"input={library[0] / 'lib' / 'videos'}", f"labels={tmp_path / 'l.json'}"]
    args = [a.format(bad=bad) for a in args]
    keys = {a.split("=")[0] for a in args}
    code = run_command(main, *[a for a in base if a.split("=")[0] not in keys], *args)
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and why in err, err


def test_a_taken_port_falls_back_to_a_free_one():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        sock = bind("127.0.0.1", port)
        try:
            assert sock.getsockname()[1] not in (port, 0)
            url = url_of(sock, "tok")
            assert url == f"http://127.0.0.1:{sock.getsockname()[1]}/?token=tok"
        finally:
            sock.close()


def test_ctrl_c_stops_the_server_quietly(library, tmp_path):
    """Ctrl+C, the documented way to stop it, printed ~48 lines of CancelledError and
    KeyboardInterrupt tracebacks: now one line, exit code 0, with a request on the way."""
    import signal
    import subprocess
    import sys
    import urllib.request

    cmd = [sys.executable, "-m", "introdet.review", f"input={library[0] / 'lib' / 'videos'}",
           f"labels={tmp_path / 'l.json'}", "port=0"]  # fmt: skip
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen(cmd, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)  # fmt: skip
    try:
        line = ""
        while not line.startswith("open "):
            line = proc.stdout.readline()
            assert line or proc.poll() is None, proc.stderr.read()
        url = line.split()[1]
        with urllib.request.urlopen(url.replace("/?", "/api/episodes?"), timeout=30) as r:
            assert r.status == 200
        host, port = url.split("/")[2].rsplit(":", 1)
        idle = socket.create_connection((host, int(port)))  # a browser's open connection
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
        idle.close()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert out.strip().splitlines()[-1] == "stopped"
    assert "Traceback" not in err and "CancelledError" not in err, err
