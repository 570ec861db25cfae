"""The Unison reference's run.sh example 9 ("Here is the mask <VIDPAD>. Make the bird in this video
###...### ...") against what the reference's own inference.py made of it on the same tiny weights
(tests/fixtures/golden/example9.*, RECIPE.md "Planner: run.sh example 9"): the token ids, the
hidden states the projector gets, the plan decoded three ways, and what is then carried out."""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from unison_runtime import layout
from unison_runtime.errors import PlanError
from unison_runtime.planner import load_planner
from unison_runtime.request import parse_request

torch = pytest.importorskip("torch")

GOLDEN = Path(__file__).parent / "fixtures" / "golden"
FORCED_PLAN = "<BOEDIT>0,1<EOEDIT><CFV>"  # the plan example 9 asks for: mask = the typed pad, source = the video


@pytest.fixture(scope="module")
def reference():
    runs = json.loads((GOLDEN / "example9.json").read_text())
    with np.load(GOLDEN / "example9.npz") as data:
        runs["arrays"] = {k: data[k] for k in data.files}
    return runs


@pytest.fixture(scope="module")
def same_weights(reference, planner_models, projector_models):
    """The tiny models the fixture was made with (a changed demo builder means regenerating it)."""
    from safetensors.torch import load_file

    planner = load_file(str(planner_models / layout.PLANNER_MERGED / "model.safetensors"))
    projector = torch.load(projector_models / layout.PROJECTOR, weights_only=True)
    fingerprint = reference["weights_fingerprint"]
    assert sum(float(v.double().sum()) for v in planner.values()) == pytest.approx(fingerprint["planner"], abs=1e-9)
    assert sum(float(v.double().sum()) for v in projector.values()) == pytest.approx(fingerprint["projector"], abs=1e-9)
    return planner_models


@pytest.fixture(scope="module")
def merged(same_weights):
    return load_planner(same_weights / layout.PLANNER_MERGED, device="cpu", dtype="float32")


@pytest.fixture(scope="module")
def example(reference, sample_media, tmp_path_factory):
    """Example 9 as written, its video at the path run.sh names (./assets/video_edit_source.mp4)."""
    root = tmp_path_factory.mktemp("example9")
    (root / "assets").mkdir()
    shutil.copy(sample_media / "unison_clip.mp4", root / "assets" / "video_edit_source.mp4")
    return parse_request(reference["prompt"], [root])


def _ids(planner, request, generation_prompt: bool) -> list[int]:
    from unison_runtime.planner import prompting

    text = prompting.render(planner.loaded.processor, prompting.plain_turn(request.prompt), generation_prompt)
    return planner.loaded.tokenizer(text, add_special_tokens=False).input_ids


def test_the_tiny_tokenizer_holds_the_unison_tokens_as_the_reference_adds_them(merged, reference):
    # The reference's folder adds the 14 tokens as LLaMA-Factory does (additional special tokens).
    tokenizer = merged.loaded.tokenizer
    assert {t: tokenizer.convert_tokens_to_ids(t) for t in reference["tokens"]} == reference["tokens"]
    assert sum(t in reference["tokens"] for t in ("<CFI>", "<VIDPAD>", "<IMGPAD>", "<EOEDIT>")) == 4


def test_example9_reaches_the_tokenizer_as_the_reference_sends_it(merged, example, reference):
    forced = reference["forced"]
    assert example.slots == (None, 0) and example.media_kinds == ("video",)
    assert example.prompt == forced["generate"]["prompt"]  # also the text T5 encodes
    plan_ids = _ids(merged, example, generation_prompt=True)
    assert plan_ids == forced["plan_prompt_ids"]
    assert _ids(merged, example, generation_prompt=False) == forced["hidden_prompt_ids"]
    pad = reference["tokens"]["<VIDPAD>"]
    assert plan_ids.count(pad) == 2  # the typed pad and the video's: one token each, as the reference


@pytest.mark.parametrize("layout_name", ["merged", "base_plus_adapter"])
def test_example9_hidden_states_are_the_references(merged, same_weights, example, reference, layout_name):
    planner = merged if layout_name == "merged" else load_planner(
        same_weights / layout.PLANNER_BASE, same_weights / layout.PLANNER_ADAPTER, device="cpu", dtype="float32")
    hidden = planner.hidden_states(example)
    expected = reference["arrays"]["last_hidden_state"][:, 1:]  # the projector's input: first token dropped
    assert hidden.shape == expected.shape == (1, 63, 64)
    np.testing.assert_allclose(hidden.numpy(), expected, atol=1e-5)
    np.testing.assert_allclose(expected, reference["arrays"]["projector_in"], atol=0)


def test_example9_projector_tokens_are_the_references_in_eval_mode(merged, same_weights, example, reference):
    from unison_runtime.projector import load_projector, project

    projector = load_projector(same_weights / layout.PROJECTOR, device="cpu")
    tokens = project(projector, merged.hidden_states(example))
    assert reference["forced"]["projector_training"] is True  # the reference forgot eval(): dropout on
    np.testing.assert_allclose(tokens.numpy(), reference["arrays"]["projector_out"], atol=1e-5)


def test_example9_decodes_as_the_reference_without_a_grammar(merged, example, reference):
    # inference.py's generate() as written: greedy (top_k 1) with the folder's repetition penalty.
    planner = replace(merged, constrained=False, max_plan_tokens=256)
    plan = planner.plan(example)
    assert plan.raw == reference["as_written"]["plan_text"] and len(reference["as_written"]["plan_ids"]) == 256
    # No plan token: the reference goes on to answer (and fails: it passes the video as an image).
    assert reference["as_written"]["calls"] == [] and "image" in reference["as_written"]["error"]
    assert plan.task == "video_understanding"


def test_example9_plans_as_the_reference_under_the_grammar(merged, example, reference):
    from unison_runtime.pipeline.stage_two import describe_media
    from unison_runtime.router import route

    grammar = reference["grammar"]
    plan = replace(merged, allow_prose=False).plan(example)
    assert plan.raw == grammar["printed"][0]  # the reference printed its plan: the same tokens
    assert (plan.task, plan.frame_ref) == ("image_to_video", "last")
    assert grammar["calls"] == [{"task": "frameref", "mode": "lastframe", "image": "./assets/video_edit_source.mp4"}]
    # The reference asks for 166667 frames of a video read as an image; ours clamps, then says why not.
    assert grammar["prepare_source"]["num_frames"] == 166667 and plan.num_frames == 241 and plan.warnings
    with pytest.raises(PlanError, match="needs 1 image"):
        route(plan, describe_media(example))


def test_example9_plan_is_carried_out_as_the_reference_does(merged, example, reference, annotator_models):
    from helpers import run_options

    from unison_runtime.pipeline import stages

    forced = reference["forced"]
    assert forced["printed"] == [FORCED_PLAN]
    plan = merged._parse(FORCED_PLAN, example)
    # The mask is the typed pad (slot 0), which no media fills; the source is the video (slot 1).
    assert (plan.task, plan.source_index, plan.mask_index) == ("video_edit", 0, None)
    assert any("pad #1, the <VIDPAD> typed" in w for w in plan.warnings)
    planned = stages.route_request(stages.Planned(example, plan, "unison"))
    chosen = planned.route
    # The reference: process_vace_data(task="inpainting", mode="salient", video=<its first file>)
    # then prepare_source(..., 81 frames, (832, 480)); ours: the salient annotator on that file.
    (call,) = forced["calls"]
    assert (call["task"], call["mode"]) == ("inpainting", "salient")
    assert chosen.annotator == "salient" and chosen.mask_index is None
    assert example.media[chosen.source_index].marker == f"###{call['video']}###"
    assert chosen.plan.resolved_num_frames() == forced["prepare_source"]["num_frames"] == 81
    assert list(chosen.plan.resolved_size()) == forced["prepare_source"]["size"] == [832, 480]
    annotators = stages.find_run_models(run_options(models_dir=annotator_models).models).annotators
    prepared = stages.prepare_request(planned, annotators)
    inputs = prepared.inputs
    assert inputs.annotator == "salient" and inputs.masks is not None
    assert inputs.masks.shape == inputs.frames.shape[:3] and inputs.masks.max() == 255
