"""The review web app (Starlette): the page, the episodes' data, their videos and frames, and
the one write: an episode's label.

Safety: every route but ``/static`` needs the session's token (``?token=`` or the
``X-Introdet-Token`` header, compared in constant time), so neither another local user nor a
web page the browser has open can read the library or write labels. Episodes are addressed by
the id in the server's own list, never by a path: an id that is not in it gets 404, one that
could name a path outside a folder (``..``, absolute) 400. Bad requests get a JSON
``{"error": ...}`` with a 4xx code and change nothing.
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
from introdet.review.labels import Label, LabelRejected, LabelsFile, Saved
from introdet.review.library import Doubt, Episode, doubt, doubt_order, predicted_intro, timeline

STATIC = Path(__file__).with_name("static")
TOKEN_HEADER = "X-Introdet-Token"
OPEN_PATHS = ("/static/",)  # the page's code and style: no library data in them


@dataclass
class Review:
    """What one server serves: the episodes (by id), the labels file, the session's token."""

    episodes: dict[str, Episode]
    labels: LabelsFile
    token: str
    low_score: float = 0.6  # a predicted intro scored under this is in doubt
    disagree: float = 2.0  # seconds two intros' boundaries may differ and still agree
    title: str = "introdet review"
    failed: list[tuple[str, str]] = field(default_factory=list)  # files that are no episode

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
                await JSONResponse({"error": why}, status_code=403)(scope, receive, send)
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
        if episode not in self.review.episodes:
            raise HTTPException(404, f"no episode {episode!r} in this library")
        return self.review.episodes[episode]

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
        failed = [{"path": p, "reason": why} for p, why in review.failed]
        return JSONResponse({"title": review.title, "labels_file": str(review.labels.path),
                             "episodes": rows, "failed": failed})  # fmt: skip

    def episode(self, request: Request) -> JSONResponse:
        ep = self.episode_of(request)
        label = self.labels().get(ep.id)
        body = _row(ep, self.review.doubt(ep, label), label)
        body.update(timeline=timeline(ep), file=ep.path.name, media=_media(ep))
        return JSONResponse(body)

    def video(self, request: Request) -> Response:
        ep = self.episode_of(request)
        kind = _media(ep).get("mime") or "application/octet-stream"
        return FileResponse(ep.path, media_type=kind)  # Range requests answered with 206

    def frame(self, request: Request) -> Response:
        ep = self.episode_of(request)
        t, size = _number(request, "t", 0.0), _number(request, "size", 360.0)
        try:
            jpeg = frame_jpeg(ep.path, t, int(size))
        except MediaError as e:
            raise HTTPException(422, str(e)) from None
        cache = {"Cache-Control": "private, max-age=3600"}
        return Response(jpeg, media_type="image/jpeg", headers=cache)

    async def save_label(self, request: Request) -> JSONResponse:
        ep = self.episode_of(request)
        interval = _interval(await request.body())
        saved = await run_in_threadpool(self._save, ep, interval)  # probing, file I/O
        row = _row(ep, self.review.doubt(ep, saved.label), saved.label)
        return JSONResponse({**row, "notes": list(saved.notes), "summary": saved.summary})

    def _save(self, ep: Episode, interval: tuple[float, float] | None) -> Saved:
        labels = self.review.labels
        fresh = {"name": ep.path.stem, "url": "", "series": ep.series}
        try:
            return labels.save(ep.id, interval, _media(ep).get("duration"), fresh)
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
    return JSONResponse({"error": exc.detail}, status_code=exc.status_code)


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
        "id": ep.id,
        "key": ep.key,
        "series": ep.series,
        "tier": d.tier,
        "score": d.score,
        "reasons": list(d.reasons),
        "predicted": predicted_intro(ep.record),
        "label": None if label is None else
        {"start": label.start, "end": label.end, "problem": label.problem},
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


def _interval(body: bytes) -> tuple[float, float] | None:
    """``{"start": s, "end": e}`` in seconds, or both null for "no intro"; 400 otherwise."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as e:
        raise HTTPException(400, f"the body is not JSON ({e})") from None
    if not isinstance(data, dict) or set(data) != {"start", "end"}:
        raise HTTPException(
            400, 'expected {"start": seconds, "end": seconds} (null, null: no intro)'
        )
    start, end = data["start"], data["end"]
    if start is None and end is None:
        return None
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
    return times[0], times[1]
