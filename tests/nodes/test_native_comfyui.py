"""The native-bridge templates in a real ComfyUI (skipped unless COMFYUI_DIR is set): our Planner,
Router and Unison Conditioning (native) in front of ComfyUI's own Wan VACE nodes, on the tiny Wan
files in ComfyUI's layout (models/comfyui/{diffusion_models,text_encoders,vae,loras}), and the
native path checked against our diffusers path (native_parity.py, in ComfyUI's Python)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from test_nodes_comfyui import COMFYUI_DIR, PACK, TINY_SHIM, _run, server  # noqa: F401 (server: the fixture)
from test_nodes_workflows import API_DIR, UI_DIR

pytestmark = pytest.mark.skipif(not COMFYUI_DIR, reason="COMFYUI_DIR is not set: no real ComfyUI to test against")
LORA_FILE = "wan2.1_vace_1.3B_lora.safetensors"
EDIT_REQUEST = "Edit this video: make the masked area bright red. ###unison_clip.mp4### ###unison_photo_mask.png###"
T2V_REQUEST = "Make a 2-second video of a lion walking through tall grass."
SIZE, FRAMES, STEPS = (48, 32), 5, 2


@pytest.fixture(scope="module")
def tiny_lora(all_models):
    """A rank-2 LoRA on every self-attention projection of the tiny DiT, in the PEFT key format
    ComfyUI reads (`diffusion_model.<layer>.lora_A/B.weight`)."""
    import torch
    from safetensors import safe_open
    from safetensors.torch import save_file

    from unison_runtime import layout

    transformer = Path(all_models) / layout.COMFYUI_MODELS / layout.COMFY_DIFFUSION_MODELS / layout.COMFY_TRANSFORMER_FILE
    generator = torch.Generator().manual_seed(5)
    lora = {}
    with safe_open(str(transformer), "pt") as f:
        for key in f.keys():
            if ".self_attn." in key and key.endswith(".weight") and "norm" not in key:
                out_dim, in_dim = f.get_slice(key).get_shape()
                base = "diffusion_model." + key[: -len(".weight")]
                lora[base + ".lora_A.weight"] = torch.randn(2, in_dim, generator=generator).half()
                lora[base + ".lora_B.weight"] = torch.randn(out_dim, 2, generator=generator).half()
    folder = Path(all_models) / layout.COMFYUI_MODELS / "loras"
    folder.mkdir(parents=True, exist_ok=True)
    save_file(lora, str(folder / LORA_FILE))
    return folder / LORA_FILE


def tiny_native(name: str, request: str | None = None, seed: int = 42) -> dict:
    graph = json.loads((API_DIR / f"{name}.json").read_text())
    for node in graph.values():
        inputs = node["inputs"]
        kind = node["class_type"]
        if kind == "UnisonPlanner":
            inputs.update(plan_by="rules", max_new_tokens=8, **({"request": request} if request else {}))
        elif kind == "UnisonTaskRouter":
            inputs.update(width=SIZE[0], height=SIZE[1], num_frames=FRAMES)
        elif kind == "KSampler":
            inputs.update(steps=STEPS, seed=seed)
    return graph


def saved_frames(server, entry: dict):
    from unison_runtime.media import load_video

    saver = next(out for out in entry["outputs"].values() if out.get("images") or out.get("videos"))
    item = (saver.get("images") or saver.get("videos"))[0]
    path = server["state"] / "output" / item.get("subfolder", "") / item["filename"]
    return load_video(path)


@pytest.mark.parametrize("name,request_text,task", [
    ("14_native_wan_vace", None, "text_to_video"),
    ("14_native_wan_vace", EDIT_REQUEST, "video_edit"),
    ("15_native_wan_vace_lora", None, "video_edit"),
])
def test_native_template_runs_through_prompt(server, tiny_lora, name, request_text, task):
    graph = tiny_native(name, request_text)
    entry = _run(server, graph)
    assert entry["status"]["status_str"] == "success", json.dumps(entry["status"], indent=1)[-3000:]
    planner_id = next(i for i, n in graph.items() if n["class_type"] == "UnisonPlanner")
    assert f"task: {task}" in entry["outputs"][planner_id]["text"][0]
    frames = saved_frames(server, entry)
    assert frames.shape == (FRAMES, SIZE[1], SIZE[0], 3)  # the planned size and length


def test_the_lora_changes_the_native_result(server, tiny_lora):
    plain = saved_frames(server, _run(server, tiny_native("14_native_wan_vace", EDIT_REQUEST, seed=7)))
    with_lora = saved_frames(server, _run(server, tiny_native("15_native_wan_vace_lora", EDIT_REQUEST, seed=7)))
    again = saved_frames(server, _run(server, tiny_native("15_native_wan_vace_lora", EDIT_REQUEST, seed=7)))
    assert (with_lora == again).all()  # deterministic for a seed (ComfyUI's cache or a rerun)
    assert abs(plain.astype(int) - with_lora.astype(int)).mean() > 2


@pytest.mark.skipif(not os.environ.get("COMFYUI_HARNESS"), reason="needs COMFYUI_HARNESS (drop_and_run.js)")
@pytest.mark.parametrize("name", ["14_native_wan_vace", "15_native_wan_vace_lora"])
def test_drop_the_native_template_on_the_frontend_and_run_it(server, tiny_lora, tmp_path, name):
    import shutil

    if not shutil.which("node"):
        pytest.skip("needs node")
    ui = json.loads((UI_DIR / f"{name}.json").read_text())
    for node in ui["nodes"]:  # the same tiny settings as the API runs (widget positions: see the UI file)
        if node["type"] == "UnisonTaskRouter":
            node["widgets_values"][1:4] = [SIZE[0], SIZE[1], FRAMES]
        elif node["type"] == "UnisonPlanner":
            node["widgets_values"][1:3] = [8, "rules"]
        elif node["type"] == "KSampler":
            node["widgets_values"][2] = STEPS  # steps, after seed and its control value
    workflow = tmp_path / f"{name}.json"
    workflow.write_text(json.dumps(ui))
    harness = Path(os.environ["COMFYUI_HARNESS"])
    result = subprocess.run(["node", str(harness / "drop_and_run.js")], capture_output=True, text=True, timeout=300,
                            env={**os.environ, "COMFY_URL": server["url"], "WORKFLOW": str(workflow)})
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_native_path_matches_our_diffusers_path(all_models, tmp_path):
    """In ComfyUI's own Python: the text context, the VACE context and a DiT step of ComfyUI's
    loaders equal ours on the same tiny weights (the samplers themselves differ: docs/NODES.md)."""
    python = os.environ.get("COMFYUI_PYTHON", sys.executable)
    script = Path(__file__).with_name("native_parity.py")
    result = subprocess.run([python, str(script), COMFYUI_DIR, str(PACK), str(all_models), str(TINY_SHIM.parent)],
                            capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["context_max_diff"] < 1e-4, report
    assert report["vace_max_diff"] < 1e-3, report
    assert report["dit_max_diff"] < 1e-3, report
    # Whole runs differ only by the UniPC implementation (same sigmas, noise, inputs): measured ~0.01.
    assert report["frames_mean_diff"] < 0.05, report


def _sampler_graph(native: bool) -> dict:
    """LoadVideo → UnisonPlanner (core VIDEO) → router → projector → UnisonVACESampler → its VIDEO
    output → SaveVideo; with `native`, ComfyUI's loaders feed the sampler's model/vae/clip."""
    graph = tiny_native("14_native_wan_vace")
    keep = {"1", "2", "3", "4", "5", "7", "10", "11", "12"}
    graph = {k: v for k, v in graph.items() if k in keep}
    graph["10"]["inputs"].update(request="Generate a video of a robot walking that follows this depth video {video1}",
                                 video=["30", 0])
    graph["30"] = {"class_type": "LoadVideo", "inputs": {"file": "unison_depth.mp4"}}
    graph["31"] = {"class_type": "UnisonGeneratorLoader", "inputs": {
        "diffusers_folder": "none", "transformer": "wan2.1_vace_1.3B_fp16.safetensors",
        "text_encoder": "umt5_xxl_fp16.safetensors", "vae": "wan_2.1_vae.safetensors", "dtype": "auto",
        "attention_backend": "native", "offload_policy": "keep"}}
    sampler = {"seed": 1, "steps": STEPS, "cfg": 5.0, "shift": 5.0, "context_scale": 1.0, "negative_prompt": "",
               "generator": ["31", 0], "plan": ["11", 0], "conditioning": ["12", 0]}
    if native:
        sampler.update(model=["3", 0], vae=["5", 0], clip=["4", 0])
    graph["32"] = {"class_type": "UnisonVACESampler", "inputs": sampler}
    graph["33"] = {"class_type": "SaveVideo", "inputs": {"filename_prefix": "unison/sampler", "format": "auto",
                                                         "codec": "auto", "video": ["32", 2]}}
    return graph


@pytest.mark.parametrize("native", [False, True], ids=["diffusers", "comfy_models"])
def test_sampler_takes_a_core_video_and_gives_one_to_save_video(server, native):
    graph = _sampler_graph(native)
    graph = {k: v for k, v in graph.items() if native or k not in ("3", "4", "5", "7")}
    entry = _run(server, graph)
    assert entry["status"]["status_str"] == "success", json.dumps(entry["status"], indent=1)[-3000:]
    assert "task: video_control" in entry["outputs"]["10"]["text"][0]
    assert saved_frames(server, entry).shape == (FRAMES, SIZE[1], SIZE[0], 3)
