"""The tiny generator is written in the three real layouts, and every file reloads with the
libraries users' files are read with."""

from __future__ import annotations

import json
import time
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import load_file

from unison_runtime import layout
from unison_runtime.demo_models import generator as demo
from unison_runtime.generator.checkpoints import identify_checkpoint, wan_transformer_to_native, wan_vae_to_native
from unison_runtime.generator.native_t5 import hf_to_native, native_to_hf

COMFY = Path(demo.COMFY_ROOT)
COMFY_TRANSFORMER = COMFY / layout.COMFY_DIFFUSION_MODELS / layout.COMFY_TRANSFORMER_FILE
COMFY_TE = COMFY / layout.COMFY_TEXT_ENCODERS / layout.COMFY_TEXT_ENCODER_FILE
COMFY_TE8 = COMFY / layout.COMFY_TEXT_ENCODERS / layout.COMFY_TEXT_ENCODER_FP8_FILE
COMFY_VAE = COMFY / layout.COMFY_VAE / layout.COMFY_VAE_FILE


def test_layouts_are_complete_and_small(generator_models):
    d = generator_models / layout.GENERATOR_DIFFUSERS
    n = generator_models / layout.GENERATOR_NATIVE
    index = json.loads((d / "model_index.json").read_text())
    assert index["_class_name"] == "WanVACEPipeline"
    for part in ("transformer", "vae", "text_encoder", "tokenizer", "scheduler"):
        assert (d / part).is_dir(), part
    for name in ("diffusion_pytorch_model.safetensors", "Wan2.1_VAE.pth", "models_t5_umt5-xxl-enc-bf16.pth",
                 "config.json", "google/umt5-xxl/spiece.model"):
        assert (n / name).is_file(), name
    for rel in (COMFY_TRANSFORMER, COMFY_TE, COMFY_TE8, COMFY_VAE):
        assert (generator_models / rel).is_file(), rel
    roots = [d, n, generator_models / COMFY]
    total = sum(p.stat().st_size for root in roots for p in root.rglob("*") if p.is_file())
    assert total < 30 * 1024 * 1024


def test_diffusers_folder_reloads(generator_models):
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanVACETransformer3DModel
    from transformers import AutoTokenizer, UMT5EncoderModel

    d = generator_models / layout.GENERATOR_DIFFUSERS
    transformer = WanVACETransformer3DModel.from_pretrained(d, subfolder="transformer", local_files_only=True)
    assert transformer.config.vace_layers == [0, 2] and transformer.config.in_channels == 16
    assert transformer.config.vace_in_channels == 96 and transformer.config.attention_head_dim == 128
    vae = AutoencoderKLWan.from_pretrained(d, subfolder="vae", local_files_only=True)
    assert list(vae.config.dim_mult) == [1, 2, 4, 4] and vae.config.num_res_blocks == 2
    te = UMT5EncoderModel.from_pretrained(d / "text_encoder", local_files_only=True)
    assert te.config.d_model == transformer.config.text_dim == 32
    tok = AutoTokenizer.from_pretrained(d / "tokenizer", local_files_only=True)
    assert tok("a cat").input_ids[-1] == tok.eos_token_id == 1 and tok.pad_token_id == 0
    UniPCMultistepScheduler.from_pretrained(d, subfolder="scheduler", local_files_only=True)


def test_native_and_comfy_files_reload_and_name_keys_like_the_releases(generator_models):
    n = generator_models / layout.GENERATOR_NATIVE
    native_transformer = load_file(n / "diffusion_pytorch_model.safetensors")
    assert "vace_blocks.0.after_proj.bias" in native_transformer and "head.modulation" in native_transformer
    vae = torch.load(n / "Wan2.1_VAE.pth", map_location="cpu", weights_only=True)
    assert "decoder.middle.0.residual.0.gamma" in vae
    t5 = torch.load(n / "models_t5_umt5-xxl-enc-bf16.pth", map_location="cpu", weights_only=True)
    assert "blocks.0.ffn.gate.0.weight" in t5 and t5["token_embedding.weight"].dtype == torch.bfloat16
    assert json.loads((n / "config.json").read_text())["vace_layers"] == [0, 2]

    comfy_t = load_file(generator_models / COMFY_TRANSFORMER)
    assert set(comfy_t) == set(native_transformer)
    assert all(v.dtype == torch.float16 for v in comfy_t.values())
    comfy_vae = load_file(generator_models / COMFY_VAE)
    assert set(comfy_vae) == set(vae)
    te = load_file(generator_models / COMFY_TE)
    assert "encoder.block.0.layer.0.SelfAttention.q.weight" in te and te["shared.weight"].dtype == torch.float16
    assert te["spiece_model"].dtype == torch.uint8


def test_comfy_text_encoders_carry_a_sentencepiece_model_and_scaled_fp8(generator_models):
    import sentencepiece

    te8 = load_file(generator_models / COMFY_TE8)
    assert te8["scaled_fp8"].dtype == torch.float8_e4m3fn
    q = "encoder.block.0.layer.0.SelfAttention.q"
    assert te8[q + ".weight"].dtype == torch.float8_e4m3fn and te8[q + ".scale_weight"].dtype == torch.float32
    fp16 = load_file(generator_models / COMFY_TE)
    dequant = te8[q + ".weight"].float() * te8[q + ".scale_weight"]
    assert torch.equal(dequant, fp16[q + ".weight"].float())  # the demo weights are exact in e4m3
    sp = sentencepiece.SentencePieceProcessor(model_proto=te8["spiece_model"].numpy().tobytes(), add_eos=True)
    assert sp.encode("a cat")[-1] == 1 and sp.get_piece_size() == fp16["shared.weight"].shape[0]


def test_native_key_names_are_the_inverse_of_diffusers_converters(generator_models):
    from diffusers.loaders.single_file_utils import (
        convert_wan_transformer_to_diffusers,
        convert_wan_vae_to_diffusers,
    )

    d = generator_models / layout.GENERATOR_DIFFUSERS
    dt = load_file(d / "transformer" / "diffusion_pytorch_model.safetensors")
    back = convert_wan_transformer_to_diffusers(dict(wan_transformer_to_native(dt)))
    assert set(back) == set(dt) and all(torch.equal(back[k], dt[k]) for k in dt)
    dv = load_file(d / "vae" / "diffusion_pytorch_model.safetensors")
    back = convert_wan_vae_to_diffusers(wan_vae_to_native(dv))
    assert set(back) == set(dv) and all(torch.equal(back[k], dv[k]) for k in dv)
    te = load_file(generator_models / COMFY_TE)
    te.pop("spiece_model")
    hf, unknown = native_to_hf(hf_to_native(te))
    assert not unknown and set(hf) == set(te) | {"encoder.embed_tokens.weight"}


def test_identify_checkpoint_tells_the_files_apart(generator_models):
    def keys(rel):
        with safe_open(str(generator_models / rel), framework="pt") as f:
            return list(f.keys())

    n = generator_models / layout.GENERATOR_NATIVE
    assert identify_checkpoint(keys(COMFY_TRANSFORMER)) == "wan_vace_transformer"
    assert identify_checkpoint(["model.diffusion_model." + k for k in keys(COMFY_TRANSFORMER)]) == "wan_vace_transformer"
    assert identify_checkpoint(keys(COMFY_VAE)) == "wan_vae"
    assert identify_checkpoint(keys(COMFY_TE)) == "umt5_encoder_hf"
    assert identify_checkpoint(torch.load(n / "models_t5_umt5-xxl-enc-bf16.pth", weights_only=True)) == "umt5_encoder_native"
    plain = [k for k in keys(COMFY_TRANSFORMER) if "vace" not in k]
    assert identify_checkpoint(plain) == "wan_transformer"
    assert identify_checkpoint(["foo.weight"]) == "unknown"


def test_build_is_deterministic_and_quick(tmp_path, generator_models):
    start = time.perf_counter()
    demo.build(tmp_path, 0)
    assert time.perf_counter() - start < 20
    again = load_file(tmp_path / COMFY_TRANSFORMER)
    first = load_file(generator_models / COMFY_TRANSFORMER)
    assert all(torch.equal(again[k], first[k]) for k in first)
    demo.build(tmp_path / "other", 1)
    other = load_file(tmp_path / "other" / COMFY_TRANSFORMER)
    assert not torch.equal(other["blocks.0.self_attn.q.weight"], first["blocks.0.self_attn.q.weight"])
