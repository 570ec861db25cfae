"""The pack's node classes for the scripts and tests that read their declarations outside ComfyUI.

The nodes are ComfyUI V3 nodes (`comfy_api.latest`), and comfy_api exists only in ComfyUI's source:
it is taken from `COMFYUI_DIR` (appended to sys.path, so the pack's `nodes` package wins over
ComfyUI's own `nodes.py`). ComfyUI's `folder_paths` is hidden again afterwards: the pack then lists
no model folders, as outside ComfyUI, unless the caller installs a folder registry."""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path

PACK = Path(__file__).resolve().parents[1]


def import_comfy_api(comfy_dir: str | None = None) -> bool:
    """Make `comfy_api.latest` importable from ComfyUI's source; False when there is none."""
    comfy_dir = comfy_dir or os.environ.get("COMFYUI_DIR")
    if not comfy_dir or not (Path(comfy_dir) / "comfy_api").is_dir():
        return False
    if comfy_dir not in sys.path:
        sys.path.append(comfy_dir)
    importlib.import_module("comfy_api.latest")
    sys.modules["folder_paths"] = None  # importing it fails, as outside ComfyUI
    return True


def pack_nodes():
    """The pack's `nodes` package (NODE_CLASS_MAPPINGS, display_names()), or SystemExit saying why not."""
    if "comfy_api.latest" not in sys.modules and not import_comfy_api():
        raise SystemExit("the nodes are ComfyUI V3 nodes: set COMFYUI_DIR to a ComfyUI folder (its comfy_api)")
    if str(PACK) not in sys.path:
        sys.path.insert(0, str(PACK))
    return importlib.import_module("nodes")


def v1_spec(spec) -> tuple:
    """(type, options) of one input as INPUT_TYPES declares it, a combo's type being its list of
    choices as in V1 (V3 declares ("COMBO", {"options": [...]}), V1 nodes ([...], {...}))."""
    kind, options = spec[0], (dict(spec[1]) if len(spec) > 1 else {})
    if kind == "COMBO":
        kind = list(options.pop("options"))
    return kind, options
