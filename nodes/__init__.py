"""ComfyUI node adapters over `unison_runtime` (V1 node API). Each node declares its inputs and
calls the runtime's stages through its one face (`unison_runtime.api`); no model logic lives here.
Importing this package imports no torch, numpy, transformers or diffusers: node functions import
what they need when they first run.

Node IDs below are published: never rename one (saved workflows refer to them).
"""

from . import auto, comfy_glue, generation, loaders, native, planning, sampling

_MODULES = (loaders, planning, generation, auto, native, sampling)

NODE_CLASS_MAPPINGS: dict = {}
NODE_DISPLAY_NAME_MAPPINGS: dict = {}
for _module in _MODULES:
    for _node_id, (_cls, _display) in _module.NODES.items():
        NODE_CLASS_MAPPINGS[_node_id] = _cls
        NODE_DISPLAY_NAME_MAPPINGS[_node_id] = _display

# Inside ComfyUI these are cheap (its modules are already imported); outside they do nothing.
# They touch no file: prestartup_script.py copied the sample media before ComfyUI imported us.
comfy_glue.register_model_folders()
comfy_glue.install_unload_hook()

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_DISPLAY_NAME_MAPPINGS"]
