"""The sampler node's call into stage two: ComfyUI tensors in, ComfyUI's progress bar, latent
preview and Cancel wired into the runtime's step callback, IMAGE frames and LATENT out. The sampling itself
is `unison_runtime.pipeline.stage_two.generate_frames`, as in the CLI."""

from __future__ import annotations

from . import comfy_glue as glue
from . import stage_two


def sample(generator, bundle, conditioning, *, seed, steps, cfg, shift, context_scale, negative_prompt,
           frames=None, masks=None, references=None):
    from unison_runtime.generator.inputs import SamplerSettings
    from unison_runtime.media import frames_to_comfy
    from unison_runtime.pipeline.stage_two import generate_frames

    models = generator.get()
    stage = stage_two.apply_overrides(bundle.stage_two, source=frames, mask=masks, references=references)
    settings = SamplerSettings(steps=steps, cfg=cfg, shift=shift, context_scale=context_scale, seed=seed)
    progress = glue.Progress(steps)
    to_preview = glue.latent_previewer()
    last = {}

    def on_step(step: int, total: int, latents=None) -> None:
        glue.check_interrupted()  # raises ComfyUI's interrupt: the runtime stops and cleans up
        last["latents"] = latents
        preview = to_preview(latents) if to_preview is not None and latents is not None else None
        progress.total = total
        progress.update(step, preview)

    # Latents reach the callback as the generated frames only (the runtime drops VACE's reference
    # frames), so the preview shows frame 0 of the output as is.
    # check_cancel: ComfyUI's Cancel between stages too (before VAE encode, each step, decode).
    video = generate_frames(models, stage, conditioning.prompt, conditioning.projector_tokens, settings,
                            negative_prompt, callback=on_step, check_cancel=glue.check_interrupted)
    return frames_to_comfy(video.float().cpu()), native_latent(models, last.get("latents"))


def native_latent(models, latents) -> dict | None:
    """The last step's latents as ComfyUI's LATENT (None when the sampler gave none)."""
    from unison_runtime.native import comfy_latent

    if latents is None:
        return None
    config = models.vae.config
    return {"samples": comfy_latent(latents, config.latents_mean, config.latents_std)}
