"""ComfyUI's own Wan VACE as the runtime's generator backend (`unison_runtime.generator.backend`),
registered by `comfy_glue.install_generator_backend` at the first node run.

- Loading: which file plays which part is the runtime's reading (`GeneratorSource.files()`, each
  file's kind checked first); the files then load as ComfyUI's core loaders load them: the DiT with
  `comfy.sd.load_diffusion_model` (UNETLoader), UMT5-XXL with `comfy.sd.load_clip` type wan
  (CLIPLoader), the VAE with `comfy.sd.VAE` (VAELoader), so fp8-scaled files load as they do in
  ComfyUI. Wan's native release folder too: its UMT5 file has Wan's own key names, renamed in memory
  to the layout of ComfyUI's repackaged file with the tokenizer folder's sentencepiece model
  (`native_t5.comfy_text_encoder_state_dict`), for the same text-encoder loader. A diffusers folder
  never comes here (the runtime gives it to diffusers).
- The loaded MODEL / VAE / CLIP are cached by the runtime's model manager (a second loader naming
  the same files loads nothing; "Unload models" and /free drop them), while ComfyUI places their
  weights: they are its own ModelPatchers, among its loaded models while in use.
- A loader's `dtype` is UNETLoader's weight dtype for the DiT (auto: ComfyUI's choice; the text
  encoder and VAE get ComfyUI's precision, as its loaders give them). `offload_policy` and
  `attention_backend` are ComfyUI's to decide here (its memory manager; --use-sage-attention and
  the like): accepted, and a value other than the default is noted.
- Generating: `comfy_wan.sample_native` (Wan's UniPC on ComfyUI's model) with the runtime's step
  hook, so the progress bar, the latent preview and Cancel work as on our own path.

ComfyUI is imported inside the functions: this module is imported with the pack.
"""

from __future__ import annotations

import logging

from . import comfy_wan

log = logging.getLogger("ComfyUI-Unison")


class ComfyWanGenerator:
    """Wan2.1 VACE on ComfyUI's stack: its MODEL (a ModelPatcher), VAE and CLIP, as its loaders make
    them. The model manager caches it but does not move it (it holds no torch modules of ours)."""

    def __init__(self, model, vae, clip):
        self.model, self.vae, self.clip = model, vae, clip

    @property
    def text_width(self) -> int:
        """The DiT's text width (UMT5-XXL's, 4096 in the real model): the projector's tokens have it."""
        return int(self.model.model.diffusion_model.text_embedding[0].weight.shape[1])


class ComfyBackend:
    """The `unison_runtime.generator.backend.GeneratorBackend` for ComfyUI."""

    name = "ComfyUI"

    def load(self, source) -> ComfyWanGenerator:
        from unison_runtime.api import get_manager

        files = source.files()  # role -> (kind, path); a file of the wrong kind is named here
        settings = source.settings

        def loader(_device: str, _dtype: str) -> ComfyWanGenerator:  # ComfyUI places the weights
            _note_unused(source)
            return _load(files, settings.dtype, source.describe())

        key = tuple(f"{role}={kind}:{path}" for role, (kind, path) in sorted(files.items()))
        return get_manager().get("generator", key, loader, dtype=settings.dtype, device=settings.device,
                                 offload_policy=settings.offload_policy, options={"backend": self.name},
                                 files=[path for _, path in files.values()])

    def adopt(self, model, vae, clip) -> ComfyWanGenerator:
        comfy_wan.check_wan_vace(model, vae, clip)
        return ComfyWanGenerator(model, vae, clip)

    def owns(self, generator) -> bool:
        return isinstance(generator, ComfyWanGenerator)

    def generate(self, generator, inputs, prompt, projector_tokens, sampling, callback=None, check_cancel=None):
        from unison_runtime.api import Conditioning, Generated

        if check_cancel is not None:
            check_cancel()
        images, latent = comfy_wan.sample_native(generator.model, generator.vae, generator.clip, inputs,
                                                 Conditioning(prompt, projector_tokens), sampling, callback=callback)
        video = images.detach().float().cpu().movedim(-1, 0) * 2 - 1  # IMAGE [T, H, W, 3] -> [3, T, H, W]
        return Generated(video.clamp(-1, 1), latent["samples"].detach().cpu())


def _note_unused(source) -> None:
    """One line for the settings ComfyUI decides itself (logged, and in the run's notes)."""
    from unison_runtime.api import DEFAULT_OFFLOAD_POLICY, get_manager

    unused = [f"{name} {value!r}" for name, value, default in (
        ("offload_policy", source.settings.offload_policy, DEFAULT_OFFLOAD_POLICY),
        ("attention_backend", source.attention_backend, "native")) if value != default]
    if unused:
        note = (f"generator: {' and '.join(unused)} not used; inside ComfyUI its memory manager places the Wan VACE "
                "weights (--lowvram, --novram, --highvram) and its own flags pick the attention kernel "
                "(--use-sage-attention, --use-flash-attention)")
        log.info("ComfyUI-Unison: %s", note)
        get_manager().note(note)


def _load(files: dict, dtype: str, what: str) -> ComfyWanGenerator:
    import comfy.sd

    from unison_runtime.api import load_errors, torch_dtype

    options = {} if dtype == "auto" else {"dtype": torch_dtype(dtype)}  # UNETLoader's weight dtype
    path = files["transformer"][1]
    with load_errors("transformer", path):
        model = comfy.sd.load_diffusion_model(str(path), model_options=options)
    path = files["text_encoder"][1]
    with load_errors("text encoder", path):
        clip = _load_text_encoder(path, files["tokenizer"])
    path = files["vae"][1]
    with load_errors("VAE", path):
        vae = _load_vae(path)
    comfy_wan.check_wan_vace(model, vae, clip, node=f"the generator ({what})")
    return ComfyWanGenerator(model, vae, clip)


def _load_text_encoder(path, tokenizer: tuple):
    """CLIPLoader type wan on a file that carries its tokenizer (ComfyUI's); otherwise the same
    text-encoder loader on the file laid out as ComfyUI's, with the tokenizer folder's model."""
    import comfy.sd
    import comfy.utils

    from unison_runtime.api import comfy_text_encoder_state_dict, spiece_model

    kind, where = tokenizer
    if kind == "spiece":
        return comfy.sd.load_clip(ckpt_paths=[str(path)], embedding_directory=_embeddings(),
                                  clip_type=comfy.sd.CLIPType.WAN)
    state, metadata = comfy.utils.load_torch_file(str(path), safe_load=True, return_metadata=True)
    convert = getattr(comfy.utils, "convert_old_quants", None)  # as load_clip reads scaled-fp8 files
    if convert is not None:
        state, metadata = convert(state, model_prefix="", metadata=metadata)
    state = comfy_text_encoder_state_dict(state, spiece_model(where))
    # Through the module attribute, as load_clip calls it (a pack may wrap it).
    return comfy.sd.load_text_encoder_state_dicts([state], embedding_directory=_embeddings(),
                                                  clip_type=comfy.sd.CLIPType.WAN)


def _load_vae(path):
    """What VAELoader does with a file of the vae folder."""
    import comfy.sd
    import comfy.utils

    state, metadata = comfy.utils.load_torch_file(str(path), safe_load=True, return_metadata=True)
    vae = comfy.sd.VAE(sd=state, metadata=metadata)
    vae.throw_exception_if_invalid()
    if hasattr(comfy.sd, "load_vae_patcher"):  # 0.33: lets multi-GPU work clone it, as VAELoader does
        vae.patcher.cached_patcher_init = (comfy.sd.load_vae_patcher, (str(path), metadata, None))
    return vae


def _embeddings():
    try:
        import folder_paths
    except ImportError:
        return None
    return folder_paths.get_folder_paths("embeddings")
