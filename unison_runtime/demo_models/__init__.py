"""Tiny, seeded, randomly initialised models of the real architectures, written in the real
on-disk formats users' checkpoints use, so the real loaders are what the tests exercise.

Each family module exposes `build(out_dir: Path, seed: int) -> list[Path]` (the files it wrote).

`build_demo_models` never replaces a file it did not write itself: the models are built in a
hidden staging folder inside the target, every file they would become is checked against the target
folder, and a name held by anything else (a user's real `projector.pth`, a symlink) refuses the
whole build before a single file moves. What it wrote is recorded in the marker file with each
file's size and mtime, so a later rebuild replaces only its own, unchanged, files.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import tempfile
from pathlib import Path

from ..errors import OutputError

FAMILIES = ("planner", "projector", "generator", "annotators")
MARKER = "demo_models.json"
FORMAT_VERSION = 2  # 2: original-format SAM2 / GroundingDINO files beside the Hugging Face ones


def build_demo_models(out_dir: str | Path, seed: int = 0, force: bool = False) -> Path:
    """Write every tiny model under `out_dir` (the layout of `unison_runtime.layout`).

    Skips the work when a complete set of the same format version and seed is already there.
    Raises OutputError, writing nothing, when `out_dir` holds files it would have to replace
    that it did not write.
    """
    out = Path(out_dir).expanduser().resolve()
    if out.exists() and not out.is_dir():
        raise OutputError(f"{out} is an existing file; give a folder for the demo models")
    info = _read_marker(out)
    if not force and info is not None and info.get("version") == FORMAT_VERSION and info.get("seed") == seed:
        return out
    out.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".building_", dir=out))
    try:
        written: dict[str, list[str]] = {}
        for family in FAMILIES:
            module = importlib.import_module(f"{__name__}.{family}")
            written[family] = [p.relative_to(staging).as_posix() for p in module.build(staging, seed)]
        files = sorted(name for names in written.values() for name in names)
        _refuse_foreign_files(out, files + [MARKER], _own_files(out, info))
        stats = {name: _stat(staging / name) for name in files}
        marker = {"version": FORMAT_VERSION, "seed": seed, "files": written, "stats": stats}
        # The marker goes first: an interrupted move leaves only files the marker claims.
        (staging / MARKER).write_text(json.dumps(marker, indent=1))
        for name in [MARKER] + files:
            (out / name).parent.mkdir(parents=True, exist_ok=True)
            os.replace(staging / name, out / name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


def _read_marker(out: Path) -> dict | None:
    """The marker's content; None when there is none. A marker that is not ours is foreign."""
    marker = out / MARKER
    if not os.path.lexists(marker):
        return None
    try:
        info = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return info if isinstance(info, dict) and "files" in info else {}


def _own_files(out: Path, info: dict | None) -> set[str]:
    """Files the marker says this builder wrote and that nobody changed since (size and mtime)."""
    if not info:
        return set()
    stats = info.get("stats") or {}
    own = {MARKER}
    for name, stat in stats.items():
        path = out / name
        if not path.is_symlink() and path.is_file() and list(_stat(path)) == list(stat):
            own.add(name)
    return own


def _refuse_foreign_files(out: Path, names: list[str], own: set[str]) -> None:
    foreign = [name for name in names if os.path.lexists(out / name) and name not in own]
    if foreign:
        shown = ", ".join(foreign[:5]) + (f" and {len(foreign) - 5} more" if len(foreign) > 5 else "")
        raise OutputError(f"{out} already holds {len(foreign)} file(s) the tiny demo models would replace "
                          f"but that they did not write ({shown}); nothing was written. Give an empty or "
                          "new folder for the demo models")


def _stat(path: Path) -> list[int]:
    stat = path.stat()
    return [stat.st_size, stat.st_mtime_ns]
