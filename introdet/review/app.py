"""The review web app (Starlette): the page, the episodes' data, their videos and frames, and
the one write: an episode's label.

Safety: every route but ``/static`` needs the session's token (``?token=`` or the
``X-Introdet-Token`` header, compared in constant time), so neither another local user nor a
web page the browser has open can read the library or write labels. Episodes are addressed by
the id in the server's own list, never by a path: an id that is not in it gets 404, one that
could name a path outside a folder (``..``, absolute) 400. Only files that, links
resolved, lie inside the library folder are read (403 otherwise), a video gone meanwhile is
404, and request bodies are read up to ``MAX_BODY`` bytes (413 as soon as more come). Names
that are not UTF-8 or hold control characters are shown, and addressed, escaped (``shown``).
Bad requests get a JSON ``{"error": ...}`` with a 4xx code and change nothing.
"""

from __future__ import annotations

import hmac
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from introdet.errors import AnnotationError, MediaError, UnsafeIdError
from introdet.media.paths import id_path
from introdet.review.frames import Media, frame_jpeg, inspect
from introdet.review.labels import EDITED, Label, LabelRejected, LabelsFile, Saved
from introdet.review.library import (
    OUTSIDE,
    Doubt,
    Episode,
    doubt,
    doubt_order,
    predicted_intro,
    shown,
    timeline,
)

STATIC = Path(__file__).with_name("static")
TOKEN_HEADER = "X-Introdet-Token"
OPEN_PATHS = ("/static/",)  # the page's code and style: no library data in them
MAX_BODY = 64 * 1024  # bytes of a request body read at most (a label is some 30)


class SafeJSONResponse(JSONResponse):
    """JSON whose text is always UTF-8: a lone surrogate left (a file name's byte that was not
    UTF-8) goes out as the JSON escape ``\\udcff`` instead of failing the whole answer."""

    def render(self, content) -> bytes:
        text = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        return text.encode("utf-8", "backslashreplace")


@dataclass
class Review:
    """What one server serves: the episodes (by id), the labels file, the session's token."""

    episodes: dict[str, Episode]
    labels: LabelsFile
    token: str
    root: Path  # the library folder, resolved: no file outside it is served
    low_score: float = 0.6  # a predicted intro scored under this is in doubt
    disagree: float = 2.0  # seconds two intros' boundaries may differ and still agree
    title: str = "introdet review"
    failed: list[tuple[str, str]] = field(default_factory=list)  # files that are no episode
    ids: dict[str, str] = field(init=False)  # the id the page shows and sends -> the real one

    def __post_init__(self) -> None:
        self.ids = {}
        for i in list(self.episodes):
            if shown(i) in self.ids:  # "\\xff" the name, and the byte 0xff: never both
                ep = self.episodes.pop(i)
                self.failed.append((str(ep.path), f"episode id {shown(i)!r} already shown"))
            else:
                self.ids[shown(i)] = i

    def doubts(self, labels: dict[str, Label]) -> dict[str, Doubt]:
        return {i: self.doubt(ep, labels.get(i)) for i, ep in self.episodes.items()}

    def doubt(self, ep: Episode, label: Label | None) -> Doubt:
        return doubt(ep, label, self.low_score, self.disagree)


class TokenGuard:
    """ASGI middleware: 403 for any request without the session's token (pages, data, writes)."""

    def __init__(self, app, token: str) -> None:
        self.app, self.token = app, token.encode()

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http" and not scope["path"].startswith(OPEN_PATHS):
            request = Request(scope)
            given = request.headers.get(TOKEN_HEADER) or request.query_params.get("token") or ""
            if not hmac.compare_digest(given.encode("utf-8", "backslashreplace"), self.token):
                why = "missing or wrong token: open the address the review command printed"
                await SafeJSONResponse({"error": why}, status_code=403)(scope, receive, send)
                return
        await self.app(scope, receive, send)


class Handlers:
    """The routes' endpoints, over one ``Review``."""

    def __init__(self, review: Review) -> None:
        self.review = review

    def episode_of(self, request: Request) -> Episode:
        """The episode a request names by id; 400 for a path trick, 404 for an unknown id."""
        episode = request.path_params["episode"]
        try:
            id_path(episode)  # "..", absolute, NUL: a path trick, not an id
        except UnsafeIdError as e:
            raise HTTPException(400, str(e)) from None
        if episode not in self.review.ids:
            raise HTTPException(404, f"no episode {episode!r} in this library")
        return self.review.episodes[self.review.ids[episode]]

    def file_of(self, ep: Episode) -> Path:
        """The episode's video, links resolved: 404 when it is gone, 403 when it leads out of
        the library folder (a link changed while the app runs)."""
        try:
            path = ep.path.resolve(strict=True)
        except (OSError, RuntimeError):  # gone, or a link loop
            path = None
        if path is None or not path.is_file():
            raise HTTPException(404, f"{shown(str(ep.path))}: the video is no longer there")
        if not path.is_relative_to(self.review.root):
            raise HTTPException(403, f"{shown(str(ep.path))}: {OUTSIDE}")
        return path

    def labels(self) -> dict[str, Label]:
        try:
            return self.review.labels.labels()
        except AnnotationError as e:  # edited by hand meanwhile into something unreadable
            raise HTTPException(409, str(e)) from None

    def page(self, request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})

    def episodes(self, request: Request) -> JSONResponse:
        review, labels = self.review, self.labels()
        doubts = review.doubts(labels)
        rows = [_row(review.episodes[i], doubts[i], labels.get(i)) for i in doubt_order(doubts)]
        failed = [{"path": shown(p), "reason": shown(why)} for p, why in review.failed]
        return SafeJSONResponse({"title": shown(review.title), "episodes": rows,
                                 "labels_file": shown(str(review.labels.path)),
                                 "failed": failed})  # fmt: skip

    def episode(self, request: Request) -> JSONResponse:
        ep = self.episode_of(request)
        self.file_of(ep)
        label = self.labels().get(ep.id)
        body = _row(ep, self.review.doubt(ep, label), label)
        body.update(timeline=timeline(ep), file=shown(ep.path.name), media=_media(ep))
        return SafeJSONResponse(body)

    def video(self, request: Request) -> Response:
        ep = self.episode_of(request)
        path = self.file_of(ep)  # served by its resolved path: checked is what is read
        kind = _media(ep).get("mime") or "application/octet-stream"
        return FileResponse(path, media_type=kind)  # Range requests answered with 206

    def frame(self, request: Request) -> Response:
        ep = self.episode_of(request)
        path = self.file_of(ep)
        t, size = _number(request, "t", 0.0), _number(request, "size", 360.0)
        try:
            jpeg = frame_jpeg(path, t, int(size))
        except MediaError as e:
            raise HTTPException(422, str(e)) from None
        cache = {"Cache-Control": "private, max-age=3600"}
        return Response(jpeg, media_type="image/jpeg", headers=cache)

    async def save_label(self, request: Request) -> JSONResponse:
        ep = self.episode_of(request)
        self.file_of(ep)  # its duration is probed: never from a file outside the library
        kind, interval = _interval(await _body(request))
        saved = await run_in_threadpool(self._save, ep, interval, kind)  # probing, file I/O
        row = _row(ep, self.review.doubt(ep, saved.label), saved.label)
        return SafeJSONResponse({**row, "notes": list(saved.notes), "summary": saved.summary})

    def _save(self, ep: Episode, interval: tuple[float, float] | None, kind: str) -> Saved:
        labels = self.review.labels
        fresh = {"name": ep.path.stem, "url": "", "series": ep.series}
        try:
            return labels.save(ep.id, interval, _media(ep).get("duration"), fresh, kind)
        except LabelRejected as e:
            raise HTTPException(422, str(e)) from None
        except AnnotationError as e:  # the file on disk became unreadable meanwhile
            raise HTTPException(409, str(e)) from None
        except OSError as e:
            raise HTTPException(500, f"cannot write {labels.path} ({e.strerror or e})") from e


def create_app(review: Review) -> Starlette:
    h = Handlers(review)
    routes = [
        Route("/", h.page),
        Route("/api/episodes", h.episodes),
        Route("/api/episode/{episode:path}", h.episode),
        Route("/api/label/{episode:path}", h.save_label, methods=["PUT", "POST"]),
        Route("/video/{episode:path}", h.video),
        Route("/frame/{episode:path}", h.frame),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: _json_error})
    app.add_middleware(TokenGuard, token=review.token)
    return app


async def _json_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    return SafeJSONResponse({"error": exc.detail}, status_code=exc.status_code)


async def _body(request: Request, limit: int = MAX_BODY) -> bytes:
    """The request's body, read as it comes up to ``limit`` bytes: 413 as soon as it is
    longer (its Content-Length says so, or its chunks pass the limit), the rest unread."""
    length = request.headers.get("content-length")
    too_big = f"request body too large: more than {limit} bytes"
    if length is not None:
        if not length.strip().isdigit():
            raise HTTPException(400, f"bad Content-Length {length[:40]!r}")
        if int(length) > limit:
            raise HTTPException(413, f"request body too large: {int(length)} bytes "
                                f"(at most {limit})")  # fmt: skip
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(413, too_big)
        chunks.append(chunk)
    return b"".join(chunks)


def _media(ep: Episode) -> dict:
    """What the page needs to know of the file; a video that cannot be probed says why."""
    try:
        m: Media = inspect(ep.path)
    except MediaError as e:
        return {"playable": False, "why": str(e), "duration": None, "fps": None, "strip_step": 0}
    return {"playable": m.playable, "why": m.why, "mime": m.mime, "duration": m.duration,
            "fps": m.fps, "strip_step": m.strip_step}  # fmt: skip


def _row(ep: Episode, d: Doubt, label: Label | None) -> dict:
    return {
        "id": shown(ep.id),  # what the page sends back: ``Handlers.episode_of`` maps it
        "key": shown(ep.key),
        "series": shown(ep.series),
        "tier": d.tier,
        "score": d.score,
        "reasons": list(d.reasons),
        "predicted": predicted_intro(ep.record),
        "label": None if label is None else
        {"start": label.start, "end": label.end, "problem": label.problem,
         "segments": label.segments},
    }  # fmt: skip


def _number(request: Request, name: str, default: float) -> float:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise HTTPException(400, f"{name} must be a number, got {raw!r}") from None
    if not math.isfinite(value) or value < 0:
        raise HTTPException(400, f"{name} must be a finite number >= 0, got {raw!r}")
    return value


def _interval(body: bytes) -> tuple[str, tuple[float, float] | None]:
    """The type and its ``{"start": s, "end": e}`` in seconds, or both null for none
    (``"type"``: one of ``EDITED``, the intro if not given); 400 otherwise."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as e:
        raise HTTPException(400, f"the body is not JSON ({e})") from None
    if not isinstance(data, dict) or set(data) - {"type"} != {"start", "end"}:
        raise HTTPException(400, 'expected {"start": seconds, "end": seconds} (null, null: '
                            'none), and "type" for another segment than the intro')  # fmt: skip
    kind = data.get("type", "intro")
    if kind not in EDITED:
        raise HTTPException(400, f"type must be one of {', '.join(EDITED)}, got {kind!r}")
    start, end = data["start"], data["end"]
    if start is None and end is None:
        return kind, None
    times = []
    for name, value in (("start", start), ("end", end)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise HTTPException(400, f"{name} must be a number of seconds, got {value!r}")
        try:
            t = float(value)  # an int of 400 digits does not fit
        except OverflowError:
            t = math.inf
        if not math.isfinite(t) or t < 0:
            raise HTTPException(400, f"{name} must be a finite number >= 0, got {str(value)[:40]}")
        times.append(t)
    if times[1] <= times[0]:
        raise HTTPException(400, f"end {end} is not after start {start}")
    return kind, (times[0], times[1])
