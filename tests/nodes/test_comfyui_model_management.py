"""Our models are ComfyUI's loaded models (skipped unless COMFYUI_DIR is set): in ComfyUI's own
Python, the planner and U²-Net go through ComfyUI's real model management (comfy_placement.py);
in a running server, the test-only custom node tiny_comfy_models shows ComfyUI's own
`current_loaded_models` after a run, and after POST /free."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from test_nodes_comfyui import COMFYUI_DIR, PACK, _get, _post, _run, server  # noqa: F401 (server: the fixture)
from test_nodes_workflows import API_DIR, tiny

pytestmark = pytest.mark.skipif(not COMFYUI_DIR, reason="COMFYUI_DIR is not set: no real ComfyUI to test against")


def test_comfys_model_management_moves_unloads_and_frees_our_models(all_models, tmp_path):
    python = os.environ.get("COMFYUI_PYTHON", sys.executable)
    script = Path(__file__).with_name("comfy_placement.py")
    result = subprocess.run([python, str(script), COMFYUI_DIR, str(PACK), str(all_models)],
                            capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["hooks"]
    # Registered at load, among ComfyUI's loaded models from the first use: one ComfyUI model patcher
    # wrapping the planner's own module, with no copy of its weights and our size for it.
    assert seen["registered_before_use"] == 0 and seen["entries_after_use"] == 1
    assert seen["patcher_class"] == "ModelPatcher" and seen["wrapper_class"] == "UnisonPlanner"
    assert seen["wraps_the_planner_itself"] and seen["weight_backups"] == 0 and seen["same_storage"]
    assert seen["comfy_size"] == seen["our_size"] == seen["loaded_bytes"] > 0
    # Unloaded by ComfyUI for room (whole, then in part) and loaded back: the same plan, answer and
    # hidden states, the model loaded whole again, and nothing read from disk again.
    assert seen["entries_after_comfy_unloaded_it"] == 0 and seen["entries_after_reuse"] == 1
    assert seen["same_after_unload_and_reload"] and seen["partly_unloaded"] and seen["same_after_partial_unload"]
    assert seen["whole_again"] and seen["planner_reloaded_from_disk"] == 0
    assert seen["u2net_entries"] == 1
    # --novram: no weight of ours reaches the GPU and the model runs on the CPU, unchanged; --lowvram:
    # loaded whole, where ComfyUI's default for such a module would split it across the devices.
    assert seen["novram_devices"] == ["cpu"] and seen["novram_same_saliency"]
    assert seen["lowvram_devices"] == ["meta"] and seen["lowvram_default_devices"] == ["cpu", "meta"]
    # "Unload models": out of ComfyUI's loaded models and out of our cache.
    assert seen["entries_after_unload_all"] == 0 and seen["cached_after_unload_all"] == []


def loaded_models(server) -> list[dict]:
    return _get(f"{server['url']}/tiny_comfy_models/loaded_models")


def ours(server) -> dict[str, dict]:
    return {row["unison_kind"]: row for row in loaded_models(server) if row["unison_kind"]}


def free_and_wait(server, timeout: float = 60) -> dict[str, dict]:
    """POST /free as the "Free model and node cache" button does; what is left of ours once the
    prompt worker has acted on it."""
    status, _ = _post(f"{server['url']}/free", {"unload_models": True, "free_memory": True})
    assert status == 200
    deadline = time.monotonic() + timeout
    while ours(server) and time.monotonic() < deadline:
        time.sleep(0.25)
    return ours(server)


def test_the_planner_is_among_comfys_loaded_models_after_planning_and_gone_after_free(server):
    graph = json.loads((API_DIR / "01_text_understanding.json").read_text())
    del graph["11"]  # the planner node is an output node of its own
    graph["10"]["inputs"].update(request="Make a 2-second video of a lion walking through tall grass.",
                                 plan_by="auto", max_new_tokens=8)  # the tiny Qwen model plans
    entry = _run(server, graph)
    assert entry["status"]["status_str"] == "success", json.dumps(entry["status"], indent=1)[-3000:]
    loaded = ours(server)
    assert list(loaded) == ["planner"], loaded_models(server)
    assert loaded["planner"]["class"] == "UnisonPlanner" and loaded["planner"]["device"] == "cpu"
    assert loaded["planner"]["loaded_bytes"] > 0
    assert free_and_wait(server) == {}
    assert _run(server, graph)["status"]["status_str"] == "success"  # loads again after /free
    assert list(ours(server)) == ["planner"]


def test_the_projector_and_annotators_are_registered_the_same_way(server):
    """The video-edit template up to the sampler: the router's salient mask runs U²-Net and the
    projector reads the planner's hidden states."""
    graph = tiny(json.loads((API_DIR / "11_video_edit.json").read_text()), "11_video_edit")
    graph = {i: n for i, n in graph.items() if n["class_type"] not in ("UnisonGeneratorLoader", "UnisonVACESampler",
                                                                       "SaveVideo")}
    router = next(i for i, n in graph.items() if n["class_type"] == "UnisonTaskRouter")
    projector = next(i for i, n in graph.items() if n["class_type"] == "UnisonProjector")
    graph["90"] = {"class_type": "PreviewAny", "inputs": {"source": [router, 7]}}  # the task
    graph["91"] = {"class_type": "PreviewAny", "inputs": {"source": [projector, 0]}}
    entry = _run(server, graph)
    assert entry["status"]["status_str"] == "success", json.dumps(entry["status"], indent=1)[-3000:]
    assert entry["outputs"]["90"]["text"] == ["video_edit"]
    loaded = ours(server)
    assert sorted(loaded) == ["planner", "projector", "u2net"], loaded_models(server)
    assert {row["class"] for row in loaded.values()} == {"UnisonPlanner", "UnisonProjector", "UnisonU2net"}
    assert all(row["device"] == "cpu" and row["loaded_bytes"] > 0 for row in loaded.values())
    assert free_and_wait(server) == {}
