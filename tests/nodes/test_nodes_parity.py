"""One orchestration: a graph of the pack's nodes and `pipeline.run` (the CLI's path) run the same
stages, so for the same request, models, seed and settings they give the same plan, route,
answer and frames — bit for bit. Plus the drifts the two paths once had (masks, planner choice,
the projector in instruct mode)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from core_nodes import CORE_NODE_CLASSES
from executor import run_graph
from helpers import run_options
from nodes import NODE_CLASS_MAPPINGS, convert
from unison_runtime import layout
from unison_runtime.pipeline import run
from unison_runtime.router import Overrides

CLASSES = {**NODE_CLASS_MAPPINGS, **CORE_NODE_CLASSES}
SIZE, VIDEO_FRAMES, STEPS, SEED, ANSWER_TOKENS = 32, 5, 2, 3, 8
# One request per task, as a user writes it, over the sample media the pack ships.
REQUESTS = {
    "text_understanding": "What is the capital of France?",
    "image_understanding": "What sauce is in this bowl? ###unison_bowl.png###",
    "video_understanding": "Describe what happens in this clip ###unison_clip.mp4###",
    "text_to_image": "Generate an image of a lion resting on a rock at sunset",
    "image_edit": "Replace the masked area with a bouquet of flowers ###unison_photo.png### ###unison_photo_mask.png###",
    "image_control": "Generate an image of a dancer following this pose ###unison_pose.png###",
    "image_reference": "Create a picture of this character reading in a library ###unison_subject.png###",
    "text_to_video": "Make a 2-second video of a lion walking through tall grass",
    "image_to_video": "Animate this image so the ball rolls away ###unison_photo.png###",
    "video_reference": "Make a video of this character walking on the beach ###unison_subject.png###",
    "video_edit": "Turn the main subject of this video into a golden statue ###unison_clip.mp4###",
    "video_control": "Generate a video of a robot dancing following the depth in this video ###unison_depth.mp4###",
}


def node_graph(request: str, video: bool) -> dict:
    """Loaders → Planner (rules) → Router (tiny size) → Projector → Sampler, as an API graph."""
    return {
        "1": {"class_type": "UnisonPlannerLoader", "inputs": {"model": "Unison-Qwen2.5-VL-3B", "adapter": "none",
                                                             "mode": "unison", "dtype": "auto", "offload_policy": "keep"}},
        "2": {"class_type": "UnisonProjectorLoader", "inputs": {"projector": "projector.pth"}},
        "3": {"class_type": "UnisonGeneratorLoader", "inputs": {
            "diffusers_folder": "Wan2.1-VACE-1.3B-diffusers", "transformer": "none", "text_encoder": "none",
            "vae": "none", "dtype": "auto", "attention_backend": "native", "offload_policy": "keep"}},
        "4": {"class_type": "UnisonAnnotatorLoader", "inputs": {"grounding_dino": "none", "sam2": "none",
                                                               "u2net": "u2net/u2net.pt"}},
        "10": {"class_type": "UnisonPlanner", "inputs": {"request": request, "max_new_tokens": ANSWER_TOKENS,
                                                        "plan_by": "rules", "planner": ["1", 0]}},
        "11": {"class_type": "UnisonTaskRouter", "inputs": {
            "plan": ["10", 0], "task": "auto", "width": SIZE, "height": SIZE,
            "num_frames": VIDEO_FRAMES if video else 0, "frame_ref": "auto", "mask_index": -1, "source_index": -1,
            "reference": "auto", "control": "auto", "annotators": ["4", 0]}},
        "12": {"class_type": "UnisonProjector", "inputs": {"planner": ["1", 0], "projector": ["2", 0],
                                                          "plan": ["11", 0], "enabled": True}},
        "13": {"class_type": "UnisonVACESampler", "inputs": {
            "generator": ["3", 0], "plan": ["11", 0], "seed": SEED, "steps": STEPS, "cfg": 5.0, "shift": 5.0,
            "context_scale": 1.0, "negative_prompt": "", "conditioning": ["12", 0]}},
        "20": {"class_type": "PreviewAny", "inputs": {"source": ["10", 2]}},
        "21": {"class_type": "PreviewAny", "inputs": {"source": ["13", 0]}},
    }


@pytest.fixture
def cli_options(comfy_models_env, all_models):
    """The CLI's options for the same models, media folder, seed and settings."""
    return run_options(models_dir=Path(all_models), planner="rules", media_roots=(Path(comfy_models_env.get_input_directory()),),
                       steps=STEPS, seed=SEED, max_new_tokens=ANSWER_TOKENS)


@pytest.mark.parametrize("task", list(REQUESTS))
def test_nodes_and_pipeline_give_identical_plans_routes_and_frames(task, cli_options):
    video = "video" in task and not task.endswith("understanding")
    graph = node_graph(REQUESTS[task], video)
    nodes = run_graph(graph, CLASSES)
    cli = run(REQUESTS[task], Overrides(width=SIZE, height=SIZE, num_frames=VIDEO_FRAMES if video else None),
              cli_options)

    planned = nodes.outputs["10"][0]
    assert cli.plan.task == task and planned.plan.task == task
    if task.endswith("understanding"):
        assert nodes.outputs["10"][2] == cli.answer and isinstance(cli.answer, str)
        assert "13" in nodes.blocked  # nothing is generated
        return
    routed = nodes.outputs["11"][0]
    assert routed.plan == cli.plan and routed.route == cli.route
    assert routed.inputs.summary() == {k: v for k, v in cli.stage_two.items() if k != "projector_used"}
    frames = nodes.outputs["13"][0]
    assert torch.equal(frames, convert.video_to_image(cli.video))  # bit-identical
    assert cli.stage_two["projector_used"] and nodes.outputs["12"][0].projector_tokens is not None


# -- the drifts ----------------------------------------------------------------------------------
def _edit_masks_from_nodes(request: str, **connected):
    """(route, prepared masks) of an edit request through the Planner and Router nodes."""
    planned = NODE_CLASS_MAPPINGS["UnisonPlanner"].execute(request, 8, "rules", **connected).args[0]
    routed = NODE_CLASS_MAPPINGS["UnisonTaskRouter"].execute(planned, "auto", SIZE * 3, SIZE * 2, 0, "auto", -1,
                                                            -1, "auto", "auto").args[0]
    return routed.route, routed.inputs.masks


def test_a_transparent_png_mask_regenerates_its_region_on_the_node_path(comfy_models_env, cli_options):
    inputs = Path(comfy_models_env.get_input_directory())
    rgba = np.zeros((64, 96, 4), np.uint8)
    rgba[..., 3] = 255
    rgba[:, :48, 3] = 0  # left half painted transparent (ComfyUI's mask editor): regenerate it
    Image.fromarray(rgba, "RGBA").save(inputs / "painted_mask.png")
    request = "Replace the masked area with flowers ###unison_photo.png### ###painted_mask.png###"
    route, masks = _edit_masks_from_nodes(request)
    cli = run(request, Overrides(width=SIZE * 3, height=SIZE * 2), cli_options)
    assert route.mask_index == 1 and 0.4 < (masks > 0).mean() < 0.6
    assert (masks[:, :, : SIZE].min() > 0) and masks[:, :, -SIZE:].max() == 0  # the left side only
    assert cli.stage_two["masked_fraction"] == round(float((masks > 0).mean()), 4)


def test_a_soft_comfy_mask_reaches_the_annotator_as_the_cli_reads_the_same_grey_png(comfy_models_env, cli_options,
                                                                                      monkeypatch):
    """A MASK tensor is never written to a file and re-read: its soft values reach the one place
    that binarises them (the annotator), exactly as a grey PNG of the same values does on the CLI."""
    import unison_runtime.annotators as annotators

    seen = []
    real = annotators.run_annotator
    monkeypatch.setattr(annotators, "run_annotator", lambda mode, **kw: seen.append(kw.get("mask")) or real(mode, **kw))
    inputs = Path(comfy_models_env.get_input_directory())
    photo = np.asarray(Image.open(inputs / "unison_photo.png").convert("RGB"))
    h, w = photo.shape[:2]
    soft = np.tile(np.linspace(0, 1, w, dtype=np.float32), (h, 1))
    soft = np.round(soft * 255) / 255  # values an 8-bit PNG can hold, so both paths see the same
    Image.fromarray((soft * 255).round().astype(np.uint8)).save(inputs / "soft_mask.png")

    route, node_masks = _edit_masks_from_nodes("Replace the masked area with flowers {image1} {mask1}",
                                               image1=torch.from_numpy(photo / 255.0).float()[None],
                                               mask1=torch.from_numpy(soft)[None])
    cli = run("Replace the masked area with flowers ###unison_photo.png### ###soft_mask.png###",
              Overrides(width=SIZE * 3, height=SIZE * 2), cli_options)
    node_seen, cli_seen = seen[0], seen[-1]
    assert route.mask_index == 1 and cli.route.mask_index == 1
    assert len(np.unique(node_seen)) > 50  # soft values (a ramp), not {0, 1}
    np.testing.assert_allclose(node_seen, cli_seen, atol=1e-6)
    assert cli.stage_two["masked_fraction"] == round(float((node_masks > 0).mean()), 4)


@pytest.fixture
def base_only_models(all_models, tmp_path):
    """A models folder holding only the stock Qwen2.5-VL (no LoRA, no merged model) and the generator."""
    root = tmp_path / "models"
    for rel in (layout.PLANNER_BASE, layout.GENERATOR_DIFFUSERS, layout.PROJECTOR):
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(Path(all_models) / rel, root / rel)
    return root


def test_a_base_model_alone_is_the_same_instruct_planner_in_both_paths_without_the_projector(
        base_only_models, comfy_models_env, monkeypatch):
    from unison_runtime.planner.qwen import QwenPlanner

    def no_hidden_states(*_, **__):
        raise AssertionError("instruct mode fed the projector")

    monkeypatch.setattr(QwenPlanner, "hidden_states", no_hidden_states)
    options = run_options(models_dir=base_only_models, planner="rules", steps=1)
    cli = run("Generate an image of a cat", Overrides(width=SIZE, height=SIZE), options)
    auto = NODE_CLASS_MAPPINGS["UnisonAuto"].execute("Generate an image of a cat", str(base_only_models), SIZE, SIZE,
                                                   0, 0, 1, 5.0, True, "rules")
    note = "planner: Qwen2.5-VL-3B-Instruct (instruct) (no Unison LoRA found)"
    assert note in cli.notes and f"note: {note}" in auto.args[2]
    assert cli.stage_two["projector_used"] is False
    assert torch.equal(auto.args[0], convert.video_to_image(cli.video))


def test_the_projector_node_never_feeds_an_instruct_planner(all_models, comfy_models_env, monkeypatch):
    from unison_runtime.pipeline import stages
    from unison_runtime.planner.qwen import QwenPlanner
    from unison_runtime.sources import PlannerSource, ProjectorSource

    monkeypatch.setattr(QwenPlanner, "hidden_states", lambda *_: (_ for _ in ()).throw(AssertionError("fed")))
    planned = stages.plan_request(stages.read_request("Generate an image of a cat"), None, "rules")
    instruct = PlannerSource(Path(all_models) / layout.PLANNER_BASE, mode="instruct")
    projector = ProjectorSource(Path(all_models) / layout.PROJECTOR)
    (conditioning,) = NODE_CLASS_MAPPINGS["UnisonProjector"].execute(instruct, projector, planned, True)
    assert conditioning.projector_tokens is None and "instruct" in conditioning.note
