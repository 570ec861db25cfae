"""ComfyUI node adapters over `unison_runtime`, on ComfyUI's V3 node schema (`comfy_api.latest`).
Each node declares its inputs in `define_schema` and calls the runtime's stages through its one face
(`unison_runtime.api`) in `execute`; no model logic lives here. Importing this package imports no
transformers or diffusers (comfy_api, which ComfyUI has already imported, brings torch): node
functions import what they need when they first run.

Node IDs are published: never rename one (saved workflows refer to them). Each class is named as
its node ID.
"""

from comfy_api.latest import ComfyExtension, io

from . import auto, comfy_glue, generation, loaders, native, planning, sampling

NODE_LIST: list[type[io.ComfyNode]] = [*loaders.NODES, *planning.NODES, *generation.NODES, *auto.NODES,
                                       *native.NODES, *sampling.NODES]
NODE_CLASS_MAPPINGS: dict = {cls.__name__: cls for cls in NODE_LIST}  # for scripts and tests


def display_names() -> dict[str, str]:
    """Node ID -> display name, from the schemas (lists the model folders, as ComfyUI does)."""
    return {node_id: cls.GET_SCHEMA().display_name for node_id, cls in NODE_CLASS_MAPPINGS.items()}


class UnisonExtension(ComfyExtension):
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return NODE_LIST


async def comfy_entrypoint() -> UnisonExtension:
    """ComfyUI's V3 entry point (the pack's __init__ passes it on)."""
    return UnisonExtension()


# Inside ComfyUI these are cheap (its modules are already imported); outside they do nothing.
# They touch no file: prestartup_script.py copied the sample media before ComfyUI imported us.
comfy_glue.register_model_folders()
comfy_glue.install_unload_hook()

__all__ = ["NODE_CLASS_MAPPINGS", "NODE_LIST", "comfy_entrypoint", "display_names"]
