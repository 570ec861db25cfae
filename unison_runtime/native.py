"""The bridge to ComfyUI's own Wan VACE graph (`WanVaceToVideo` → `KSampler`), ComfyUI-free.

The values here are exactly what ComfyUI 0.8.0's core `WanVaceToVideo` takes, computed from the
same prepared stage-two inputs our own sampler uses, so a native graph fed by the planner and the
router sees what our generator sees:

- `control_video` IMAGE `[T, H, W, 3]` in 0..1 (mid-gray = VACE's zeros); `control_masks` MASK
  `[T, H, W]` in {0, 1}, 1 = regenerate. Both are None (left unconnected) when the task has no source:
  `WanVaceToVideo` then uses mid-gray frames and an all-ones mask of the target size and length,
  which is what our generator uses too.
- `reference_image` IMAGE `[N, H, W, 3]`, placed onto white at the target size; None when the
  plan has no reference (a placeholder image would add a spurious reference). `WanVaceToVideo`
  reads only the first image of the batch.
- `prompt`: the text our generator's T5 encodes, made literal for `CLIPTextEncode` (ComfyUI reads
  `(word:1.2)` as emphasis; escaped parentheses are plain text).

ComfyUI's layouts (IMAGE `[B, H, W, C]`, MASK `[B, H, W]`) appear here because they are this
module's contract; the conversion uses the `media` helpers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import GenerationError
from .plan import snap_frames

if TYPE_CHECKING:  # pragma: no cover
    from .pipeline.stage_two import StageTwoInputs


@dataclass
class VaceInputs:
    """`WanVaceToVideo`'s size and optional VACE inputs (None = leave the socket unconnected)."""

    width: int
    height: int
    length: int
    control_video: Any = None    # IMAGE [T, H, W, 3] 0..1
    control_masks: Any = None    # MASK [T, H, W] 0..1, 1 = regenerate
    reference_image: Any = None  # IMAGE [N, H, W, 3] 0..1


def vace_inputs(stage: "StageTwoInputs") -> VaceInputs:
    """The `WanVaceToVideo` inputs for prepared stage-two inputs (the router's `stage_two`).

    Converted from `stage.to_tensors()`, the tensors our own sampler encodes, so both paths agree
    on every pixel and mask value.
    """
    import torch

    from .media import frames_to_comfy

    length = snap_frames(stage.num_frames)  # Wan's 4k+1 rule
    source, masks, references = stage.to_tensors()
    out = VaceInputs(width=int(stage.width), height=int(stage.height), length=length)
    if source is not None:
        if source.shape[1] != length:
            raise GenerationError(f"the prepared source has {source.shape[1]} frames but Wan needs {length} (4k+1)")
        out.control_video = frames_to_comfy(source)
        # Our generator regenerates a pixel or keeps it (mask > 0.5); WanVaceToVideo would blend soft values.
        out.control_masks = (masks[0] > 0.5).float().contiguous()
    if references:
        out.reference_image = placed_references(stage)
    return out


def placed_references(stage: "StageTwoInputs") -> "torch.Tensor":
    """The reference images as our generator places them (scaled to fit, centred on white at the
    target size; `generator.sampling.prepare_reference`), as an IMAGE `[N, H, W, 3]` 0..1.
    (WanVaceToVideo would cover-crop a reference of another size instead.)"""
    import torch

    from .generator.sampling import prepare_reference
    from .media import frames_from_uint8

    placed = [prepare_reference(frames_from_uint8(r[None])[:, 0], stage.height, stage.width)
              for r in stage.references]
    return torch.stack([p.permute(1, 2, 0).add(1).div(2).clamp(0, 1) for p in placed])


def comfy_prompt(prompt: str) -> str:
    """The request text as our generator's T5 reads it (Wan's cleaning), with parentheses escaped
    so that `CLIPTextEncode` encodes them literally instead of as emphasis weights."""
    from .generator.conditioning import clean_prompt

    return clean_prompt(prompt).replace("(", "\\(").replace(")", "\\)")


def real_tokens(t5_context: "torch.Tensor") -> "torch.Tensor":
    """`[L, W]`: a ComfyUI T5 CONDITIONING tensor `[1, L, W]` without its padding.

    ComfyUI's UMT5 encoder zeroes the padded positions (`zero_out_masked`), and no real token's
    hidden state is all zeros (the final layer norm), so the real tokens end at the last non-zero row.
    """
    if t5_context.ndim != 3 or t5_context.shape[0] != 1:
        raise GenerationError(f"the T5 conditioning must be [1, L, W]; got shape {tuple(t5_context.shape)}")
    nonzero = (t5_context[0] != 0).any(dim=-1).nonzero()
    if len(nonzero) == 0:
        raise GenerationError("the T5 conditioning is all zeros: connect CLIPTextEncode's output (CLIPLoader type wan)")
    return t5_context[0, : int(nonzero[-1]) + 1].float()


def unison_context(t5_context: "torch.Tensor", projector_tokens: "torch.Tensor | None" = None) -> "torch.Tensor":
    """The context our generator builds (`conditioning.build_context`) from ComfyUI's T5 output:
    real T5 tokens, the projector's 4 tokens (when given), zeros to the DiT's 2048 tokens."""
    from .generator.conditioning import build_context

    return build_context(real_tokens(t5_context), projector_tokens)


def padded_context(t5_context: "torch.Tensor") -> "torch.Tensor":
    """A negative T5 context as the reference's DiT sees it: its rows unchanged, zeros to 2048.

    Without this ComfyUI would run the 512-token negative beside the 2048-token positive in a
    separate batch, and the negative would attend over 512 - n zero rows instead of 2048 - n.
    An all-zero negative (ConditioningZeroOut) stays all zeros.
    """
    from .facts import CONTEXT_LENGTH

    if t5_context.ndim == 3 and t5_context.shape[0] == 1 and not bool(t5_context.any()):
        return t5_context.new_zeros(1, max(CONTEXT_LENGTH, t5_context.shape[1]), t5_context.shape[2]).float()
    return unison_context(t5_context, None)


def comfy_latent(latents: "torch.Tensor", latents_mean, latents_std) -> "torch.Tensor":
    """Our sampler's latents (normalised, `(z - mean) / std`, as diffusers' Wan VACE samples them) in
    ComfyUI's LATENT space (the VAE's own `z`; ComfyUI's Wan21 latent format normalises on use)."""
    import torch

    z = latents.shape[1]
    mean = torch.tensor(latents_mean, dtype=torch.float32).view(1, z, 1, 1, 1)
    std = torch.tensor(latents_std, dtype=torch.float32).view(1, z, 1, 1, 1)
    return latents.detach().float().cpu() * std + mean


def wan_sigmas(steps: int, shift: float) -> "torch.Tensor":
    """Wan's flow-matching sigmas, `steps + 1` float32 values ending at 0 (`generator.unipc.wan_schedule`,
    the schedule our sampler runs). ComfyUI's `simple` scheduler starts at 1.0 instead."""
    from .generator.unipc import wan_schedule

    return wan_schedule(int(steps), float(shift)).sigmas
