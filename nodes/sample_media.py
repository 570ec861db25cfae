"""The sample media the example workflows name (`example_workflows/input/`), copied into ComfyUI's
input folder. Standard library only and no relative imports: `prestartup_script.py` loads this file
by path before ComfyUI imports any custom node, so the first `/object_info` (the one the frontend
loads) already lists the samples among `LoadImage`'s choices."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

log = logging.getLogger("ComfyUI-Unison")

SAMPLE_MEDIA_DIR = Path(__file__).resolve().parents[1] / "example_workflows" / "input"


def copy_sample_media(target, source: Path = SAMPLE_MEDIA_DIR) -> list[str]:
    """Copy each sample missing from `target`; never over a user's file of the same name. A folder
    that cannot be written is logged, never raised: it must not break the pack's start."""
    if not source.is_dir():
        return []
    target = Path(target)
    copied = []
    try:
        target.mkdir(parents=True, exist_ok=True)
        for sample in sorted(source.iterdir()):
            dest = target / sample.name
            if sample.is_file() and not dest.exists():
                shutil.copyfile(sample, dest)
                copied.append(sample.name)
    except OSError as err:
        log.warning("ComfyUI-Unison: could not copy sample media into %s: %s", target, err)
    return copied
