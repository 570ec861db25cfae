"""Exact geometry of the VACE inputs on synthetic images whose answer is known pixel by pixel,
plus the model-free `run_annotator` modes and their input errors."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from unison_runtime.annotators import AnnotatorModels, run_annotator
from unison_runtime.annotators import geometry as g
from unison_runtime.facts import ANNOTATOR_MODES
from unison_runtime.annotators.masks import as_mask_video, check_boxes, labels_prompt
from unison_runtime.errors import AnnotatorError


def _video(t=3, h=6, w=8, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (t, h, w, 3), dtype=np.uint8)


def _solid(h, w, color):
    return np.broadcast_to(np.array(color, np.uint8), (h, w, 3)).copy()


# -- editing and frame references -----------------------------------------------------------
def test_apply_edit_mask_paints_gray_and_encodes_255():
    frames = _video()
    masks = np.zeros((3, 6, 8), np.uint8)
    masks[1, 2:4, 3:6] = 1
    out, enc = g.apply_edit_mask(frames, masks)
    hit = masks.astype(bool)
    assert (out[hit] == 128).all()
    assert np.array_equal(out[~hit], frames[~hit])
    assert set(np.unique(enc)) == {0, 255} and np.array_equal(enc == 255, hit)
    with pytest.raises(AnnotatorError, match="does not match"):
        g.apply_edit_mask(frames, masks[:, :5])


@pytest.mark.parametrize("mode, given", [("first", [0]), ("last", [4]), ("firstlast", [0, 4])])
def test_expand_frame_reference_layout_and_masks(mode, given):
    images = [_solid(4, 6, (10, 20, 30)), _solid(4, 6, (200, 100, 50))][: len(given)]
    frames, masks = g.expand_frame_reference(images, 5, mode)
    assert frames.shape == (5, 4, 6, 3) and frames.dtype == np.uint8 and masks.shape == (5, 4, 6)
    for index in range(5):
        if index in given:
            assert np.array_equal(frames[index], images[given.index(index)]) and (masks[index] == 0).all()
        else:
            assert (frames[index] == g.FRAME_REF_GRAY).all() and (masks[index] == 255).all()


def test_expand_frame_reference_rejects_bad_requests():
    image = _solid(4, 6, (1, 2, 3))
    with pytest.raises(AnnotatorError, match="needs 2 image"):
        g.expand_frame_reference(image, 5, "firstlast")
    with pytest.raises(AnnotatorError, match="at least 2 frames"):
        g.expand_frame_reference(image, 1, "first")
    with pytest.raises(AnnotatorError, match="allowed: first, last, firstlast"):
        g.expand_frame_reference(image, 5, "middle")


# -- resizing ---------------------------------------------------------------------------------
@pytest.mark.parametrize("src, target, placed", [
    ((3, 7), (10, 10), (3, 0, 4, 10)),   # wide 7x3 -> 10x4, centred vertically (3 above, 3 below)
    ((7, 3), (9, 5), (0, 3, 5, 2)),      # tall 3x7 -> 2x5 in 9x5: 3 left, 4 right (extra px right)
    ((5, 5), (8, 3), (0, 2, 3, 3)),      # square -> 3x3 in 8x3
    ((4, 6), (12, 8), (0, 0, 8, 12)),    # same aspect: fills exactly
])
def test_letterbox_places_image_exactly(src, target, placed):
    top, left, new_h, new_w = placed
    image = _solid(*src, (30, 60, 90))
    out = g.letterbox(image, *target)
    assert out.shape == (target[1], target[0], 3)
    inside = np.zeros(out.shape[:2], bool)
    inside[top:top + new_h, left:left + new_w] = True
    assert (out[inside] == (30, 60, 90)).all()
    assert (out[~inside] == 255).all()


def test_fit_size_keeps_aspect_within_a_pixel():
    for sw, sh, tw, th in [(1920, 1080, 832, 480), (481, 833, 832, 480), (3, 1001, 17, 9), (640, 640, 831, 479)]:
        new_w, new_h, left, top = g.fit_size(sw, sh, tw, th)
        assert (new_w == tw or new_h == th) and new_w <= tw and new_h <= th
        assert abs(new_w * sh - new_h * sw) <= max(sw, sh)  # aspect off by under one pixel
        assert left == (tw - new_w) // 2 and top == (th - new_h) // 2


def test_cover_centre_crops_without_borders():
    image = np.concatenate([_solid(4, 4, (255, 0, 0)), _solid(4, 4, (0, 0, 255))], axis=1)  # 8 wide
    out = g.cover(image, 4, 4)
    assert out.shape == (4, 4, 3)
    assert (out[:, :2] == (255, 0, 0)).all() and (out[:, 2:] == (0, 0, 255)).all()


def test_resize_mask_is_nearest_neighbour():
    mask = np.random.default_rng(1).integers(0, 2, (4, 6), dtype=np.uint8)
    assert np.array_equal(g.resize_mask(mask, 12, 8), np.kron(mask, np.ones((2, 2), np.uint8)))
    big = np.arange(81, dtype=np.uint8).reshape(9, 9)
    assert np.array_equal(g.resize_mask(big, 3, 3), big[1::3, 1::3])  # the centre of each 3x3 cell
    video = np.stack([mask, 1 - mask])
    assert np.array_equal(g.resize_mask(video, 12, 8)[1], 1 - np.kron(mask, np.ones((2, 2), np.uint8)))
    assert set(np.unique(g.resize_mask(mask.astype(bool), 7, 5))) <= {False, True}


def test_fit_frames_letterboxes_black_and_repeats_last_frame():
    frames = np.stack([_solid(4, 8, (v, v, v)) for v in (10, 20, 30)])
    out = g.fit_frames(frames, 8, 8, 5)
    assert out.shape == (5, 8, 8, 3)
    assert (out[:, :2] == 0).all() and (out[:, 6:] == 0).all()
    assert [int(f[4, 4, 0]) for f in out] == [10, 20, 30, 30, 30]
    assert [int(f[2, 4, 0]) for f in g.fit_frames(frames, num_frames=2)] == [10, 20]
    masks = np.ones((3, 4, 8), np.uint8)
    fitted = g.fit_frames(masks, 8, 8, 3, nearest=True)
    assert fitted.shape == (3, 8, 8) and fitted[:, 2:6].all() and not fitted[:, :2].any()


# -- morphology -------------------------------------------------------------------------------
@pytest.mark.parametrize("r", [1, 2, 3])
def test_dilate_reaches_exactly_the_euclidean_disk(r):
    mask = np.zeros((15, 15), np.uint8)
    mask[7, 7] = 1
    yy, xx = np.mgrid[:15, :15]
    expected = ((yy - 7) ** 2 + (xx - 7) ** 2 <= r * r).astype(np.uint8)
    assert np.array_equal(g.dilate(mask, r), expected)


def test_erode_shrinks_a_square_and_spares_the_image_border():
    mask = np.zeros((20, 20), np.uint8)
    mask[4:15, 4:15] = 1  # 11x11 square
    eroded = g.erode(mask, 2)
    expected = np.zeros_like(mask)
    expected[6:13, 6:13] = 1
    assert np.array_equal(eroded, expected)
    assert np.array_equal(g.dilate(mask, -2), eroded)
    border = np.zeros((10, 10), np.uint8)
    border[:, :5] = 1  # touches the left edge
    assert np.array_equal(g.erode(border, 1)[:, :4], np.ones((10, 4), np.uint8))
    assert not g.erode(border, 1)[:, 4:].any()


def test_feather_is_soft_only_near_the_edge():
    mask = np.zeros((10, 20), np.uint8)
    mask[:, 10:] = 1
    soft = g.feather(mask, 2)
    assert soft.dtype == np.float32 and soft.min() >= 0 and soft.max() <= 1
    assert (soft[:, :6] == 0).all() and (soft[:, 14:] == 1).all()
    edge = soft[5, 6:14]
    assert (np.diff(edge) >= 0).all() and 0 < edge[3] < 1 and 0 < edge[4] < 1
    assert np.array_equal(g.feather(mask, 0), mask.astype(np.float32))


def test_invert():
    mask = np.array([[0, 1], [1, 0]], np.uint8)
    assert np.array_equal(g.invert(mask), 1 - mask)
    assert np.allclose(g.invert(np.float32([0.25])), [0.75])


def test_to_vace_tensors_ranges_and_layout():
    frames = np.zeros((2, 3, 4, 3), np.uint8)
    frames[1, ..., 2] = 255
    masks = np.zeros((2, 3, 4), np.uint8)
    masks[0, 1, 2] = 255
    video, mask = g.to_vace_tensors(frames, masks)
    assert tuple(video.shape) == (3, 2, 3, 4) and tuple(mask.shape) == (1, 2, 3, 4)
    assert float(video[0].min()) == -1.0 and float(video[2, 1].min()) == 1.0
    assert float(mask.sum()) == 1.0 and float(mask[0, 0, 1, 2]) == 1.0
    _, ones = g.to_vace_tensors(frames)
    assert bool((ones == 1).all())


# -- input normalisation ----------------------------------------------------------------------
def test_as_mask_video_accepts_encodings_and_broadcasts():
    raw = np.zeros((3, 4), np.uint8)
    raw[1, 1] = 255
    for mask in (raw, raw > 0, raw // 255, raw.astype(np.float32) / 255, raw[..., None]):
        out = as_mask_video(mask, 2, 6, 8)
        assert out.shape == (2, 6, 8) and out.dtype == np.uint8 and set(np.unique(out)) == {0, 1}
        assert np.array_equal(out[0], out[1])
    with pytest.raises(AnnotatorError, match="3 frames but the video has 2"):
        as_mask_video(np.zeros((3, 4, 4)), 2, 4, 4)


def test_check_boxes_and_prompts():
    assert check_boxes([1, 2, 3, 4], 10, 10) == [[1, 2, 3, 4]]
    for bad in ([0, 0, 11, 5], [5, 5, 5, 8], [-1, 0, 3, 3]):
        with pytest.raises(AnnotatorError, match="outside the 10x10 image"):
            check_boxes(bad, 10, 10)
    assert labels_prompt(["Dog", "red  Ball."], "label") == "dog. red ball."
    assert labels_prompt("dog, ball", "label") == "dog. ball."
    assert labels_prompt("A dog, running.", "caption") == "a dog, running."


# -- run_annotator without models ---------------------------------------------------------------
def test_mask_mode_end_to_end_with_dilate_and_resize():
    frames = _video(2, 8, 8)
    small = np.zeros((4, 4), np.uint8)
    small[1, 1] = 255  # -> pixels 2..3 x 2..3 at full size
    result = run_annotator("mask", frames=frames, mask=small, dilate=1)
    expected = np.zeros((8, 8), bool)
    expected[2:4, 2:4] = True
    expected = g.dilate(expected.astype(np.uint8), 1).astype(bool)
    for t in range(2):
        assert np.array_equal(result.masks[t] == 255, expected)
        assert (result.frames[t][expected] == 128).all()
        assert np.array_equal(result.frames[t][~expected], frames[t][~expected])
    assert result.info.found and "given mask" in result.info.steps
    inverted = run_annotator("mask", frames=frames, mask=small, invert=True)
    assert (inverted.masks == 255).sum() == 2 * (64 - 4)


def test_mask_mode_fits_to_target_size_and_length():
    # Resized to cover and centre-cropped (no black bars), frames spread over the clip.
    frames = _video(2, 4, 8)
    mask = np.ones((4, 8), np.uint8)
    result = run_annotator("mask", frames=frames, mask=mask, width=8, height=8, num_frames=3)
    assert result.frames.shape == (3, 8, 8, 3) and result.masks.shape == (3, 8, 8)
    assert (result.masks == 255).all() and (result.frames == 128).all()


def test_frame_reference_modes_through_run_annotator():
    image = _solid(6, 12, (40, 80, 120))
    first = run_annotator("firstframe", frames=image, num_frames=4, width=6, height=6)
    assert first.frames.shape == (4, 6, 6, 3) and (first.frames[0] == (40, 80, 120)).all()
    assert [int(m.max()) for m in first.masks] == [0, 255, 255, 255]
    last = run_annotator("lastframe", frames=image, num_frames=3)
    assert [int(m.max()) for m in last.masks] == [255, 255, 0]
    both = run_annotator("firstlastframe", frames=np.stack([image, 255 - image]), num_frames=4)
    assert [int(m.max()) for m in both.masks] == [0, 255, 255, 0]
    assert np.array_equal(both.frames[3], 255 - image)


def test_reference_and_control_modes():
    image = _solid(3, 7, (9, 9, 9))
    plain = run_annotator("reference", frames=image)
    assert plain.masks is None and np.array_equal(plain.frames[0], image)
    boxed = run_annotator("reference", frames=image, width=10, height=10)
    assert (boxed.frames[0, 3:7] == 9).all() and (boxed.frames[0, :3] == 255).all()
    control = run_annotator("control", frames=_video(2, 4, 8), width=8, height=8, num_frames=3)
    assert control.frames.shape == (3, 8, 8, 3) and (control.masks == 255).all()
    video, mask = control.to_vace_tensors()
    assert tuple(video.shape) == (3, 3, 8, 8) and bool((mask == 1).all())


@pytest.mark.parametrize("mode, kwargs, message", [
    ("blur", {}, "unknown annotator mode 'blur'; allowed: mask, bbox"),
    ("mask", {"frames": np.zeros((0, 4, 4, 3), np.uint8), "mask": np.ones((4, 4))}, "empty"),
    ("mask", {"frames": np.zeros((2, 4, 4, 3), np.float32), "mask": np.ones((4, 4))}, "uint8"),
    ("mask", {}, "needs a mask"),
    ("mask", {"mask": np.ones((3, 4, 4))}, "3 frames but the video has 2"),
    ("bbox", {"boxes": [[0, 0, 2, 2]]}, "needs SAM2; missing: SAM2"),
    ("label", {"text": "dog", "models": AnnotatorModels()}, "missing: GroundingDINO, SAM2"),
    ("caption", {}, "needs text"),
    ("salient", {}, "missing: U²-Net"),
    ("firstframe", {}, "needs 1 image"),
    ("firstlastframe", {"frames": np.zeros((2, 4, 4, 3), np.uint8)}, "needs num_frames"),
    ("reference", {"cutout": True}, "with cutout needs U²-Net"),
])
def test_bad_input_errors(mode, kwargs, message):
    kwargs.setdefault("frames", np.zeros((2, 4, 4, 3), np.uint8))
    with pytest.raises(AnnotatorError, match=message.replace("(", r"\(").replace("[", r"\[")):
        run_annotator(mode, **kwargs)


def test_modes_are_the_contract():
    assert ANNOTATOR_MODES == ("mask", "bbox", "label", "caption", "salient",
                               "firstframe", "lastframe", "firstlastframe", "reference", "control")


def test_import_is_light():
    code = ("import sys, unison_runtime.annotators; "
            "print(sorted(m for m in ('torch', 'numpy', 'cv2', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=str(__import__('pathlib').Path(__file__).resolve().parents[1]))
    assert out.stdout.strip() == "[]"


def test_settings_a_mode_does_not_read_are_left_out_with_one_note_each():
    """A saved graph's boxes on a salient-less reference, a text on a mask: it runs and says so."""
    import numpy as np

    from unison_runtime.annotators import ignored_settings, run_annotator

    image = np.full((1, 16, 24, 3), 200, np.uint8)
    result = run_annotator("reference", frames=image, text="the dog", boxes=[[0, 0, 4, 4]], dilate=3, num_frames=9)
    assert result.info.notes == ["text='the dog' ignored: the reference mode does not use it",
                                 "boxes=[[0, 0, 4, 4]] ignored: the reference mode does not use it",
                                 "num_frames=9 ignored: the reference mode does not use it",
                                 "dilate=3 ignored: the reference mode does not use it"]
    assert result.frames.shape == image.shape  # no frame count applied
    mask = np.zeros((16, 24), np.float32)
    mask[4:8, 4:8] = 1
    edited = run_annotator("mask", frames=image, mask=mask, text="ignored words", dilate=2)
    assert edited.info.notes == ["text='ignored words' ignored: the mask mode does not use it"]
    assert "dilated by 2" in edited.info.steps  # what the mode reads still applies
    kept, notes = ignored_settings("bbox", {"text": "", "boxes": [[1, 1, 5, 5]], "num_frames": None,
                                            "dilate": 0, "feather": 0, "invert": False})
    assert notes == [] and kept["boxes"] == [[1, 1, 5, 5]]
