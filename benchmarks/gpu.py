"""`python -m benchmarks --gpu`: the full-size stage-two measurements for when a GPU is lent.

Wan2.1-VACE-1.3B, the UMT5-XXL encoder and the Wan VAE are built from their real configs with
random weights directly on the GPU (nothing to download), then, at 832×480×81, cfg 5:
- one complete 50-step generation under `auto` (seconds per step, total, peak VRAM);
- each offload policy for a few steps (its peak VRAM, including a T5 encode and the VAE);
- attention backends (those installed), batched vs separate CFG, `compile`, for a few steps;
- VAE decode tiled and untiled (seconds, peak VRAM);
- the native path beside them (`native_gpu.py`, in the ComfyUI Python given by COMFYUI_DIR and
  COMFYUI_PYTHON, run first, while this process holds no GPU memory): our sampler on ComfyUI's own
  Wan VACE, one complete 50-step video under ComfyUI's default memory mode and under `--lowvram`.
The figures replace the `## GPU` section of docs/PERFORMANCE.md. `--dry-run` runs the same plan on
the CPU with the tiny demo configs and a tiny size, to test the plumbing (its figures mean nothing).
"""

from __future__ import annotations

import time
import json
import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

FULL = {"width": 832, "height": 480, "num_frames": 81, "steps": 50, "short_steps": 3, "cfg": 5.0}
DRY = {"width": 32, "height": 32, "num_frames": 5, "steps": 2, "short_steps": 1, "cfg": 5.0}
GIB = 1024**3
NATIVE_MODES = ("default", "--lowvram")  # ComfyUI's memory modes the native path runs under
NATIVE_SCRIPT = Path(__file__).with_name("native_gpu.py")


@dataclass
class Case:
    name: str
    policy: str = "auto"
    steps_key: str = "short_steps"
    batch_cfg: str = "auto"
    vae_tiling: str = "auto"
    attention: str = "native"
    compile: bool = False
    decode_only: bool = False
    result: dict = field(default_factory=dict)


def plan(installed: Callable[[str], bool] = lambda backend: backend == "native") -> list[Case]:
    cases = [Case("complete run, auto", steps_key="steps")]
    cases += [Case(f"policy {p}", policy=p) for p in ("keep", "offload", "sequential")]
    cases += [Case("separate CFG passes", batch_cfg="off"), Case("batched CFG", batch_cfg="on")]
    cases += [Case(f"attention {b}", attention=b) for b in ("flash", "flash3", "sage") if installed(b)]
    cases += [Case("compile (first call includes compiling)", compile=True)]
    cases += [Case("VAE decode untiled", vae_tiling="off", decode_only=True),
              Case("VAE decode tiled", vae_tiling="on", decode_only=True)]
    return cases


def build_random(device: str, dtype_name: str, tiny: bool):
    """GeneratorModels of the real architectures (or the tiny demo ones) with random weights."""
    import torch
    from diffusers import AutoencoderKLWan, WanVACETransformer3DModel
    from transformers import UMT5Config, UMT5EncoderModel

    from unison_runtime.demo_models import generator as demo
    from unison_runtime.generator.loading import GeneratorModels, _keep_fp32, _shipped_config

    dtype = getattr(torch, dtype_name)
    transformer_config = demo.TRANSFORMER_CONFIG if tiny else _shipped_config("transformer")
    vae_config = {**_shipped_config("vae"), **({"base_dim": demo.VAE_BASE_DIM} if tiny else {})}
    t5_config = {**demo.T5_CONFIG, "vocab_size": 64} if tiny else _shipped_config("text_encoder")
    with torch.device(device):  # initialised where it runs: seconds on a GPU, not minutes on a CPU
        transformer = WanVACETransformer3DModel.from_config(transformer_config).to(dtype)
        vae = AutoencoderKLWan.from_config(vae_config)
        text_encoder = UMT5EncoderModel(UMT5Config(**t5_config)).to(dtype)
    _keep_fp32(transformer, dtype)
    return GeneratorModels(transformer=transformer.eval(), vae=vae.eval(), text_encoder=text_encoder.eval(),
                           tokenizer=None, scheduler_config=_shipped_config("scheduler"))


def _attach(models, device: str, dtype_name: str, case: Case):
    """Put the prebuilt models in the (freed) model manager under the case's policy and backend."""
    from unison_runtime.facts import ATTENTION_BACKENDS
    from unison_runtime.generator.loading import compile_blocks
    from unison_runtime.models import get_manager, modules_of

    manager = get_manager()
    manager.free()
    models.attention_backend = ATTENTION_BACKENDS[case.attention]
    if case.compile:  # the dry run traces with dynamo but generates no code (no compiler needed)
        compile_blocks(models.transformer, **({"backend": "eager"} if device == "cpu" else {}))

    def loader(load_device: str, _dtype: str):
        for module in modules_of(models).values():
            module.to(load_device)
        return models

    return manager.get("generator", f"random:{case.name}", loader, dtype=dtype_name, device=device,
                       offload_policy=case.policy)


def run_case(models, case: Case, size: dict, device: str, dtype_name: str) -> dict[str, Any]:
    import torch

    from unison_runtime.generator import sampling
    from unison_runtime.generator.inputs import GenerationInputs, SamplerSettings
    from unison_runtime.models import get_manager

    cuda = device.startswith("cuda")
    models = _attach(models, device, dtype_name, case)
    manager = get_manager()
    width, height, frames = size["width"], size["height"], size["num_frames"]
    if cuda:
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    if case.decode_only:
        latents = torch.randn(1, 16, (frames - 1) // 4 + 1, height // 8, width // 8)
        with manager.use(models, "vae"), sampling._vae_tiling(models.vae, case.vae_tiling == "on"):
            sampling.decode_latents(models, latents)
        steps, per_step = 0, []
    else:
        ids = torch.randint(0, models.text_encoder.config.vocab_size, (1, 512))
        with manager.use(models, "text_encoder"), torch.no_grad():  # a T5 encode, as a run does
            encoder_device = next(models.text_encoder.parameters()).device
            models.text_encoder(input_ids=ids.to(encoder_device))
        width_t5 = models.text_width
        context = torch.randn(1, 2048, width_t5) * 0.1
        inputs = GenerationInputs(context=context, negative_context=torch.randn(1, 2048, width_t5) * 0.1,
                                  width=width, height=height, num_frames=frames)
        steps = size[case.steps_key]
        stamps: list[float] = []
        settings = SamplerSettings(steps=steps, cfg=size["cfg"], batch_cfg=case.batch_cfg, vae_tiling=case.vae_tiling)
        sampling.generate(models, inputs, settings, callback=lambda *a: stamps.append(_now(cuda)))
        per_step = [b - a for a, b in zip(stamps, stamps[1:])]
    total = _now(cuda) - start
    notes = manager.take_notes()
    return {
        "steps": steps,
        "seconds_per_step": round(sorted(per_step)[len(per_step) // 2], 3) if per_step else None,
        "total_seconds": round(total, 2),
        "peak_vram_gb": round(torch.cuda.max_memory_allocated() / GIB, 2) if cuda else None,
        "placement": manager.placement_of(models),
        "notes": notes,
    }


def _now(cuda: bool) -> float:
    if cuda:
        import torch

        torch.cuda.synchronize()
    return time.perf_counter()


def run_native(dry_run: bool, comfy_dir: str | None, comfy_python: str | None,
               log: Callable[[str], None] = print) -> dict[str, Any]:
    """The native path in ComfyUI's own Python, once per memory mode (each a fresh process: ComfyUI
    reads its memory mode at start). Without a ComfyUI to run it in, says how to give one."""
    if not comfy_dir:
        return {"skipped": "no ComfyUI given: set COMFYUI_DIR (and COMFYUI_PYTHON, its Python) to measure the "
                           "native path"}
    python = comfy_python or "python"
    out: dict[str, Any] = {}
    for mode in NATIVE_MODES:
        log(f"[benchmarks --gpu] native path, ComfyUI {mode} ...")
        argv = [python, str(NATIVE_SCRIPT), comfy_dir, *([mode] if mode.startswith("--") else []),
                *(["--dry-run"] if dry_run else [])]
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=3600)
        except (OSError, subprocess.TimeoutExpired) as err:
            out[mode] = {"error": f"{type(err).__name__}: {err}"[:300]}
            continue
        if done.returncode != 0:
            out[mode] = {"error": (done.stderr.strip().splitlines() or ["exit status %d" % done.returncode])[-1][:300]}
            continue
        out[mode] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


def run_gpu_benchmarks(dry_run: bool = False, log: Callable[[str], None] = print, comfy_dir: str | None = None,
                       comfy_python: str | None = None) -> dict[str, Any]:
    import importlib.util

    import torch

    from unison_runtime.generator.loading import _BACKEND_PACKAGES

    if not dry_run and not torch.cuda.is_available():
        raise SystemExit("--gpu needs a CUDA device; use --dry-run to test the plumbing on the CPU")
    device = "cpu" if dry_run else "cuda"
    dtype_name = "float32" if dry_run else ("bfloat16" if torch.cuda.is_bf16_supported() else "float16")
    size = DRY if dry_run else FULL

    def installed(backend: str) -> bool:
        return dry_run or importlib.util.find_spec(_BACKEND_PACKAGES[backend][0]) is not None

    cases = plan(installed)
    if dry_run:  # the plumbing of every case, on the CPU: non-native kernels cannot run here
        cases = [c for c in cases if c.attention == "native"]
    start = time.perf_counter()
    comfy_dir = comfy_dir if comfy_dir is not None else os.environ.get("COMFYUI_DIR")
    comfy_python = comfy_python if comfy_python is not None else os.environ.get("COMFYUI_PYTHON")
    native = run_native(dry_run, comfy_dir, comfy_python, log)  # first: this process holds no GPU memory yet
    built = time.perf_counter()
    models = build_random(device, dtype_name, tiny=dry_run)
    report = {"dry_run": dry_run, "device": torch.cuda.get_device_name() if not dry_run else "cpu (dry run)",
              "dtype": dtype_name, "size": size, "build_seconds": round(time.perf_counter() - built, 1), "cases": {},
              "native": native}
    for case in cases:
        log(f"[benchmarks --gpu] {case.name} ...")
        try:
            report["cases"][case.name] = run_case(models, case, size, device, dtype_name)
        except Exception as err:  # one failing case (e.g. out of memory) must not lose the others
            report["cases"][case.name] = {"error": f"{type(err).__name__}: {err}"[:300]}
    report["total_seconds"] = round(time.perf_counter() - start, 1)
    return report


def render(report: dict[str, Any]) -> str:
    size = report["size"]
    head = ("Dry run on the CPU with the tiny demo models: plumbing only, **these are not GPU figures**."
            if report["dry_run"] else f"Measured on {report['device']} ({report['dtype']}), random weights.")
    lines = ["## GPU", "", head, "",
             f"{size['width']}×{size['height']}×{size['num_frames']}, cfg {size['cfg']}; the complete run takes "
             f"{size['steps']} steps, the other cases {size['short_steps']}. Models built in "
             f"{report['build_seconds']} s; whole plan {report['total_seconds']} s.", "",
             "| case | s/step (median) | total s | peak VRAM GB | placement | choices |", "|---|---|---|---|---|---|"]
    for name, r in report["cases"].items():
        if "error" in r:
            lines.append(f"| {name} | – | – | – | – | failed: {r['error']} |")
            continue
        choices = "; ".join(n.removeprefix("memory: ") for n in r["notes"]) or "–"
        lines.append(f"| {name} | {r['seconds_per_step'] if r['seconds_per_step'] is not None else '–'} | "
                     f"{r['total_seconds']} | {r['peak_vram_gb'] if r['peak_vram_gb'] is not None else '–'} | "
                     f"{r['placement']} | {choices} |")
    return "\n".join(lines + render_native(report.get("native") or {})) + "\n"


def render_native(native: dict[str, Any]) -> list[str]:
    """The native path's table: our sampler on ComfyUI's Wan VACE, per ComfyUI memory mode."""
    lines = ["", "Native path: our sampler (Wan's UniPC) on ComfyUI's own Wan VACE and VAE, core WanVaceToVideo → "
             "SamplerCustom → VAE decode, in ComfyUI's Python; random 2048-token context (no T5 encode).", ""]
    if "skipped" in native:
        return lines + [native["skipped"] + "."]
    lines += ["| ComfyUI memory mode | s/step (median) | sampling s | VACE encode s | decode s | per video s | "
              "peak VRAM GB |", "|---|---|---|---|---|---|---|"]
    for mode, r in native.items():
        if "error" in r:
            lines.append(f"| {mode} | – | – | – | – | – | failed: {r['error']} |")
            continue
        dash = lambda v: "–" if v is None else v  # noqa: E731
        lines.append(f"| {mode} ({r['mode']}) | {dash(r['seconds_per_step'])} | {r['sampling_seconds']} | "
                     f"{r['vace_encode_seconds']} | {r['decode_seconds']} | {r['video_seconds']} | "
                     f"{dash(r['peak_vram_gb'])} |")
    return lines


def write_section(doc: Path, section: str) -> None:
    """Replace the `## GPU` section of `doc` (up to the next `## `) with `section`."""
    text = doc.read_text(encoding="utf-8") if doc.exists() else "# Performance\n"
    start = text.find("## GPU\n")
    if start < 0:
        doc.write_text(text.rstrip("\n") + "\n\n" + section, encoding="utf-8")
        return
    end = text.find("\n## ", start + 1)
    rest = text[end + 1:] if end >= 0 else ""
    doc.write_text(text[:start] + section + ("\n" + rest if rest else ""), encoding="utf-8")
