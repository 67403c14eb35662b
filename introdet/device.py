"""``device=`` as users write it, checked before any work: ``auto`` takes CUDA, then Apple's
MPS, then the CPU (the order Lightning's ``trainer.accelerator=auto`` follows in training);
``cpu``, ``cuda``, ``cuda:N`` and ``mps`` must exist on this machine."""

from __future__ import annotations

import re

from introdet.errors import ConfigError


def _mps() -> bool:
    import torch

    backend = getattr(torch.backends, "mps", None)
    return bool(backend and backend.is_available())


def resolve_device(name: str) -> str:
    """The torch device ``name`` stands for here; ConfigError naming ``device=`` otherwise."""
    name = str(name).strip().lower()
    if name == "cpu":
        return name
    import torch  # here: season mode asks for no device and never loads torch (1.5 s)

    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "mps" if _mps() else "cpu"
    m = re.fullmatch(r"cuda(?::(\d+))?", name)
    if m:
        n = torch.cuda.device_count() if torch.cuda.is_available() else 0
        index = int(m.group(1) or 0)
        if index >= n:
            have = f"{n} CUDA device(s)" if n else "no CUDA device"
            raise ConfigError(f"device={name}: this machine has {have} (device=auto or cpu)")
        return name
    if name == "mps":
        if not _mps():
            raise ConfigError("device=mps: no Apple MPS device here (device=auto or cpu)")
        return name
    raise ConfigError(f"device={name!r}: use auto, cpu, cuda, cuda:N or mps")
