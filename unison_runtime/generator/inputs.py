"""The typed values `generate` takes, and the up-front validation of them.

Conventions (docs/ARCHITECTURE.md): video tensors `[C, T, H, W]` float in [-1, 1]; masks
`[1, T, H, W]` in {0, 1} with 1 = regenerate; reference images `[C, H, W]` in [-1, 1] (any size:
they are scaled to fit and centred on a white canvas of the target size). Images are 1-frame videos.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..errors import GenerationError
from ..facts import MAX_FRAMES, MAX_REFERENCES, SIZE_STEP, SWITCHES
from ..facts import MAX_SIDE as MAX_SIZE
from ..facts import MIN_SIDE as MIN_SIZE

if TYPE_CHECKING:  # pragma: no cover
    import torch

MAX_STEPS = 1000


@dataclass
class GenerationInputs:
    """What to generate: the contexts (from `conditioning`) and the VACE inputs."""

    context: "torch.Tensor"                      # [1, 2048, W]
    width: int
    height: int
    num_frames: int = 1
    negative_context: "torch.Tensor | None" = None  # [1, 2048, W]; None: from settings.negative_prompt
    source: "torch.Tensor | None" = None         # [3, T, H, W] in [-1, 1]; None: zeros
    masks: "torch.Tensor | None" = None          # [1, T, H, W] in {0, 1}; None: all ones
    reference_images: "list[torch.Tensor] | None" = None  # each [3, h, w] in [-1, 1]


@dataclass(frozen=True)
class SamplerSettings:
    """How to sample: the one set of sampler options (DESIGN §5 defaults) for the runtime, the CLI
    and the nodes, whose widgets read their defaults from `SamplerSettings()`. Checked when built,
    so a bad value is refused before any model loads."""

    seed: int = 0
    steps: int = 50
    cfg: float = 5.0                 # 1 or less: no guidance (one pass), as Wan's reference reads it
    shift: float = 5.0
    context_scale: float = 1.0
    negative_prompt: str = ""        # empty: Wan 2.1's standard negative prompt
    batch_cfg: bool | str = "auto"   # one DiT call for both CFG passes ("auto": when it fits)
    vae_tiling: bool | str = "auto"  # tiled VAE encode/decode ("auto": when untiled does not fit)

    def __post_init__(self) -> None:
        check_sampler_settings(self)

    @property
    def guided(self) -> bool:
        """Whether classifier-free guidance runs (a negative pass): cfg above 1."""
        return self.cfg > 1.0

    @property
    def guidance_scale(self) -> float:
        """The cfg a sampler that always mixes the passes must get for the same result (1: cond only)."""
        return float(self.cfg) if self.guided else 1.0


def switch(name: str, value) -> str:
    """A batch_cfg / vae_tiling setting as "auto", "on" or "off" (booleans accepted)."""
    if value is True or value is False:
        return "on" if value else "off"
    if value not in SWITCHES:
        raise GenerationError(f"{name} {value!r} is not allowed: use one of {', '.join(SWITCHES)}")
    return value


def check_inputs(inputs: GenerationInputs, settings: SamplerSettings, text_width: int | None = None) -> None:
    """Raise a GenerationError naming the first bad value and what is allowed (the settings were
    checked when they were built)."""

    # sizes and frames
    for name, value in (("width", inputs.width), ("height", inputs.height)):
        if not isinstance(value, int) or value < MIN_SIZE or value > MAX_SIZE or value % SIZE_STEP:
            raise GenerationError(
                f"{name} {value!r} is not allowed: use a multiple of {SIZE_STEP} from {MIN_SIZE} to {MAX_SIZE}"
            )
    n = inputs.num_frames
    if not isinstance(n, int) or n < 1 or n > MAX_FRAMES or (n - 1) % 4:
        raise GenerationError(
            f"num_frames {n!r} is not allowed: use 4k+1 frames (1, 5, 9, ..., {MAX_FRAMES})"
        )
    # contexts
    _check_context("context", inputs.context, text_width)
    if inputs.negative_context is not None:
        _check_context("negative_context", inputs.negative_context, text_width)
        if inputs.negative_context.shape != inputs.context.shape:
            raise GenerationError(
                f"negative_context shape {tuple(inputs.negative_context.shape)} must equal the context's "
                f"{tuple(inputs.context.shape)}"
            )
    # VACE inputs
    expected = (n, inputs.height, inputs.width)
    if inputs.source is not None:
        _check_tensor("source", inputs.source, 4)
        if inputs.source.shape[0] != 3:
            raise GenerationError(f"source must be [3, T, H, W]; got {tuple(inputs.source.shape)}")
        if tuple(inputs.source.shape[1:]) != expected:
            raise GenerationError(
                f"source video is {_desc(inputs.source.shape[1:])} but the target is {_desc(expected)}; "
                "resize or trim it to match"
            )
        if inputs.source.min() < -1.0 - 1e-3 or inputs.source.max() > 1.0 + 1e-3:
            raise GenerationError("source frames must lie in [-1, 1]")
    if inputs.masks is not None:
        _check_tensor("masks", inputs.masks, 4)
        if inputs.masks.shape[0] != 1:
            raise GenerationError(f"masks must be [1, T, H, W]; got {tuple(inputs.masks.shape)}")
        if tuple(inputs.masks.shape[1:]) != expected:
            raise GenerationError(
                f"masks are {_desc(inputs.masks.shape[1:])} but the target is {_desc(expected)}; "
                "mask and video must have the same length and size"
            )
        if inputs.masks.min() < 0 or inputs.masks.max() > 1:
            raise GenerationError("masks must lie in [0, 1] (1 = regenerate)")
    refs = inputs.reference_images or []
    if len(refs) > MAX_REFERENCES:
        raise GenerationError(f"{len(refs)} reference images given; at most {MAX_REFERENCES} are allowed")
    for i, ref in enumerate(refs):
        _check_tensor(f"reference_images[{i}]", ref, 3)
        if ref.shape[0] != 3 or min(ref.shape[1:]) < 1:
            raise GenerationError(f"reference_images[{i}] must be [3, H, W]; got {tuple(ref.shape)}")


def check_sampler_settings(settings: SamplerSettings) -> None:
    """The sampler's numbers alone, so a caller can refuse bad ones before loading any model."""
    for name in ("cfg", "shift", "context_scale"):
        value = getattr(settings, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise GenerationError(f"{name} must be a number, got {value!r}")
    if isinstance(settings.seed, bool):
        raise GenerationError(f"seed must be an integer, got {settings.seed!r}")
    if isinstance(settings.steps, bool) or not isinstance(settings.steps, int) or not 1 <= settings.steps <= MAX_STEPS:
        raise GenerationError(f"steps {settings.steps!r} is not allowed: use 1 to {MAX_STEPS}")
    if not 0.0 <= settings.cfg <= 30.0:
        raise GenerationError(f"cfg {settings.cfg!r} is not allowed: use 0 to 30 (1 or less disables guidance)")
    if not 0.0 < settings.shift <= 100.0:
        raise GenerationError(f"shift {settings.shift!r} is not allowed: use a value in (0, 100]")
    if not 0.0 <= settings.context_scale <= 10.0:
        raise GenerationError(f"context_scale {settings.context_scale!r} is not allowed: use 0 to 10")
    if not isinstance(settings.seed, int) or not 0 <= settings.seed < 2**64:
        raise GenerationError(f"seed {settings.seed!r} is not allowed: use an integer from 0 to 2**64-1")
    if not isinstance(settings.negative_prompt, str):
        raise GenerationError(f"negative_prompt must be text, got {type(settings.negative_prompt).__name__}")
    switch("batch_cfg", settings.batch_cfg)
    switch("vae_tiling", settings.vae_tiling)


def _check_tensor(name: str, value: Any, ndim: int) -> None:
    import torch

    if not isinstance(value, torch.Tensor) or value.ndim != ndim or not value.is_floating_point():
        shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
        raise GenerationError(f"{name} must be a float tensor with {ndim} dimensions; got {shape}")


def _check_context(name: str, value: Any, text_width: int | None) -> None:
    _check_tensor(name, value, 3)
    if value.shape[0] != 1:
        raise GenerationError(f"{name} must have batch size 1; got shape {tuple(value.shape)}")
    if text_width is not None and value.shape[2] != text_width:
        raise GenerationError(f"{name} width {value.shape[2]} does not match the text encoder's {text_width}")


def _desc(shape) -> str:
    t, h, w = (int(x) for x in shape)
    return f"{t} frame(s) of {w}x{h}"
