"""The tiny GroundingDINO, SAM2 and U²-Net, loaded from their real on-disk formats by the
runtime's loaders, run on an image and on a short video. Random weights make detections
arbitrary, so these assert shapes, value ranges, thresholds and the nothing-found path."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from unison_runtime import layout
from unison_runtime.annotators import AnnotatorModels, run_annotator
from unison_runtime.annotators.salient import load_u2net, saliency_maps, salient_mask
from unison_runtime.annotators.segmentation import (detect_boxes, find_annotator_models, load_grounding_dino,
                                                    load_sam2, mask_from_bbox, mask_from_text)
from unison_runtime.errors import AnnotatorError, ModelLoadError
from unison_runtime.models import get_manager

H, W = 40, 56


@pytest.fixture(scope="module")
def video():
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (3, H, W, 3), dtype=np.uint8)
    frames[:, 10:30, 15:40] = (220, 40, 40)  # a block that moves right by 2 px per frame
    for t in range(3):
        frames[t] = np.roll(frames[t], 2 * t, axis=1)
    return frames


@pytest.fixture(scope="module")
def models(annotator_models):
    return AnnotatorModels.discover(annotator_models)


def _is_binary(masks):
    return masks.dtype == np.uint8 and set(np.unique(masks)) <= {0, 1}


# -- locating and loading -----------------------------------------------------------------------
def test_discover_finds_the_layout(annotator_models, models):
    assert models.grounding_dino == annotator_models / layout.GROUNDING_DINO
    assert models.sam2 == annotator_models / layout.SAM2
    assert models.u2net == annotator_models / layout.U2NET


def test_find_annotator_models_under_comfyui_names(annotator_models, tmp_path):
    shutil.copytree(annotator_models / layout.GROUNDING_DINO, tmp_path / "grounding-dino" / "GroundingDINO_tiny_hf")
    shutil.copytree(annotator_models / layout.SAM2, tmp_path / "sam2" / "sam2.1_hiera_tiny")
    (tmp_path / "rembg").mkdir()
    shutil.copy(annotator_models / layout.U2NET, tmp_path / "rembg" / "u2net.pth")
    (tmp_path / "sam2" / "sam2_hiera_base_plus").mkdir()  # an original-format folder: no config.json
    found = find_annotator_models(tmp_path)
    assert found.grounding_dino == tmp_path / "grounding-dino" / "GroundingDINO_tiny_hf"
    assert found.sam2 == tmp_path / "sam2" / "sam2.1_hiera_tiny"
    assert found.u2net == tmp_path / "rembg" / "u2net.pth"
    with pytest.raises(ModelLoadError, match="Hugging Face folder"):
        load_sam2(tmp_path / "sam2" / "sam2_hiera_base_plus")


def test_loads_go_through_the_manager(models):
    manager = get_manager()
    before = manager.load_count("grounding_dino")
    first = load_grounding_dino(models.grounding_dino, device="cpu")
    again = load_grounding_dino(models.grounding_dino, device="cpu")
    assert first is again and manager.load_count("grounding_dino") - before <= 1
    assert models.load("grounding_dino") is first  # AnnotatorModels defaults resolve to the same key


def test_bad_u2net_files_are_refused(tmp_path):
    import torch

    with pytest.raises(ModelLoadError, match="not found"):
        load_u2net(tmp_path / "missing.pt")
    torch.save({"conv.weight": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(ModelLoadError, match="not a U²-Net state dict"):
        load_u2net(tmp_path / "other.pt", device="cpu")


def test_u2net_names_match_the_released_network(models, tmp_path):
    import torch

    from unison_runtime.annotators.u2net import U2Net, infer_width_divisor

    tiny = torch.load(models.u2net, weights_only=True)
    full = U2Net(width_divisor=1).state_dict()  # the released u2net.pt's architecture
    assert list(tiny) == list(full) and len(full) == 798
    assert infer_width_divisor(tiny) == 16 and infer_width_divisor(full) == 1
    assert full["stage1.rebnconvin.conv_s1.weight"].shape == (64, 3, 3, 3)
    assert tiny["stage1.rebnconvin.conv_s1.weight"].shape == (4, 3, 3, 3)
    # DDP-saved checkpoints ("module." prefix, nested state_dict) load too
    wrapped = {"state_dict": {f"module.{k}": v for k, v in tiny.items()}}
    torch.save(wrapped, tmp_path / "u2net.pt")
    model = load_u2net(tmp_path, device="cpu")
    assert torch.equal(model.outconv.weight, tiny["outconv.weight"])


# -- U²-Net ---------------------------------------------------------------------------------------
def test_saliency_maps_and_thresholds(models, video):
    model = models.load("u2net")
    maps = saliency_maps(video, model)
    assert maps.shape == (3, H, W) and maps.dtype == np.float32
    assert maps.min() >= 0 and maps.max() <= 1 and maps.max() > maps.min()
    default = salient_mask(video, model)  # VACE: the first frame's levels above 0, every frame
    assert default.found and default.masks.shape == (3, H, W) and _is_binary(default.masks)
    assert all(np.array_equal(m, default.masks[0]) for m in default.masks)
    assert default.masks[0].mean() > 0.5  # only the least salient pixels are left out
    half = salient_mask(video[:1], model, threshold=0.5)
    assert _is_binary(half.masks) and 0 < half.masks.mean() < default.masks.mean()
    assert not (half.masks[0] & (1 - default.masks[0])).any()  # a higher threshold keeps less
    nothing = salient_mask(video[:1], model, threshold=1.0)
    assert not nothing.found and "threshold 1" in nothing.message and not nothing.masks.any()


# -- GroundingDINO --------------------------------------------------------------------------------
def test_detect_boxes_respects_thresholds(models, video):
    gdino = models.load("grounding_dino")
    boxes, scores, labels = detect_boxes(video[0], "red block.", gdino, box_threshold=0.0, text_threshold=0.0,
                                         max_boxes=5)
    assert 1 <= len(boxes) <= 5 and len(scores) == len(labels) == len(boxes)
    assert scores == sorted(scores, reverse=True)
    for x0, y0, x1, y1 in boxes:
        assert 0 <= x0 < x1 <= W and 0 <= y0 < y1 <= H
    assert detect_boxes(video[0], "red block.", gdino, box_threshold=1.0)[0] == []


def test_boxes_are_suppressed_and_only_the_best_is_segmented_as_vace(models, video):
    import torch
    import torchvision

    gdino, sam2 = models.load("grounding_dino"), models.load("sam2")
    boxes, _, _ = detect_boxes(video[0], "red block.", gdino, box_threshold=0.0, text_threshold=0.0)
    if len(boxes) > 1:  # NMS at IoU 0.5: no two kept boxes overlap more
        iou = torchvision.ops.box_iou(torch.tensor(boxes), torch.tensor(boxes)).fill_diagonal_(0)
        assert iou.max() <= 0.5 + 1e-6
    best = mask_from_text(video, "red block", gdino, sam2, box_threshold=0.0, text_threshold=0.0, mode="label")
    assert best.boxes == boxes[:1]  # VACE segments the top box only


def test_mask_from_text_found_and_not_found(models, video):
    gdino, sam2 = models.load("grounding_dino"), models.load("sam2")
    found = mask_from_text(video, ["red block"], gdino, sam2, box_threshold=0.0, mode="label", max_boxes=2)
    assert found.masks.shape == (3, H, W) and _is_binary(found.masks)
    assert 1 <= len(found.boxes) <= 2 and len(found.scores) == len(found.boxes)
    missing = mask_from_text(video, "a red block", gdino, sam2, box_threshold=1.5)
    assert not missing.found and "found nothing for 'a red block.'" in missing.message
    assert missing.masks.shape == (3, H, W) and not missing.masks.any() and missing.boxes == []


# -- SAM2 -----------------------------------------------------------------------------------------
def test_mask_from_bbox_video_predictor(models, video):
    sam2 = models.load("sam2")
    assert sam2.video  # the hub's sam2.1 folders are sam2_video checkpoints
    result = mask_from_bbox(video, [[15, 10, 40, 30], [0, 0, 10, 10]], sam2)
    assert result.masks.shape == (3, H, W) and _is_binary(result.masks)
    assert result.boxes == [[15, 10, 40, 30], [0, 0, 10, 10]]
    assert result.found == bool(result.masks.any())
    image = mask_from_bbox(video[0], [15, 10, 40, 30], sam2)
    assert image.masks.shape == (1, H, W) and _is_binary(image.masks)


def test_mask_from_bbox_image_model_per_frame(models, video, tmp_path):
    from transformers import Sam2Model, Sam2Processor

    from unison_runtime.annotators.original_checkpoints import sam2_image_processor

    # An image-only ("sam2") folder, as older conversions ship: frames are segmented one by one.
    image_model = Sam2Model.from_pretrained(models.sam2, local_files_only=True)
    image_model.save_pretrained(tmp_path)
    size = image_model.config.vision_config.backbone_config.image_size[0]
    Sam2Processor(sam2_image_processor(size)).save_pretrained(tmp_path)
    sam2 = load_sam2(tmp_path, device="cpu")
    assert not sam2.video
    result = mask_from_bbox(video, [[15, 10, 40, 30]], sam2)
    assert result.masks.shape == (3, H, W) and _is_binary(result.masks)


def test_box_outside_the_image_is_refused(models, video):
    with pytest.raises(AnnotatorError, match="outside the 56x40 image"):
        run_annotator("bbox", frames=video, boxes=[[30, 10, 60, 20]], models=models)


# -- run_annotator with models ---------------------------------------------------------------------
def test_run_annotator_model_modes(annotator_models, video):
    salient = run_annotator("salient", frames=video[:2], models=annotator_models, threshold=0.0, dilate=1)
    assert salient.info.found and (salient.masks == 255).all() and (salient.frames == 128).all()
    nothing = run_annotator("caption", frames=video, text="a red block", models=annotator_models, threshold=1.5)
    assert not nothing.info.found and "found nothing" in nothing.info.message
    assert (nothing.masks == 0).all() and np.array_equal(nothing.frames, video)  # nothing painted
    bbox = run_annotator("bbox", frames=video[:1], boxes=[[15, 10, 40, 30]], models=annotator_models)
    painted = bbox.masks == 255
    assert set(np.unique(bbox.masks)) <= {0, 255} and (bbox.frames[painted] == 128).all()
    cutout = run_annotator("reference", frames=video[0], models=annotator_models, cutout=True, threshold=1.5)
    assert not cutout.info.found and (cutout.frames == 255).all() and cutout.masks is None
