"""Our models under ComfyUI's real model management, in ComfyUI's own Python on the CPU, run by
test_comfyui_model_management.py:  python comfy_placement.py COMFYUI_DIR PACK MODELS_DIR

The pack is loaded as ComfyUI loads it and its memory hooks installed; then the tiny planner and
U²-Net go through what ComfyUI does to its own models: load before use, unload for room (whole and
in part), the --novram and --lowvram budgets, "Unload models". On the CPU ComfyUI's load and offload
devices are both the CPU, so for those two budgets the `meta` device stands in for a GPU (a weight
that lands there is visibly gone). Prints one JSON line of what it saw.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path


def main(comfy_dir: str, pack: str, models: str) -> dict:
    sys.path[:0] = [comfy_dir]
    from comfy.cli_args import args

    args.cpu = True
    import comfy.model_management as mm
    import numpy as np
    import torch
    from native_parity import _load_pack

    glue = _load_pack(pack).nodes.comfy_glue
    from unison_runtime import layout
    from unison_runtime.annotators.salient import load_u2net, saliency_maps
    from unison_runtime.models import get_manager, module_bytes, placement_host
    from unison_runtime.planner import load_planner
    from unison_runtime.request import parse_request

    report: dict = {"hooks": glue.install_unload_hook() and glue.install_memory_hooks()}
    manager, host = get_manager(), placement_host()
    planner = load_planner(Path(models) / layout.PLANNER_MERGED)  # device auto: ComfyUI's (the CPU)
    model = planner.loaded.model
    request = parse_request("What is in the picture? Make a 2 second video of it.", ())

    def ours(kind: str) -> list:
        return [m for m in mm.current_loaded_models if getattr(m.model.model, "unison_kind", None) == kind]

    def outputs() -> dict:
        return {"plan": planner.plan(request).to_dict(), "answer": planner.answer(request, max_new_tokens=8, temperature=0),
                "hidden": planner.hidden_states(request)}

    def same(a: dict, b: dict) -> bool:
        return a["plan"] == b["plan"] and a["answer"] == b["answer"] and torch.equal(a["hidden"], b["hidden"])

    report["registered_before_use"] = len(ours("planner"))
    pointers = sorted(p.data_ptr() for p in model.parameters())
    first = outputs()
    entries = ours("planner")
    report["entries_after_use"] = len(entries)
    patcher = entries[0].model
    report["patcher_class"] = type(patcher).__name__
    report["wrapper_class"] = type(patcher.model).__name__
    report["wraps_the_planner_itself"] = patcher.model.module is model
    report["weight_backups"] = len(patcher.backup)  # ComfyUI keeps a copy only of weights it patches
    report["same_storage"] = sorted(p.data_ptr() for p in model.parameters()) == pointers
    report["comfy_size"], report["our_size"] = patcher.model_size(), module_bytes(model)
    report["loaded_bytes"] = entries[0].model_loaded_memory()
    loads = manager.load_count("planner")

    # 1. ComfyUI makes room for another model: ours goes back to its offload device, our cache stays.
    mm.free_memory(1e30, mm.get_torch_device())
    report["entries_after_comfy_unloaded_it"] = len(ours("planner"))
    second = outputs()
    report["same_after_unload_and_reload"] = same(first, second)
    report["entries_after_reuse"] = len(ours("planner"))
    # 2. ... or unloads part of it while it is idle; the next use loads it whole again.
    loaded = ours("planner")[0]
    full = loaded.model_loaded_memory()
    loaded.model_unload(memory_to_free=full // 2)
    report["partly_unloaded"] = 0 < loaded.model_loaded_memory() < full and loaded.model.model.model_lowvram
    third = outputs()
    report["same_after_partial_unload"] = same(first, third)
    report["whole_again"] = ours("planner")[0].model_loaded_memory() == full
    report["planner_reloaded_from_disk"] = manager.load_count("planner") - loads

    # 3. The --novram and --lowvram budgets, with `meta` standing in for the GPU.
    u2net = load_u2net(Path(models) / layout.U2NET)
    frames = np.random.default_rng(0).integers(0, 256, (1, 64, 64, 3), dtype=np.uint8)
    saliency = saliency_maps(frames, u2net)
    report["u2net_entries"] = len(ours("u2net"))
    size = module_bytes(u2net)
    real_free, real_state = mm.get_free_memory, mm.vram_state

    def stand_in_free(dev=None, torch_free_too=False):
        if getattr(dev, "type", None) != "meta":
            return real_free(dev, torch_free_too)
        free = int(mm.minimum_inference_memory() + size // 2)  # room for half of the weights
        return (free, free) if torch_free_too else free

    def place_on_stand_in(module, vram_state, force_full_load=None):
        """Where ComfyUI puts `module`'s tensors (devices seen), through our host or its default."""
        mm.vram_state = vram_state
        stand_in = host.adopt("u2net", "model", module, "meta")
        if force_full_load is None:
            host.load([stand_in], 0)
        else:
            mm.load_models_gpu([stand_in], force_full_load=force_full_load)
        entry = next(m for m in mm.current_loaded_models if m.model is stand_in)
        mm.current_loaded_models.remove(entry)  # weights on `meta` cannot be moved back
        entry.model_finalizer.detach()
        return sorted({t.device.type for t in [*module.parameters(), *module.buffers()]})

    mm.get_free_memory = stand_in_free
    try:
        report["novram_devices"] = place_on_stand_in(u2net, mm.VRAMState.NO_VRAM)
        report["novram_same_saliency"] = bool(np.array_equal(saliency, saliency_maps(frames, u2net)))
        report["lowvram_devices"] = place_on_stand_in(copy.deepcopy(u2net), mm.VRAMState.LOW_VRAM)
        # What ComfyUI's lowvram loading does to a module that is not made of comfy.ops layers: it
        # splits it across the devices, which plain torch layers cannot run.
        report["lowvram_default_devices"] = place_on_stand_in(copy.deepcopy(u2net), mm.VRAMState.LOW_VRAM,
                                                              force_full_load=False)
    finally:
        mm.get_free_memory, mm.vram_state = real_free, real_state

    # 4. "Unload models" / POST /free: out of ComfyUI's loaded models, and out of our cache.
    mm.unload_all_models()
    report["entries_after_unload_all"] = len(ours("planner")) + len(ours("u2net"))
    report["cached_after_unload_all"] = [k.kind for k in manager.cached_keys()]
    return report


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:4])))
