"""Kind 13, the review app on a shared machine (issue #27, items 3, 5, 9, 17): the real
``python -m introdet.review`` started on a library (its printed address and token used as a
browser would), then asked over HTTP for links out of the library (``E9.mkv -> /etc/passwd``,
to a secret file, to a video elsewhere, a folder linked out, a link made while it runs, ids that
climb out), sent request bodies of 200 MB (declared, chunked, lying, without a token), asked for
videos deleted or replaced while it runs and for names that are not UTF-8 or hold a newline, a
carriage return or URL characters, and made to save labels through a ``labels=`` link.

Handled means: no byte of a file outside the library is ever served (403 or 404, or 400 for an
id that climbs out; a JSON error), a link inside the library is served; a body over the limit is
answered (413 or 400; a route that reads no body may answer anything) before it is all sent,
with the server's resident memory grown by less than 64 MiB and the labels file unchanged; a
vanished video is 404, never 500, ``/api/episodes`` stays 200 and lists the other episodes, and
each odd name is listed and its video reachable by the id the page gets; a label saved through a
link lands in the link's target and the link stays a link. The server answers throughout and
stops on Ctrl+C without a traceback.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import select
import shutil
import signal
import socket
import time
from functools import partial
from pathlib import Path
from urllib.parse import quote

from benchmarks.hostile.assets import Assets
from benchmarks.hostile.case import Case, Ctx
from benchmarks.hostile.outcome import PY, Check, Started, Verdict, verdict
from benchmarks.hostile.round3 import demo

TOKEN_HEADER = "X-Introdet-Token"
SECRET = b"root:x:0:0:HOSTILE-27-SECRET the line nobody may read\n"
MB = 1 << 20


class Server:
    """``python -m introdet.review`` in the background, and requests to it."""

    def __init__(self, ctx: Ctx, ck: Check, lib: Path, labels: Path) -> None:
        cmd = [PY, "-m", "introdet.review", f"input={lib}", f"labels={labels}", "port=0"]
        self.ck, self.job = ck, Started(cmd, ctx.dir / "review.log")
        self.host = self.port = self.token = None
        out = ctx.dir / "review.out"
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and self.job.alive():
            m = re.search(r"open http://([\d.]+):(\d+)/\?token=(\S+)", out.read_text())
            if m:
                self.host, self.port, self.token = m[1], int(m[2]), m[3]
                break
            time.sleep(0.2)

    @property
    def up(self) -> bool:
        return self.token is not None

    def ask(self, path: str, method: str = "GET", body: bytes | None = None,
            headers: dict | None = None, token: bool = True) -> tuple[int, bytes]:  # fmt: skip
        h = {TOKEN_HEADER: self.token} if token else {}
        conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        try:
            conn.request(method, path, body=body, headers={**h, **(headers or {})})
            resp = conn.getresponse()
            return resp.status, resp.read()
        except (OSError, http.client.HTTPException) as e:
            return -1, f"{type(e).__name__}: {e}".encode()
        finally:
            conn.close()

    def episodes(self) -> tuple[int, dict]:
        status, body = self.ask("/api/episodes")
        try:
            return status, json.loads(body)
        except ValueError:
            return status, {}

    def rss(self) -> int:
        try:
            for line in Path(f"/proc/{self.job.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        except OSError:
            pass
        return 0

    def stop(self):
        if self.job.alive():
            self.job.proc.send_signal(signal.SIGINT)
        r = self.job.finish(30)
        self.ck.add(r)
        if r.timed_out or r.traceback():
            return r
        if not self.up:
            self.ck.fail(f"the server printed no address (exit {r.rc}): {r.tail(300)!r}")
        return r


def _start(ctx: Ctx, ck: Check, layout: dict[str, str]) -> tuple[Server, Path, Path]:
    lib = ctx.dir / "lib"
    for rel, src in layout.items():
        p = Path(os.fsdecode(os.path.join(os.fsencode(lib), os.fsencode(rel))))
        p.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(demo(ctx.assets, src), p)
    labels = ctx.dir / "labels.json"
    return Server(ctx, ck, lib, labels), lib, labels


def _refused(ck: Check, what: str, status: int, body: bytes, never: list[bytes],
             codes=(403, 404)) -> None:  # fmt: skip
    if any(n and n in body for n in never):
        ck.unsafe.append(f"{what}: answered {status} with bytes of a file outside the library")
    elif status not in codes:
        ck.fail(f"{what}: {status}, want one of {list(codes)}: {body[:100]!r}")
    elif b'"error"' not in body:
        ck.fail(f"{what}: {status} without a JSON error: {body[:80]!r}")


LAYOUT = {"Show/Season 1/ok.mp4": "h1", "Show/Season 1/ok2.mp4": "h2"}


def outside(ctx: Ctx, how: str) -> Verdict:
    """Links out of the library (item 3): never served."""
    ck = Check()
    secret = ctx.dir / "secret.txt"
    secret.write_bytes(SECRET)
    film = ctx.dir / "elsewhere" / "film.mkv"
    film.parent.mkdir()
    shutil.copyfile(demo(ctx.assets, "v1"), film)
    (ctx.dir / "elsewhere" / "secret.mkv").write_bytes(SECRET)
    lib = ctx.dir / "lib"
    season = lib / "Show" / "Season 1"
    season.mkdir(parents=True)
    for rel, src in LAYOUT.items():
        shutil.copyfile(demo(ctx.assets, src), lib / rel)
    ids, never = ["E9"], [SECRET[:20], film.read_bytes()[:4096]]
    if how == "passwd":
        (season / "E9.mkv").symlink_to("/etc/passwd")
        never.append(Path("/etc/passwd").read_bytes()[:40])
    elif how == "secret_relative":
        (season / "E9.mkv").symlink_to("../../../secret.txt")
    elif how == "video_absolute":
        (season / "E9.mkv").symlink_to(film)
    elif how == "video_relative":
        (season / "E9.mkv").symlink_to("../../../elsewhere/film.mkv")
    elif how == "folder_out":
        (lib / "Show" / "Extras").symlink_to(film.parent)
        ids = ["film", "secret"]
    elif how == "link_chain":
        (ctx.dir / "hop.mkv").symlink_to(secret)
        (season / "E9.mkv").symlink_to(ctx.dir / "hop.mkv")
    labels = ctx.dir / "labels.json"
    srv = Server(ctx, ck, lib, labels)
    if srv.up:
        if how == "swapped_after_start":  # ok.mp4 becomes a link once the list is made
            (season / "ok.mp4").unlink()
            (season / "ok.mp4").symlink_to(secret)
            ids = ["ok"]
        status, body = srv.episodes()
        ck.ok(status == 200, f"/api/episodes {status}")
        listed = [e.get("id") for e in body.get("episodes", [])]
        for ep in ids:
            q = quote(ep, safe="")
            for route in (f"/video/{q}", f"/frame/{q}?t=1", f"/api/episode/{q}"):
                _refused(ck, route, *srv.ask(route), never)
            s, b = srv.ask(f"/video/{q}", headers={"Range": "bytes=0-99"})
            _refused(ck, f"/video/{q} (Range)", s, b, never)
            s, b = srv.ask(f"/api/label/{q}", "PUT", b'{"start": 1, "end": 4}')
            _refused(ck, f"PUT /api/label/{q}", s, b, never, (403, 404))
        ck.ok("ok2" in listed, f"/api/episodes lists {listed}, not the library's ok2")
        if how == "traversal_ids":
            for route in ("/video/..%2F..%2F..%2Fsecret.txt", "/video/%2Fetc%2Fpasswd",
                          "/frame/..%2F..%2Felsewhere%2Ffilm.mkv", "/api/episode/ok%00",
                          "/video/Show%2F..%2F..%2F..%2Fsecret.txt"):  # fmt: skip
                _refused(ck, route, *srv.ask(route), never, (400, 403, 404))
        ck.ok(not labels.exists() or b"E9" not in labels.read_bytes(), "a label was saved for E9")
    r = srv.stop()
    return verdict(ck, r)


def inside_link(ctx: Ctx) -> Verdict:
    """A link to a video inside the library is an episode like the others (served)."""
    ck = Check()
    season = ctx.dir / "lib" / "Show" / "Season 1"
    season.mkdir(parents=True)
    shutil.copyfile(demo(ctx.assets, "h1"), season / "ok.mp4")
    (season / "again.mp4").symlink_to("ok.mp4")
    srv = Server(ctx, ck, ctx.dir / "lib", ctx.dir / "labels.json")
    if srv.up:
        s, body = srv.ask("/video/again")
        ck.ok(s in (200, 206) and body == (season / "ok.mp4").read_bytes(),
              f"/video/again (a link inside the library): {s}, {len(body)} bytes")  # fmt: skip
    return verdict(ck, srv.stop())


# --- item 5: request bodies of 200 MB -------------------------------------------------------


def big_body(ctx: Ctx, how: str) -> Verdict:
    ck = Check()
    srv, lib, labels = _start(ctx, ck, LAYOUT)
    if srv.up:
        total = 200 * MB
        path = {"unknown_id": "/api/label/nope", "get_with_body": "/api/episodes"}.get(
            how, "/api/label/ok"
        )
        method = {"post": "POST", "get_with_body": "GET"}.get(how, "PUT")
        head = [f"{method} {path} HTTP/1.1", f"Host: {srv.host}:{srv.port}",
                "Content-Type: application/json"]  # fmt: skip
        if how != "no_token":
            head.append(f"{TOKEN_HEADER}: {srv.token}")
        if how == "chunked":
            head.append("Transfer-Encoding: chunked")
        else:
            head.append(f"Content-Length: {100 if how == 'lying_length' else total}")
        rss0 = srv.rss()
        status, sent, peak = _send(srv, "\r\n".join(head).encode() + b"\r\n\r\n", total,
                                   how == "chunked")  # fmt: skip
        grown = max(0, peak - rss0)
        want = {"get_with_body": None}.get(how, (400, 403, 404, 413))
        if status is None:
            ck.fail(f"no answer after sending {sent / MB:.0f} MB of a 200 MB body")
        else:
            ck.ok(sent < total, f"answered only once the whole body was sent ({sent / MB:.0f} MB)")
            ck.ok(want is None or status in want, f"answered {status}, want one of {want}")
        ck.ok(grown < 64 * MB, f"the server's resident memory grew by {grown / MB:.0f} MiB")
        ck.note(f"answered {status} after {sent / MB:.1f} MB; memory +{grown / MB:.0f} MiB")
        s, _ = srv.episodes()
        ck.ok(s == 200, f"/api/episodes afterwards: {s}")
        ck.ok(not labels.exists(), "the labels file was written")
    return verdict(ck, srv.stop())


def _send(srv: Server, head: bytes, total: int, chunked: bool) -> tuple[int | None, int, int]:
    """Send ``head`` and a body of ``total`` bytes while no answer comes; (status, body bytes
    sent, the server's peak resident memory)."""
    sock = socket.create_connection((srv.host, srv.port), timeout=10)
    sock.setblocking(False)
    block = b"x" * (64 * 1024)
    piece = (b"%x\r\n" % len(block)) + block + b"\r\n" if chunked else block
    pending, sent, peak, reply = head, 0, srv.rss(), b""
    deadline = time.monotonic() + 90
    try:
        while time.monotonic() < deadline:
            r, w, _ = select.select([sock], [sock] if sent < total or pending else [], [], 0.5)
            if r:
                try:
                    data = sock.recv(65536)
                except OSError:
                    data = b""
                reply += data
                if not data or b"\r\n" in reply:
                    break
            if w:
                if not pending:
                    if sent >= total:
                        pending = b"0\r\n\r\n" if chunked else b""
                        if not pending:
                            continue
                    else:
                        pending, sent = piece, sent + len(block)
                try:
                    n = sock.send(pending)
                    pending = pending[n:]
                except BlockingIOError:
                    pass
                except OSError:  # the server closed its end: its answer may be waiting
                    w = []
                    r2, _, _ = select.select([sock], [], [], 5)
                    if r2:
                        with contextlib.suppress(OSError):
                            reply += sock.recv(65536)
                    break
            peak = max(peak, srv.rss())
    finally:
        sock.close()
    m = re.match(rb"HTTP/1\.[01] (\d{3})", reply)
    return (int(m[1]) if m else None), sent, peak


# --- item 9: videos that vanish, names that are odd ------------------------------------------


def vanished(ctx: Ctx, how: str) -> Verdict:
    ck = Check()
    srv, lib, _ = _start(ctx, ck, {**LAYOUT, "Other/Season 1/x.mp4": "h2"})
    if srv.up:
        season = lib / "Show" / "Season 1"
        gone = ["ok"]
        if how == "deleted":
            (season / "ok.mp4").unlink()
        elif how == "folder_deleted":
            shutil.rmtree(lib / "Show")
            gone = ["ok", "ok2"]
        elif how == "replaced_by_folder":
            (season / "ok.mp4").unlink()
            (season / "ok.mp4").mkdir()
        elif how == "dangling_link":
            (season / "ok.mp4").unlink()
            (season / "ok.mp4").symlink_to("/nonexistent/ok.mp4")
        for ep in gone:
            for route in (f"/video/{ep}", f"/frame/{ep}?t=1", f"/api/episode/{ep}"):
                s, body = srv.ask(route)
                ck.ok(s == 404, f"{route} of a vanished video: {s} (want 404) {body[:80]!r}")
        status, body = srv.episodes()
        ck.ok(status == 200, f"/api/episodes after the video vanished: {status}")
        listed = [e.get("id") for e in body.get("episodes", [])]
        ck.ok("x" in listed, f"/api/episodes no longer lists the others: {listed}")
        s, _ = srv.ask("/video/x")
        ck.ok(s in (200, 206), f"/video/x of a video still there: {s}")
    return verdict(ck, srv.stop())


def odd_names(ctx: Ctx, names: list[str | bytes]) -> Verdict:
    ck = Check()
    layout = {"plain/ok.mp4": "h1"}
    for i, n in enumerate(names):
        layout[os.fsdecode(n)] = "h2" if i % 2 else "v1"
    srv, lib, _ = _start(ctx, ck, layout)
    if srv.up:
        status, body = srv.episodes()
        ck.ok(status == 200, f"/api/episodes {status}: {str(body)[:100]}")
        rows = {e.get("id"): e for e in body.get("episodes", [])}
        ck.ok("ok" in rows, f"the plain episode is not listed: {list(rows)[:5]}")
        for n in names:
            path = lib / os.fsdecode(n)
            stem = Path(os.fsdecode(n)).stem
            cands = [i for i in rows if i and (i == stem or _loose(i) == _loose(stem))]
            if not cands:
                ck.fail(f"{os.fsdecode(n)!r} is not listed: {list(rows)[:6]}")
                continue
            q = quote(cands[0], safe="")
            s, video = srv.ask(f"/video/{q}")
            ck.ok(
                s in (200, 206) and video == path.read_bytes(),
                f"/video/ of {cands[0]!r}: {s}, {len(video)} bytes of {path.stat().st_size}",
            )
            s, _ = srv.ask(f"/api/episode/{q}")
            ck.ok(s == 200, f"/api/episode/ of {cands[0]!r}: {s}")
    return verdict(ck, srv.stop())


def _loose(text: str) -> str:
    """A name with its odd characters and their escapes taken out (how the list shows it is
    the app's choice)."""
    return re.sub(r"\\x[0-9a-f]{2}|\\u[0-9a-f]{4}|\\[nrt]|[^\w.#?%+ -]", "", text)


# --- item 17: labels= a link -----------------------------------------------------------------


def labels_link(ctx: Ctx, how: str) -> Verdict:
    ck = Check()
    real = ctx.dir / "real"
    real.mkdir()
    target = real / "labels_target.json"
    if how != "dangling":
        target.write_text('{"gone_s09e09": {"name": "Gone", "url": "", "start": "0:00:05", '
                          '"end": "0:00:09"}}\n')  # fmt: skip
    lib = ctx.dir / "lib"
    link = ctx.dir / "labels.json"
    if how == "relative":
        link.symlink_to("real/labels_target.json")
    elif how == "chain":
        (ctx.dir / "hop.json").symlink_to(target)
        link.symlink_to("hop.json")
    else:
        link.symlink_to(target)
    for rel, src in LAYOUT.items():
        (lib / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(demo(ctx.assets, src), lib / rel)
    hop_before = os.readlink(ctx.dir / "hop.json") if how == "chain" else None
    srv = Server(ctx, ck, lib, link)
    if srv.up:
        s, body = srv.ask("/api/label/ok", "PUT", b'{"start": 2.0, "end": 6.5}',
                          {"Content-Type": "application/json"})  # fmt: skip
        ck.ok(s == 200, f"saving a label: {s} {body[:120]!r}")
        ck.ok(link.is_symlink(), "labels= is no longer a link")
        if how == "chain":
            ck.ok(os.readlink(ctx.dir / "hop.json") == hop_before, "the link's hop changed")
        try:
            saved = json.loads(target.read_text())
        except (OSError, ValueError) as e:
            saved = {}
            ck.fail(f"the link's target does not read: {e}")
        ck.ok("ok" in saved, f"the label is not in the link's target: {list(saved)[:4]}")
        if how != "dangling":
            ck.ok("gone_s09e09" in saved, "the target's other row was lost")
        strays = [p.name for p in ctx.dir.iterdir() if p.name.startswith(("labels", ".labels"))
                  and p != link]  # fmt: skip
        ck.ok(not strays, f"files beside the link: {strays}")
    return verdict(ck, srv.stop())


def cases(assets: Assets) -> list[Case]:
    out: list[Case] = []

    def add(name: str, fn, cost: float = 8) -> None:
        out.append(Case("review", name, lambda ctx, fn=fn: fn(ctx), cost=cost))

    for how in ("passwd", "secret_relative", "video_absolute", "folder_out", "link_chain",
                "swapped_after_start", "traversal_ids"):  # fmt: skip
        add(f"outside_{how}", partial(outside, how=how))
    add("inside_link_served", inside_link)
    for how in ("put", "chunked", "no_token", "get_with_body", "lying_length"):
        add(f"body_200mb_{how}", partial(big_body, how=how), cost=12)
    for how in ("deleted", "folder_deleted", "replaced_by_folder"):
        add(f"vanished_{how}", partial(vanished, how=how))
    for name, names in {
        "non_utf8": [b"Show/caf\xe9 - S01E01.mp4"],
        "newline": ["Show/E1\nrow.mp4"],
        "carriage_return_tab": ["Show/E2\rx.mp4", "Show/E3\tx.mp4"],
        "url_characters": ["Show/E#1.mp4", "Show/E?2.mp4", "Show/100%.mp4", "Show/a+b c.mp4"],
        "newline_folder_non_utf8": [b"Se\nason \xff/E4.mp4"],
    }.items():  # fmt: skip
        add(f"name_{name}", partial(odd_names, names=names))
    for how in ("absolute", "chain", "dangling"):
        add(f"labels_link_{how}", partial(labels_link, how=how))
    return out
