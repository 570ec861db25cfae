"""Tiny annotator models in the real formats: a GroundingDINO and a SAM2 (video) Hugging Face
folder with their processors, and a U²-Net state dict with the released file's parameter names.
The same GroundingDINO and SAM2 are also written in their original releases' formats, where the
popular ComfyUI packs keep them (`layout.EXTRA_FOLDERS`): `sam2/sam2.1_hiera_demo.safetensors`
(kijai's file, with its transformers config beside it: not a released size) and
`grounding-dino/groundingdino_swint_demo.pth` + `GroundingDINO_SwinT_demo.cfg.py` with the BERT
folder in `bert-base-uncased/` (storyicon's). They are converted from the Hugging Face files by the
inverse of the loader's key mapping, so loading them must give the Hugging Face models back.

Sizes are shrunk, architectures are not: the Swin + BERT GroundingDINO, the Hiera SAM2 with its
memory modules, and U²-Net with every channel count divided by 16. Randomly initialised from
`seed`, so detections are arbitrary; what they exercise is the loading and inference code.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from .. import layout
from ..annotators.original_checkpoints import sam2_image_processor

# A word-level BERT vocabulary large enough for test prompts (special tokens first, BERT's order).
_VOCAB = (
    "[PAD] [UNK] [CLS] [SEP] [MASK] . , a an the of on in and with "
    "cat dog person man woman child car bus bike ball tree house sky road red blue green "
    "white black small big left right object thing face hat shirt"
).split()

SAM2_IMAGE_SIZE = 128
U2NET_WIDTH_DIVISOR = 16
ORIGINAL_SAM2 = "sam2/sam2.1_hiera_demo.safetensors"
ORIGINAL_GDINO = "grounding-dino/groundingdino_swint_demo.pth"
ORIGINAL_GDINO_CONFIG = "grounding-dino/GroundingDINO_SwinT_demo.cfg.py"


def build(out_dir: str | Path, seed: int) -> list[Path]:
    """Write the three annotator models under `out_dir`; returns the files written."""
    import torch

    out = Path(out_dir)
    written: list[Path] = []
    with torch.random.fork_rng(devices=[]):  # seeded init without disturbing the caller's RNG
        torch.manual_seed(seed)
        written += _build_grounding_dino(out / layout.GROUNDING_DINO)
        torch.manual_seed(seed + 1)
        written += _build_sam2(out / layout.SAM2)
        torch.manual_seed(seed + 2)
        written += _build_u2net(out / layout.U2NET)
    written += _build_original_sam2(out / layout.SAM2, out / ORIGINAL_SAM2)
    written += _build_original_grounding_dino(out / layout.GROUNDING_DINO, out / ORIGINAL_GDINO,
                                              out / ORIGINAL_GDINO_CONFIG, out / layout.BERT_FOLDER)
    return written


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def _build_grounding_dino(folder: Path) -> list[Path]:
    from transformers import (BertConfig, GroundingDinoConfig, GroundingDinoForObjectDetection,
                              GroundingDinoImageProcessor, GroundingDinoProcessor, SwinConfig)

    backbone = SwinConfig(image_size=64, patch_size=4, embed_dim=8, depths=[1, 1, 1, 1], num_heads=[1, 1, 1, 1],
                          window_size=2, out_features=["stage2", "stage3", "stage4"])
    text = BertConfig(vocab_size=len(_VOCAB), hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                      intermediate_size=32, max_position_embeddings=64)
    config = GroundingDinoConfig(
        backbone_config=backbone, text_config=text, num_queries=20, d_model=32,  # GroupNorm(32, d_model)
        encoder_layers=1, decoder_layers=2,  # >= 2: the decoder's box heads are tied from layer 1 on
        encoder_ffn_dim=32, decoder_ffn_dim=32, encoder_attention_heads=2, decoder_attention_heads=2,
        encoder_n_points=1, decoder_n_points=1, max_text_len=32)
    model = GroundingDinoForObjectDetection(config).eval()
    tokenizer = _bert_tokenizer()
    images = GroundingDinoImageProcessor(size={"shortest_edge": 64, "longest_edge": 96})
    processor = GroundingDinoProcessor(image_processor=images, tokenizer=tokenizer)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return _files(folder)


def _bert_tokenizer():
    """A BERT tokenizer over `_VOCAB`, loaded from a vocab.txt: the one constructor that
    transformers 4.x and 5.x share."""
    from transformers import AutoTokenizer

    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "vocab.txt").write_text("\n".join(_VOCAB) + "\n", encoding="utf-8")
        (Path(tmp) / "tokenizer_config.json").write_text(
            json.dumps({"tokenizer_class": "BertTokenizer", "do_lower_case": True}))
        return AutoTokenizer.from_pretrained(tmp, local_files_only=True)


def _build_sam2(folder: Path) -> list[Path]:
    import torch
    from transformers import (Sam2HieraDetConfig, Sam2VideoConfig, Sam2VideoModel, Sam2VideoProcessor,
                              Sam2VideoVideoProcessor, Sam2VisionConfig)

    size = SAM2_IMAGE_SIZE
    feat = size // 4  # the Hiera patch stride
    hiera = Sam2HieraDetConfig(
        hidden_size=8, num_attention_heads=1, image_size=[size, size], blocks_per_stage=[1, 1, 2, 1],
        embed_dim_per_stage=[8, 16, 32, 64], num_attention_heads_per_stage=[1, 1, 1, 1],
        window_size_per_stage=[4, 4, 4, 4],
        global_attention_blocks=[3],  # not a stage's first block: those pool their window size
        window_positional_embedding_background_size=[4, 4])
    vision = Sam2VisionConfig(backbone_config=hiera, backbone_channel_list=[64, 32, 16, 8],
                              backbone_feature_sizes=[[feat, feat], [feat // 2, feat // 2], [feat // 4, feat // 4]],
                              fpn_hidden_size=128)
    # transformers fixes the memory width at 64 and splits object pointers by hidden/64, so the
    # prompt/decoder width must be a multiple of 64 above it: 128 is the smallest that works.
    config = Sam2VideoConfig(
        vision_config=vision, image_size=size,
        prompt_encoder_config=dict(hidden_size=128, image_size=size, patch_size=16, mask_input_channels=4),
        mask_decoder_config=dict(hidden_size=128, mlp_dim=64, num_hidden_layers=1, num_attention_heads=2,
                                 iou_head_hidden_dim=32),
        num_maskmem=2, max_object_pointers_in_encoder=2,
        memory_attention_hidden_size=128, memory_attention_num_layers=1,
        memory_attention_feed_forward_hidden_size=64, memory_attention_rope_feat_sizes=[feat // 4, feat // 4],
        memory_encoder_hidden_size=128, memory_encoder_output_channels=64, mask_downsampler_embed_dim=128,
        memory_fuser_embed_dim=128, memory_fuser_intermediate_dim=64)
    model = Sam2VideoModel(config).eval()
    with torch.no_grad():  # one positional encoding, as in the original release (two copies in transformers)
        model.shared_image_embedding.positional_embedding.copy_(model.prompt_encoder.shared_embedding.positional_embedding)
    processor = Sam2VideoProcessor(
        image_processor=sam2_image_processor(size),
        video_processor=Sam2VideoVideoProcessor(size={"height": size, "width": size}))
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return _files(folder)


def _build_u2net(path: Path) -> list[Path]:
    import torch

    from ..annotators.u2net import U2Net

    model = U2Net(width_divisor=U2NET_WIDTH_DIVISOR).eval()
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), path)
    return [path]


def _build_original_sam2(hf_folder: Path, path: Path) -> list[Path]:
    import shutil

    from safetensors.torch import load_file, save_file

    from ..annotators.original_checkpoints import sam2_to_original

    path.parent.mkdir(parents=True, exist_ok=True)
    state = sam2_to_original(load_file(str(hf_folder / "model.safetensors")))
    save_file({k: v.contiguous() for k, v in state.items()}, str(path))
    shutil.copy(hf_folder / "config.json", path.with_suffix(".json"))
    return [path, path.with_suffix(".json")]


def _build_original_grounding_dino(hf_folder: Path, path: Path, config_path: Path, bert: Path) -> list[Path]:
    import torch
    from safetensors.torch import load_file
    from transformers import AutoTokenizer, GroundingDinoConfig

    from ..annotators.original_checkpoints import grounding_dino_to_original

    config = GroundingDinoConfig.from_pretrained(hf_folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": grounding_dino_to_original(load_file(str(hf_folder / "model.safetensors")))}, path)
    values = {  # the original config's names; the Swin sizes are read from the weights
        "modelname": "groundingdino", "backbone": "swin_T_224_1k", "hidden_dim": config.d_model,
        "nheads": config.encoder_attention_heads, "num_queries": config.num_queries,
        "enc_layers": config.encoder_layers, "dec_layers": config.decoder_layers,
        "dim_feedforward": config.encoder_ffn_dim, "num_feature_levels": config.num_feature_levels,
        "enc_n_points": config.encoder_n_points, "dec_n_points": config.decoder_n_points,
        "two_stage_type": "standard", "embed_init_tgt": True, "dec_pred_bbox_embed_share": True,
        "max_text_len": config.max_text_len, "text_encoder_type": "bert-base-uncased",
    }
    config_path.write_text("".join(f"{k} = {v!r}\n" for k, v in values.items()))
    config.text_config.save_pretrained(bert)
    AutoTokenizer.from_pretrained(hf_folder).save_pretrained(bert)
    return [path, config_path, *_files(bert)]
