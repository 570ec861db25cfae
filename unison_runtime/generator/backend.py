"""Who loads and runs the Wan VACE generator: the runtime's one seam for it.

A *backend* loads a `sources.GeneratorSource` into a generator (cached by the model manager) and
generates frames with it from prepared stage-two inputs. Every loaded generator has a `text_width`
(the width the projector's tokens must have). The runtime's own backend is `DiffusersBackend`
(diffusers is imported only when it loads). A host with its own Wan VACE registers a backend with
`set_host_backend`, as it injects its device and memory providers into the model manager: inside
ComfyUI, `nodes.comfy_glue` registers ComfyUI's (`nodes.comfy_generator`) at the first node run.
The CLI, UnisonAuto and UnisonVACESampler all go through `GeneratorSource.load()` and
`stages.generate_video`, hence through here.

Which backend applies is decided here and nowhere else:
- a diffusers-format folder: diffusers, the only one that reads that layout (without diffusers
  installed: one line naming what to install);
- ComfyUI's single files or Wan's native release folder: the host's when one is registered, else
  diffusers;
- a host's own loaded objects (a node's connected MODEL / VAE / CLIP): the host's (`adopt`);
- a loaded generator: the backend that loaded it (`backend_of`);
- when several layouts are found (UnisonAuto, the CLI's models folder): diffusers folder, native
  folder, single files; under a host, native folder and single files first, so a ComfyUI install
  never needs diffusers for a generator it can load itself (`layout_order`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Protocol

from ..errors import GenerationError, ModelLoadError

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from ..pipeline.stage_two import StageTwoInputs
    from .inputs import SamplerSettings

DIFFUSERS_INSTALL = 'pip install "diffusers>=0.37"'


@dataclass(frozen=True)
class Generated:
    """What stage two made: `video` `[3, T, H, W]` float32 in [-1, 1], and `latent` the last step's
    latents as the VAE's own z `[1, 16, t, h, w]` (ComfyUI's LATENT samples; reference frames left
    out), or None."""

    video: "torch.Tensor"
    latent: "torch.Tensor | None" = None


class GeneratorBackend(Protocol):
    """Loads and runs Wan VACE. `source` is a `sources.GeneratorSource` (its folders or files, its
    `LoadSettings` and attention backend)."""

    name: str

    def load(self, source: Any) -> Any:
        """The loaded generator for `source`, through the model manager (a second call loads nothing)."""

    def adopt(self, model: Any, vae: Any, clip: Any) -> Any:
        """A generator made of the host's own loaded objects, checked to be Wan 2.1 VACE's."""

    def owns(self, generator: Any) -> bool:
        """Whether `generator` is one this backend loaded or adopted."""

    def generate(self, generator: Any, inputs: "StageTwoInputs", prompt: str,
                 projector_tokens: "torch.Tensor | None", sampling: "SamplerSettings",
                 callback: Callable[[int, int, Any], object] | None = None,
                 check_cancel: Callable[[], object] | None = None) -> Generated:
        """Stage two: `callback(step, total, latents)` after every step (progress, preview; latents of
        the generated frames), `check_cancel()` between stages and before every step."""


class DiffusersBackend:
    """The runtime's own generator: diffusers' Wan VACE models with our sampler (`generator.sampling`)."""

    name = "diffusers"

    def load(self, source) -> Any:
        from .loading import load_generator

        require_diffusers(f"the Wan VACE generator ({source.describe()})")
        return load_generator(source.diffusers_dir, native_dir=source.native_dir,
                              transformer_file=source.transformer_file, text_encoder_file=source.text_encoder_file,
                              vae_file=source.vae_file, attention_backend=source.attention_backend,
                              **source.settings.as_kwargs())

    def adopt(self, model, vae, clip) -> Any:
        raise GenerationError("a MODEL, VAE and CLIP loaded by ComfyUI generate only inside ComfyUI; outside it, "
                              "load the generator from its files (--generator, UnisonGeneratorLoader)")

    def owns(self, generator) -> bool:
        from .loading import GeneratorModels

        return isinstance(generator, GeneratorModels)

    def generate(self, generator, inputs, prompt, projector_tokens, sampling, callback=None,
                 check_cancel=None) -> Generated:
        from ..native import comfy_latent
        from ..pipeline.stage_two import generate_frames

        last: dict = {}

        def on_step(step: int, total: int, latents=None):
            last["latents"] = latents
            return callback(step, total, latents) if callback is not None else None

        video = generate_frames(generator, inputs, prompt, projector_tokens, sampling, callback=on_step,
                                check_cancel=check_cancel)
        latents, config = last.get("latents"), generator.vae.config
        latent = None if latents is None else comfy_latent(latents, config.latents_mean, config.latents_std)
        return Generated(video, latent)


DIFFUSERS = DiffusersBackend()
_host: GeneratorBackend | None = None


def set_host_backend(backend: GeneratorBackend | None) -> None:
    """Register the host's generator backend (None: the runtime's own, as outside ComfyUI)."""
    global _host
    _host = backend


def host_backend() -> GeneratorBackend | None:
    return _host


def backend_for(source) -> GeneratorBackend:
    """The backend that loads `source` (the rule in the module doc)."""
    if source.diffusers_dir is not None or _host is None:
        return DIFFUSERS
    return _host


def layout_order() -> tuple[str, ...]:
    """Which found generator layout `sources.find_models` takes first (the rule in the module doc)."""
    if _host is not None:
        return ("native", "single_files", "diffusers")
    return ("diffusers", "native", "single_files")


def backend_of(generator) -> GeneratorBackend:
    """The backend that loaded (or adopted) `generator`."""
    for backend in (_host, DIFFUSERS):
        if backend is not None and backend.owns(generator):
            return backend
    raise GenerationError(f"the generator input must be a loaded Wan VACE generator, got {type(generator).__name__}")


def adopt(model, vae, clip) -> Any:
    """A generator made of the host's own loaded MODEL, VAE and CLIP (a node's connected ones)."""
    return (_host or DIFFUSERS).adopt(model, vae, clip)


def require_diffusers(what: str) -> None:
    """A one-line ModelLoadError naming what to install when diffusers is not importable."""
    import importlib.util

    if importlib.util.find_spec("diffusers") is None:
        where = (" Inside ComfyUI, use ComfyUI's single files (diffusion_models, text_encoders, vae) or Wan's "
                 "native release folder instead: they load without it." if _host is not None else "")
        raise ModelLoadError(f"{what} needs the diffusers package, which is not installed: {DIFFUSERS_INSTALL}.{where}")
