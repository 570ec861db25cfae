"""Files users already have from other ComfyUI packs: their folders are searched, and the original
SAM2 / GroundingDINO checkpoints (converted in memory) give the same masks and boxes as the
Hugging Face models they were written from (`make-demo-models` writes them by the inverse mapping)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch

from unison_runtime import layout
from unison_runtime.annotators import AnnotatorModels, run_annotator
from unison_runtime.annotators import original_checkpoints as oc
from unison_runtime.annotators.salient import load_u2net
from unison_runtime.annotators.segmentation import load_grounding_dino, load_sam2, mask_from_bbox
from unison_runtime.demo_models import annotators as demo
from unison_runtime.errors import ModelLoadError
from unison_runtime.state_dicts import read_state_dict

H, W = 40, 56


@pytest.fixture(scope="module")
def frames():
    rng = np.random.default_rng(3)
    video = rng.integers(0, 256, (3, H, W, 3), dtype=np.uint8)
    video[:, 8:30, 12:40] = (30, 200, 60)
    return video


def _qwen_folder(path):
    path.mkdir(parents=True)
    (path / "config.json").write_text(json.dumps({"model_type": "qwen2_5_vl"}))
    return path


@pytest.fixture
def comfy_models(tmp_path, annotator_models):
    """A ComfyUI models folder as the popular packs leave it, with an empty models/unison."""
    models = tmp_path / "models"
    (models / "unison").mkdir(parents=True)
    _qwen_folder(models / "LLM" / "Qwen-VL" / "Qwen2.5-VL-3B-Instruct")  # 1038lab/ComfyUI-QwenVL
    _qwen_folder(models / "LLM" / "Qwen2.5-VL-7B-Instruct")  # another size: not the planner
    shutil.copytree(annotator_models / "sam2", models / "sam2")  # kijai's flat files
    (models / "sam2" / "sam2.1_hiera_demo-fp16.safetensors").write_bytes(b"")  # the full-precision file wins
    for name in ("grounding-dino", layout.BERT_FOLDER):  # storyicon's
        shutil.copytree(annotator_models / name, models / name)
    (models / "rembg").mkdir()
    shutil.copy(annotator_models / layout.U2NET, models / "rembg" / "u2net.pth")
    return models


def test_popular_pack_folders_are_found(comfy_models, tmp_path, monkeypatch):
    monkeypatch.setenv("U2NET_HOME", str(tmp_path / "no-rembg-home"))
    found = layout.discover(comfy_models / "unison")
    assert found.planner_base == comfy_models / "LLM" / "Qwen-VL" / "Qwen2.5-VL-3B-Instruct"
    assert found.sam2 == comfy_models / demo.ORIGINAL_SAM2
    assert found.grounding_dino == comfy_models / demo.ORIGINAL_GDINO
    assert found.u2net == comfy_models / "rembg" / "u2net.pth"
    annotators = AnnotatorModels.discover(comfy_models / "unison")
    assert (annotators.sam2, annotators.grounding_dino, annotators.u2net) == (found.sam2, found.grounding_dino,
                                                                                found.u2net)
    # alexcong's ComfyUI_QwenVL (models/LLM/<name>) and a VLM folder, through explicit roots (as ComfyUI passes)
    flat = _qwen_folder(tmp_path / "VLM" / "Qwen2.5-VL-3B-Instruct")
    only_vlm = layout.discover(tmp_path / "empty", folder_roots={"VLM": [tmp_path / "VLM"]})
    assert only_vlm.planner_base == flat and only_vlm.sam2 is None


def test_rembg_onnx_is_found_and_refused_clearly(tmp_path, monkeypatch):
    home = tmp_path / ".u2net"
    home.mkdir()
    (home / "u2net.onnx").write_bytes(b"onnx")
    monkeypatch.setenv("U2NET_HOME", str(home))
    found = layout.discover(tmp_path / "models")
    assert found.u2net == home / "u2net.onnx"
    with pytest.raises(ModelLoadError, match="ONNX U²-Net, which this pack cannot run"):
        load_u2net(found.u2net, device="cpu")


def test_original_sam2_gives_the_same_masks(annotator_models, frames, tmp_path):
    hf = load_sam2(annotator_models / layout.SAM2, device="cpu")
    kijai = load_sam2(annotator_models / demo.ORIGINAL_SAM2, device="cpu")
    # facebookresearch's format: a {"model": state_dict} .pt of the same keys
    pt = tmp_path / "sam2.1_hiera_demo.pt"
    torch.save({"model": read_state_dict(annotator_models / demo.ORIGINAL_SAM2)}, pt)
    shutil.copy((annotator_models / demo.ORIGINAL_SAM2).with_suffix(".json"), pt.with_suffix(".json"))
    facebook = load_sam2(pt, device="cpu")
    assert kijai.video and kijai is not hf
    boxes = [[12, 8, 40, 30], [0, 0, 12, 10]]
    expected = mask_from_bbox(frames, boxes, hf).masks
    assert 0 < expected.mean() < 1
    for model in (kijai, facebook):
        assert np.array_equal(mask_from_bbox(frames, boxes, model).masks, expected)


def test_original_grounding_dino_gives_the_same_boxes(annotator_models, frames):
    hf = load_grounding_dino(annotator_models / layout.GROUNDING_DINO, device="cpu")
    original = load_grounding_dino(annotator_models / demo.ORIGINAL_GDINO, device="cpu")
    assert original.model.config.backbone_config.num_heads == hf.model.config.backbone_config.num_heads
    inputs = hf.processor(images=frames[0], text="a green car.", return_tensors="pt")
    assert original.processor.tokenizer("a green car.")["input_ids"] == inputs["input_ids"][0].tolist()
    with torch.inference_mode():
        ours, theirs = original.model(**inputs), hf.model(**inputs)
    assert torch.allclose(ours.logits, theirs.logits, atol=1e-5)
    assert torch.allclose(ours.pred_boxes, theirs.pred_boxes, atol=1e-6)


def test_run_annotator_on_a_comfyui_models_folder(comfy_models, frames):
    result = run_annotator("bbox", frames=frames[:1], boxes=[[12, 8, 40, 30]], models=comfy_models / "unison")
    assert set(np.unique(result.masks)) <= {0, 255} and result.masks.shape == (1, H, W)


def test_key_mappings_round_trip(annotator_models):
    from safetensors.torch import load_file

    for folder, to_original, to_hf in ((layout.SAM2, oc.sam2_to_original, oc.sam2_to_transformers),
                                       (layout.GROUNDING_DINO, oc.grounding_dino_to_original,
                                        oc.grounding_dino_to_transformers)):
        hf = load_file(str(annotator_models / folder / "model.safetensors"))
        back = to_hf(to_original(hf))
        kept = {k for k in hf if not any(u in k for u in oc.GDINO_UNUSED)}
        assert kept <= set(back) and all(torch.equal(hf[k], back[k]) for k in kept)
    names = oc.sam2_to_original(load_file(str(annotator_models / layout.SAM2 / "model.safetensors")))
    # spot checks against the release's names (facebookresearch/sam2 module paths)
    for key in ("image_encoder.trunk.blocks.0.mlp.layers.0.weight", "image_encoder.neck.convs.0.conv.weight",
                "sam_prompt_encoder.point_embeddings.3.weight", "memory_encoder.fuser.layers.0.gamma",
                "memory_encoder.mask_downsampler.encoder.0.weight", "obj_ptr_proj.layers.2.bias", "no_obj_ptr",
                "sam_mask_decoder.transformer.layers.0.norm1.weight", "maskmem_tpos_enc"):
        assert key in names, key


def test_sam2_size_is_read_from_the_weights(tmp_path):
    state = {"image_encoder.trunk.pos_embed": torch.zeros(1, 112, 14, 14), "no_obj_embed_spatial": torch.zeros(1, 64),
             "obj_ptr_tpos_proj.weight": torch.zeros(64, 256)}
    state.update({f"image_encoder.trunk.blocks.{i}.norm1.weight": torch.zeros(1) for i in range(24)})
    config = oc.sam2_config(tmp_path / "sam2.1_hiera_base_plus.safetensors", state)
    assert config.vision_config.backbone_config.blocks_per_stage == [2, 3, 16, 3]
    assert config.enable_occlusion_spatial_embedding and config.enable_temporal_pos_encoding_for_object_pointers
    sam2_0 = {k: v for k, v in state.items() if not k.startswith(("no_obj_embed_spatial", "obj_ptr_tpos_proj"))}
    config = oc.sam2_config(tmp_path / "sam2_hiera_base_plus.safetensors", sam2_0)
    assert not config.enable_occlusion_spatial_embedding and not config.enable_temporal_pos_encoding_for_object_pointers
    del state["image_encoder.trunk.blocks.23.norm1.weight"]
    with pytest.raises(ModelLoadError, match="not a released size.*sam2_custom.json"):
        oc.sam2_config(tmp_path / "sam2_custom.pt", state)


def test_incomplete_checkpoint_names_what_is_missing(annotator_models, tmp_path):
    state = read_state_dict(annotator_models / demo.ORIGINAL_SAM2)
    del state["no_mem_embed"]
    path = tmp_path / "sam2.1_hiera_demo.pt"
    torch.save({"model": state}, path)
    shutil.copy((annotator_models / demo.ORIGINAL_SAM2).with_suffix(".json"), path.with_suffix(".json"))
    with pytest.raises(ModelLoadError, match="missing no_memory_embedding"):
        load_sam2(path, device="cpu")


def test_config_py_is_read_not_run(tmp_path):
    cfg = tmp_path / "GroundingDINO_SwinT_OGC.cfg.py"
    marker = tmp_path / "ran"
    cfg.write_text(f"hidden_dim = 256\nnheads = 8\nx = open({str(marker)!r}, 'w')\nreturn_interm_indices = [1, 2, 3]\n")
    assert oc.read_config_py(cfg) == {"hidden_dim": 256, "nheads": 8, "return_interm_indices": [1, 2, 3]}
    assert not marker.exists()
    (tmp_path / "groundingdino_swint_ogc.pth").write_bytes(b"")
    assert oc.find_config(tmp_path / "groundingdino_swint_ogc.pth") == cfg


def test_released_sizes_map_onto_transformers(tmp_path):
    """A released-size model's keys (built on the meta device) survive the round trip, and the size
    read back from the original names is the one it was built with."""
    from transformers import Sam2VideoModel

    size = "base_plus"  # not transformers' default (tiny): exercises the size table
    (dim, blocks), (_, hiera, vision) = next((k, v) for k, v in oc.SAM2_SIZES.items() if v[0] == size)
    state = {"image_encoder.trunk.pos_embed": torch.empty(1, dim, 7, 7, device="meta"),
             "no_obj_embed_spatial": torch.empty(1, 64, device="meta"), "obj_ptr_tpos_proj.weight": torch.empty(1)}
    state.update({f"image_encoder.trunk.blocks.{i}.norm1.weight": torch.empty(1) for i in range(blocks)})
    config = oc.sam2_config(tmp_path / f"sam2.1_hiera_{size}.pt", state)
    with torch.device("meta"):
        hf = Sam2VideoModel(config).state_dict()
    original = oc.sam2_to_original(hf)
    assert "memory_encoder.mask_downsampler.encoder.12.weight" in original  # the release's final conv index
    assert set(oc.sam2_to_transformers(original)) == set(hf)
    assert oc.sam2_config(tmp_path / "x.pt", original).vision_config.backbone_config.blocks_per_stage == \
        config.vision_config.backbone_config.blocks_per_stage
