"""Preparation against golden fixtures made by the reference code itself
(tests/fixtures/golden/RECIPE.md): sizes, lengths, frame choice and pixels must be the reference's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from unison_runtime.annotators import run_annotator, sources
from unison_runtime.generator.sampling import prepare_reference
from unison_runtime.pipeline.stage_two import prepare_stage_two
from unison_runtime.plan import Plan
from unison_runtime.router import MediaInfo, Overrides
from unison_runtime.router import route as route_with


def route(plan, media, overrides=None):
    """`router.route` with the overrides written as a dict."""
    return route_with(plan, media, Overrides.from_mapping(overrides) if overrides is not None else None)

GOLDEN = Path(__file__).parent / "fixtures" / "golden" / "preparation.npz"


@pytest.fixture(scope="module")
def golden():
    with np.load(GOLDEN) as data:
        return {k: data[k] for k in data.files}


def _info(kind, array, name=""):
    return MediaInfo(kind=kind, width=array.shape[2], height=array.shape[1], num_frames=array.shape[0], name=name)


def test_geometry_and_frame_choice_match_the_reference(golden):
    offset = 0
    for w, h, n, area, ow, oh, of in golden["geometry"]:
        fit = sources.fit_source_to_area(w, h, n, area)
        assert (fit.width, fit.height, fit.num_frames) == (ow, oh, of), (w, h, n, area)
        assert sources.resample_frame_ids(n, of) == golden["geometry_ids"][offset:offset + of].tolist()
        offset += of


def test_reference_control_example_is_prepared_at_the_planned_area():
    # run.sh's control example: 1280x720, 82 frames -> 832x480x81 (was kept at 1280x720).
    plan = Plan(task="video_control")
    chosen = route(plan, [MediaInfo("video", 1280, 720, 82, "ctrl.mp4")])
    assert (chosen.width, chosen.height, chosen.num_frames) == (832, 480, 81)


def test_video_control_matches_the_reference(golden):
    control = golden["control_in"]
    chosen = route(Plan(task="video_control"), [_info("video", control)])
    stage = prepare_stage_two(chosen, [control])
    assert stage.frames.shape == golden["control_out"].shape
    assert np.array_equal(stage.frames, golden["control_out"])


def test_image_edit_with_grey_mask_matches_the_reference(golden):
    source, mask = golden["edit_source"], golden["edit_mask"]
    chosen = route(Plan(task="image_edit", mask_index=1, source_index=0),
                   [_info("image", source), MediaInfo("image", 100, 70, 1, "mask.png")])
    assert (chosen.width, chosen.height) == (96, 64)
    result = run_annotator("mask", frames=source, mask=(mask > 0).astype(np.uint8),
                           width=chosen.width, height=chosen.height, num_frames=chosen.num_frames)
    video, masks = result.to_vace_tensors()
    assert np.array_equal(result.frames, golden["edit_frames"])
    np.testing.assert_allclose(masks[0].numpy(), golden["edit_masks"], atol=1e-6)


@pytest.mark.parametrize("mode", ["firstframe", "lastframe"])
def test_image_to_video_keeps_the_image_aspect_and_matches_the_reference(golden, mode):
    image = golden["frameref_image"][None]
    plan = Plan(task="image_to_video", num_frames=9, frame_ref=mode.replace("frame", ""))
    chosen = route(plan, [_info("image", image)])
    assert (chosen.width, chosen.height, chosen.num_frames) == (96, 64, 9)  # not the planned 832x480
    stage = prepare_stage_two(chosen, [image])
    _, masks, _ = stage.to_tensors()
    assert np.array_equal(stage.frames, golden[f"{mode}_frames"])
    np.testing.assert_allclose(masks[0].numpy(), golden[f"{mode}_masks"], atol=1e-6)


@pytest.mark.parametrize("name", ["ref_large", "ref_tall"])
def test_reference_images_are_placed_as_the_reference_does(golden, name):
    image = golden[f"{name}_in"]
    chosen = route(Plan(task="image_reference", width=64, height=48), [_info("image", image[None])])
    stage = prepare_stage_two(chosen, [image[None]])
    _, _, references = stage.to_tensors()
    assert tuple(references[0].shape[1:]) == image.shape[:2]  # passed at its own size
    placed = prepare_reference(references[0], chosen.height, chosen.width)
    np.testing.assert_allclose(placed.numpy(), golden[f"{name}_out"], atol=1e-6)


def test_image_control_of_another_aspect_matches_the_reference(golden):
    control = golden["image_control_in"]
    chosen = route(Plan(task="image_control"), [_info("image", control)])
    stage = prepare_stage_two(chosen, [control])
    assert np.array_equal(stage.frames, golden["image_control_out"])


def test_video_edit_with_a_mask_matches_the_reference(golden):
    video, mask = golden["video_edit_in"], golden["edit_mask"]
    mask_frames = np.repeat(mask[None, ..., None], 3, axis=-1)
    chosen = route(Plan(task="video_edit", source_index=0, mask_index=1),
                   [_info("video", video), MediaInfo("image", 100, 70, 1, "mask.png")])
    assert chosen.num_frames == len(golden["video_edit_frames"]) == 9  # 12 frames spread, not the first 9
    stage = prepare_stage_two(chosen, [video, mask_frames])
    _, masks, _ = stage.to_tensors()
    assert np.array_equal(stage.frames, golden["video_edit_frames"])
    np.testing.assert_allclose(masks[0].numpy(), golden["video_edit_masks"], atol=1e-6)


def test_text_to_image_sees_zeros_and_an_all_ones_mask_at_the_planned_size():
    # prepare_source with no source: zeros (3, n, h, w) and ones, at <BORES> or 832x480.
    chosen = route(Plan(task="text_to_image", width=64, height=48), [])
    stage = prepare_stage_two(chosen, [])
    assert (stage.width, stage.height, stage.num_frames) == (64, 48, 1)
    assert stage.frames is None and stage.masks is None  # the generator's zeros and ones


# -- numerics that already matched: kept matched -------------------------------------------------
@pytest.mark.parametrize("name", ["projector_short", "projector_long"])
def test_projector_matches_the_reference_projmlp(golden, tmp_path, name):
    import torch

    from unison_runtime.projector import load_projector, project

    state = {k.split(".", 1)[1]: torch.from_numpy(v) for k, v in golden.items() if k.startswith("projector_state.")}
    torch.save({f"module.{k}": v for k, v in state.items()}, tmp_path / "projector.pth")  # DDP names, as released
    projector = load_projector(tmp_path / "projector.pth", device="cpu")
    out = project(projector, torch.from_numpy(golden[f"{name}_in"]))
    np.testing.assert_allclose(out.numpy(), golden[f"{name}_out"], atol=1e-5)


def test_soft_mask_folding_matches_vace(golden):
    import torch

    from unison_runtime.generator.sampling import fold_masks

    soft = torch.from_numpy(golden["fold_in"])
    folded = fold_masks(soft[0], (soft.shape[1] - 1) // 4 + 1)
    np.testing.assert_allclose(folded.numpy(), golden["fold_out"], atol=0)
