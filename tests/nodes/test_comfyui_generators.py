"""The generator inside a real ComfyUI with no diffusers installed (skipped unless COMFYUI_DIR is set):
what a user's saved graphs and files give on ComfyUI's own Wan VACE.

- A graph saved before the templates moved to ComfyUI's core loaders (UnisonGeneratorLoader naming
  ComfyUI's single files) runs unchanged, by /prompt and by a drop on the frontend.
- The loader naming Wan's native release folder loads it through ComfyUI (its UMT5 file renamed in
  memory); a diffusers-format folder says in one line what to install; a file in the wrong slot is
  named in one line.
- UnisonAuto, the one-node graph, generates from ComfyUI's folders.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from test_native_comfyui import tiny_wan_t2v  # noqa: F401 (a fixture)
from test_nodes_comfyui import COMFYUI_DIR, _run, server  # noqa: F401 (server: the fixture)
from test_nodes_workflows import tiny

pytestmark = pytest.mark.skipif(not COMFYUI_DIR, reason="COMFYUI_DIR is not set: no real ComfyUI to test against")
SAVED = Path(__file__).with_name("saved_workflows")
SAVED_API = SAVED / "04_text_to_image_with_generator_loader.api.json"
SAVED_UI = SAVED / "04_text_to_image_with_generator_loader.json"
NATIVE_FOLDER = "Wan2.1-VACE-1.3B"
DIFFUSERS_FOLDER = "Wan2.1-VACE-1.3B-diffusers"


def saved_graph(**loader) -> dict:
    graph = tiny(json.loads(SAVED_API.read_text()), "04_text_to_image")
    graph["3"]["inputs"].update(loader)
    return graph


def saved_image(server, entry: dict):
    import numpy as np
    from PIL import Image

    item = next(out for out in entry["outputs"].values() if out.get("images"))["images"][0]
    return np.asarray(Image.open(server["state"] / "output" / item.get("subfolder", "") / item["filename"]))


def error_of(entry: dict) -> str:
    assert entry["status"]["status_str"] == "error", json.dumps(entry["status"])[-2000:]
    return next(m for kind, m in entry["status"]["messages"] if kind == "execution_error")["exception_message"]


def test_the_server_has_no_diffusers():
    python = os.environ.get("COMFYUI_PYTHON")
    if not python:
        pytest.skip("COMFYUI_PYTHON is not set: the server runs in this test's own Python")
    found = subprocess.run([python, "-c", "import importlib.util as u; print(u.find_spec('diffusers') is None)"],
                           capture_output=True, text=True, timeout=120)
    assert found.stdout.strip() == "True", "the real-ComfyUI tests must run where a user's ComfyUI runs: no diffusers"


def test_a_saved_graph_with_the_generator_loader_runs_unchanged(server):
    entry = _run(server, saved_graph())
    assert entry["status"]["status_str"] == "success", json.dumps(entry["status"])[-3000:]
    assert saved_image(server, entry).shape == (32, 32, 3)


def test_the_native_release_folder_loads_through_comfyui(server):
    single = saved_image(server, _run(server, saved_graph()))
    entry = _run(server, saved_graph(diffusers_folder=NATIVE_FOLDER, transformer="none", text_encoder="none", vae="none"))
    assert entry["status"]["status_str"] == "success", json.dumps(entry["status"])[-3000:]
    # The same tiny weights in Wan's own layout: the same picture as ComfyUI's repackaged files give.
    native = saved_image(server, entry)
    assert native.shape == single.shape and abs(native.astype(int) - single.astype(int)).max() <= 1


def test_a_diffusers_folder_without_diffusers_says_what_to_install(server):
    message = error_of(_run(server, saved_graph(diffusers_folder=DIFFUSERS_FOLDER, transformer="none",
                                                text_encoder="none", vae="none")))
    assert "diffusers" in message and "pip install" in message and "\n" not in message.strip(), message


@pytest.fixture(scope="module")
def vae_named_as_a_transformer(all_models):
    """The tiny Wan VAE copied into diffusion_models/, as a user's misplaced download would be."""
    from unison_runtime import layout

    comfy = Path(all_models) / layout.COMFYUI_MODELS
    target = comfy / layout.COMFY_DIFFUSION_MODELS / "misplaced_vae.safetensors"
    shutil.copyfile(next((comfy / "vae").glob("*.safetensors")), target)
    return target.name


@pytest.mark.parametrize("wrong, said", [("vae_named_as_a_transformer", "VAE"),
                                         ("tiny_wan_t2v", "without VACE blocks")])
def test_a_wrong_transformer_file_is_named_in_one_line_and_the_server_goes_on(server, request, wrong, said):
    name = request.getfixturevalue(wrong)
    message = error_of(_run(server, saved_graph(transformer=name)))
    assert name in message and said in message and "\n" not in message.strip(), message
    assert _run(server, saved_graph())["status"]["status_str"] == "success"


def test_the_all_in_one_node_generates_on_comfyuis_wan(server):
    graph = {
        "1": {"class_type": "UnisonAuto", "inputs": {
            "request": "Generate an image of a red fox in the snow.", "models_dir": "", "width": 32, "height": 32,
            "num_frames": 0, "seed": 1, "steps": 2, "cfg": 5.0, "use_projector": True, "plan_by": "rules"}},
        "2": {"class_type": "SaveImage", "inputs": {"filename_prefix": "unison/auto", "images": ["1", 0]}},
    }
    entry = _run(server, graph)
    assert entry["status"]["status_str"] == "success", json.dumps(entry["status"])[-3000:]
    assert saved_image(server, entry).shape == (32, 32, 3)
    assert "task: text_to_image" in entry["outputs"]["1"]["text"][0]


@pytest.mark.skipif(not shutil.which("node") or not os.environ.get("COMFYUI_HARNESS"),
                    reason="needs node and COMFYUI_HARNESS (the harness folder with drop_and_run.js)")
def test_the_saved_graph_dropped_on_the_frontend_runs(server, tmp_path):
    ui = json.loads(SAVED_UI.read_text())
    for node in ui["nodes"]:  # the same tiny settings as the API runs (widget positions as saved)
        if node["type"] == "UnisonTaskRouter":
            node["widgets_values"][1:3] = [32, 32]
        if node["type"] == "UnisonPlanner":
            node["widgets_values"][2] = "rules"
        if node["type"] == "UnisonVACESampler":
            node["widgets_values"][2] = 2  # steps (after seed and its control value)
    workflow = tmp_path / SAVED_UI.name
    workflow.write_text(json.dumps(ui))
    harness = Path(os.environ["COMFYUI_HARNESS"])
    result = subprocess.run(["node", str(harness / "drop_and_run.js")], capture_output=True, text=True, timeout=300,
                            env={**os.environ, "COMFY_URL": server["url"], "WORKFLOW": str(workflow)})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
