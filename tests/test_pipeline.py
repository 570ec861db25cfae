"""End to end on the tiny models: one user-written request per task through `run`, plus
overrides, missing/unsupported media, caching and the understanding/generation separation."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest

from unison_runtime.errors import PlanError, RequestError, UnisonError
from unison_runtime.models import get_manager
from helpers import overrides as as_overrides
from helpers import run_options as RunOptions
from unison_runtime.pipeline import RunHooks
from unison_runtime.pipeline import run as run_pipeline


def run(text, values, options):
    """`pipeline.run` with the overrides written as a dict."""
    return run_pipeline(text, as_overrides(values), options)

TINY = {"width": 32, "height": 32}
VIDEO_FRAMES = 5


@pytest.fixture(scope="module")
def media_dir(sample_media):
    return sample_media


@pytest.fixture
def options(all_models, media_dir, tmp_path):
    return RunOptions(models_dir=all_models, planner="rules", media_roots=(media_dir,),
                      out_dir=tmp_path / "out", steps=2, max_new_tokens=8)


# (request as a user writes it, expected task, expected annotator, what reached stage two)
CASES = [
    ("Generate an image of a lion resting on a rock", "text_to_image", None, dict(source_shape=None)),
    ("Replace the masked area with flowers ###unison_scene.png### ###unison_scene_mask.png###",
     "image_edit", "mask", dict(source_shape=[1, 32, 32, 3], mask_shape=[1, 32, 32])),
    ("Generate an image of a dancer following this pose ###unison_pose.png###",
     "image_control", "control", dict(source_shape=[1, 32, 32, 3])),
    ("Create a picture of this character reading in a library ###unison_character.png###",
     "image_reference", "reference", dict(references=1, source_shape=None)),
    ("Make a 2-second video of a lion walking through tall grass", "text_to_video", None, dict(num_frames=5)),
    ("Animate this image so the ball rolls away ###unison_scene.png###",
     "image_to_video", "firstframe", dict(source_shape=[5, 32, 32, 3], mask_shape=[5, 32, 32])),
    ("Make a video of this character walking on the beach ###unison_character.png###",
     "video_reference", "reference", dict(references=1)),
    ("Turn the main subject of this video into a golden statue ###unison_clip.mp4###",
     "video_edit", "salient", dict(source_shape=[5, 32, 32, 3], mask_shape=[5, 32, 32])),
    ("Generate a video of a robot dancing following the pose in this video ###unison_pose_clip.mp4###",
     "video_control", "control", dict(source_shape=[5, 32, 32, 3])),
]


@pytest.mark.parametrize("text, task, annotator, stage_two", CASES, ids=[c[1] for c in CASES])
def test_generation_task_end_to_end(text, task, annotator, stage_two, options):
    overrides = dict(TINY, num_frames=VIDEO_FRAMES) if "video" in task else dict(TINY)
    result = run(text, overrides, options)
    assert result.plan.task == task and result.route.task == task
    assert result.route.annotator == annotator
    assert result.stage_two["annotator"] == annotator
    for key, value in stage_two.items():
        assert result.stage_two[key] == value, key
    frames_expected = VIDEO_FRAMES if "video" in task else 1
    assert result.frames.shape == (frames_expected, 32, 32, 3) and result.frames.dtype == np.uint8
    assert result.answer is None
    output = result.files[0]
    assert output.suffix == (".mp4" if "video" in task else ".png") and output.stat().st_size > 0
    saved = json.loads((options.output.out_dir / "result.json").read_text())
    assert saved["task"] == task and saved["route"]["annotator"] == annotator
    assert {"plan", "route", "generate"} <= set(saved["seconds"])


def test_masked_edit_paints_the_masked_area_gray(options):
    result = run("Replace the masked area with flowers ###unison_scene.png### ###unison_scene_mask.png###",
                 TINY, options)
    fraction = result.stage_two["masked_fraction"]
    assert 0.05 < fraction < 0.6  # the sample mask is a disc in the middle


@pytest.mark.parametrize("text, task", [
    ("What is the capital of France?", "text_understanding"),
    ("What is in this picture? ###unison_scene.png###", "image_understanding"),
    ("Describe what happens in this clip ###unison_clip.mp4###", "video_understanding"),
])
def test_understanding_answers_without_the_generator(text, task, options, monkeypatch):
    from unison_runtime import sources
    from unison_runtime.pipeline import stages

    def no_generator(*_, **__):
        raise AssertionError("an understanding request touched the generator or decoded pixels")

    monkeypatch.setattr(sources.GeneratorSource, "load", no_generator)
    monkeypatch.setattr(stages, "generate_video", no_generator)
    monkeypatch.setattr(stages, "prepare_request", no_generator)

    result = run(text, None, options)
    assert result.route.task == task and not result.route.needs_generator
    assert isinstance(result.answer, str) and result.frames is None
    assert result.files[0].name == "answer.txt"
    assert result.files[0].read_text().rstrip("\n") == result.answer


def test_generation_never_calls_answer(options, monkeypatch):
    from unison_runtime.planner import qwen

    def no_answer(*_, **__):
        raise AssertionError("a generation request asked the planner for an answer")

    monkeypatch.setattr(qwen.QwenPlanner, "answer", no_answer)
    result = run("Generate an image of a red cube", TINY, options)
    assert result.route.task == "text_to_image"


def test_second_similar_run_loads_nothing(options):
    run("Generate an image of a cat", TINY, options)
    before = get_manager().load_count()
    result = run("Generate an image of a dog", TINY, options)
    assert result.loads == 0 and get_manager().load_count() == before


def test_projector_tokens_reach_the_context_and_can_be_switched_off(options):
    with_projector = run("Generate an image of a cat", TINY, options)
    options.models = replace(options.models, use_projector=False)
    without = run("Generate an image of a cat", TINY, options)
    assert with_projector.stage_two["projector_used"] is True
    assert without.stage_two["projector_used"] is False
    assert not np.array_equal(with_projector.frames, without.frames)


def test_same_seed_same_output_and_seed_matters(options):
    first = run("Generate an image of a cat", TINY, options)
    again = run("Generate an image of a cat", TINY, options)
    options.sampling = replace(options.sampling, seed=1)
    other = run("Generate an image of a cat", TINY, options)
    assert np.array_equal(first.frames, again.frames)
    assert not np.array_equal(first.frames, other.frames)


@pytest.mark.parametrize("overrides, check", [
    ({"task": "text_to_video", "num_frames": 9}, lambda r: r.route.task == "text_to_video" and r.frames.shape[0] == 9),
    ({"width": 48, "height": 32}, lambda r: r.frames.shape[1:3] == (32, 48)),
])
def test_overrides_change_what_is_generated(overrides, check, options):
    result = run("Generate an image of a cat", {**TINY, **overrides}, options)
    assert check(result)
    assert any("overridden" in w for w in result.route.plan.warnings)


def test_override_frame_ref_last_puts_the_image_last(options):
    result = run("Animate this image ###unison_scene.png###", dict(TINY, num_frames=5, frame_ref="last"), options)
    assert result.route.annotator == "lastframe"


def test_missing_media_is_a_clear_error(options):
    with pytest.raises(PlanError, match="mask"):
        run("Replace the masked area with flowers ###unison_scene.png###", dict(TINY, task="image_edit"), options)


def test_media_outside_the_allowed_roots_is_refused(options, tmp_path):
    outside = tmp_path / "secret.png"
    outside.write_bytes(b"\x89PNG")
    with pytest.raises(RequestError, match="allowed"):
        run(f"What is this? ###{outside}###", None, options)


def test_unsupported_media_is_refused(options, media_dir):
    (media_dir / "notes.txt").write_text("hello")
    with pytest.raises(RequestError, match="png"):
        run("Summarise ###notes.txt###", None, options)


def test_bad_planner_choice_is_named(options):
    with pytest.raises(UnisonError, match="allowed"):
        replace(options.models, planner="oracle")


def test_cancel_stops_generation(options):
    import threading

    from unison_runtime.errors import Cancelled

    cancel = threading.Event()
    steps = []
    presses = []

    def progress(step, total, latents=None):
        steps.append(step)
        if not presses:
            presses.append(step)
            cancel.set()  # the user presses cancel during the first step, once

    options.hooks = RunHooks(cancel=cancel, progress=progress)
    options.sampling = replace(options.sampling, steps=5)
    with pytest.raises(Cancelled):
        run("Generate an image of a cat", TINY, options)
    assert len(steps) == 1
    cancel.clear()
    steps.clear()
    assert run("Generate an image of a cat", TINY, options).frames is not None  # the next run works


def test_output_files_never_overwrite(options):
    first = run("Generate an image of a cat", TINY, options)
    second = run("Generate an image of a cat", TINY, options)
    assert first.files[0] != second.files[0] and first.files[0].exists() and second.files[0].exists()


def test_an_image_mask_follows_the_source_crop(options, media_dir):
    # 96x64 source at an overridden 64x64: source and mask are centre-cropped together, as the
    # reference prepares a source of another aspect (no black bars, no stretching).
    result = run("Replace the masked area with flowers ###unison_scene.png### ###unison_scene_mask.png###",
                 {"width": 64, "height": 64}, options)
    from unison_runtime.pipeline.stage_two import prepare_stage_two

    assert result.stage_two["mask_shape"] == [1, 64, 64]
    mask = np.zeros((1, 64, 96), np.float32)  # as load_route_media hands it over: [T, H, W] levels
    mask[:, :, :48] = 1.0  # the left half of the source
    inputs = prepare_stage_two(result.route, {0: np.zeros((1, 64, 96, 3), np.uint8), 1: mask})
    assert (inputs.masks[0, :, :32] == 255).all() and (inputs.masks[0, :, 32:] == 0).all()


def test_a_transparent_png_mask_marks_its_transparent_pixels(options, media_dir):
    from PIL import Image

    rgba = np.zeros((64, 96, 4), np.uint8)
    rgba[..., 3] = 255
    rgba[:, :48, 3] = 0  # left half transparent: regenerate it
    Image.fromarray(rgba, "RGBA").save(media_dir / "alpha_mask.png")
    result = run("Replace the masked area with flowers ###unison_scene.png### ###alpha_mask.png###",
                 {"width": 96, "height": 64}, options)
    assert result.route.mask_index == 1
    assert abs(result.stage_two["masked_fraction"] - 0.5) < 0.05


def test_understanding_requests_decode_no_pixels(options, monkeypatch):
    from unison_runtime.pipeline import stage_two

    def no_decoding(*_, **__):
        raise AssertionError("an understanding request decoded its media before the planner")

    monkeypatch.setattr(stage_two, "load_route_media", no_decoding)
    result = run("Describe what happens in this clip ###unison_clip.mp4###", None, options)
    assert result.route.task == "video_understanding" and result.answer is not None
