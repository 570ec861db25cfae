"""ComfyUI's model management places the runtime's models (the model manager's placement host).

Every torch module the runtime caches (the planner, the projector, GroundingDINO, SAM2, U²-Net, and
the diffusers generator's parts where that generator runs) is registered the way ComfyUI registers
its own CLIP-vision and upscale models: wrapped in ComfyUI's `ModelPatcher` (`CoreModelPatcher`
where it exists, 0.33) and loaded with `comfy.model_management.load_models_gpu` before each use.
From there it is one of ComfyUI's loaded models (`current_loaded_models`): ComfyUI offloads it,
whole or in part, when another model needs the room, and "Unload models" / `/free` unload it.

Our modules are torch / transformers layers, not `comfy.ops` layers, and ComfyUI can run only
comfy.ops layers partly loaded (it casts their weights in on the fly). So every load of ours is a
full load (`force_full_load`, as ComfyUI loads its upscale models), and what ComfyUI's flags do to
our models is:
- default, --lowvram, --highvram: the modules in use move to the GPU whole, after ComfyUI made room
  by offloading other models (its own and ours, least recently used first). --lowvram changes only
  how ComfyUI loads its own models; with --highvram (and --gpu-only) a model's offload device is the
  GPU, so ours, like ComfyUI's, are never moved back to the CPU.
- --novram: ComfyUI's budget for weights is nil; no weight of ours moves to the GPU, and our
  models run on the CPU.
- --cpu: everything runs on the CPU; our models are still among ComfyUI's loaded models.
- a model bigger than what ComfyUI can free fails with ComfyUI's out-of-memory error, as its own
  full loads do.
Between uses a model stays where ComfyUI left it (smart memory). One that ComfyUI unloaded in part
while it was idle is loaded whole again at its next use.
"""

from __future__ import annotations

import importlib
import logging

log = logging.getLogger("ComfyUI-Unison")

_WRAPPERS: dict[str, type] = {}


def wrapper_name(kind: str, part: str) -> str:
    """The class name ComfyUI logs for one of our modules ("Requested to load UnisonPlanner")."""
    words = kind.split("_") + ([] if part == "model" else part.split("_"))
    return "Unison" + "".join(w.capitalize() for w in words)


def wrap(module, kind: str, part: str):
    """`module` inside a small torch Module of its own, for a ModelPatcher: the patcher records
    where the weights are in the model's `device` attribute, which transformers models keep
    read-only. The module is the wrapper's only child, so sizes and moves are the module's own."""
    name = wrapper_name(kind, part)
    cls = _WRAPPERS.get(name)
    if cls is None:
        import torch

        def __init__(self, inner):
            torch.nn.Module.__init__(self)
            self.module = inner

        cls = _WRAPPERS[name] = type(name, (torch.nn.Module,), {
            "__init__": __init__, "unison_kind": kind, "unison_part": part,
            "__doc__": f"ComfyUI's handle on the {kind} {part} of ComfyUI-Unison (weights: `.module`)."})
    return cls(module)


class ComfyPlacement:
    """The `unison_runtime.models.PlacementHost` for ComfyUI (installed by `comfy_glue`)."""

    name = "ComfyUI's model management"

    def __init__(self, mm, patcher_class):
        self.mm = mm
        self.patcher_class = patcher_class

    def adopt(self, kind: str, part: str, module, device: str):
        import torch

        from unison_runtime.api import module_bytes

        load_device = torch.device(device)
        # ComfyUI's choice for its models (the GPU under --highvram); a module asked to run on the
        # CPU stays there.
        offload = load_device if load_device.type == "cpu" else self.mm.unet_offload_device()
        # Our own size count: tied weights once (ComfyUI's state-dict sum would count them twice).
        return self.patcher_class(wrap(module, kind, part), load_device=load_device, offload_device=offload,
                                  size=module_bytes(module))

    def load(self, patchers: list, working_bytes: int) -> None:
        self.mm.load_models_gpu(patchers, memory_required=working_bytes, force_full_load=True)

    def release(self, patchers: list) -> None:
        for patcher in patchers:
            unload(self.mm, patcher)


def unload(mm, patcher) -> bool:
    """Take one patcher out of ComfyUI's loaded models, its weights back on its offload device."""
    for index, loaded in enumerate(mm.current_loaded_models):
        if loaded.model is patcher:
            mm.current_loaded_models.pop(index)
            loaded.model_unload()
            return True
    return False


def placement_host(mm) -> ComfyPlacement | None:
    """The host for this ComfyUI (None when its ModelPatcher cannot be imported)."""
    try:
        patchers = importlib.import_module("comfy.model_patcher")
    except Exception as err:  # a ComfyUI we cannot register with: the runtime keeps its own policy
        log.warning("ComfyUI-Unison: ComfyUI's ModelPatcher is not available (%s); our models keep their "
                    "own offload policy", err)
        return None
    return ComfyPlacement(mm, getattr(patchers, "CoreModelPatcher", patchers.ModelPatcher))
