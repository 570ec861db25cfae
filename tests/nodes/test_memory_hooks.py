"""The node layer hands the runtime's model placement to ComfyUI's memory management: each cached
module becomes a ComfyUI ModelPatcher, loaded whole through `load_models_gpu` before each use and
taken out of ComfyUI's loaded models when our cache drops it; ComfyUI's device and free memory reach
the runtime. Here ComfyUI is a recording stand-in; test_comfyui_model_management.py runs the same
against the real ComfyUI 0.8.0 and 0.33.0."""

from __future__ import annotations

import sys
import types

import pytest

from nodes import comfy_glue, comfy_memory
from unison_runtime import models
from unison_runtime.models import HOSTED, ModelManager, get_manager, module_bytes


class LoadedModel:
    """What ComfyUI keeps in `current_loaded_models`."""

    def __init__(self, patcher):
        self.model, self.unloads = patcher, 0

    def model_unload(self, memory_to_free=None, unpatch_weights=True):
        self.unloads += 1
        return True


class ModelPatcher:
    def __init__(self, model, load_device, offload_device, size=0, weight_inplace_update=False):
        self.model, self.load_device, self.offload_device, self.size = model, load_device, offload_device, size
        self.model.device = offload_device  # as ComfyUI's does: where the weights are now


@pytest.fixture
def fake_comfy(monkeypatch):
    import torch

    mm = types.ModuleType("comfy.model_management")
    mm.current_loaded_models, mm.loads = [], []

    def load_models_gpu(patchers, memory_required=0, force_patch_weights=False, minimum_memory_required=None,
                        force_full_load=False):
        mm.loads.append((list(patchers), memory_required, force_full_load))
        for patcher in patchers:
            if not any(loaded.model is patcher for loaded in mm.current_loaded_models):
                mm.current_loaded_models.insert(0, LoadedModel(patcher))

    def unload_all_models():
        for loaded in mm.current_loaded_models:
            loaded.model_unload()
        mm.current_loaded_models.clear()

    mm.load_models_gpu = load_models_gpu
    mm.unload_all_models = unload_all_models
    mm.free_memory = lambda memory_required, device, keep_loaded=(): []
    mm.get_free_memory = lambda dev=None, torch_free_too=False: 3 * 2**30
    mm.get_torch_device = lambda: torch.device("cuda", 0)
    mm.unet_offload_device = lambda: torch.device("cpu")
    patchers = types.ModuleType("comfy.model_patcher")
    patchers.ModelPatcher = patchers.CoreModelPatcher = ModelPatcher
    monkeypatch.setitem(sys.modules, "comfy.model_management", mm)
    monkeypatch.setitem(sys.modules, "comfy.model_patcher", patchers)
    yield mm
    get_manager().free()
    models.set_free_memory_provider(None)
    models.set_default_device_provider(None)
    models.set_placement_host(None)


def planner_like():
    """A module with transformers' read-only `device` property."""
    from torch import nn

    class Model(nn.Linear):
        @property
        def device(self):
            return self.weight.device

    return Model(4, 4)


def test_memory_hooks_hand_placement_to_comfy_and_read_its_device_and_free_memory(fake_comfy):
    assert comfy_glue.install_memory_hooks()
    host = models.placement_host()
    assert isinstance(host, comfy_memory.ComfyPlacement) and host.patcher_class is ModelPatcher
    assert comfy_glue.install_memory_hooks() and models.placement_host() is host  # idempotent
    assert models.free_device_memory("cuda:0") == 3 * 2**30
    assert models.free_device_memory("cpu") is None
    assert models.default_device() == "cuda:0"


def test_our_modules_become_comfys_models_loaded_whole_before_each_use(fake_comfy):
    import torch

    comfy_glue.install_memory_hooks()
    manager = ModelManager()
    placed_at = []
    module = manager.get("planner", "/p", lambda device, dtype: placed_at.append(device) or planner_like(),
                         dtype="float32")  # device auto: ComfyUI's
    assert placed_at == ["cpu"] and manager.placement_of(module) == HOSTED
    assert fake_comfy.current_loaded_models == []  # registered, not loaded: nothing used it yet
    with manager.use(module):
        (patchers, memory_required, full) = fake_comfy.loads[-1]
    patcher = patchers[0]
    assert type(patcher.model).__name__ == "UnisonPlanner" and patcher.model.module is module
    assert dict(patcher.model.named_parameters()) == {f"module.{n}": p for n, p in module.named_parameters()}
    assert patcher.load_device == torch.device("cuda", 0) and patcher.offload_device == torch.device("cpu")
    assert patcher.size == module_bytes(module) and memory_required == 0 and full is True
    assert [loaded.model for loaded in fake_comfy.current_loaded_models] == [patcher]
    with manager.use(module):
        assert fake_comfy.loads[-1][0] == [patcher]  # the same patcher each time: one copy, one entry
    assert len(fake_comfy.current_loaded_models) == 1


def test_dropping_a_model_takes_it_out_of_comfys_loaded_models(fake_comfy):
    comfy_glue.install_memory_hooks()
    manager = ModelManager()
    planner = manager.get("planner", "/p", lambda device, dtype: planner_like(), dtype="float32")
    u2net = manager.get("u2net", "/u", lambda device, dtype: planner_like(), dtype="float32")
    for value in (planner, u2net):
        with manager.use(value):
            pass
    first = {type(loaded.model.model).__name__: loaded for loaded in fake_comfy.current_loaded_models}
    assert sorted(first) == ["UnisonPlanner", "UnisonU2net"]
    manager.free("planner")
    assert [type(loaded.model.model).__name__ for loaded in fake_comfy.current_loaded_models] == ["UnisonU2net"]
    assert first["UnisonPlanner"].unloads == 1 and first["UnisonU2net"].unloads == 0


def test_unload_models_unloads_ours_in_comfy_and_releases_our_cache(fake_comfy):
    comfy_glue.install_unload_hook()
    comfy_glue.install_memory_hooks()
    manager = get_manager()
    value = manager.get("planner", "/hooks-test", lambda device, dtype: planner_like(), dtype="float32")
    with manager.use(value):
        pass
    loaded = fake_comfy.current_loaded_models[0]
    fake_comfy.unload_all_models()  # "Unload models", POST /free
    assert fake_comfy.current_loaded_models == [] and loaded.unloads == 1
    assert manager.key_of(value) is None  # and its RAM is ours no more
