"""The model manager with a placement host (ComfyUI's model management inside ComfyUI): the host
registers each cached module once, places the modules in use before every `use` block, and forgets
them when the manager drops them; the manager itself moves nothing and applies no offload policy.
Without a host (every other test) the manager keeps its own policies."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from unison_runtime import models
from unison_runtime.models import HOSTED, ModelManager, module_bytes


class RecordingHost:
    name = "the test host"

    def __init__(self, fail_loads: int = 0):
        self.adopted: list[tuple[str, str, nn.Module, str]] = []
        self.loads: list[tuple[list[str], int]] = []
        self.released: list[str] = []
        self.fail_loads = fail_loads

    def adopt(self, kind, name, module, device):
        self.adopted.append((kind, name, module, device))
        return f"{kind}.{name}"

    def load(self, handles, working_bytes):
        if self.fail_loads:
            self.fail_loads -= 1
            raise RuntimeError("CUDA out of memory")
        self.loads.append((sorted(handles), working_bytes))

    def release(self, handles):
        self.released.extend(handles)


class Generator:
    """A bundle like the generator: several modules and the working memory each needs."""

    cpu_modules_when_sequential = ("text_encoder",)

    def __init__(self):
        self.transformer, self.text_encoder = nn.Linear(4, 4), nn.Linear(4, 4)

    def torch_modules(self):
        return {"transformer": self.transformer, "text_encoder": self.text_encoder}

    def working_bytes(self):
        return {"transformer": 1000, "text_encoder": 10}


@pytest.fixture
def hosted():
    moves = []
    host = RecordingHost()
    manager = ModelManager(host=host, mover=lambda module, device: moves.append(device))
    return manager, host, moves


def test_each_module_is_adopted_once_where_it_will_run_and_the_manager_moves_nothing(hosted):
    manager, host, moves = hosted
    loads = []
    value = manager.get("generator", "/g", lambda device, dtype: loads.append(device) or Generator(),
                        device="cuda:0", dtype="float32", offload_policy="keep")
    assert loads == ["cpu"]  # onto the offload device: the host moves the weights from the first use
    assert [(k, n, m, d) for k, n, m, d in host.adopted] == [
        ("generator", "transformer", value.transformer, "cuda:0"),
        ("generator", "text_encoder", value.text_encoder, "cuda:0")]
    assert manager.placement_of(value) == HOSTED and manager.resident_bytes() == 0
    again = manager.get("generator", "/g", lambda device, dtype: Generator(), device="cuda:0", dtype="float32",
                        offload_policy="sequential")  # another policy on a cache hit: accepted, not applied
    assert again is value and len(host.adopted) == 2 and manager.placement_of(value) == HOSTED
    with manager.use(value):
        pass
    assert moves == []  # neither at load, nor in `use`, nor after it (the policies are not applied)
    assert any("the test host places generator" in note for note in manager.take_notes())


def test_every_use_asks_the_host_to_place_the_modules_in_use_with_their_working_memory(hosted):
    manager, host, _ = hosted
    value = manager.get("generator", "/g", lambda device, dtype: Generator(), device="cuda:0", dtype="float32")
    with manager.use(value, "text_encoder"):
        assert host.loads == [(["generator.text_encoder"], 10)]  # the T5 too: "sequential" is not ours here
        with manager.use(value, "transformer"):
            # the outer block's module is named again: making room must not leave it off the device
            assert host.loads[-1] == (["generator.text_encoder", "generator.transformer"], 1000)
    with manager.use(value, "transformer"):
        assert host.loads[-1] == (["generator.transformer"], 1000)  # nothing else in use now


def test_a_failed_host_load_leaves_nothing_in_use_and_the_next_use_works(hosted):
    manager, host, _ = hosted
    value = manager.get("planner", "/p", lambda device, dtype: nn.Linear(2, 2), device="cuda:0", dtype="float32")
    host.fail_loads = 1
    with pytest.raises(RuntimeError, match="out of memory"):
        with manager.use(value):
            pass
    with manager.use(value):
        assert host.loads == [(["planner.model"], 0)]
    assert manager._in_use == {}


@pytest.mark.parametrize("how", ["free", "free_kind", "budget", "changed_file"])
def test_the_host_forgets_what_the_manager_drops(hosted, tmp_path, how):
    manager, host, _ = hosted
    weights = tmp_path / "w.bin"
    weights.write_bytes(b"1")
    first = manager.get("projector", str(weights), lambda device, dtype: nn.Linear(2, 2), device="cuda:0",
                        dtype="float32")
    if how == "free":
        assert manager.free() == 1
    elif how == "free_kind":
        manager.get("u2net", "/u", lambda device, dtype: nn.Linear(2, 2), device="cuda:0", dtype="float32")
        assert manager.free("projector") == 1
    elif how == "budget":
        manager.budget_bytes = module_bytes(first)
        manager.get("u2net", "/u", lambda device, dtype: nn.Linear(2, 2), device="cuda:0", dtype="float32")
    else:
        weights.write_bytes(b"22")  # replaced on disk: the stale copy goes, a new one is adopted
        second = manager.get("projector", str(weights), lambda device, dtype: nn.Linear(2, 2), device="cuda:0",
                             dtype="float32")
        assert second is not first and host.adopted[-1][2] is second
    assert host.released == ["projector.model"]


def test_a_value_cached_before_the_host_came_is_adopted_at_its_next_use(monkeypatch):
    manager = ModelManager()
    value = manager.get("sam2", "/s", lambda device, dtype: nn.Linear(2, 2), device="cpu", dtype="float32")
    assert manager.placement_of(value) == "keep" and models.placement_host() is None
    host = RecordingHost()
    monkeypatch.setattr(models, "_placement_host", host)  # what set_placement_host does
    with manager.use(value):
        assert host.loads == [(["sam2.model"], 0)]
    assert host.adopted[0][2] is value and manager.placement_of(value) == HOSTED


def test_values_without_torch_modules_are_cached_and_never_placed(hosted):
    manager, host, _ = hosted
    value = manager.get("comfy-model", "/c", lambda device, dtype: object(), device="cuda:0", dtype="float32")
    with manager.use(value):
        pass
    assert host.adopted == [] and host.loads == []
    assert manager.get("comfy-model", "/c", lambda device, dtype: object(), device="cuda:0", dtype="float32") is value


def test_the_process_wide_host_is_the_installed_one():
    host = RecordingHost()
    models.set_placement_host(host)
    try:
        hosted = ModelManager().get("planner", "/p", lambda device, dtype: nn.Linear(2, 2), device="cpu",
                                    dtype="float32")
        assert host.adopted[0][2] is hosted
    finally:
        models.set_placement_host(None)
    manager = ModelManager()
    own = manager.get("planner", "/p", lambda device, dtype: nn.Linear(2, 2), device="cpu", dtype="float32")
    assert manager.placement_of(own) == "keep" and len(host.adopted) == 1


class RelocatingHost(RecordingHost):
    """A host whose `load` really relocates the weights: to float64, the one relocation a CPU can
    show. Code that reads where the weights are before its `use` block placed them trips over it."""

    def adopt(self, kind, name, module, device):
        super().adopt(kind, name, module, device)
        return module

    def load(self, handles, working_bytes):
        super().load([type(m).__name__ for m in handles], working_bytes)
        for module in handles:
            module.to(torch.float64)


def test_every_model_reads_where_its_weights_are_inside_its_use_block(all_models, monkeypatch):
    import numpy as np

    from unison_runtime import layout
    from unison_runtime.annotators import AnnotatorModels
    from unison_runtime.annotators.salient import saliency_maps
    from unison_runtime.annotators.segmentation import detect_boxes, mask_from_bbox
    from unison_runtime.planner import load_planner
    from unison_runtime.projector import load_projector, project
    from unison_runtime.request import parse_request

    frames = np.random.default_rng(0).integers(0, 256, (2, 40, 56, 3), dtype=np.uint8)
    request = parse_request("Make a video of a red car at night.", ())

    def run() -> dict:
        annotators = AnnotatorModels.discover(all_models)
        planner = load_planner(all_models / layout.PLANNER_MERGED)
        hidden = planner.hidden_states(request)
        return {"boxes": detect_boxes(frames[0], "red block.", annotators.load("grounding_dino"), box_threshold=0.0,
                                      text_threshold=0.0)[0],
                "sam2": mask_from_bbox(frames, [[15, 10, 40, 30]], annotators.load("sam2")).masks,
                "saliency": saliency_maps(frames, annotators.load("u2net")),
                "hidden": hidden, "tokens": project(load_projector(all_models / layout.PROJECTOR), hidden)}

    monkeypatch.setattr(models, "_MANAGER", ModelManager())
    own = run()
    host = RelocatingHost()
    monkeypatch.setattr(models, "_MANAGER", ModelManager(host=host))
    hosted = run()
    assert sorted(kind for kind, *_ in host.adopted) == ["grounding_dino", "planner", "projector", "sam2", "u2net"]
    assert len(host.loads) == 5
    assert np.allclose(hosted["boxes"], own["boxes"], atol=1e-3)
    assert (hosted["sam2"] == own["sam2"]).mean() > 0.99
    assert np.allclose(hosted["saliency"], own["saliency"], atol=1e-4)
    assert torch.allclose(hosted["hidden"], own["hidden"], atol=1e-4)
    assert torch.allclose(hosted["tokens"], own["tokens"], atol=1e-4)
