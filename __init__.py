"""ComfyUI-Unison: ComfyUI entry point. Importing this must stay cheap: the node modules import
torch, transformers and diffusers only when a node first runs."""

import os
import sys

# `unison_runtime` lives beside this file; make it importable by its absolute name (one module
# object, one model manager) without shadowing ComfyUI's own top-level modules (append, not insert).
_PACK_DIR = os.path.dirname(os.path.abspath(__file__))
if _PACK_DIR not in sys.path:
    sys.path.append(_PACK_DIR)

from .nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS  # noqa: E402

WEB_DIRECTORY = "./web"

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS", "WEB_DIRECTORY"]
