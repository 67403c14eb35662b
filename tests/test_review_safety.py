"""The review app's edges (issue #27): links out of the library, request bodies too big to
read, files that vanish or whose names are not UTF-8 or hold a newline, a labels file that is
a symbolic link."""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest
import uvicorn
from starlette.testclient import TestClient

from introdet.media.labels import load_annotations
from introdet.review.__main__ import bind, build
from introdet.review.app import TOKEN_HEADER, create_app
from tests.conftest import compose_cfg
from tests.test_review import review_library

TOKEN = "safety-token-1"
SECRET = "root:x:0:0:the secret line\n"


@pytest.fixture(scope="module")
def video(tmp_path_factory) -> Path:
    out, truth = review_library(tmp_path_factory)
    return out / "lib" / truth["episodes"]["harbor_s01e01"]["path"]  # H.264 MP4


def _app(lib: Path, labels: Path):
    cfg = compose_cfg("review", [f"input={lib}", f"labels={labels}"])
    return create_app(build(cfg, token=TOKEN))


def _client(lib: Path, labels: Path) -> TestClient:
    return TestClient(_app(lib, labels), headers={TOKEN_HEADER: TOKEN})


def _library(tmp_path: Path, video: Path, *names: str | bytes) -> Path:
    lib = tmp_path / "lib"
    lib.mkdir()
    for name in names:
        shutil.copy(video, os.path.join(os.fsencode(lib), os.fsencode(name)))
    return lib


# --- links out of the library ---------------------------------------------------------------


def test_a_link_out_of_the_library_is_never_served(tmp_path, video):
    secret = tmp_path / "passwd"
    secret.write_text(SECRET)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    shutil.copy(video, outside / "film.mp4")
    lib = _library(tmp_path, video, "ok.mp4")
    (lib / "E9.mkv").symlink_to(secret)
    (lib / "E8.mp4").symlink_to(outside / "film.mp4")
    client = _client(lib, tmp_path / "l.json")
    body = client.get("/api/episodes").json()
    assert [r["id"] for r in body["episodes"]] == ["ok"]
    assert {Path(f["path"]).name for f in body["failed"]} == {"E9.mkv", "E8.mp4"}
    assert all("outside the library" in f["reason"] for f in body["failed"])
    for route in ("/video/E9", "/frame/E9", "/api/episode/E9", "/video/E8"):
        r = client.get(route)
        assert r.status_code in (403, 404), route
        assert "secret" not in r.text and "error" in r.json()


def test_a_link_made_while_the_app_runs_is_refused(tmp_path, video):
    secret = tmp_path / "passwd"
    secret.write_text(SECRET)
    lib = _library(tmp_path, video, "ok.mp4")
    client = _client(lib, tmp_path / "l.json")
    (lib / "ok.mp4").unlink()
    (lib / "ok.mp4").symlink_to(secret)
    for route in ("/video/ok", "/frame/ok?t=1"):
        r = client.get(route)
        assert r.status_code == 403, route
        assert "secret" not in r.text
        assert "outside the library" in r.json()["error"]


# --- vanished files, names that are not UTF-8 or hold a newline -----------------------------


def test_a_video_deleted_meanwhile_is_404(tmp_path, video):
    lib = _library(tmp_path, video, "ok.mp4")
    client = _client(lib, tmp_path / "l.json")
    (lib / "ok.mp4").unlink()
    for route in ("/video/ok", "/frame/ok?t=1", "/api/episode/ok"):
        r = client.get(route)
        assert r.status_code == 404, route
        assert "no longer there" in r.json()["error"]
    assert client.get("/api/episodes").status_code == 200


@pytest.mark.parametrize(
    ("name", "shown"), [(b"\xff\xfe.mp4", "\\xff\\xfe"), ("a\nb.mp4", "a\\nb")]
)
def test_odd_file_names_are_listed_escaped_and_every_route_works(tmp_path, video, name, shown):
    lib = _library(tmp_path, video, name, "ok.mp4")
    client = _client(lib, tmp_path / "l.json")
    r = client.get("/api/episodes")
    assert r.status_code == 200
    assert sorted(row["id"] for row in r.json()["episodes"]) == sorted([shown, "ok"])
    quoted = shown.replace("\\", "%5C")
    ep = client.get(f"/api/episode/{quoted}")
    assert ep.status_code == 200 and ep.json()["id"] == shown
    assert ep.json()["media"]["playable"] is True
    assert client.get(f"/video/{quoted}").content == video.read_bytes()
    assert client.get(f"/frame/{quoted}?t=1").headers["content-type"] == "image/jpeg"
    # the validator (train.py's) refuses such an id in a labels file: said, nothing written
    put = client.put(f"/api/label/{quoted}", content=json.dumps({"start": 6, "end": 9}))
    assert put.status_code == 422 and "control characters" in put.json()["error"]
    assert not (tmp_path / "l.json").exists()
    assert client.put("/api/label/ok", content='{"start": 6, "end": 9}').status_code == 200


# --- the labels file as a link ----------------------------------------------------------------


def test_a_labels_link_is_written_through(tmp_path, video):
    lib = _library(tmp_path, video, "ok.mp4")
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "labels.json"
    target.write_text('{"other": {"start": null, "end": null}}\n')
    link = tmp_path / "labels.json"
    link.symlink_to(target)
    client = _client(lib, link)
    assert client.put("/api/label/ok", content='{"start": 6, "end": 9}').status_code == 200
    assert link.is_symlink() and link.resolve() == target
    assert load_annotations(target).intros["ok"].interval == (6.0, 9.0)
    assert [p.name for p in (tmp_path / "real").iterdir()] == ["labels.json"]  # no temp left


# --- request bodies: a size limit, checked before reading ------------------------------------


def test_a_big_body_is_413_and_nothing_is_written(tmp_path, video):
    lib = _library(tmp_path, video, "ok.mp4")
    client = _client(lib, tmp_path / "l.json")
    body = '{"start": 6, "end": 9' + " " * 100_000 + "}"
    r = client.put("/api/label/ok", content=body)
    assert r.status_code == 413 and "too large" in r.json()["error"]

    def chunks():
        yield b'{"start": 6, "end": 9'
        for _ in range(40):
            yield b" " * 4096
        yield b"}"

    r = client.put("/api/label/ok", content=chunks())  # no Content-Length: chunked
    assert r.status_code == 413
    assert not (tmp_path / "l.json").exists()


@pytest.fixture
def server(tmp_path, video):
    """The app on uvicorn in a thread: (host, port)."""
    lib = _library(tmp_path, video, "ok.mp4")
    sock = bind("127.0.0.1", 0)
    config = uvicorn.Config(_app(lib, tmp_path / "l.json"), log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not srv.started:
        time.sleep(0.01)
    yield sock.getsockname()[:2]
    srv.should_exit = True
    thread.join(10)


def _ask(address, head: str, body: bytes = b"") -> str:
    """Send a request's head (and the start of its body), never the rest: what comes back."""
    with socket.create_connection(address, timeout=10) as s:
        s.sendall(head.encode() + b"\r\n" + body)
        try:
            return s.recv(65536).decode("latin-1")
        except TimeoutError:
            return "no answer"


@pytest.mark.parametrize(
    ("length", "body"),
    [
        ("Content-Length: 200000000", b'{"start": 6'),  # 200 MB announced, 11 bytes sent
        ("Transfer-Encoding: chunked", b"10000\r\n" + b" " * 0x10000 + b"\r\n"
         + b"10000\r\n" + b" " * 0x10000 + b"\r\n"),  # 128 KB of chunks, no last chunk
    ],
)  # fmt: skip
def test_the_limit_answers_413_before_the_body_is_all_sent(server, length, body):
    head = (f"PUT /api/label/ok HTTP/1.1\r\nHost: x\r\n{TOKEN_HEADER}: {TOKEN}\r\n"
            f"Content-Type: application/json\r\n{length}\r\n")  # fmt: skip
    answer = _ask(server, head, body)
    assert answer.startswith("HTTP/1.1 413"), answer[:200]
