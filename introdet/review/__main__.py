"""Review predicted intros and label episodes in the browser: ``python -m introdet.review
input=LIBRARY [predictions=DIR] [labels=FILE] [port=0] [host=127.0.0.1] [open=false]``.

Serves a local page (Starlette on uvicorn) and prints its address with a fresh token; runs
until stopped with Ctrl+C (it says ``stopped`` and exits 0). Labels are written to ``labels=``
after each change.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import secrets
import socket
import webbrowser
from pathlib import Path

import uvicorn
from omegaconf import DictConfig

from introdet.checks import Allowed, check_values, number, whole
from introdet.cli import command
from introdet.errors import ConfigError
from introdet.review.app import Review, create_app
from introdet.review.labels import LabelsFile
from introdet.review.library import library_root, load_episodes

log = logging.getLogger("introdet.review")  # not "__main__" under python -m

PORT = Allowed(whole(0, 65535).test, "0..65535")
REVIEW_RULES = {"low_score": number(), "disagree": number()}


def build(cfg: DictConfig, token: str | None = None) -> Review:
    """The episodes, their records and the labels file the config names (checked here, so
    that a bad input stops the command with one line before anything is served)."""
    check_values("", cfg, REVIEW_RULES)
    episodes, failed = load_episodes(cfg.input, cfg.predictions)
    if not episodes:
        raise ConfigError(f"input={cfg.input}: no video to review there")
    for path, why in failed:
        log.warning("%s: left out (%s)", path, why)
    return Review(
        episodes={ep.id: ep for ep in episodes},
        labels=LabelsFile(cfg.labels),
        token=token or secrets.token_urlsafe(24),
        root=library_root(cfg.input),
        low_score=float(cfg.low_score),
        disagree=float(cfg.disagree),
        title=f"introdet review: {Path(cfg.input).name or cfg.input}",
        failed=failed,
    )


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host``: at ``port``, or on a free port when that one is taken
    (or 0)."""
    check_values("", {"port": port}, {"port": PORT})
    try:
        family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError) as e:
        raise ConfigError(f"host={host}: cannot listen there ({e})") from None
    try:
        return _listen(family, address)
    except OSError as e:
        if port == 0:
            raise ConfigError(f"host={host}: cannot listen there ({e.strerror or e})") from None
        log.warning("port %d is taken (%s); using a free one", port, e.strerror or e)
    try:
        return _listen(family, (address[0], 0, *address[2:]))
    except OSError as e:
        raise ConfigError(f"host={host}: cannot listen there ({e.strerror or e})") from None


def _listen(family: int, address: tuple) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a restart in TIME_WAIT
        sock.bind(address)
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    return sock


def url_of(sock: socket.socket, token: str) -> str:
    host, port = sock.getsockname()[:2]
    ip = ipaddress.ip_address(host)
    if ip.is_unspecified:  # listening everywhere: this machine's own address opens it here
        ip = ipaddress.ip_address("::1" if ip.version == 6 else "127.0.0.1")
    shown = f"[{ip}]" if ip.version == 6 else str(ip)
    return f"http://{shown}:{port}/?token={token}"


def review(cfg: DictConfig) -> int:
    session = build(cfg)
    sock = bind(str(cfg.host), cfg.port)
    url = url_of(sock, session.token)
    if not ipaddress.ip_address(sock.getsockname()[0]).is_loopback:
        log.warning("listening on %s: anyone who gets the address can write labels", cfg.host)
    n_pred = sum(ep.record is not None for ep in session.episodes.values())
    print(f"{len(session.episodes)} episodes ({n_pred} with predictions); labels: {cfg.labels}")
    print(f"open {url}", flush=True)
    if cfg.open:
        webbrowser.open(url)
    config = uvicorn.Config(create_app(session), log_level="warning", access_log=False)
    # Ctrl+C, the way to stop it: uvicorn closes the server, then raises the signal again
    # into asyncio's cancelled main task (a KeyboardInterrupt under a CancelledError)
    with contextlib.suppress(KeyboardInterrupt):
        uvicorn.Server(config).run(sockets=[sock])
    print("stopped", flush=True)  # labels were saved at each change: nothing is left to do
    return 0


main = command("review")(review)

if __name__ == "__main__":
    main()
