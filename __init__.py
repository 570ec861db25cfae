"""ComfyUI-Unison: ComfyUI entry point, V3 (`comfy_entrypoint` returns the pack's ComfyExtension).
Importing this must stay cheap: the node modules import transformers and diffusers only when a node
first runs. No NODE_CLASS_MAPPINGS here: ComfyUI registers a pack that has them the V1 way and
never asks it for `comfy_entrypoint`."""

import os
import sys

# `unison_runtime` lives beside this file; make it importable by its absolute name (one module
# object, one model manager) without shadowing ComfyUI's own top-level modules (append, not insert).
_PACK_DIR = os.path.dirname(os.path.abspath(__file__))
if _PACK_DIR not in sys.path:
    sys.path.append(_PACK_DIR)

from .nodes import comfy_entrypoint  # noqa: E402

WEB_DIRECTORY = "./web"

__all__ = ["WEB_DIRECTORY", "comfy_entrypoint"]
