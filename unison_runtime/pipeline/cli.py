"""`run`: one request end to end; writes the image (PNG), video (MP4) or answer (TXT) and
result.json into --out."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

OVERRIDE_FLAGS = {  # CLI flag -> plan field
    "task": "task", "width": "width", "height": "height", "frames": "num_frames",
    "frame_ref": "frame_ref", "mask_index": "mask_index", "source_index": "source_index",
}


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    from ..facts import DEFAULT_OFFLOAD_POLICY, DTYPES, OFFLOAD_POLICIES, PLANNER_CHOICES

    models = parser.add_argument_group("models (discovered under --models; explicit paths win)")
    models.add_argument("--models", type=Path, help="models directory (layout in the README)")
    models.add_argument("--planner", choices=PLANNER_CHOICES, default="auto",
                        help="who plans: the Unison model, a stock instruct model, or rules (default auto)")
    models.add_argument("--planner-model", type=Path, help="Qwen2.5-VL folder (merged Unison, or base)")
    models.add_argument("--adapter", type=Path, help="Unison LoRA adapter folder for a base model")
    models.add_argument("--projector", type=Path, help="projector.pth / .safetensors")
    models.add_argument("--generator", type=Path, help="Wan2.1-VACE folder (diffusers or native)")
    models.add_argument("--no-projector", action="store_true", help="T5 context only (the no-alignment ablation)")
    models.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 ... (default auto)")
    models.add_argument("--dtype", default="auto", choices=DTYPES)
    models.add_argument("--offload", default=DEFAULT_OFFLOAD_POLICY, choices=OFFLOAD_POLICIES,
                        help="where weights wait between uses: auto (default) picks keep, offload or "
                             "sequential per model from the free device memory")


def add_sampler_arguments(parser: argparse.ArgumentParser) -> None:
    from ..facts import SWITCHES
    from ..generator.inputs import SamplerSettings

    default = SamplerSettings()
    sampler = parser.add_argument_group("sampling")
    sampler.add_argument("--seed", type=int, default=default.seed)
    sampler.add_argument("--steps", type=int, default=default.steps)
    sampler.add_argument("--cfg", type=float, default=default.cfg)
    sampler.add_argument("--shift", type=float, default=default.shift)
    sampler.add_argument("--context-scale", type=float, default=default.context_scale)
    sampler.add_argument("--negative-prompt", default=default.negative_prompt,
                         help="empty: Wan 2.1's default negative prompt")
    sampler.add_argument("--vae-tiling", default=default.vae_tiling, choices=SWITCHES,
                         help="tiled VAE encode/decode (auto: on when the device lacks room for untiled)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..facts import FRAME_REFS

    parser.add_argument("request", help='the request, media as ###path### (e.g. "edit ###a.png### ###mask.png###")')
    parser.add_argument("--out", type=Path, required=True, help="folder for the output and result.json")
    parser.add_argument("--media-root", type=Path, action="append", default=[],
                        help="folder media paths must lie in (repeatable; default: the current folder)")
    add_model_arguments(parser)
    add_sampler_arguments(parser)
    over = parser.add_argument_group("overrides (default: as planned)")
    over.add_argument("--task", help="force the task (e.g. text_to_video)")
    over.add_argument("--width", type=int)
    over.add_argument("--height", type=int)
    over.add_argument("--frames", type=int, help="frame count (4k+1)")
    over.add_argument("--frame-ref", choices=FRAME_REFS)
    over.add_argument("--mask-index", type=int, help="which media item is the mask (0-based)")
    over.add_argument("--source-index", type=int, help="which media item is the source (0-based)")


def model_options(args: argparse.Namespace):
    from ..sources import LoadSettings
    from .options import ModelOptions

    return ModelOptions(
        models_dir=args.models, planner=args.planner, planner_model=args.planner_model,
        planner_adapter=args.adapter, projector=args.projector, generator=args.generator,
        use_projector=not args.no_projector,
        load=LoadSettings(dtype=args.dtype, device=args.device, offload_policy=args.offload),
    )


def sampling_options(args: argparse.Namespace):
    from ..generator.inputs import SamplerSettings

    return SamplerSettings(seed=args.seed, steps=args.steps, cfg=args.cfg, shift=args.shift,
                           context_scale=args.context_scale, negative_prompt=args.negative_prompt,
                           vae_tiling=args.vae_tiling)


class ProgressBar:
    """tqdm over sampling steps, created at the first step (understanding runs show none)."""

    def __init__(self) -> None:
        self.bar = None

    def __call__(self, step: int, total: int, latents=None) -> None:
        from tqdm import tqdm

        if self.bar is None:
            self.bar = tqdm(total=total, desc="sampling", unit="step")
        self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def run(args: argparse.Namespace) -> int:
    from ..router import Overrides
    from .options import OutputOptions, RunHooks, RunOptions
    from .run import run as run_request

    overrides = Overrides.from_mapping({field: getattr(args, flag) for flag, field in OVERRIDE_FLAGS.items()})
    progress = ProgressBar()
    options = RunOptions(models=model_options(args), sampling=sampling_options(args),
                         output=OutputOptions(out_dir=args.out), media_roots=tuple(args.media_root),
                         hooks=RunHooks(progress=progress))
    try:
        result = run_request(args.request, overrides, options)
    finally:
        progress.close()
    summary = {"task": result.route.task, "route": result.route.describe(),
               "files": [str(p) for p in result.files]}
    if result.answer is not None:
        summary["answer"] = result.answer
    print(json.dumps(summary, indent=2, ensure_ascii=False))
    return 0
