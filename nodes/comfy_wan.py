"""ComfyUI's own Wan objects, for the nodes that take them:

- `check_wan_vace(model, vae, clip)`: the one check that a connected MODEL / VAE / CLIP is what
  Wan 2.1 VACE needs, before anything is encoded or sampled (one line naming what was connected
  and what is expected). Every node and loader that takes ComfyUI's Wan objects calls it.
- `wan_unipc_sampler(schedule=None)`: the runtime's Wan UniPC (`generator.unipc`, the solver our
  diffusers path runs) as a ComfyUI `KSAMPLER`, driving ComfyUI's model prediction, with ComfyUI's
  progress bar, latent preview (its sampler callback) and Cancel (its interrupt).
- `sample_native(model, vae, clip, inputs, conditioning, sampling)`: prepared stage-two inputs
  generated on ComfyUI's own Wan VACE (UnisonVACESampler and UnisonAuto inside ComfyUI, through
  `comfy_generator`): CLIPTextEncode → Unison's context → WanVaceToVideo → Wan's UniPC and sigmas →
  TrimVideoLatent → VAEDecode, so LoRAs, GGUF and ComfyUI's memory manager apply.

How ComfyUI's conventions meet the reference's (the solver itself is unchanged):
- ComfyUI starts a sampler from `σ0·noise + (1 − σ0)·latent`; Wan starts from the unit noise
  itself. On an empty latent (a fresh generation, as `WanVaceToVideo` gives) the start is divided
  by σ0 to give that noise back; a latent with content (partial denoise) is left as ComfyUI scaled it.
- ComfyUI conditions its model on `σ·1000`; Wan on the integer timestep `trunc(σ·1000)`
  (`FlowSchedule.timesteps`). The model is asked at that timestep's level and its prediction
  re-expressed at σ with the same velocity (`unipc.x0_at`).

ComfyUI is imported inside the functions: this module is imported with the pack.
"""

from __future__ import annotations

WAN_VACE_FILES = "UNETLoader with a Wan 2.1 VACE file, e.g. wan2.1_vace_1.3B_fp16.safetensors"
WAN_VAE_FILES = "VAELoader with the Wan 2.1 VAE, e.g. wan_2.1_vae.safetensors"
WAN_CLIP_FILES = "CLIPLoader type wan with UMT5-XXL, e.g. umt5_xxl_fp8_e4m3fn_scaled.safetensors"


# -- what is connected -----------------------------------------------------------------------
def check_wan_vace(model=None, vae=None, clip=None, node: str = "UnisonVACESampler") -> None:
    """Raise a one-line ValueError when a given (not None) MODEL, VAE or CLIP is not Wan 2.1
    VACE's: the DiT with VACE blocks, the Wan 2.1 VAE (16 latent channels), UMT5-XXL."""
    if model is not None:
        check_wan_model(model, node, vace=True)
    if vae is not None:
        import comfy.ldm.wan.vae

        stage = getattr(vae, "first_stage_model", None)
        if not isinstance(stage, comfy.ldm.wan.vae.WanVAE) or getattr(vae, "latent_channels", None) != 16:
            raise ValueError(f"{node}: the vae is {_describe_vae(vae)}, but Wan 2.1 VACE needs the Wan 2.1 VAE "
                             f"({WAN_VAE_FILES})")
    if clip is not None:
        import comfy.text_encoders.wan

        encoder = getattr(clip, "cond_stage_model", None)
        if not isinstance(encoder, comfy.text_encoders.wan.WanT5Model):
            raise ValueError(f"{node}: the clip is {_describe_clip(clip)}, but Wan 2.1 VACE needs UMT5-XXL "
                             f"({WAN_CLIP_FILES})")


def check_wan_model(model, node: str, vace: bool = False) -> None:
    """A ComfyUI MODEL of the Wan 2.1 family (with VACE blocks when `vace`), or a one-line ValueError."""
    import comfy.model_base

    base = getattr(model, "model", None)
    if not isinstance(base, comfy.model_base.BaseModel):
        raise ValueError(f"{node}: the model input must be a ComfyUI MODEL (from {WAN_VACE_FILES}), "
                         f"got {type(model).__name__}")
    _check_wan_base(base, node, vace)


def _check_wan_base(base, node: str, vace: bool = False) -> None:
    import comfy.model_base

    if not isinstance(base, comfy.model_base.WAN21):
        expected = f"Wan 2.1 VACE is expected ({WAN_VACE_FILES})" if vace else "a Wan 2.1 model is expected"
        raise ValueError(f"{node}: the model is {_describe_model(base)}, but {expected}")
    if vace and not isinstance(base, comfy.model_base.WAN21_Vace):
        raise ValueError(f"{node}: the model is {_describe_model(base)}, a Wan model without VACE blocks, but "
                         f"Wan 2.1 VACE is expected ({WAN_VACE_FILES})")


def _describe_model(base) -> str:
    config = type(getattr(base, "model_config", None)).__name__
    return f"{config} ({type(base).__name__})" if config != "NoneType" else type(base).__name__


def _describe_vae(vae) -> str:
    stage = getattr(vae, "first_stage_model", None)
    if stage is None:
        return f"not a ComfyUI VAE ({type(vae).__name__})"
    return f"{type(stage).__module__}.{type(stage).__name__} with {getattr(vae, 'latent_channels', '?')} latent channels"


def _describe_clip(clip) -> str:
    encoder = getattr(clip, "cond_stage_model", None)
    if encoder is None:
        return f"not a ComfyUI CLIP ({type(clip).__name__})"
    return f"{type(encoder).__module__}.{type(encoder).__name__}"


# -- Wan's UniPC as a ComfyUI sampler --------------------------------------------------------
SAMPLER_NODE = "UnisonWanUniPC"


def wan_unipc_sampler(schedule=None):
    """A ComfyUI SAMPLER running Wan's UniPC. Given a `FlowSchedule` (UnisonVACESampler's native path
    passes `wan_schedule`'s), its exact timesteps are used when the sigmas are its own; otherwise
    (UnisonWanUniPC, any SIGMAS) they are truncated from the given float32 sigmas."""
    import comfy.samplers

    return comfy.samplers.KSAMPLER(sample_wan_unipc, extra_options={"schedule": schedule})


def sample_wan_unipc(model, x, sigmas, extra_args=None, callback=None, disable=None, schedule=None):
    """The KSAMPLER sampler function: `model(x, sigma, **extra_args)` is ComfyUI's denoiser (CFG,
    conditioning and patches applied), `callback` its step callback (progress, preview)."""
    import comfy.model_management
    import torch

    from unison_runtime import api

    base = getattr(getattr(model, "inner_model", None), "inner_model", None)  # the guider's BaseModel
    if base is not None:
        _check_wan_base(base, SAMPLER_NODE)
    extra_args = {} if extra_args is None else extra_args
    if schedule is None or not torch.equal(schedule.sigmas, sigmas.detach().to("cpu", torch.float32)):
        schedule = api.schedule_from_sigmas(sigmas)
    ones = x.new_ones([x.shape[0]])

    def denoise(latents, sigma, timestep):
        comfy.model_management.throw_exception_if_processing_interrupted()  # Cancel
        at = api.model_sigma(timestep, sigma)
        denoised = model(latents, ones * at, **extra_args)
        return api.x0_at(latents, denoised, at, float(sigma))

    def on_step(step) -> None:
        if callback is not None:
            level = sigmas[step.index]
            callback({"x": step.x, "i": step.index, "sigma": level, "sigma_hat": level, "denoised": step.denoised})

    return api.sample_unipc(denoise, _reference_start(model, x, sigmas), schedule, on_step)


def _reference_start(model, x, sigmas):
    """Wan's start, the unit noise, from ComfyUI's `σ0·noise` on an empty latent (see the module's notes)."""
    latent = getattr(model, "latent_image", None)
    if latent is None or bool(latent.any()) or float(sigmas[0]) <= 0:
        return x
    return x / sigmas[0]


# -- generating on ComfyUI's own Wan VACE ----------------------------------------------------
def sample_native(model, vae, clip, inputs, conditioning, sampling, callback=None):
    """(IMAGE frames, LATENT) for prepared stage-two inputs (overrides applied), sampled on ComfyUI's
    model with Wan's UniPC (our solver, `wan_unipc_sampler`) and `sampling` (the runtime's
    SamplerSettings), through ComfyUI's own conditioning, VACE encoding and sampling calls.
    `callback(step, total, latents)`: the runtime's step hook (progress, preview and Cancel, with the
    generated frames' latents); without one, ComfyUI's own (`latent_preview`, as KSampler)."""
    import comfy.sample
    import latent_preview
    from comfy_extras.nodes_wan import TrimVideoLatent, WanVaceToVideo

    from unison_runtime.api import resolve_negative_prompt, wan_schedule
    from unison_runtime.api import comfy_prompt, padded_context, unison_context, vace_inputs

    check_wan_vace(model, vae, clip)  # before anything is encoded
    schedule = wan_schedule(sampling.steps, sampling.shift)
    tokens = conditioning.projector_tokens
    positive = map_conditioning(clip_encode(clip, comfy_prompt(conditioning.prompt)),
                                lambda t: unison_context(t, tokens))
    negative = map_conditioning(clip_encode(clip, comfy_prompt(resolve_negative_prompt(sampling.negative_prompt))),
                                padded_context)
    vace = vace_inputs(inputs)
    positive, negative, latent, trim = WanVaceToVideo.execute(
        positive, negative, vae, vace.width, vace.height, vace.length, 1, sampling.context_scale,
        control_video=vace.control_video, control_masks=vace.control_masks,
        reference_image=vace.reference_image).args
    empty = comfy.sample.fix_empty_latent_channels(model, latent["samples"])
    noise = comfy.sample.prepare_noise(empty, sampling.seed)  # the same draw as our sampler's noise
    if callback is None:
        on_step = latent_preview.prepare_callback(model, sampling.steps)
    else:  # ComfyUI counts steps from 0; the reference frames come first in its latents
        def on_step(step, denoised, x, total):
            callback(step + 1, total, denoised[:, :, trim:])
    samples = comfy.sample.sample_custom(model, noise, sampling.guidance_scale, wan_unipc_sampler(schedule),
                                         schedule.sigmas, positive, negative, empty, seed=sampling.seed,
                                         callback=on_step)
    (trimmed,) = TrimVideoLatent.execute({"samples": samples}, trim).args
    images = vae.decode(trimmed["samples"])
    if images.ndim == 5:  # as core VAEDecode: [B, T, H, W, C] → frames
        images = images.reshape(-1, *images.shape[-3:])
    return images, trimmed


def clip_encode(clip, text: str):
    """What core CLIPTextEncode does with `text`."""
    return clip.encode_from_tokens_scheduled(clip.tokenize(text))


def map_conditioning(conditioning, fn):
    """ComfyUI CONDITIONING (a list of [tensor, options]) with `fn` applied to each tensor."""
    if not isinstance(conditioning, list) or not all(isinstance(c, (list, tuple)) and len(c) == 2 for c in conditioning):
        raise ValueError("expected ComfyUI CONDITIONING (from CLIPTextEncode), got "
                         f"{type(conditioning).__name__}")
    return [[fn(tensor), dict(options)] for tensor, options in conditioning]
