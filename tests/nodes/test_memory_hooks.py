"""The node layer wires ComfyUI's memory manager into the runtime: free memory, the device, and a
`free_memory(bytes, device)` request before our weights move in, which must not release our own
cache through the pack's free_memory hook."""

from __future__ import annotations

import sys
import types

import pytest

from nodes import comfy_glue
from unison_runtime import models
from unison_runtime.models import ModelManager


@pytest.fixture
def fake_comfy(monkeypatch):
    import torch

    calls = []
    fake = types.ModuleType("comfy.model_management")
    fake.state = {"free": 3 * 2**30}

    def free_memory(memory_required, device, keep_loaded=()):
        calls.append((memory_required, device))
        fake.state["free"] = 10 * 2**30  # ComfyUI unloaded its own models

    fake.free_memory = free_memory
    fake.unload_all_models = lambda: None
    fake.get_free_memory = lambda dev=None, torch_free_too=False: fake.state["free"]
    fake.get_torch_device = lambda: torch.device("cuda", 0)
    monkeypatch.setitem(sys.modules, "comfy.model_management", fake)
    yield fake, calls
    models.set_free_memory_provider(None)
    models.set_free_request_hook(None)
    models.set_default_device_provider(None)


def test_memory_hooks_read_comfys_free_memory_and_device(fake_comfy):
    fake, _ = fake_comfy
    assert comfy_glue.install_memory_hooks()
    assert models.free_device_memory("cuda:0") == 3 * 2**30
    assert models.free_device_memory("cpu") is None
    assert models.default_device() == "cuda:0"


def test_comfy_frees_before_our_weights_move_in_and_our_cache_survives(fake_comfy, monkeypatch):
    import torch
    from torch import nn

    fake, calls = fake_comfy
    comfy_glue.install_unload_hook()  # wraps free_memory: would release our cache when still short
    comfy_glue.install_memory_hooks()
    released = []
    monkeypatch.setattr(ModelManager, "free", lambda self, kind=None: released.append(kind) or 0)
    moved = []
    manager = ModelManager(mover=lambda module, device: moved.append((device, len(calls))))
    big = nn.Linear(1, 1)
    big.weight = nn.Parameter(torch.empty(4 * 2**30 // 4, device="meta"))
    value = manager.get("planner", "/p", lambda device, dtype: big, dtype="float32", device="cuda:0",
                        offload_policy="offload")
    with manager.use(value):
        pass
    assert len(calls) == 1 and calls[0][1] == torch.device("cuda", 0)
    assert calls[0][0] >= 4 * 2**30  # at least the weights
    assert moved[0] == ("cuda:0", 1)  # the request came before the move
    assert released == []  # our own request did not release our cache
