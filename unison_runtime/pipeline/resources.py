"""The models a run needs, found under the models directory (or given explicitly) and loaded
through the model manager, plus the two model-driven steps of stage two: conditioning and sampling.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import Cancelled, ModelLoadError
from ..layout import discover

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

    from .run import RunOptions


def _paths(options: "RunOptions"):
    return discover(options.models_dir) if options.models_dir is not None else None


def language_model(options: "RunOptions"):
    """The Qwen2.5-VL planner model (answers, hidden states, model plans), or None if there is none.

    Explicit paths win; otherwise a merged Unison folder, else base + adapter, else the stock
    instruct model (instruct mode only) under the models directory.
    """
    from ..planner.qwen import load_planner

    mode = "instruct" if options.planner == "instruct" else "unison"
    common = dict(dtype=options.dtype, device=options.device, offload_policy=options.offload_policy)
    if options.planner_model is not None:
        return load_planner(options.planner_model, options.planner_adapter, mode=mode, **common)
    found = _paths(options)
    if found is None:
        return None
    if mode == "unison" and found.planner_merged is not None:
        return load_planner(found.planner_merged, mode=mode, **common)
    if found.planner_base is not None and (found.planner_adapter is not None or mode == "instruct"):
        adapter = found.planner_adapter if mode == "unison" else None
        return load_planner(found.planner_base, adapter, mode=mode, **common)
    if options.planner in ("unison", "instruct"):
        raise ModelLoadError(f"--planner {options.planner} needs a Qwen2.5-VL planner; none found under "
                             f"{found.root} (expected planner/... — see README)")
    return None


def projector(options: "RunOptions", model, generator):
    """The projector, when it can be used: a planner model to feed it and `use_projector` on."""
    from ..projector import load_projector

    # The projector was trained on the Unison planner's hidden states; a stock instruct model's
    # are off-distribution, so instruct mode conditions on T5 alone.
    if not options.use_projector or model is None or options.planner == "instruct":
        return None
    path = options.projector
    if path is None:
        found = _paths(options)
        path = found.projector if found is not None else None
    if path is None:
        return None
    return load_projector(path, planner_hidden=model.hidden_size, text_width=generator.text_width,
                          device=options.device)


def generator(options: "RunOptions"):
    from ..generator.loading import load_generator

    common = dict(dtype=options.dtype, device=options.device, offload_policy=options.offload_policy)
    path = options.generator
    found = _paths(options)
    if path is None and found is not None:
        path = found.generator_diffusers or found.generator_native
        if path is None and found.comfy_transformer and found.comfy_text_encoder and found.comfy_vae:
            return load_generator(transformer_file=found.comfy_transformer,
                                  text_encoder_file=found.comfy_text_encoder, vae_file=found.comfy_vae, **common)
    if path is None:
        raise ModelLoadError("no generator found: put Wan2.1-VACE-1.3B (diffusers folder or native "
                             "release) under models/generator/ or pass --generator")
    path = Path(path)
    if (path / "model_index.json").is_file():
        return load_generator(path, **common)
    return load_generator(native_dir=path, **common)


def annotators(options: "RunOptions"):
    """Annotator models (U²-Net for salient masks), found under the models directory."""
    from ..annotators import AnnotatorModels

    # The models root is searched for this pack's layout and other ComfyUI packs' folder names.
    root = options.annotators_dir or options.models_dir
    if root is None:
        raise ModelLoadError("video editing without a mask needs the U²-Net salient model: put "
                             "u2net.pt under models/annotators/u2net/ or give a mask")
    return AnnotatorModels.discover(Path(root), device=options.device)


def projector_tokens(request, model, projector_module):
    """The projector's 4 tokens for the request ([1, 4, W]), or None without a projector."""
    from ..projector import project

    if projector_module is None:
        return None
    return project(projector_module, model.hidden_states(request))


def generate(generator, request, tokens, inputs, options: "RunOptions") -> "np.ndarray":
    """Condition and sample; returns `[T, H, W, 3]` uint8."""
    from ..generator.inputs import SamplerSettings
    from ..media import to_uint8_frames
    from .stage_two import generate_frames

    settings = SamplerSettings(steps=options.steps, cfg=options.cfg, shift=options.shift,
                               context_scale=options.context_scale, seed=options.seed,
                               vae_tiling=options.vae_tiling)

    def on_step(step: int, total: int, latents: Any = None) -> None:
        check_cancel(options)
        if options.progress is not None:
            options.progress(step, total)

    video = generate_frames(generator, inputs, request.prompt, tokens, settings, options.negative_prompt,
                            callback=on_step, check_cancel=lambda: check_cancel(options))
    return to_uint8_frames(video)


def check_cancel(options: "RunOptions") -> None:
    if options.cancel is not None and options.cancel.is_set():
        raise Cancelled("cancelled by the user")


def peak_memory_mb() -> tuple[float, float]:
    """(peak resident memory of this process, peak VRAM allocated on the GPU or 0), in MiB."""
    import resource
    import sys

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux
    torch = sys.modules.get("torch")
    vram = torch.cuda.max_memory_allocated() / 2**20 if torch is not None and torch.cuda.is_available() else 0.0
    return rss, vram
