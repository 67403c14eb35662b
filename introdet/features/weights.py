"""Where an open_clip model's weights are: a local file, the Hugging Face / URL cache, or the hub.

Never hangs: a hub that does not answer within a couple of seconds makes a WeightsUnavailable
that says how to supply the weights (a local file, or a populated cache).
"""

from __future__ import annotations

import os
import socket
import threading
import urllib.parse
import urllib.request
from pathlib import Path

import huggingface_hub
import open_clip

from introdet.errors import WeightsUnavailable

_HUB_TIMEOUT_S = 2.0
_HF_WEIGHTS = "open_clip_pytorch_model.bin"  # open_clip's default file name in a hub repo
_HF_SAFE_WEIGHTS = "open_clip_model.safetensors"


def locate_weights(
    model_name: str, pretrained: str | None, weights_file: str | None = None
) -> tuple[str | None, dict]:
    """-> (local checkpoint file or None for random weights, the tag's open_clip config or {}).

    ``weights_file``: a local file that holds the weights the tag ``pretrained`` names."""
    if weights_file is not None:
        if pretrained is None:
            raise ValueError("weights_file needs pretrained: the tag or name those weights are")
        checkpoint = existing_file(weights_file, model_name, pretrained)
        return checkpoint, open_clip.get_pretrained_cfg(model_name, pretrained)
    if pretrained is not None:
        return resolve_weights(model_name, pretrained)
    return None, {}


def _weights_help(model_name: str, pretrained: str) -> str:
    return (
        f"To use {model_name} weights '{pretrained}', either pass a local checkpoint file "
        f"(encoder.pretrained=/path/to/open_clip_pytorch_model.bin or .safetensors), or run once "
        f"with network access / pre-populate the Hugging Face cache "
        f"(HF_HOME, now {_hf_cache_dir().parent}) so that the weights are cached."
    )


def existing_file(path: str, model_name: str, pretrained: str) -> str:
    """``path`` with ``~`` expanded, or WeightsUnavailable when no such file exists."""
    if not Path(path).expanduser().is_file():
        raise WeightsUnavailable(
            f"{path}: no such checkpoint file. " + _weights_help(model_name, pretrained)
        )
    return str(Path(path).expanduser())


def resolve_weights(model_name: str, pretrained: str) -> tuple[str, dict]:
    """-> (local checkpoint file, the tag's open_clip config or {} for a file). Never hangs."""
    tag_cfg = open_clip.get_pretrained_cfg(model_name, pretrained)
    if not tag_cfg:
        path = Path(pretrained).expanduser()
        if path.is_file():
            return str(path), {}
        tags = open_clip.list_pretrained_tags_by_model(model_name) or "none"
        raise WeightsUnavailable(
            f"{pretrained}: no such checkpoint file, and not a pretrained tag of {model_name} "
            f"(tags: {tags}). {_weights_help(model_name, pretrained)}"
        )
    if "file" in tag_cfg:
        return tag_cfg["file"], tag_cfg
    cached = _cached_weights(tag_cfg)
    if cached:
        return cached, tag_cfg
    why = _hub_unreachable(tag_cfg)
    if why:
        raise WeightsUnavailable(
            f"{model_name}/{pretrained}: not in the local cache and {why}. "
            + _weights_help(model_name, pretrained)
        )
    cache_dir = str(_hf_cache_dir()) if tag_cfg.get("hf_hub") else None
    try:
        return open_clip.download_pretrained(tag_cfg, cache_dir=cache_dir), tag_cfg
    except Exception as e:  # hub and HTTP errors come in many types
        raise WeightsUnavailable(
            f"{model_name}/{pretrained}: download failed ({e}). "
            + _weights_help(model_name, pretrained)
        ) from e


def _hf_cache_dir() -> Path:
    # read at call time: huggingface_hub freezes HF_HOME when it is imported
    env = os.environ
    if env.get("HF_HUB_CACHE") or env.get("HUGGINGFACE_HUB_CACHE"):
        return Path(env.get("HF_HUB_CACHE") or env["HUGGINGFACE_HUB_CACHE"]).expanduser()
    xdg = Path(env.get("XDG_CACHE_HOME", "~/.cache")).expanduser()
    return Path(env.get("HF_HOME", xdg / "huggingface")).expanduser() / "hub"


def _cached_weights(tag_cfg: dict) -> str | None:
    hub = tag_cfg.get("hf_hub", "")
    if hub:
        repo, filename = os.path.split(hub)
        filename = filename or _HF_WEIGHTS
        # open_clip prefers a .safetensors twin when the repo has one
        safe = _HF_SAFE_WEIGHTS if filename == _HF_WEIGHTS else None
        if filename.endswith((".bin", ".pth")) and safe is None:
            safe = filename[:-4] + ".safetensors"
        for name in filter(None, (safe, filename)):
            hit = huggingface_hub.try_to_load_from_cache(repo, name, cache_dir=_hf_cache_dir())
            if isinstance(hit, str):
                return hit
    url = tag_cfg.get("url", "")
    if url:
        path = Path("~/.cache/clip").expanduser() / os.path.basename(url)  # open_clip's URL cache
        if path.is_file():
            return str(path)
    return None


def _hub_unreachable(tag_cfg: dict) -> str | None:
    """Why the weights cannot be downloaded now, or None if the host answers."""
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        return "HF_HUB_OFFLINE is set"
    if huggingface_hub.constants.HF_HUB_OFFLINE:
        return "huggingface_hub is in offline mode"
    if tag_cfg.get("hf_hub"):
        url = os.environ.get("HF_ENDPOINT") or huggingface_hub.constants.ENDPOINT
    else:
        url = tag_cfg["url"]
    proxy = urllib.request.getproxies().get(urllib.parse.urlparse(url).scheme)
    target = urllib.parse.urlparse(proxy if proxy else url)
    port = target.port or (443 if target.scheme == "https" else 80)
    return _no_answer(target.hostname or "", port, _HUB_TIMEOUT_S)


def _no_answer(host: str, port: int, timeout: float) -> str | None:
    # a thread bounds DNS as well, which the socket timeout does not cover
    result: list[str | None] = []

    def probe() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            result.append(None)
        except OSError as e:
            result.append(f"{host}:{port} is unreachable ({e})")

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return result[0] if result else f"{host}:{port} did not answer within {timeout:g} s"
