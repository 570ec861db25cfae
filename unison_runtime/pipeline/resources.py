"""The models a run needs, found under the models directory (or given explicitly) and loaded
through the model manager, plus the two model-driven steps of stage two: conditioning and sampling.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import Cancelled, ModelLoadError
from ..layout import discover

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import torch

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


def planner_for(options: "RunOptions", model):
    """Who decides the plan: the model (unison/instruct, or auto with a model), else the rules."""
    from ..planner.rules import RulesPlanner

    if options.planner == "rules" or model is None:
        return RulesPlanner()
    return model


def projector(options: "RunOptions", model, generator):
    """The projector, when it can be used: a planner model to feed it and `use_projector` on."""
    from ..projector import load_projector

    if not options.use_projector or model is None:
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

    root = options.annotators_dir or (options.models_dir / "annotators" if options.models_dir else None)
    if root is None:
        raise ModelLoadError("video editing without a mask needs the U²-Net salient model: put "
                             "u2net.pt under models/annotators/u2net/ or give a mask")
    return AnnotatorModels.discover(Path(root), device=options.device)


@dataclass
class Conditioning:
    """The DiT's text contexts: [1, 2048, W] each."""

    context: "torch.Tensor"
    negative_context: "torch.Tensor"
    projector_used: bool
    note: str = ""


def conditioning(request, generator, model, projector_module, options: "RunOptions") -> Conditioning:
    """T5 of the request text (pad tokens left in) + the projector's 4 tokens, zero-padded; and the
    negative context from the negative prompt (DESIGN §5)."""
    import torch

    from ..generator.conditioning import encode_context, negative_context

    tokens, note = None, ""
    if projector_module is not None:
        hidden = model.hidden_states(request)
        with torch.no_grad():
            param = next(projector_module.parameters())
            tokens = projector_module(hidden.to(param.device, param.dtype))[0].float().cpu()
    elif options.use_projector:
        note = "no projector (or no planner model): text context is T5 alone"
    return Conditioning(
        context=encode_context(generator, request.prompt, tokens),
        negative_context=negative_context(generator, options.negative_prompt),
        projector_used=tokens is not None,
        note=note,
    )


def generate(generator, cond: Conditioning, inputs, options: "RunOptions") -> "np.ndarray":
    """Sample the frames; returns `[T, H, W, 3]` uint8."""
    from ..generator.inputs import GenerationInputs, SamplerSettings
    from ..generator.sampling import generate as sample
    from ..media import to_uint8_frames

    source, masks, references = inputs.to_tensors()
    gen_inputs = GenerationInputs(
        context=cond.context, negative_context=cond.negative_context,
        width=inputs.width, height=inputs.height, num_frames=inputs.num_frames,
        source=source, masks=masks, reference_images=references or None,
    )
    settings = SamplerSettings(steps=options.steps, cfg=options.cfg, shift=options.shift,
                               context_scale=options.context_scale, seed=options.seed)

    def on_step(step: int, total: int, latents: Any = None) -> None:
        if options.cancel is not None and options.cancel.is_set():
            raise Cancelled(f"cancelled at step {step} of {total}")
        if options.progress is not None:
            options.progress(step, total)

    video = sample(generator, gen_inputs, settings, callback=on_step)
    return to_uint8_frames(video.clamp(-1.0, 1.0))


def peak_memory_mb() -> tuple[float, float]:
    """(peak resident memory of this process, peak VRAM allocated on the GPU or 0), in MiB."""
    import resource
    import sys

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux
    torch = sys.modules.get("torch")
    vram = torch.cuda.max_memory_allocated() / 2**20 if torch is not None and torch.cuda.is_available() else 0.0
    return rss, vram
