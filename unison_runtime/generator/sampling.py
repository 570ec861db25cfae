"""Stage-two sampling: Wan2.1-VACE with flow-matching UniPC, CFG and VACE context (DESIGN §5, §8).

`generate(models, inputs, settings, callback=None)` returns frames `[C, T, H, W]` float32 in
[-1, 1] on the CPU (`media.frames_to_comfy` turns them into ComfyUI's `[T, H, W, C]` 0..1).

It follows diffusers' `WanVACEPipeline` step for step (same VAE encodings, mask folding, noise and
guidance arithmetic; the solver is our own port of Wan's flow-matching UniPC, `unipc`, checked
step by step against diffusers' scheduler — the tests check the outputs match a direct pipeline
call) with these differences, all deliberate:
- contexts come in already built (T5 + projector tokens, padded to 2048 — see `conditioning`);
- Wan's sigma schedule `linspace(0.999, 0, N+1)[:-1]`, shifted by `shift` (`unipc.wan_schedule`);
- the conditional and unconditional passes share one transformer call when `batch_cfg` (on, or
  `auto` when the device has room for twice the activations; `vae_tiling` likewise), every such
  choice written to the model manager's notes;
- a task without a source video encodes the all-zero video once (inactive and reactive halves are
  the same latents), and keeps those latents on the models for the next run of that size;
- several reference images are prepended in the order given (as Wan's VACE code does);
- tensors in, tensors out (no PIL round trip); placement through the model manager;
- the attention backend is set around the call and restored (diffusers' setting is process-global).
"""

from __future__ import annotations

import contextlib
import gc
from typing import TYPE_CHECKING, Callable

from ..errors import Cancelled
from ..models import get_manager
from .inputs import GenerationInputs, SamplerSettings, check_inputs, switch
from .unipc import wan_schedule

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from .loading import GeneratorModels

VAE_STRIDE_T, VAE_STRIDE_S = 4, 8

StepCallback = Callable[[int, int, "torch.Tensor"], object]


def generate(
    models: "GeneratorModels",
    inputs: GenerationInputs,
    settings: SamplerSettings | None = None,
    callback: StepCallback | None = None,
    check_cancel: Callable[[], object] | None = None,
) -> "torch.Tensor":
    """Generate frames `[3, num_frames, height, width]` float32 in [-1, 1] (CPU).

    `callback(step, total, latents)` runs after every denoising step (step counts from 1) with
    the generated frames' latents (reference frames left out); returning or raising `Cancelled`
    stops before the next step and frees the working tensors. `check_cancel()` is called between
    stages and before every step (e.g. ComfyUI's interrupt check); whatever it raises stops the run.
    """
    import torch

    from .conditioning import negative_context

    settings = settings or SamplerSettings()
    manager = get_manager()

    # 1. Check inputs
    check_inputs(inputs, settings, text_width=models.text_width)

    # 2. Define call parameters
    do_cfg = settings.guided
    work: dict[str, torch.Tensor] = {}
    try:
        # 3. Encode the negative prompt when no negative context was given
        context = inputs.context
        neg = inputs.negative_context
        if do_cfg and neg is None:
            neg = negative_context(models, settings.negative_prompt, total_len=context.shape[1])
        work["context"], work["negative"] = context, neg

        # 4. Prepare timesteps
        schedule = wan_schedule(settings.steps, settings.shift)

        # 5. Prepare VACE conditioning latents (VAE on the device only for this block)
        _check(check_cancel)
        with manager.use(models, "vae"):
            tiled = choose_vae_tiling(models, inputs, settings)
            with _vae_tiling(models.vae, tiled):
                work["control"], num_refs = prepare_control_latents(models, inputs)

        # 6. Prepare noise latents
        work["latents"] = prepare_latents(models, inputs, num_refs, settings.seed)

        # 7. Denoising loop
        with manager.use(models, "transformer"), _attention_backend(models.attention_backend):
            batched = do_cfg and choose_batch_cfg(models, inputs, settings, num_refs)
            denoise(models, schedule, work, settings, do_cfg, callback, num_refs, check_cancel, batched)

        # 8. Decode, dropping the reference frames
        _check(check_cancel)
        with manager.use(models, "vae"), _vae_tiling(models.vae, tiled):
            frames = decode_latents(models, work["latents"][:, :, num_refs:])
        return frames[:, : inputs.num_frames]
    except BaseException:
        # A failed or cancelled run (OOM, Cancelled) may sit in reference cycles held by the
        # traceback: collect so its tensors go now, and hand the cached blocks back to the
        # driver. On success neither is worth its cost (~0.3 s; measured in benchmarks/).
        work.clear()
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        raise
    finally:
        work.clear()


# ------------------------------------------------------------------------------------------------
# Memory choices (`auto`)
# ------------------------------------------------------------------------------------------------
def choose_batch_cfg(models: "GeneratorModels", inputs: GenerationInputs, settings: SamplerSettings,
                     num_refs: int = 0) -> bool:
    """Batched CFG when asked, or under `auto` when the device has room for both passes at once
    (always where free memory cannot be read: the CPU, where batching is the faster)."""
    from ..models import MARGIN_BYTES
    from .memory import weight_dtype_bytes, transformer_bytes

    mode = switch("batch_cfg", settings.batch_cfg)
    if mode != "auto":
        return mode == "on"
    free = get_manager().device_free(str(_device_of(models.transformer)))
    if free is None:
        return True
    need = transformer_bytes(models.transformer.config, inputs.width, inputs.height, inputs.num_frames,
                             batch=2, refs=num_refs, dtype_bytes=weight_dtype_bytes(models.transformer))
    batched = need + MARGIN_BYTES <= free
    get_manager().note(f"memory: batched CFG needs ~{need / 2**30:.1f} GB, {free / 2**30:.1f} GB free: "
                       + ("batched" if batched else "separate passes"))
    return batched


def choose_vae_tiling(models: "GeneratorModels", inputs: GenerationInputs, settings: SamplerSettings) -> bool:
    """Tiled VAE when asked, or under `auto` when an untiled encode/decode would not fit."""
    from ..models import MARGIN_BYTES
    from .memory import vae_bytes

    mode = switch("vae_tiling", settings.vae_tiling)
    if mode != "auto":
        return mode == "on"
    free = get_manager().device_free(str(_device_of(models.vae)))
    if free is None:
        return False
    need = vae_bytes(models.vae.config, inputs.width, inputs.height, inputs.num_frames)
    tiled = need + MARGIN_BYTES > free
    get_manager().note(f"memory: untiled VAE needs ~{need / 2**30:.1f} GB, {free / 2**30:.1f} GB free: "
                       + ("tiled" if tiled else "untiled"))
    return tiled


# ------------------------------------------------------------------------------------------------
# Steps
# ------------------------------------------------------------------------------------------------
def prepare_reference(image: "torch.Tensor", height: int, width: int) -> "torch.Tensor":
    """Scale `[3, h, w]` to fit `height`×`width` and centre it on a white canvas (VACE's rule)."""
    import torch
    import torch.nn.functional as F

    h, w = image.shape[-2:]
    scale = min(height / h, width / w)
    new_h, new_w = int(h * scale), int(w * scale)
    resized = F.interpolate(image[None].float(), size=(new_h, new_w), mode="bilinear", align_corners=False)[0]
    canvas = torch.ones(3, height, width, dtype=resized.dtype, device=resized.device)
    top, left = (height - new_h) // 2, (width - new_w) // 2
    canvas[:, top : top + new_h, left : left + new_w] = resized
    return canvas


def prepare_control_latents(models: "GeneratorModels", inputs: GenerationInputs) -> tuple["torch.Tensor", int]:
    """VACE's 96-channel control: [inactive 16 | reactive 16 | mask 64], references prepended.

    Returns `([1, 96, refs + latent_frames, H/8, W/8], number of reference latents)`.
    """
    import torch

    vae = models.vae
    device = _device_of(vae)
    n, h, w = inputs.num_frames, inputs.height, inputs.width
    masks = inputs.masks if inputs.masks is not None else torch.ones(1, n, h, w)
    soft = masks[None].to(device=device, dtype=vae.dtype)
    masks = (soft > 0.5).to(vae.dtype)  # VACE splits the video on the binarised mask...

    if inputs.source is None:  # zeros·(1−m) and zeros·m are the same all-zero video: encode once
        zero = zero_video_latents(models, n, h, w)
        latents = torch.cat([zero, zero], dim=1)
    else:
        video = inputs.source[None].to(device=device, dtype=vae.dtype)
        inactive = encode_frames(vae, video * (1 - masks))
        reactive = encode_frames(vae, video * masks)
        latents = torch.cat([inactive, reactive], dim=1)
    mask_latents = fold_masks(soft[0, 0], latents.shape[2])[None]  # ...but folds the soft one

    refs = [prepare_reference(r.to(device), h, w) for r in (inputs.reference_images or [])]
    if refs:
        ref_latents = torch.cat([encode_frames(vae, r[None, :, None].to(vae.dtype)) for r in refs], dim=2)
        ref_latents = torch.cat([ref_latents, torch.zeros_like(ref_latents)], dim=1)
        latents = torch.cat([ref_latents, latents], dim=2)
        mask_latents = torch.cat([mask_latents.new_zeros(*mask_latents.shape[:2], len(refs), *mask_latents.shape[3:]),
                                  mask_latents], dim=2)
    control = torch.cat([latents, mask_latents.to(latents.dtype)], dim=1)
    return control.to(models.transformer.dtype), len(refs)


def zero_video_latents(models: "GeneratorModels", n: int, h: int, w: int) -> "torch.Tensor":
    """Latents of an all-zero `n`×`h`×`w` video, encoded once per size and kept on the models."""
    import torch

    vae, reuse = models.vae, getattr(models, "reuse", {})
    key = ("zero_video", n, h, w, str(vae.dtype), bool(getattr(vae, "use_tiling", False)))
    if key not in reuse:
        for old in [k for k in reuse if k[0] == "zero_video"]:  # one size kept: the last one
            del reuse[old]
        reuse[key] = encode_frames(vae, torch.zeros(1, 3, n, h, w, device=_device_of(vae), dtype=vae.dtype)).cpu()
    return reuse[key].to(_device_of(vae))


def encode_frames(vae, frames: "torch.Tensor") -> "torch.Tensor":
    """VAE mean latents of `[1, 3, T, H, W]`, normalised with Wan's latent mean/std."""
    import torch

    with torch.no_grad():
        latents = vae.encode(frames).latent_dist.mode()
    mean, inv_std = _latent_stats(vae, latents.device)
    return ((latents.float() - mean) * inv_std).to(vae.dtype)


def fold_masks(masks: "torch.Tensor", latent_frames: int) -> "torch.Tensor":
    """`[T, H, W]` → `[64, latent_frames, H/8, W/8]`: each 8×8 pixel block becomes 64 channels,
    time resampled to the latent frame count (nearest-exact), as VACE does."""
    import torch.nn.functional as F

    t, h, w = masks.shape
    s = VAE_STRIDE_S
    folded = masks.view(t, h // s, s, w // s, s).permute(2, 4, 0, 1, 3).reshape(s * s, t, h // s, w // s)
    return F.interpolate(folded[None], size=(latent_frames, h // s, w // s), mode="nearest-exact")[0]


def prepare_latents(models: "GeneratorModels", inputs: GenerationInputs, num_refs: int, seed: int) -> "torch.Tensor":
    """Seeded Gaussian noise `[1, 16, refs + latent_frames, H/8, W/8]` (drawn on the CPU: the same
    on every device)."""
    import torch
    from diffusers.utils.torch_utils import randn_tensor

    latent_frames = (inputs.num_frames - 1) // VAE_STRIDE_T + 1 + num_refs
    shape = (
        1,
        models.transformer.config.in_channels,
        latent_frames,
        inputs.height // VAE_STRIDE_S,
        inputs.width // VAE_STRIDE_S,
    )
    generator = torch.Generator("cpu").manual_seed(seed)
    return randn_tensor(shape, generator=generator, device=_device_of(models.transformer), dtype=torch.float32)


def _check(check_cancel) -> None:
    if check_cancel is not None:
        check_cancel()


def denoise(models, schedule, work: dict, settings: SamplerSettings, do_cfg: bool, callback,
            num_refs: int = 0, check_cancel=None, batched: bool | None = None) -> None:
    """The sampling loop (`unipc.sample` on the DiT's x0); updates `work["latents"]` in place of the dict."""
    import torch

    from .unipc import sample

    transformer = models.transformer
    device, dtype = _device_of(transformer), transformer.dtype
    context = work["context"].to(device=device, dtype=dtype)
    negative = work["negative"].to(device=device, dtype=dtype) if do_cfg else None
    control = work["control"].to(device)
    scale = torch.full((len(transformer.config.vace_layers),), float(settings.context_scale), device=device,
                       dtype=dtype)
    if batched is None:
        batched = switch("batch_cfg", settings.batch_cfg) != "off"
    batched = do_cfg and batched
    context_in = torch.cat([context, negative]) if batched else None
    control_in = torch.cat([control, control]) if batched else None

    def velocity(latents, timestep):
        """The guided flow velocity at `latents`: one batched call for both passes, or two calls."""
        model_input, t = latents.to(dtype), timestep.to(device)
        with torch.no_grad():
            if batched:
                both = transformer(hidden_states=torch.cat([model_input, model_input]), timestep=t.expand(2),
                                   encoder_hidden_states=context_in, control_hidden_states=control_in,
                                   control_hidden_states_scale=scale, return_dict=False)[0]
                cond, uncond = both.chunk(2)
                return uncond + settings.cfg * (cond - uncond)
            kwargs = dict(timestep=t.expand(1), control_hidden_states=control,
                          control_hidden_states_scale=scale, return_dict=False)
            cond = transformer(hidden_states=model_input, encoder_hidden_states=context, **kwargs)[0]
            if not do_cfg:
                return cond
            uncond = transformer(hidden_states=model_input, encoder_hidden_states=negative, **kwargs)[0]
            return uncond + settings.cfg * (cond - uncond)

    def x0(latents, sigma, timestep):
        _check(check_cancel)
        return latents - sigma * velocity(latents, timestep)  # a flow model's x0

    def on_step(step) -> None:
        work["latents"] = step.next
        if callback is not None:
            result = callback(step.index + 1, step.total, step.next[:, :, num_refs:])
            if result is Cancelled or isinstance(result, Cancelled):
                raise Cancelled(f"generation cancelled after step {step.index + 1} of {step.total}")

    try:
        work["latents"] = sample(x0, work.pop("latents"), schedule, on_step)
    finally:
        # A cancelled or failed step's traceback keeps this frame alive: let go of the device
        # tensors now, not when the caller drops the exception.
        context = negative = control = context_in = control_in = None  # noqa: F841


def decode_latents(models: "GeneratorModels", latents: "torch.Tensor") -> "torch.Tensor":
    """Normalised latents `[1, 16, t, h, w]` → frames `[3, T, H, W]` float32 in [-1, 1] on the CPU."""
    import torch

    vae = models.vae
    latents = latents.to(device=_device_of(vae), dtype=vae.dtype)
    mean, inv_std = _latent_stats(vae, latents.device)
    with torch.no_grad():
        frames = vae.decode((latents / inv_std + mean).to(vae.dtype), return_dict=False)[0]
    return frames[0].float().clamp(-1, 1).cpu()


# ------------------------------------------------------------------------------------------------
# Previews
# ------------------------------------------------------------------------------------------------
def preview_frame(latents: "torch.Tensor", frame: int = 0) -> "torch.Tensor":
    """One latent frame `[1, C, 1, h, w]` float32 on the CPU, for a step preview: slice on the
    device first, so a preview copies one frame, not the whole latent video, every step."""
    return latents[:1, :, frame:frame + 1 if frame != -1 else None].float().cpu()


# ------------------------------------------------------------------------------------------------
def _device_of(module):
    return next(module.parameters()).device


def _latent_stats(vae, device):
    import torch

    z = vae.config.z_dim
    mean = torch.tensor(vae.config.latents_mean, device=device, dtype=torch.float32).view(1, z, 1, 1, 1)
    inv_std = 1.0 / torch.tensor(vae.config.latents_std, device=device, dtype=torch.float32).view(1, z, 1, 1, 1)
    return mean, inv_std


@contextlib.contextmanager
def _vae_tiling(vae, enabled: bool):
    """Tiled VAE encode/decode for large frames, restored afterwards (the VAE is shared)."""
    previous = getattr(vae, "use_tiling", False)
    if enabled and not previous:
        vae.enable_tiling()
    try:
        yield
    finally:
        if enabled and not previous:
            vae.disable_tiling()


@contextlib.contextmanager
def _attention_backend(name: str):
    """diffusers' attention backend for this call only (its setting is process-global)."""
    from diffusers.models.attention_dispatch import attention_backend

    with attention_backend(name):
        yield
