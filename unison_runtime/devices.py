"""Which devices a run may name, checked before anything loads: a typo or a missing GPU is one
clear line up front, not a traceback from deep inside torch after seconds of loading."""

from __future__ import annotations

import re

from .errors import DeviceError

DEVICE_CHOICES = ("auto", "cpu", "cuda", "cuda:N", "mps", "xpu")
_DEVICE_RE = re.compile(r"^(auto|cpu|mps|xpu|cuda)(?::(\d+))?$")


def validate_device(name: str, check_present: bool = True) -> str:
    """`name` normalised (lower case, no spaces) if it is a device name this runtime allows and
    (with `check_present`) this machine has; DeviceError else."""
    allowed = ", ".join(DEVICE_CHOICES)
    if not isinstance(name, str):
        raise DeviceError(f"device must be text, got {type(name).__name__}; allowed: {allowed}")
    device = name.strip().lower()
    found = _DEVICE_RE.match(device)
    if found is None or (found.group(2) is not None and found.group(1) not in ("cuda", "xpu")):
        raise DeviceError(f"unknown device {name!r}; allowed: {allowed}")
    kind, index = found.group(1), found.group(2)
    if kind in ("auto", "cpu") or not check_present:
        return device
    available = _count(kind)
    if available == 0:
        raise DeviceError(f"device {name!r} was asked for, but this machine has no {kind.upper()} "
                          f"device that torch can use; use cpu or auto")
    if index is not None and int(index) >= available:
        raise DeviceError(f"device {name!r} does not exist: this machine has {available} {kind} "
                          f"device(s), {kind}:0 to {kind}:{available - 1}")
    return device


def _count(kind: str) -> int:
    import torch

    if kind == "cuda":
        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    if kind == "mps":
        mps = getattr(torch.backends, "mps", None)
        return 1 if mps is not None and mps.is_available() else 0
    xpu = getattr(torch, "xpu", None)
    return xpu.device_count() if xpu is not None and xpu.is_available() else 0
