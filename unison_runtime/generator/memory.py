"""Working-memory estimates for stage two, from first principles (documented in docs/PERFORMANCE.md).

What the `auto` choices compare against the device's free memory: the DiT's activations per
denoising call (batched CFG doubles them), the VAE's while encoding/decoding (tiling shrinks them),
and T5's while encoding a prompt. Inference only (no autograd), sizes from the models' configs:

- DiT: L = (latent frames + references) · (H/16) · (W/16) tokens of width D, FFN width F, V VACE
  blocks. Live for the whole call: the hidden states, the VACE control stream and the V hints
  diffusers computes before the main blocks, (2 + V)·L·D. The largest block transient is the
  feed-forward: its input, the norm/modulation output, the up-projection and its GELU, L·(3D + 2F).
  Attention runs through SDPA (flash / memory-efficient kernels): no L×L matrix is stored.
- VAE (Wan 2.1, causal, one latent frame per chunk): per stage s of the decoder, C_s channels at
  (H_s, W_s) with t_s frames per chunk (1, 2, 4, 4 from the latent side up). The largest stage's
  working set is about 4 tensors of C_s·(t_s + 2)·H_s·W_s (the input with its 2 cached frames, the
  norm, the activation, the conv output); every causal conv also caches its last 2 input frames,
  Σ n_s·C_s·2·H_s·W_s, n_s = 2 per residual block (+1 for the output head). Plus the output video.
  Tiled, every H·W term is a 256×256 tile's, plus the decoded tiles held for blending.
  Encoding mirrors decoding (the same stages, read from the other end).
- T5: L ≤ 512 tokens: L·(3D + 2F) plus the attention scores, heads·L².
"""

from __future__ import annotations

from typing import Any

from ..facts import CONTEXT_LENGTH

TILE = 256          # diffusers' AutoencoderKLWan tile_sample_min_height/width
TILE_STRIDE = 192   # tile_sample_stride_height/width
CACHE_FRAMES = 2    # Wan's causal conv cache (CACHE_T)


def _get(config: Any, name: str, default=None):
    return config.get(name, default) if isinstance(config, dict) else getattr(config, name, default)


def dit_tokens(width: int, height: int, num_frames: int, refs: int = 0, patch: tuple = (1, 2, 2)) -> int:
    latent_frames = (num_frames - 1) // 4 + 1 + refs
    return (latent_frames // patch[0]) * (height // 8 // patch[1]) * (width // 8 // patch[2])


def transformer_bytes(config: Any, width: int, height: int, num_frames: int, batch: int = 1,
                      refs: int = 0, dtype_bytes: int = 2) -> int:
    """Peak activation bytes of one DiT call on `batch` samples (2 = batched CFG)."""
    inner = _get(config, "num_attention_heads") * _get(config, "attention_head_dim")
    ffn = _get(config, "ffn_dim")
    vace = len(_get(config, "vace_layers", ()))
    tokens = dit_tokens(width, height, num_frames, refs, tuple(_get(config, "patch_size", (1, 2, 2))))
    text = CONTEXT_LENGTH * inner * 3  # the context, its projection, one block's cross-attention K/V
    per_sample = (2 + vace) * tokens * inner + tokens * (3 * inner + 2 * ffn) + text
    latents = 4 * _get(config, "in_channels", 16) * tokens * 4 * 4  # fp32 latents, noise, scheduler state
    return batch * per_sample * dtype_bytes + latents


def _vae_stages(config: Any) -> list[tuple[int, int, int]]:
    """(channels, spatial downscale, frames per chunk) of each decoder stage, latent side first."""
    base, mult = _get(config, "base_dim", 96), list(_get(config, "dim_mult", [1, 2, 4, 4]))
    temporal = list(_get(config, "temperal_downsample", [False, True, True]))[::-1]
    stages, scale, frames = [], 2 ** (len(mult) - 1), 1
    for i, m in enumerate(reversed(mult)):
        stages.append((base * m, scale, frames))
        if i < len(mult) - 1:
            scale //= 2
            frames *= 2 if temporal[i] else 1
    return stages


def vae_bytes(config: Any, width: int, height: int, num_frames: int, tiled: bool = False) -> int:
    """Peak bytes of a Wan VAE decode (or encode) of `num_frames` at width×height, float32."""
    res_blocks = _get(config, "num_res_blocks", 2)
    h, w = (min(TILE, height), min(TILE, width)) if tiled else (height, width)
    working, cache = 0, 0
    for channels, scale, frames in _vae_stages(config):
        area = (h // scale) * (w // scale)
        working = max(working, 4 * channels * (frames + CACHE_FRAMES) * area)
        cache += (2 * (res_blocks + 1) + (1 if scale == 1 else 0)) * channels * CACHE_FRAMES * area
    video = 3 * num_frames * height * width
    if tiled:  # diffusers keeps every decoded tile (overlapping) until it blends them
        video += int(video * (TILE / TILE_STRIDE) ** 2)
    return (working + cache + video) * 4


def text_encoder_bytes(config: Any, tokens: int = 512, dtype_bytes: int = 2) -> int:
    d, f, heads = _get(config, "d_model"), _get(config, "d_ff"), _get(config, "num_heads")
    return tokens * (3 * d + 2 * f) * dtype_bytes + heads * tokens * tokens * 4


# The job `auto` sizes the models for at load: DESIGN §2's default video.
DEFAULT_JOB = {"width": 832, "height": 480, "num_frames": 81}


def working_bytes(models, width: int | None = None, height: int | None = None, num_frames: int | None = None,
                  batch: int = 1, tiled: bool = True) -> dict[str, int]:
    """Per module of a `GeneratorModels`, the working memory of a job (default: 832×480×81, CFG
    passes separate, VAE tiled: the least `auto` can run it with)."""
    width = width or DEFAULT_JOB["width"]
    height = height or DEFAULT_JOB["height"]
    num_frames = num_frames or DEFAULT_JOB["num_frames"]
    dtype_bytes = weight_dtype_bytes(models.transformer)
    return {
        "transformer": transformer_bytes(models.transformer.config, width, height, num_frames, batch,
                                         dtype_bytes=dtype_bytes),
        "vae": vae_bytes(models.vae.config, width, height, num_frames, tiled=tiled),
        "text_encoder": text_encoder_bytes(models.text_encoder.config, dtype_bytes=weight_dtype_bytes(models.text_encoder)),
    }


def weight_dtype_bytes(module) -> int:
    """Bytes per element of the dtype holding most of a module's weights (activations follow it;
    diffusers keeps a few small modules in fp32 under a half dtype)."""
    counts: dict[int, int] = {}
    for tensor in module.parameters():
        counts[tensor.element_size()] = counts.get(tensor.element_size(), 0) + tensor.numel()
    return max(counts, key=counts.get) if counts else 2
