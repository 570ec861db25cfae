"""What a checkpoint file holds, judged from its key names, and Wan's native key names.

`identify_checkpoint(keys)` tells the generator's files apart (transformer, VAE, text encoder in
either naming) so a file given in the wrong slot gets an error that says what it looks like.

Wan's native releases and ComfyUI's repackaged files use the key names of Wan's own code; diffusers
ships converters from those names to its own (`convert_wan_transformer_to_diffusers`,
`convert_wan_vae_to_diffusers`). The functions here are their inverses (diffusers → native), used to
write the tiny demo checkpoints and to name missing keys the way the user's file spells them. The
tests prove each inverse by round-tripping through diffusers' converter.

Pure string work: nothing heavy is imported here.
"""

from __future__ import annotations

import re
from typing import Iterable

KINDS = (
    "wan_vace_transformer",
    "wan_transformer",
    "wan_vae",
    "umt5_encoder_hf",
    "umt5_encoder_native",
    "unknown",
)

DESCRIPTIONS = {
    "wan_vace_transformer": "a Wan VACE diffusion transformer",
    "wan_transformer": "a Wan diffusion transformer without VACE blocks (a plain T2V/I2V model)",
    "wan_vae": "the Wan 2.1 VAE",
    "umt5_encoder_hf": "a UMT5/T5 text encoder (transformers / ComfyUI key names)",
    "umt5_encoder_native": "a UMT5 text encoder in Wan's own key names",
    "unknown": "none of the Wan generator's files",
}

_PREFIXES = ("model.diffusion_model.", "diffusion_model.", "model.")


def strip_prefix(key: str) -> str:
    for prefix in _PREFIXES:
        if key.startswith(prefix):
            return key[len(prefix):]
    return key


def identify_checkpoint(keys: Iterable[str]) -> str:
    """One of `KINDS` for a state dict's key names (native or diffusers naming)."""
    names = {strip_prefix(k) for k in keys}
    if "vace_blocks.0.after_proj.bias" in names or "vace_blocks.0.proj_out.bias" in names:
        return "wan_vace_transformer"
    if "head.modulation" in names or (
        "scale_shift_table" in names and "condition_embedder.time_proj.weight" in names
    ):
        return "wan_transformer"
    if "decoder.middle.0.residual.0.gamma" in names or "decoder.mid_block.resnets.0.norm1.gamma" in names:
        return "wan_vae"
    if "encoder.block.0.layer.0.SelfAttention.q.weight" in names:
        return "umt5_encoder_hf"
    if "blocks.0.attn.q.weight" in names and "token_embedding.weight" in names:
        return "umt5_encoder_native"
    return "unknown"


def describe_kind(kind: str) -> str:
    return DESCRIPTIONS.get(kind, kind)


# --------------------------------------------------------------------------------------------
# Transformer: diffusers -> native (inverse of convert_wan_transformer_to_diffusers)
# --------------------------------------------------------------------------------------------
_TRANSFORMER_TOP = {
    "condition_embedder.time_embedder.linear_1.": "time_embedding.0.",
    "condition_embedder.time_embedder.linear_2.": "time_embedding.2.",
    "condition_embedder.text_embedder.linear_1.": "text_embedding.0.",
    "condition_embedder.text_embedder.linear_2.": "text_embedding.2.",
    "condition_embedder.time_proj.": "time_projection.1.",
    "proj_out.": "head.head.",
}
_TRANSFORMER_BLOCK = [
    (".attn1.", ".self_attn."),
    (".attn2.", ".cross_attn."),
    (".to_out.0.", ".o."),
    (".to_q.", ".q."),
    (".to_k.", ".k."),
    (".to_v.", ".v."),
    (".add_k_proj.", ".k_img."),
    (".add_v_proj.", ".v_img."),
    (".norm_added_k.", ".norm_k_img."),
    (".ffn.net.0.proj.", ".ffn.0."),
    (".ffn.net.2.", ".ffn.2."),
]


def wan_transformer_key_to_native(key: str) -> str:
    if key == "scale_shift_table":
        return "head.modulation"
    for old, new in _TRANSFORMER_TOP.items():
        if key.startswith(old):
            return new + key[len(old):]
    if not key.startswith(("blocks.", "vace_blocks.")):
        return key  # patch_embedding, vace_patch_embedding
    if key.endswith(".scale_shift_table"):
        return key[: -len("scale_shift_table")] + "modulation"
    new = key
    for old, rep in _TRANSFORMER_BLOCK:
        new = new.replace(old, rep)
    # diffusers' norm2 is Wan's norm3 (cross-attention norm) and vice versa.
    new = re.sub(r"\.norm([23])\.", lambda m: ".norm" + ("3" if m.group(1) == "2" else "2") + ".", new)
    if new.startswith("vace_blocks."):
        new = new.replace(".proj_in.", ".before_proj.").replace(".proj_out.", ".after_proj.")
    return new


def wan_transformer_to_native(state_dict: dict) -> dict:
    return {wan_transformer_key_to_native(k): v for k, v in state_dict.items()}


# --------------------------------------------------------------------------------------------
# VAE: diffusers -> native (inverse of convert_wan_vae_to_diffusers; real Wan 2.1 topology)
# --------------------------------------------------------------------------------------------
_RESNET_PARTS = {
    "norm1.gamma": "residual.0.gamma",
    "conv1.weight": "residual.2.weight",
    "conv1.bias": "residual.2.bias",
    "norm2.gamma": "residual.3.gamma",
    "conv2.weight": "residual.6.weight",
    "conv2.bias": "residual.6.bias",
    "conv_shortcut.weight": "shortcut.weight",
    "conv_shortcut.bias": "shortcut.bias",
}
_VAE_FIXED = {
    "quant_conv.weight": "conv1.weight",
    "quant_conv.bias": "conv1.bias",
    "post_quant_conv.weight": "conv2.weight",
    "post_quant_conv.bias": "conv2.bias",
}


def wan_vae_key_to_native(key: str) -> str:
    if key in _VAE_FIXED:
        return _VAE_FIXED[key]
    side, _, rest = key.partition(".")  # encoder / decoder
    if rest.startswith("conv_in."):
        return f"{side}.conv1.{rest[len('conv_in.'):]}"
    if rest.startswith("norm_out."):
        return f"{side}.head.0.{rest[len('norm_out.'):]}"
    if rest.startswith("conv_out."):
        return f"{side}.head.2.{rest[len('conv_out.'):]}"
    m = re.match(r"mid_block\.resnets\.(\d)\.(.+)$", rest)
    if m:
        return f"{side}.middle.{2 * int(m.group(1))}.{_RESNET_PARTS[m.group(2)]}"
    m = re.match(r"mid_block\.attentions\.0\.(.+)$", rest)
    if m:
        return f"{side}.middle.1.{m.group(1)}"
    m = re.match(r"down_blocks\.(\d+)\.(.+)$", rest)
    if m:
        part = _RESNET_PARTS.get(m.group(2), m.group(2))
        return f"{side}.downsamples.{m.group(1)}.{part}"
    m = re.match(r"up_blocks\.(\d+)\.resnets\.(\d+)\.(.+)$", rest)
    if m:
        return f"{side}.upsamples.{4 * int(m.group(1)) + int(m.group(2))}.{_RESNET_PARTS[m.group(3)]}"
    m = re.match(r"up_blocks\.(\d+)\.upsamplers\.0\.(.+)$", rest)
    if m:
        return f"{side}.upsamples.{4 * int(m.group(1)) + 3}.{m.group(2)}"
    return key


def wan_vae_to_native(state_dict: dict) -> dict:
    return {wan_vae_key_to_native(k): v for k, v in state_dict.items()}
