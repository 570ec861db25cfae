"""Wan's native UMT5 encoder file (`models_t5_umt5-xxl-enc-bf16.pth`) ↔ transformers' UMT5EncoderModel.

Wan's `wan/modules/t5.py` names the encoder's weights its own way; diffusers has no converter for
it. The mapping (per block i; UMT5 has a relative-position table in every block):

    token_embedding.weight                  shared.weight (+ encoder.embed_tokens.weight, tied)
    blocks.i.norm1.weight                   encoder.block.i.layer.0.layer_norm.weight
    blocks.i.attn.{q,k,v,o}.weight          encoder.block.i.layer.0.SelfAttention.{q,k,v,o}.weight
    blocks.i.pos_embedding.embedding.weight encoder.block.i.layer.0.SelfAttention.relative_attention_bias.weight
    blocks.i.norm2.weight                   encoder.block.i.layer.1.layer_norm.weight
    blocks.i.ffn.gate.0.weight              encoder.block.i.layer.1.DenseReluDense.wi_0.weight  (GELU-tanh branch)
    blocks.i.ffn.fc1.weight                 encoder.block.i.layer.1.DenseReluDense.wi_1.weight  (linear branch)
    blocks.i.ffn.fc2.weight                 encoder.block.i.layer.1.DenseReluDense.wo.weight
    norm.weight                             encoder.final_layer_norm.weight

Both models compute the same function: gated tanh-GELU feed-forward, unscaled attention with a
bidirectional bucketed relative bias (max distance 128), RMS norms with eps 1e-6.
"""

from __future__ import annotations

import re
from typing import Any

_BLOCK_MAP = {
    "norm1.weight": "layer.0.layer_norm.weight",
    "attn.q.weight": "layer.0.SelfAttention.q.weight",
    "attn.k.weight": "layer.0.SelfAttention.k.weight",
    "attn.v.weight": "layer.0.SelfAttention.v.weight",
    "attn.o.weight": "layer.0.SelfAttention.o.weight",
    "pos_embedding.embedding.weight": "layer.0.SelfAttention.relative_attention_bias.weight",
    "norm2.weight": "layer.1.layer_norm.weight",
    "ffn.gate.0.weight": "layer.1.DenseReluDense.wi_0.weight",
    "ffn.fc1.weight": "layer.1.DenseReluDense.wi_1.weight",
    "ffn.fc2.weight": "layer.1.DenseReluDense.wo.weight",
}
_BLOCK_MAP_INV = {v: k for k, v in _BLOCK_MAP.items()}


def native_key_to_hf(key: str) -> str | None:
    if key == "token_embedding.weight":
        return "shared.weight"
    if key == "norm.weight":
        return "encoder.final_layer_norm.weight"
    m = re.match(r"blocks\.(\d+)\.(.+)$", key)
    if m and m.group(2) in _BLOCK_MAP:
        return f"encoder.block.{m.group(1)}.{_BLOCK_MAP[m.group(2)]}"
    return None


def hf_key_to_native(key: str) -> str | None:
    if key in ("shared.weight", "encoder.embed_tokens.weight"):
        return "token_embedding.weight"
    if key == "encoder.final_layer_norm.weight":
        return "norm.weight"
    m = re.match(r"encoder\.block\.(\d+)\.(.+)$", key)
    if m and m.group(2) in _BLOCK_MAP_INV:
        return f"blocks.{m.group(1)}.{_BLOCK_MAP_INV[m.group(2)]}"
    return None


def native_to_hf(state_dict: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Rename a native Wan T5 state dict to transformers' names; also returns keys it did not know."""
    out, unknown = {}, []
    for key, value in state_dict.items():
        new = native_key_to_hf(key)
        if new is None:
            unknown.append(key)
        else:
            out[new] = value
    if "shared.weight" in out:
        out["encoder.embed_tokens.weight"] = out["shared.weight"]
    return out, unknown


def hf_to_native(state_dict: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in state_dict.items():
        new = hf_key_to_native(key)
        if new is not None:
            out[new] = value
    return out


def umt5_config_from_hf_state_dict(state_dict: dict[str, Any], base: dict[str, Any]) -> dict[str, Any]:
    """A UMT5 config dict whose sizes are read off the tensors (`base` supplies everything else)."""
    shapes = {k: tuple(v.shape) for k, v in state_dict.items()}
    num_layers = 1 + max(int(m.group(1)) for k in shapes if (m := re.match(r"encoder\.block\.(\d+)\.", k)))
    vocab, d_model = shapes["shared.weight"] if "shared.weight" in shapes else shapes["encoder.embed_tokens.weight"]
    inner = shapes["encoder.block.0.layer.0.SelfAttention.q.weight"][0]
    buckets, heads = shapes["encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"]
    d_ff = shapes["encoder.block.0.layer.1.DenseReluDense.wi_0.weight"][0]
    config = dict(base)
    config.update(
        vocab_size=vocab,
        d_model=d_model,
        d_kv=inner // heads,
        num_heads=heads,
        d_ff=d_ff,
        num_layers=num_layers,
        num_decoder_layers=num_layers,
        relative_attention_num_buckets=buckets,
    )
    return config


def comfy_text_encoder_state_dict(state_dict: dict[str, Any], spiece_model: bytes) -> dict[str, Any]:
    """A UMT5 encoder state dict (Wan's native names or transformers') laid out as ComfyUI's
    repackaged `umt5_xxl_*.safetensors` files are: transformers' names without the tied
    `encoder.embed_tokens.weight`, and the tokenizer's sentencepiece model as a uint8
    `spiece_model` tensor (what ComfyUI's UMT5 tokenizer reads)."""
    import torch

    if "token_embedding.weight" in state_dict:  # Wan's own names
        state_dict, unknown = native_to_hf(state_dict)
        if unknown:
            from ..errors import ModelLoadError

            raise ModelLoadError(f"the native UMT5 file has {len(unknown)} tensor(s) of unknown names, e.g. "
                                 f"{unknown[0]} (not Wan's T5 encoder?)")
    out = {k: v for k, v in state_dict.items() if k != "encoder.embed_tokens.weight"}
    if "shared.weight" not in out and "encoder.embed_tokens.weight" in state_dict:
        out["shared.weight"] = state_dict["encoder.embed_tokens.weight"]
    out["spiece_model"] = torch.frombuffer(bytearray(spiece_model), dtype=torch.uint8)
    return out
