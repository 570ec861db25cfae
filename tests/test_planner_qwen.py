"""The Qwen2.5-VL planner on the tiny demo models: loading layouts, constrained planning,
answering with media, hidden states, instruct mode and load errors."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from unison_runtime import layout
from unison_runtime.errors import ModelLoadError
from unison_runtime.models import get_manager
from unison_runtime.facts import TASKS
from unison_runtime.plan import Plan
from unison_runtime.planner import constrained
from unison_runtime.planner import load_planner
from unison_runtime.planner.qwen import QwenPlanner
from unison_runtime.request import parse_request

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def merged(planner_models) -> QwenPlanner:
    return load_planner(planner_models / layout.PLANNER_MERGED, device="cpu")


@pytest.fixture(scope="module")
def instruct(planner_models) -> QwenPlanner:
    return load_planner(planner_models / layout.PLANNER_BASE, mode="instruct", device="cpu")


@pytest.fixture(scope="module")
def media_dir(tmp_path_factory):
    from PIL import Image

    from unison_runtime import media

    folder = tmp_path_factory.mktemp("planner_media")
    rng = np.random.RandomState(0)
    Image.fromarray(rng.randint(0, 255, (48, 64, 3), dtype=np.uint8)).save(folder / "a.png")
    Image.fromarray(rng.randint(0, 255, (40, 40, 3), dtype=np.uint8)).save(folder / "b.jpg")
    media.save_mp4(rng.randint(0, 255, (48, 48, 64, 3), dtype=np.uint8), folder / "v.mp4", fps=24)
    return folder


def _request(text, root):
    return parse_request(text, [root])


def _copy(planner):
    """A planner over the same loaded model with its own settings."""
    return type(planner)(planner.loaded)


# -- loading -----------------------------------------------------------------------------------
def test_merged_folder_loads_with_its_distinct_head(merged, planner_models):
    from safetensors import safe_open

    model = merged.loaded.model
    assert merged.mode == "unison" and merged.hidden_size == 64 and merged.loaded.untied_head
    with safe_open(str(planner_models / layout.PLANNER_MERGED / "model.safetensors"), "pt") as f:
        head, embed = f.get_tensor("lm_head.weight"), f.get_tensor("model.embed_tokens.weight")
    assert torch.equal(model.lm_head.weight, head)
    assert torch.equal(model.get_input_embeddings().weight, embed)
    assert model.lm_head.weight.data_ptr() != model.get_input_embeddings().weight.data_ptr()


def test_second_identical_load_performs_no_load(merged, planner_models):
    before = get_manager().load_count("planner")
    again = load_planner(planner_models / layout.PLANNER_MERGED, device="cpu")
    assert again.loaded is merged.loaded
    assert get_manager().load_count("planner") == before


@pytest.mark.parametrize("merge", [True, False])
def test_base_plus_adapter_matches_the_merged_model(merged, planner_models, merge):
    from peft import PeftModel

    planner = load_planner(planner_models / layout.PLANNER_BASE, adapter_dir=planner_models / layout.PLANNER_ADAPTER,
                           device="cpu", merge_adapter=merge)
    assert isinstance(planner.loaded.model, PeftModel) is not merge
    assert "<CFI>" in planner.loaded.tokenizer.get_vocab()  # tokenizer taken from the adapter folder
    ids = merged.loaded.tokenizer("Make a video <IMGPAD> please", return_tensors="pt").input_ids
    with torch.no_grad():
        expected = merged.loaded.model(input_ids=ids).logits
        got = planner.loaded.model(input_ids=ids).logits
    assert torch.allclose(got, expected, atol=1e-4)


# -- the plan grammar --------------------------------------------------------------------------
def _random_walk(start, tokenizer, end_id, seed, max_steps=60):
    """Sample tokens from random scores masked by the grammar, as generate() would."""
    generator = torch.Generator().manual_seed(seed)
    processor = constrained.logits_processor(start, prompt_length=0)
    ids = torch.zeros((1, 0), dtype=torch.long)
    vocab = len(tokenizer)
    for _ in range(max_steps):
        scores = processor(ids, torch.randn((1, vocab), generator=generator) * 5)
        token = int(torch.distributions.Categorical(logits=scores[0]).sample())
        ids = torch.cat([ids, torch.tensor([[token]])], dim=1)
        if token == end_id:
            break
    return ids[0].tolist()


@pytest.mark.parametrize("media_count", [0, 1, 2, 3])
def test_any_path_through_the_plan_grammar_parses(merged, media_count):
    tokenizer = merged.loaded.tokenizer
    end_id = tokenizer.convert_tokens_to_ids("<|im_end|>")
    start = constrained.unison_plan_grammar(tokenizer, [end_id], media_count, allow_prose=False)
    tasks = set()
    for seed in range(60):
        torch.manual_seed(seed)
        ids = _random_walk(start, tokenizer, end_id, seed)
        assert ids[-1] == end_id, "the grammar always ends the plan"
        plan = Plan.from_tokens(tokenizer.decode(ids, skip_special_tokens=False), media_count=media_count,
                                clamp=True)
        tasks.add(plan.task)
    assert len(tasks) >= (2 if media_count == 0 else 5)


@pytest.mark.parametrize("text, expected", [
    ("<BORES>3840,2160<EORES><CFI>", ((2048, 1152), None, "3840x2160")),
    ("<BONF>360<EONF><CFV>", ((None, None), 241, "num_frames 361")),
    ("<BORES>832,480<EORES><BONF>48<EONF><CFV>", ((832, 480), 49, None)),
])
def test_the_plan_grammar_lets_numbers_finish(merged, text, expected):
    # Item 9: 3840 used to be cut to 384 and <BONF>360 to 36 (valid but wrong plans).
    tokenizer = merged.loaded.tokenizer
    end_id = tokenizer.convert_tokens_to_ids("<|im_end|>")
    walker = constrained.GrammarWalker(constrained.unison_plan_grammar(tokenizer, [end_id], 0, allow_prose=False))
    for token in tokenizer.encode(text, add_special_tokens=False) + [end_id]:
        assert walker.mask(len(tokenizer))[token], f"the grammar refused {tokenizer.decode([token])!r} in {text}"
        walker.step(token)
    plan = Plan.from_tokens(text, clamp=True)
    size, frames, warned = expected
    assert (plan.width, plan.height) == size and plan.num_frames == frames
    assert any(warned in w for w in plan.warnings) if warned else not plan.warnings


def test_prose_is_free_of_plan_tokens_and_cut_short(merged):
    tokenizer = merged.loaded.tokenizer
    end_id = tokenizer.convert_tokens_to_ids("<|im_end|>")
    start = constrained.unison_plan_grammar(tokenizer, [end_id], 1, prose_tokens=5)
    plan_ids = {tokenizer.convert_tokens_to_ids(t) for t in constrained.UNISON_TOKENS}
    outcomes = set()
    for seed in range(40):
        ids = _random_walk(start, tokenizer, end_id, seed)
        text = tokenizer.decode(ids, skip_special_tokens=False)
        if ids[0] in plan_ids:
            outcomes.add("plan")
            Plan.from_tokens(text, media_count=1)
        else:
            outcomes.add("prose")
            assert not plan_ids & set(ids) and len(ids) <= 5 and ids[-1] == end_id
    assert outcomes == {"prose"} or outcomes == {"plan", "prose"}


@pytest.mark.parametrize("text", [
    "Generate an image of a cat",
    "Make a 3 second video of a dog in 16:9",
    "Edit ###a.png### using the mask ###b.jpg###",
    "Animate ###a.png###",
])
def test_plan_from_random_weights_is_always_a_generation_plan(merged, media_dir, text):
    planner = _copy(merged)
    planner.allow_prose = False
    request = _request(text, media_dir)
    plan = planner.plan(request)
    assert isinstance(plan, Plan) and not plan.is_understanding
    assert Plan.from_tokens(plan.raw, media_count=len(request.media)).task in TASKS
    planned = Plan.from_tokens(plan.raw, media_count=len(request.media))
    assert (plan.width, plan.height, plan.num_frames) == (planned.width, planned.height, planned.num_frames)
    if "16:9" in text:  # the opt-in cross-check only warns: the model's plan stands
        planner.cross_check = True
        checked = planner.plan(request)
        assert (checked.width, checked.height, checked.num_frames) == (planned.width, planned.height,
                                                                       planned.num_frames)
        if (planned.width, planned.height) != (1280, 720):
            assert any("1280x720" in w for w in checked.warnings)


def test_plan_may_choose_prose(merged, media_dir):
    request = _request("What is in ###a.png###?", media_dir)
    plan = merged.plan(request)
    if plan.is_understanding:
        assert plan.task == "image_understanding" and plan.raw
    else:
        Plan.from_tokens(plan.raw, media_count=1)


def test_unconstrained_output_parses_or_falls_back(merged, media_dir):
    planner = _copy(merged)
    planner.constrained = False
    request = _request("Make a video of ###a.png###", media_dir)
    plan = planner.plan(request)
    assert plan.task in TASKS
    bad = planner._parse("<BORES>12<CFI>", request)
    assert bad.task == "image_understanding" and "not a valid plan" in bad.warnings[0]
    good = planner._parse("<BORES>1280,720<EORES><CFI><|im_end|>", request)
    assert (good.task, good.width, good.height) == ("text_to_image", 1280, 720)


# -- answering ---------------------------------------------------------------------------------
def test_answer_text(merged, media_dir):
    answer = merged.answer(_request("What is the capital of France?", media_dir), max_new_tokens=8)
    assert isinstance(answer, str) and answer
    assert not any(t in answer for t in constrained.UNISON_TOKENS)


def test_answer_stops_within_one_token_of_a_cancel(merged, media_dir):
    from unison_runtime.errors import Cancelled

    checks = []

    def check():
        checks.append(1)
        if len(checks) == 3:
            raise Cancelled("interrupted")

    with pytest.raises(Cancelled):
        merged.answer(_request("What is the capital of France?", media_dir), max_new_tokens=32, check_cancel=check)
    assert len(checks) == 3  # checked once per token, stopped at the third
    assert merged.answer(_request("What is the capital of France?", media_dir), max_new_tokens=4)  # still usable


def test_answer_with_two_images_feeds_both(merged, media_dir):
    request = _request("Compare ###a.png### and ###b.jpg###", media_dir)
    images, videos, _ = merged._load_media(request)
    assert len(images) == 2 and not videos
    text = "<|vision_start|><|image_pad|><|vision_end|>" * 2
    inputs = merged._processor_inputs(text, images, videos, [])
    assert inputs["image_grid_thw"].shape[0] == 2
    assert isinstance(merged.answer(request, max_new_tokens=4), str)


def test_answer_with_video_samples_frames(merged, media_dir):
    request = _request("Describe ###v.mp4###", media_dir)
    _, videos, fps = merged._load_media(request)
    assert len(videos) == 1 and 1 <= len(videos[0]) <= 6 and fps == [2.0]  # 2 s at 24 fps -> <=2 fps
    inputs = merged._processor_inputs("<|vision_start|><|video_pad|><|vision_end|>", [], videos, fps)
    assert inputs["video_grid_thw"].shape[0] == 1 and "pixel_values_videos" in inputs
    answer = merged.answer(request, max_new_tokens=4, temperature=0.7, seed=3)
    assert answer == merged.answer(request, max_new_tokens=4, temperature=0.7, seed=3)


# -- hidden states -----------------------------------------------------------------------------
def test_hidden_states_match_an_independent_forward(merged, media_dir):
    request = _request("Make a video of ###a.png### in 480P", media_dir)
    hidden = merged.hidden_states(request)
    tokenizer, model = merged.loaded.tokenizer, merged.loaded.model
    ids = tokenizer.apply_chat_template([{"role": "user", "content": request.prompt}], tokenize=True,
                                        add_generation_prompt=False, return_tensors="pt", return_dict=True)["input_ids"]
    assert "<IMGPAD>" in tokenizer.decode(ids[0])
    with torch.no_grad():
        reference = model.model(input_ids=ids).last_hidden_state[:, 1:]
    assert hidden.dtype == torch.float32 and hidden.shape == (1, ids.shape[1] - 1, 64)
    assert torch.allclose(hidden, reference, atol=1e-5)


# -- instruct mode -----------------------------------------------------------------------------
def test_instruct_mode_yields_valid_plans(instruct, media_dir):
    assert instruct.mode == "instruct"
    for text in ("Generate an image of a cat", "Edit ###a.png### with ###b.jpg###"):
        request = _request(text, media_dir)
        plan = instruct.plan(request)
        assert isinstance(plan, Plan) and plan.task in TASKS
        assert json.loads(plan.raw)["task"] == plan.task or plan.warnings


@pytest.mark.parametrize("media_count", [0, 2])
def test_any_path_through_the_json_grammar_is_a_plan(instruct, media_count):
    from unison_runtime.planner.instruct import _plan_from_dict, plan_schema

    tokenizer = instruct.loaded.tokenizer
    end_id = tokenizer.convert_tokens_to_ids("<|im_end|>")
    start = constrained.tagged_json_grammar(tokenizer, "task", plan_schema(media_count), end_id)
    tasks = set()
    for seed in range(40):
        ids = _random_walk(start, tokenizer, end_id, seed, max_steps=120)
        assert ids[-1] == end_id
        text = tokenizer.decode(ids[:-1], skip_special_tokens=False)
        tasks.add(_plan_from_dict(json.loads(text), media_count, raw=text).task)
    assert len(tasks) >= 3
    if media_count == 0:
        assert tasks <= {"text_understanding", "text_to_image", "text_to_video"}


# -- errors ------------------------------------------------------------------------------------
def test_missing_folder(tmp_path):
    with pytest.raises(ModelLoadError, match="not found"):
        load_planner(tmp_path / "nope")


def test_wrong_model_type(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert", "architectures": ["BertModel"]}))
    with pytest.raises(ModelLoadError, match="'bert'.*Qwen2.5-VL"):
        load_planner(tmp_path)


def test_corrupt_safetensors(tmp_path, planner_models):
    source = planner_models / layout.PLANNER_MERGED
    folder = tmp_path / "broken"
    shutil.copytree(source, folder)
    data = (source / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelLoadError, match="corrupt safetensors"):
        load_planner(folder)
    (folder / "model.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(ModelLoadError, match="corrupt safetensors"):
        load_planner(folder)


def test_base_without_adapter_is_refused_in_unison_mode(planner_models):
    before = get_manager().load_count("planner")
    with pytest.raises(ModelLoadError, match="adapter_dir.*merged"):
        load_planner(planner_models / layout.PLANNER_BASE, mode="unison")
    assert get_manager().load_count("planner") == before  # refused before loading anything


def test_adapter_folder_given_as_model(planner_models):
    with pytest.raises(ModelLoadError, match="adapter_dir"):
        load_planner(planner_models / layout.PLANNER_ADAPTER)


def test_unknown_mode(planner_models):
    with pytest.raises(ModelLoadError, match="mode"):
        load_planner(planner_models / layout.PLANNER_MERGED, mode="chat")


def test_the_json_grammar_lets_numbers_finish(instruct):
    from unison_runtime.planner.instruct import _plan_from_dict, plan_schema

    tokenizer = instruct.loaded.tokenizer
    end_id = tokenizer.convert_tokens_to_ids("<|im_end|>")
    text = '{"task":"text_to_video","width":3840,"height":2160,"num_frames":360}'
    walker = constrained.GrammarWalker(constrained.tagged_json_grammar(tokenizer, "task", plan_schema(0), end_id))
    for token in tokenizer.encode(text, add_special_tokens=False) + [end_id]:
        assert walker.mask(len(tokenizer))[token], f"the grammar refused {tokenizer.decode([token])!r}"
        walker.step(token)
    plan = _plan_from_dict(json.loads(text), 0, raw=text)
    assert (plan.width, plan.height, plan.num_frames) == (2048, 1152, 241) and len(plan.warnings) == 2


# -- understanding as the reference (issue 13 items 10 and 15) -----------------------------------------
def test_image_answers_put_the_text_first_with_its_pad_token(media_dir):
    from unison_runtime.planner import prompting

    request = _request("Compare ###a.png### and ###b.jpg###", media_dir)
    content = prompting.media_turn(request)[0]["content"]
    assert content == [{"type": "text", "text": "Compare <IMGPAD> and <IMGPAD>"}, {"type": "image"}, {"type": "image"}]
    video = _request("Here is the mask <VIDPAD>. Make the bird in this video ###v.mp4### white", media_dir)
    parts = prompting.media_turn(video)[0]["content"]
    assert [p["type"] for p in parts] == ["text", "video", "text"]  # the typed pad stays in the text...
    assert parts[0]["text"] == "Here is the mask <VIDPAD>. Make the bird in this video "  # ...as the pad token
    shown = _request("Draw <|image_pad|> and <|vision_start|> on a sign", media_dir)
    text = prompting.media_turn(shown)[0]["content"][0]["text"]
    assert "<|image_pad|>" not in text and "<|vision_start|>" not in text  # Qwen's own tokens: escaped text


def test_a_typed_pad_token_plans_and_answers(merged, media_dir):
    # run.sh example 9: a typed <VIDPAD> (the mask to be made) before the one media item.
    request = _request("Here is the mask <VIDPAD>. Make the bird in this video ###v.mp4### white", media_dir)
    assert request.slots == (None, 0)
    plan = merged._parse("<BOEDIT>0,1<EOEDIT><CFV>", request)
    assert plan.task == "video_edit" and plan.source_index == 0 and plan.mask_index is None
    assert any("pad #1, the <VIDPAD> typed" in w for w in plan.warnings) and plan.raw == "<BOEDIT>0,1<EOEDIT><CFV>"
    swapped = merged._parse("<BOEDIT>1,0<EOEDIT><CFV>", request)  # the typed pad as the source
    assert swapped.task == "video_edit" and swapped.source_index is None and swapped.mask_index is None
    assert any("source is pad #1" in w for w in swapped.warnings)
    assert isinstance(merged.answer(request, max_new_tokens=2), str)


@pytest.mark.parametrize("text, tokens, message", [
    # image edit: the reference cannot fill a typed mask either (it indexes its files by the plan)
    ("Here is the mask <IMGPAD>. Make the cat in ###a.png### white", "<BOEDIT>0,1<EOEDIT><CFI>",
     "image_edit needs a source image and a mask image"),
    ("Make a video starring <IMGPAD> on a beach", "<REF><CFV>", "needs a reference image"),
    ("Animate <IMGPAD> please", "<BOFIDX>0<EOFIDX><CFV>", "needs 1 image"),
])
def test_a_typed_pad_no_media_fills_is_a_one_line_error(merged, media_dir, text, tokens, message):
    from unison_runtime.errors import PlanError
    from unison_runtime.pipeline.stage_two import describe_media
    from unison_runtime.router import route

    request = _request(text, media_dir)
    plan = merged._parse(tokens, request)
    with pytest.raises(PlanError, match=message) as info:
        route(plan, describe_media(request))
    assert "\n" not in str(info.value)


def test_plan_tokens_typed_in_a_request_never_become_the_plan(merged, media_dir, monkeypatch):
    request = _request("Draw a cat <BOEDIT>0,1<EOEDIT><CFV> ###a.png###", media_dir)
    planner = _copy(merged)
    monkeypatch.setattr(planner, "_generate_text", lambda *args: "A cat.")  # the model answers in words
    assert planner.plan(request).task == "image_understanding"  # not the typed video edit
    monkeypatch.setattr(planner, "_generate_text", lambda *args: "<CFI>")
    plan = planner.plan(request)
    assert (plan.task, plan.raw) == ("text_to_image", "<CFI>")


def test_a_typed_pad_in_a_question_is_answered_as_text(merged, media_dir):
    from unison_runtime.planner import prompting

    request = _request("What does <IMGPAD> stand for?", media_dir)
    plan = merged._parse("It is a placeholder.", request)  # prose: an answer, as the reference's else-branch
    assert plan.task == "text_understanding"  # by the media given (none), not the typed pad
    assert prompting.media_turn(request)[0]["content"] == [{"type": "text", "text": "What does <IMGPAD> stand for?"}]
    assert isinstance(merged.answer(request, max_new_tokens=2), str)


def test_video_answers_state_the_real_frame_rate(merged, media_dir):
    from dataclasses import replace as copy_with

    planner = _copy(merged)
    planner.budget = copy_with(planner.budget, video_max_frames=3)
    request = _request("Describe ###v.mp4###", media_dir)  # 2 s at 24 fps
    _, videos, fps = planner._load_media(request)
    assert len(videos[0]) == 3 and fps == [pytest.approx(1.5)]  # 3 frames over 2 s, not 2 fps
    inputs = planner._processor_inputs("<|vision_start|><|video_pad|><|vision_end|>", [], videos, fps)
    assert inputs["second_per_grid_ts"][0] == pytest.approx(2 / 1.5)


def test_answers_use_the_processor_pixel_budget_and_the_folder_generation_config(merged, media_dir):
    request = _request("Describe ###a.png###", media_dir)
    images, _, _ = merged._load_media(request)
    own = merged.loaded.processor.image_processor(images=images, return_tensors="pt")
    inputs = merged._processor_inputs("<|vision_start|><|image_pad|><|vision_end|>", images, [], [])
    assert inputs["image_grid_thw"].tolist() == own["image_grid_thw"].tolist()
    config = merged.loaded.model.generation_config
    assert config.repetition_penalty == 1.05  # the folder's, which answers now decode with
    assert merged.answer(request, max_new_tokens=3) == merged.answer(request, max_new_tokens=3, seed=9)


def test_answer_decoding_knobs_come_from_the_folder(merged):
    knobs = merged._folder_decoding()
    assert knobs["repetition_penalty"] == 1.05 and knobs["top_k"] == 1 and knobs["do_sample"] is True
