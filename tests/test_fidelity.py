"""Preparation follows the reference Unison / VACE / Wan2.1 code by default (issue 13): one test
per numbered item, each of which failed on the earlier, non-reference behaviour."""

from __future__ import annotations

import numpy as np

from unison_runtime.annotators import run_annotator, sources
from unison_runtime.pipeline.stage_two import prepare_stage_two
from unison_runtime.plan import Plan
from unison_runtime.router import MediaInfo, Overrides
from unison_runtime.router import route as route_with


def route(plan, media, overrides=None):
    """`router.route` with the overrides written as a dict."""
    return route_with(plan, media, Overrides.from_mapping(overrides) if overrides is not None else None)


def _video(t, h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (t, h, w, 3), dtype=np.uint8)


# 1. edit and control sources: the planned area, the source's aspect, the whole clip
def test_item1_edit_source_is_scaled_to_the_planned_area_and_spread_over_the_clip():
    media = [MediaInfo("video", 1280, 720, 200, "clip.mp4"), MediaInfo("image", 1280, 720, 1, "mask.png")]
    chosen = route(Plan(task="video_edit", source_index=0, mask_index=1), media)
    assert (chosen.width, chosen.height, chosen.num_frames) == (832, 480, 81)
    stated = route(Plan(task="video_edit", source_index=0, mask_index=1, width=1280, height=720), media)
    assert (stated.width, stated.height) == (1280, 720)  # a stated <BORES> sets the area
    ids = sources.resample_frame_ids(200, 81)
    assert ids[0] == 0 and ids[-1] == 199 and ids == sorted(ids)


def test_item1_small_sources_are_never_upscaled():
    chosen = route(Plan(task="image_edit", source_index=0, mask_index=1),
                   [MediaInfo("image", 320, 240), MediaInfo("image", 320, 240, 1, "mask.png")])
    assert (chosen.width, chosen.height) == (320, 240)


# 2. image-to-video: the image's aspect at the planned area, not a cover-crop to 832x480
def test_item2_frame_reference_keeps_the_image_aspect():
    chosen = route(Plan(task="image_to_video", frame_ref="first"), [MediaInfo("image", 1024, 1024)])
    assert (chosen.width, chosen.height) == (640, 624)  # the reference's snapping of a square
    assert chosen.width * chosen.height <= 832 * 480


# 3. a size the caller fixes with another aspect: resize and centre-crop, no black letterbox
def test_item3_fixed_size_of_another_aspect_is_cropped_not_letterboxed():
    source = np.full((1, 60, 120, 3), 200, np.uint8)
    mask = np.zeros((1, 60, 120, 3), np.uint8)
    media = [source, mask]
    infos = [MediaInfo("image", 120, 60), MediaInfo("image", 120, 60, 1, "mask.png")]
    chosen = route(Plan(task="image_edit"), infos, {"width": 64, "height": 64})
    stage = prepare_stage_two(chosen, media)
    assert stage.frames.shape == (1, 64, 64, 3) and (stage.frames == 200).all()


# 13. control of another aspect: cover + crop; shorter than the plan: its own length
def test_item13_control_is_cropped_and_keeps_its_own_shorter_length():
    control = np.full((33, 72, 128, 3), 200, np.uint8)
    control[:, :, 0] = 90  # a marker column at the far left: cropped away by a centre crop
    chosen = route(Plan(task="video_control", num_frames=81), [MediaInfo("video", 128, 72, 33)])
    assert chosen.num_frames == 33  # not 81 with the last pose frozen
    stage = prepare_stage_two(chosen, [control])
    assert stage.frames.shape == (33, chosen.height, chosen.width, 3)
    assert stage.frames.min() > 0  # no black bars
    exact = route(Plan(task="video_control"), [MediaInfo("video", 128, 72, 33)], {"width": 64, "height": 64})
    prepared = prepare_stage_two(exact, [control])
    assert prepared.frames.shape[1:3] == (64, 64) and (prepared.frames == 200).all()


# 14. sides that are not multiples of 16: the aspect kept, centre-cropped (80x60 -> 80x48)
def test_item14_odd_sized_source_is_centre_cropped():
    source = _video(1, 60, 80)
    chosen = route(Plan(task="image_edit", source_index=0, mask_index=1),
                   [MediaInfo("image", 80, 60), MediaInfo("image", 80, 60, 1, "mask.png")])
    assert (chosen.width, chosen.height) == (80, 48)
    result = run_annotator("mask", frames=source, mask=np.zeros((60, 80), np.uint8),
                           width=80, height=48, num_frames=1)
    assert np.array_equal(result.frames[0], source[0, 6:54])  # the middle rows, no padding


# 6. given masks: VACE's grey test (> 0); alpha only when transparent-painted; 16-bit scaled
def test_item6_given_masks_are_read_as_vace_reads_them(tmp_path):
    from PIL import Image

    from unison_runtime.annotators.masks import as_mask_video
    from unison_runtime.media import load_mask as load_levels

    def load_mask(path):
        """The region as the pipeline sees it: levels read (soft), binarised in the annotator."""
        levels = load_levels(path)
        return as_mask_video(levels, 1, *levels.shape)[0]

    grey = np.array([[0, 1, 100], [127, 128, 255]], np.uint8)
    Image.fromarray(grey).save(tmp_path / "grey.png")
    assert load_mask(tmp_path / "grey.png").tolist() == [[0, 1, 1], [1, 1, 1]]

    photo = np.full((2, 3, 4), 180, np.uint8)  # a photo whose painted pixels are transparent
    photo[..., 3] = 255
    photo[0, 0, 3] = 0
    Image.fromarray(photo, "RGBA").save(tmp_path / "painted.png")
    assert load_mask(tmp_path / "painted.png").tolist() == [[1, 0, 0], [0, 0, 0]]

    drawn = np.zeros((2, 3, 4), np.uint8)  # a black/white mask that also has a transparent corner
    drawn[..., 3] = 255
    drawn[1, :, :3] = 255
    drawn[0, 2, 3] = 0
    Image.fromarray(drawn, "RGBA").save(tmp_path / "drawn.png")
    assert load_mask(tmp_path / "drawn.png").tolist() == [[0, 0, 0], [1, 1, 1]]

    deep = np.array([[100, 300, 60000]], np.uint16)  # 16-bit: 300 is near black, not white
    Image.fromarray(deep).save(tmp_path / "deep.png")
    assert load_mask(tmp_path / "deep.png").tolist() == [[0, 1, 1]]
    assert np.rint(300 * 255 / 65535) == 1  # scaled, never clipped to 255


def test_item6_mask_frames_use_the_grey_test():
    source = _video(1, 32, 32)
    mask = np.zeros((1, 32, 32, 3), np.uint8)
    mask[0, :16] = 60  # dark grey: a region for VACE (old rule: mean > 127 kept it)
    chosen = route(Plan(task="image_edit", source_index=0, mask_index=1),
                   [MediaInfo("image", 32, 32), MediaInfo("image", 32, 32, 1, "mask.png")])
    stage = prepare_stage_two(chosen, [source, mask])
    assert (stage.masks[0, :16] == 255).all() and (stage.masks[0, 16:] == 0).all()


def test_a_mask_video_of_another_length_follows_its_source_over_the_clip():
    source = _video(9, 32, 48)
    mask = np.zeros((5, 32, 48, 3), np.uint8)
    mask[-1] = 255  # only the mask video's last frame marks the region
    chosen = route(Plan(task="video_edit", source_index=0, mask_index=1),
                   [MediaInfo("video", 48, 32, 9), MediaInfo("video", 48, 32, 5, "mask.mp4")])
    stage = prepare_stage_two(chosen, [source, mask])
    assert stage.masks.shape[0] == chosen.num_frames == 9
    assert (stage.masks[-1] == 255).all() and (stage.masks[0] == 0).all()
