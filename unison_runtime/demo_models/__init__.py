"""Tiny, seeded, randomly initialised models of the real architectures, written in the real
on-disk formats users' checkpoints use, so the real loaders are what the tests exercise.

Each family module exposes `build(out_dir: Path, seed: int) -> list[Path]` (the files it wrote).
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

FAMILIES = ("planner", "projector", "generator", "annotators")
MARKER = "demo_models.json"
FORMAT_VERSION = 2  # 2: original-format SAM2 / GroundingDINO files beside the Hugging Face ones


def build_demo_models(out_dir: str | Path, seed: int = 0, force: bool = False) -> Path:
    """Write every tiny model under `out_dir` (the layout of `unison_runtime.layout`).

    Skips the work when a complete set of the same format version and seed is already there.
    """
    out = Path(out_dir).expanduser().resolve()
    marker = out / MARKER
    if not force and marker.is_file():
        info = json.loads(marker.read_text())
        if info.get("version") == FORMAT_VERSION and info.get("seed") == seed:
            return out
    out.mkdir(parents=True, exist_ok=True)
    written: dict[str, list[str]] = {}
    for family in FAMILIES:
        module = importlib.import_module(f"{__name__}.{family}")
        written[family] = [str(p.relative_to(out)) for p in module.build(out, seed)]
    marker.write_text(json.dumps({"version": FORMAT_VERSION, "seed": seed, "files": written}, indent=1))
    return out
