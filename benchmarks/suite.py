"""The measurements. Each `measure_*` function takes its sizes and repeat counts as arguments and
returns a JSON-ready dict; `run_suite` strings them together with the quick or full settings.

Conventions:
- a figure is the median of its repeats (`summary` keeps min/max/n beside it);
- a comparison is a ratio of two things timed in the same run, in interleaved rounds (the order
  rotates every round), reported as the median of the per-round ratios;
- models come from the model manager exactly as `pipeline.run` gets them (same cache keys), so
  a benchmark never holds a second copy of a model the pipeline already loaded.
"""

from __future__ import annotations

import contextlib
import cProfile
import gc
import json
import os
import platform
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "transformers", "diffusers", "numpy", "PIL", "cv2", "av")
PACK_MODULE_NAME = "comfyui_unison"
OVERHEAD_TARGET = 1.02


# ------------------------------------------------------------------------------------------------
# Settings
# ------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Settings:
    import_repeats: int
    rules_passes: int
    qwen_repeats: int
    answer_tokens: int
    step_runs: int
    step_count: int
    step_frames: tuple[int, ...]
    width: int
    height: int
    video_frames: int
    e2e_repeats: int
    e2e_steps: int
    overhead_repeats: int
    overhead_steps: int
    overhead_frames: int
    cache_repeats: int
    overhead_sizes: tuple[tuple[int, int, int], ...] = ((32, 32, 1), (64, 48, 5))
    ram_model: str = "SMALL"  # benchmarks.loading_ram's SMALL or MID encoder


QUICK = Settings(import_repeats=3, rules_passes=200, qwen_repeats=3, answer_tokens=16,
                 step_runs=1, step_count=5, step_frames=(1, 5), width=64, height=48, video_frames=5,
                 e2e_repeats=2, e2e_steps=2, overhead_repeats=7, overhead_steps=2, overhead_frames=5,
                 cache_repeats=1)
FULL = Settings(import_repeats=7, rules_passes=2000, qwen_repeats=10, answer_tokens=32,
                step_runs=3, step_count=8, step_frames=(1, 5), width=64, height=48, video_frames=5,
                e2e_repeats=5, e2e_steps=2, overhead_repeats=9, overhead_steps=4, overhead_frames=5,
                cache_repeats=3, overhead_sizes=((32, 32, 1), (64, 48, 5), (96, 64, 9)), ram_model="MID")


# ------------------------------------------------------------------------------------------------
# Small helpers
# ------------------------------------------------------------------------------------------------
def summary(values: list[float], digits: int = 6) -> dict[str, Any]:
    """Median (the figure) with min, max and the number of samples."""
    if not values:
        return {"median": None, "min": None, "max": None, "n": 0}
    return {"median": round(statistics.median(values), digits), "min": round(min(values), digits),
            "max": round(max(values), digits), "n": len(values)}


def rss_mb() -> float:
    """Current resident set size of this process (MiB), from /proc/self/statm."""
    with open("/proc/self/statm") as f:
        resident_pages = int(f.read().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def load_average() -> list[float]:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover
        return []


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:  # pragma: no cover
        pass
    return platform.processor() or "unknown"


def machine_info() -> dict[str, Any]:
    import diffusers
    import torch
    import transformers

    gpu = torch.cuda.is_available()
    return {
        "cpu_model": cpu_model(),
        "logical_cores": os.cpu_count(),
        "usable_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "memory_gib": round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "diffusers": diffusers.__version__,
        "transformers": transformers.__version__,
        "gpu": torch.cuda.get_device_name(0) if gpu else None,
        "date_utc": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "load_average_start": load_average(),
    }


def rotated(items: list, round_index: int) -> list:
    """`items` rotated by `round_index`: each variant goes first in turn."""
    k = round_index % len(items)
    return items[k:] + items[:k]


def run_options(models_dir: Path, media_dir: Path, out_dir: Path | None = None, max_new_tokens: int = 256,
                **sampling):
    from unison_runtime.generator.inputs import SamplerSettings
    from unison_runtime.pipeline.options import ModelOptions, OutputOptions, RunOptions
    from unison_runtime.sources import LoadSettings

    return RunOptions(models=ModelOptions(models_dir=Path(models_dir), planner="rules", load=LoadSettings(device="cpu")),
                      sampling=SamplerSettings(**sampling), max_new_tokens=max_new_tokens,
                      output=OutputOptions(out_dir=out_dir), media_roots=(Path(media_dir),))


def prepare_models(models_dir: Path | None) -> Path:
    """The tiny demo models: `models_dir` as given (built there if it holds no models yet), else
    built once into a cache folder under the temp dir."""
    from unison_runtime import layout
    from unison_runtime.demo_models import build_demo_models

    target = Path(models_dir) if models_dir else Path(tempfile.gettempdir()) / "unison_bench_models"
    if target.is_dir():
        found = layout.discover(target)
        if found.planner_merged and found.projector and found.generator_diffusers and found.u2net:
            return found.root  # a complete models folder: use it as it is
    return build_demo_models(target)


def prepare_media(folder: Path) -> Path:
    from unison_runtime.pipeline.samples import write_sample_media

    write_sample_media(folder)
    return Path(folder)


# ------------------------------------------------------------------------------------------------
# 1. Import cost
# ------------------------------------------------------------------------------------------------
_PROBE = """
import importlib, importlib.util, json, os, sys, time
from pathlib import Path
root = Path({root!r})
target = {target!r}
if target == "pack":  # ComfyUI has imported its comfy_api (and torch) before it loads a pack
    sys.path.append(os.environ["COMFYUI_DIR"])
    importlib.import_module("comfy_api.latest")
before = set(sys.modules)
start = time.perf_counter()
if target == "pack":  # as ComfyUI loads it: its comfy_api (V3) already imported, not timed
    spec = importlib.util.spec_from_file_location({name!r}, root / "__init__.py",
                                                  submodule_search_locations=[str(root)])
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    nodes = len(sys.modules[spec.name + ".nodes"].NODE_LIST)
else:
    sys.path.insert(0, str(root))
    importlib.import_module("unison_runtime")
    nodes = None
seconds = time.perf_counter() - start
print(json.dumps({{"seconds": seconds, "heavy": sorted(m for m in {heavy!r} if m in set(sys.modules) - before),
                  "nodes": nodes}}))
"""


def import_probe(target: str) -> dict[str, Any]:
    """Import the pack (as ComfyUI does: by file path, as a package) or `unison_runtime` in a
    fresh interpreter; returns the import's seconds and the heavy modules it pulled in."""
    code = _PROBE.format(root=str(ROOT), target=target, name=PACK_MODULE_NAME, heavy=HEAVY)
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PYTHONPATH", None)
    with tempfile.TemporaryDirectory() as cwd:  # nothing importable from the working directory
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                              cwd=cwd, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"importing {target} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure_import(repeats: int = 3) -> dict[str, Any]:
    # The pack's nodes are V3: importing it needs ComfyUI's comfy_api, from COMFYUI_DIR.
    targets = ["pack", "unison_runtime"] if os.environ.get("COMFYUI_DIR") else ["unison_runtime"]
    runs: dict[str, list[dict]] = {t: [] for t in targets}
    for r in range(repeats):
        for target in rotated(targets, r):
            runs[target].append(import_probe(target))
    out = {}
    for target, results in runs.items():
        heavy = sorted({m for res in results for m in res["heavy"]})
        out[target] = {
            "seconds": summary([res["seconds"] for res in results]),
            "heavy_imported": heavy,
            "pulls_torch": "torch" in heavy,
            "pulls_transformers": "transformers" in heavy,
            "pulls_diffusers": "diffusers" in heavy,
            "node_classes": results[-1]["nodes"],
        }
    out["module_name"] = PACK_MODULE_NAME
    return out


# ------------------------------------------------------------------------------------------------
# 2. Planners
# ------------------------------------------------------------------------------------------------
def demo_requests(media_dir: Path) -> list[tuple[str, Any]]:
    """(expected task, parsed Request) for the demo's 12 requests."""
    from unison_runtime.pipeline.demo import DEMO_REQUESTS
    from unison_runtime.request import parse_request

    return [(task, parse_request(text, (Path(media_dir),))) for task, text in DEMO_REQUESTS]


def measure_rules_planner(media_dir: Path, passes: int = 200) -> dict[str, Any]:
    """Per-request µs of `RulesPlanner.plan` over the 12 demo requests (and of parse + plan)."""
    from unison_runtime.pipeline.demo import DEMO_REQUESTS
    from unison_runtime.planner.rules import RulesPlanner
    from unison_runtime.request import parse_request

    planner = RulesPlanner()
    parsed = demo_requests(media_dir)
    roots = (Path(media_dir),)
    wrong = [task for task, req in parsed if planner.plan(req).task != task]
    plan_us, parse_plan_us = [], []
    for p in range(passes):
        for kind in rotated(["plan", "parse_plan"], p):
            start = time.perf_counter()
            if kind == "plan":
                for _, req in parsed:
                    planner.plan(req)
            else:
                for _, text in DEMO_REQUESTS:
                    planner.plan(parse_request(text, roots))
            per_request = (time.perf_counter() - start) / len(parsed) * 1e6
            (plan_us if kind == "plan" else parse_plan_us).append(per_request)
    return {"requests": len(parsed), "passes": passes, "plan_us": summary(plan_us, 2),
            "parse_and_plan_us": summary(parse_plan_us, 2), "wrong_tasks": wrong}


def measure_qwen_planner(models_dir: Path, media_dir: Path, repeats: int = 3,
                         answer_tokens: int = 16) -> dict[str, Any]:
    """The tiny Qwen2.5-VL planner: plan latency with generated tokens/s, and `answer` tokens/s."""
    from unison_runtime import layout
    from unison_runtime.models import get_manager
    from unison_runtime.planner import load_planner

    manager = get_manager()
    before = manager.load_count("planner")
    start = time.perf_counter()
    planner = load_planner(Path(models_dir) / layout.PLANNER_MERGED, mode="unison", device="cpu")
    load_seconds = time.perf_counter() - start
    loaded = manager.load_count("planner") - before

    calls: list[tuple[int, float]] = []
    original = planner._generate_ids

    def timed(inputs, settings, processors=(), suppress=()):
        t0 = time.perf_counter()
        ids = original(inputs, settings, processors=processors, suppress=suppress)
        calls.append((len(ids), time.perf_counter() - t0))
        return ids

    planner._generate_ids = timed  # instance attribute: only this planner object is instrumented
    requests = dict(demo_requests(media_dir))
    plan_jobs = [requests[t] for t in ("text_to_image", "text_to_video", "image_edit")]
    answer_jobs = [requests[t] for t in ("text_understanding", "image_understanding")]
    plan_s, plan_tokens, plan_tps, answer_s, answer_tokens_n, answer_tps = [], [], [], [], [], []
    for r in range(repeats):
        for kind in rotated(["plan", "answer"], r):
            for req in (plan_jobs if kind == "plan" else answer_jobs):
                t0 = time.perf_counter()
                if kind == "plan":
                    planner.plan(req)
                else:
                    planner.answer(req, max_new_tokens=answer_tokens)
                seconds = time.perf_counter() - t0
                n, gen_seconds = calls[-1]
                lists = (plan_s, plan_tokens, plan_tps) if kind == "plan" else (answer_s, answer_tokens_n, answer_tps)
                for values, value in zip(lists, (seconds, n, n / gen_seconds)):
                    values.append(value)
    return {
        "load_seconds": round(load_seconds, 4), "loaded_now": loaded > 0,
        "plan_seconds": summary(plan_s), "plan_tokens": summary(plan_tokens, 1),
        "plan_tokens_per_s": summary(plan_tps, 1),
        "answer_seconds": summary(answer_s), "answer_tokens": summary(answer_tokens_n, 1),
        "answer_tokens_per_s": summary(answer_tps, 1), "answer_max_new_tokens": answer_tokens,
    }


# ------------------------------------------------------------------------------------------------
# 3. Generator
# ------------------------------------------------------------------------------------------------
def _generator_and_contexts(models_dir: Path, media_dir: Path):
    from unison_runtime.generator import conditioning
    from unison_runtime.pipeline.stages import find_run_models

    options = run_options(models_dir, media_dir)
    models = find_run_models(options.models).generator.load()  # the pipeline's own cache key
    context = conditioning.encode_context(models, "a lion walking through tall grass at sunset")
    negative = conditioning.negative_context(models, "")
    return models, context, negative


def measure_sampling_steps(models_dir: Path, media_dir: Path, width: int = 64, height: int = 48,
                           frames: tuple[int, ...] = (1, 5), steps: int = 5, runs: int = 1) -> dict[str, Any]:
    """Seconds per denoising step (intervals between step callbacks; batched CFG, cfg 5) and the
    whole `generate` call, per frame count."""
    from unison_runtime.generator.inputs import GenerationInputs, SamplerSettings
    from unison_runtime.generator.sampling import generate

    if steps < 2:
        raise ValueError("steps must be at least 2 to time a step between two callbacks")
    models, context, negative = _generator_and_contexts(models_dir, media_dir)
    per_step: dict[int, list[float]] = {n: [] for n in frames}
    total: dict[int, list[float]] = {n: [] for n in frames}
    for n in frames:  # untimed warm-up: the first call at a new shape pays one-off kernel set-up
        generate(models, GenerationInputs(context=context, negative_context=negative, width=width, height=height,
                                          num_frames=n), SamplerSettings(steps=1))
    for r in range(runs):
        for n in rotated(list(frames), r):
            stamps: list[float] = []
            inputs = GenerationInputs(context=context, negative_context=negative, width=width, height=height,
                                      num_frames=n)
            start = time.perf_counter()
            generate(models, inputs, SamplerSettings(steps=steps, seed=r),
                     callback=lambda step, count, latents: stamps.append(time.perf_counter()))
            total[n].append(time.perf_counter() - start)
            per_step[n].extend(b - a for a, b in zip(stamps, stamps[1:]))
    out = {"width": width, "height": height, "steps": steps, "runs": runs, "batch_cfg": True, "frames": {}}
    for n in frames:
        step = statistics.median(per_step[n])
        gen = statistics.median(total[n])
        out["frames"][str(n)] = {"seconds_per_step": summary(per_step[n]), "generate_seconds": summary(total[n]),
                                 "outside_denoising_seconds": round(gen - steps * step, 4)}
    return out


def _wan_sigma_scheduler(config: dict):
    """diffusers' flow UniPC on Wan's sigmas (0.999 → 0): the reference our solver (`generator.unipc`)
    is checked against."""
    import numpy as np
    from diffusers import UniPCMultistepScheduler

    class WanSigmaUniPC(UniPCMultistepScheduler):
        def set_timesteps(self, num_inference_steps=None, device=None, sigmas=None, mu=None):
            super().set_timesteps(device=device, sigmas=np.linspace(0.999, 0.0, num_inference_steps + 1)[:-1])

    return WanSigmaUniPC.from_config(config, flow_shift=5.0)


def direct_pipeline(models):
    """diffusers' `WanVACEPipeline` built from the very modules the runtime loaded."""
    from diffusers import WanVACEPipeline

    pipe = WanVACEPipeline(tokenizer=models.tokenizer, text_encoder=models.text_encoder, vae=models.vae,
                           scheduler=_wan_sigma_scheduler(models.scheduler_config),
                           transformer=models.transformer)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def measure_overhead(models_dir: Path, media_dir: Path, width: int = 64, height: int = 48, num_frames: int = 5,
                     steps: int = 2, repeats: int = 3, profile_over: float | None = OVERHEAD_TARGET,
                     diagnose_gc: bool = False) -> dict[str, Any]:
    """Our `generate` against a direct `WanVACEPipeline` call on identical inputs: same modules,
    same 2048-token prompt embeddings, same Wan sigmas, same seed, cfg 5, shift 5.

    `diagnose_gc` adds a variant with `generate`'s `gc.collect()` stubbed out. That collection used
    to run on every call and cost ~0.3 s (overhead 1.9x); it now runs only on the error path, so the
    variant is off by default and kept to check that no collection creeps back into the hot path.

    diffusers runs the two CFG passes separately; ours is timed both ways (`batch_cfg` off: the
    same work as diffusers; on: our default). Rounds are interleaved with a rotating order."""
    import torch

    from unison_runtime.generator.inputs import GenerationInputs, SamplerSettings
    from unison_runtime.generator.sampling import generate
    from unison_runtime.media import frames_to_comfy as to_comfy_image

    models, context, negative = _generator_and_contexts(models_dir, media_dir)
    pipe = direct_pipeline(models)
    inputs = GenerationInputs(context=context, negative_context=negative, width=width, height=height,
                              num_frames=num_frames)
    seed, cfg = 0, 5.0

    def ours(batch: bool):
        return generate(models, inputs, SamplerSettings(steps=steps, cfg=cfg, shift=5.0, seed=seed, batch_cfg=batch))

    def theirs():
        return pipe(prompt_embeds=context, negative_prompt_embeds=negative, height=height, width=width,
                    num_frames=num_frames, num_inference_steps=steps, guidance_scale=cfg,
                    generator=torch.Generator("cpu").manual_seed(seed), output_type="pt").frames[0]

    def ours_without_final_gc():
        with _no_final_gc():
            return ours(False)

    variants: dict[str, Callable[[], Any]] = {
        "ours_separate_cfg": lambda: ours(False), "diffusers": theirs, "ours_batched_cfg": lambda: ours(True),
    }
    if diagnose_gc:
        variants["ours_separate_cfg_no_final_gc"] = ours_without_final_gc
    # Warm-up round (untimed) doubles as the check that both sides compute the same thing.
    ours_frames = to_comfy_image(variants["ours_separate_cfg"]())
    their_frames = variants["diffusers"]().permute(0, 2, 3, 1).float()
    batched_frames = to_comfy_image(variants["ours_batched_cfg"]())
    seconds: dict[str, list[float]] = {k: [] for k in variants}
    for r in range(repeats):
        for name in rotated(list(variants), r):
            start = time.perf_counter()
            variants[name]()
            seconds[name].append(time.perf_counter() - start)
    def ratios(name: str) -> list[float]:
        return [a / b for a, b in zip(seconds[name], seconds["diffusers"])]

    separate, batched = ratios("ours_separate_cfg"), ratios("ours_batched_cfg")
    out = {
        "width": width, "height": height, "num_frames": num_frames, "steps": steps, "repeats": repeats,
        "cfg": cfg, "context_tokens": int(context.shape[1]), "sigmas": "Wan: linspace(0.999, 0, N+1)[:-1], shift 5",
        "cfg_note": "diffusers runs the conditional and unconditional passes separately; "
                    "ours_separate_cfg does the same work, ours_batched_cfg (our default) batches them",
        "seconds": {k: summary(v) for k, v in seconds.items()},
        "ratio_separate_vs_diffusers": summary(separate, 4),
        "ratio_batched_vs_diffusers": summary(batched, 4),
        "max_abs_diff_separate_vs_diffusers": float((ours_frames - their_frames).abs().max()),
        "max_abs_diff_batched_vs_diffusers": float((batched_frames - their_frames).abs().max()),
        "target": OVERHEAD_TARGET,
    }
    if diagnose_gc:
        out["ratio_separate_no_final_gc_vs_diffusers"] = summary(ratios("ours_separate_cfg_no_final_gc"), 4)
        start = time.perf_counter()
        gc.collect()
        out["full_gc_collect_seconds"] = round(time.perf_counter() - start, 4)
        out["gc_tracked_objects"] = len(gc.get_objects())
    out["meets_target"] = out["ratio_separate_vs_diffusers"]["median"] <= OVERHEAD_TARGET
    if profile_over is not None and out["ratio_separate_vs_diffusers"]["median"] > profile_over:
        out["profile"] = {"ours_separate_cfg": profile_call(variants["ours_separate_cfg"]),
                          "diffusers": profile_call(variants["diffusers"])}
    return out


def measure_overhead_sizes(models_dir: Path, media_dir: Path, sizes, steps: int = 2,
                           repeats: int = 5) -> dict[str, Any]:
    """`measure_overhead` at each work size (width, height, frames): text-to-X with no source, so
    diffusers VAE-encodes the all-zero video twice per call and we, once per loaded model."""
    rows = []
    for width, height, frames in sizes:
        r = measure_overhead(models_dir, media_dir, width, height, frames, steps, repeats, profile_over=None)
        rows.append({k: r[k] for k in ("width", "height", "num_frames", "seconds", "ratio_separate_vs_diffusers",
                                       "ratio_batched_vs_diffusers", "max_abs_diff_separate_vs_diffusers",
                                       "max_abs_diff_batched_vs_diffusers")})
    return {"steps": steps, "repeats": repeats, "target": 0.95, "sizes": rows}


def _memory_accounting() -> dict[str, Any]:
    from .accounting import accounting_table

    return accounting_table()


def _loading_ram(folder: Path, model: str) -> dict[str, Any]:
    from . import loading_ram

    return loading_ram.measure_all(folder, getattr(loading_ram, model))


@contextlib.contextmanager
def _no_final_gc():
    """`generate` with its `gc.collect()` made a no-op (diagnostic only; restored afterwards)."""
    import types

    from unison_runtime.generator import sampling

    real = sampling.gc
    sampling.gc = types.SimpleNamespace(collect=lambda *args: 0)
    try:
        yield
    finally:
        sampling.gc = real


def _group(filename: str) -> str:
    for name in ("unison_runtime", "diffusers", "transformers", "torch", "numpy"):
        if f"/{name}/" in filename or f"{os.sep}{name}{os.sep}" in filename:
            return name
    if filename.startswith("~") or filename.startswith("<"):
        return "builtins (C: mostly torch ops)"
    return "other python"


def profile_call(fn: Callable[[], Any], top: int = 12) -> dict[str, Any]:
    """cProfile one call: total seconds, own time grouped by package, the top functions by own time."""
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.runcall(fn)
    total = time.perf_counter() - start
    stats = pstats.Stats(profiler)
    groups: dict[str, float] = {}
    rows = []
    for (filename, line, func), (cc, nc, tt, ct, callers) in stats.stats.items():
        groups[_group(filename)] = groups.get(_group(filename), 0.0) + tt
        rows.append((tt, ct, nc, f"{Path(filename).name}:{line}({func})" if not filename.startswith("~") else func))
    rows.sort(reverse=True)
    return {
        "seconds": round(total, 4),
        "own_time_by_package": {k: round(v, 4) for k, v in sorted(groups.items(), key=lambda kv: -kv[1])},
        "top_own_time": [{"function": name, "own_s": round(tt, 4), "cum_s": round(ct, 4), "calls": nc}
                         for tt, ct, nc, name in rows[:top]],
    }


# ------------------------------------------------------------------------------------------------
# 4. Pipeline: cache, end to end
# ------------------------------------------------------------------------------------------------
LOAD_STAGES = ("load_planner", "load_generator")
CACHE_TASK = "text_to_image"


def measure_cache(models_dir: Path, media_dir: Path, repeats: int = 1, steps: int = 2,
                  width: int = 64, height: int = 48, free: bool = True) -> dict[str, Any]:
    """The same request twice after emptying the model manager: the first run loads, the second
    must load nothing and spend ~0 s in its model-loading stages."""
    from unison_runtime.models import get_manager
    from unison_runtime.pipeline.demo import DEMO_REQUESTS
    from unison_runtime.pipeline.run import run
    from unison_runtime.router import Overrides

    text = dict(DEMO_REQUESTS)[CACHE_TASK]
    options = run_options(models_dir, media_dir, steps=steps)
    overrides = Overrides(width=width, height=height)
    rows = []
    for _ in range(repeats):
        if free:
            get_manager().free()
        first = run(text, overrides, options)
        second = run(text, overrides, options)
        rows.append({
            "first_loads": first.loads, "second_loads": second.loads,
            "first_load_seconds": sum(first.timings.get(s, 0.0) for s in LOAD_STAGES),
            "second_load_seconds": sum(second.timings.get(s, 0.0) for s in LOAD_STAGES),
            "first_total_seconds": sum(first.timings.values()),
            "second_total_seconds": sum(second.timings.values()),
            "first_stages": {s: round(first.timings.get(s, 0.0), 4) for s in LOAD_STAGES},
            "second_stages": {s: round(second.timings.get(s, 0.0), 4) for s in LOAD_STAGES},
        })
    ratio = [r["second_load_seconds"] / r["first_load_seconds"] for r in rows if r["first_load_seconds"] > 0]
    return {
        "task": CACHE_TASK, "repeats": repeats, "freed_first": free,
        "first_loads": [r["first_loads"] for r in rows], "second_loads": [r["second_loads"] for r in rows],
        "first_load_seconds": summary([r["first_load_seconds"] for r in rows], 4),
        "second_load_seconds": summary([r["second_load_seconds"] for r in rows], 4),
        "second_over_first_load_ratio": summary(ratio, 5),
        "first_total_seconds": summary([r["first_total_seconds"] for r in rows], 4),
        "second_total_seconds": summary([r["second_total_seconds"] for r in rows], 4),
        "stages": rows,
    }


def measure_cached_calls(models_dir: Path, repeats: int = 5, real_size_tokenizer: bool = True) -> dict[str, Any]:
    """What a cache hit costs: ms per call of `load_planner` / `load_generator` for each layout the
    models folder has, once the model is cached (the checks these functions run before the cache
    lookup are paid on every request). Optionally the planner's token check on a synthetic
    tokenizer.json of Qwen2.5's real size (151,643 vocabulary entries, 151,387 merges)."""
    from unison_runtime import layout
    from unison_runtime.generator.loading import load_generator
    from unison_runtime.planner import load_planner
    from unison_runtime.planner.qwen import token_strings

    found = layout.discover(models_dir)
    calls: dict[str, Callable[[], Any]] = {}
    if found.planner_merged:
        calls["planner (merged folder)"] = lambda: load_planner(found.planner_merged, device="cpu")
    if found.planner_base and found.planner_adapter:
        calls["planner (base + LoRA)"] = lambda: load_planner(found.planner_base, found.planner_adapter, device="cpu")
    if found.generator_diffusers:
        calls["generator (diffusers folder)"] = lambda: load_generator(found.generator_diffusers, device="cpu")
    if found.generator_native:
        calls["generator (native Wan folder)"] = lambda: load_generator(native_dir=found.generator_native, device="cpu")
    if found.comfy_transformer and found.comfy_text_encoder and found.comfy_vae:
        calls["generator (ComfyUI single files)"] = lambda: load_generator(
            transformer_file=found.comfy_transformer, text_encoder_file=found.comfy_text_encoder,
            vae_file=found.comfy_vae, device="cpu")
    for fn in calls.values():
        fn()  # load (or hit) once: what follows are cache hits
    ms: dict[str, list[float]] = {k: [] for k in calls}
    for r in range(repeats):
        for name in rotated(list(calls), r):
            start = time.perf_counter()
            calls[name]()
            ms[name].append((time.perf_counter() - start) * 1000)
    out: dict[str, Any] = {"cached_call_ms": {k: summary(v, 3) for k, v in ms.items()}}
    if real_size_tokenizer and found.planner_merged:
        with tempfile.TemporaryDirectory() as tmp:
            data = json.loads((found.planner_merged / "tokenizer.json").read_text(encoding="utf-8"))
            data["model"]["vocab"] = {f"tok{i:06d}\u0120x": i for i in range(151_643)}
            data["model"]["merges"] = [[f"a{i}", f"b{i}"] for i in range(151_387)]
            path = Path(tmp) / "tokenizer.json"
            path.write_text(json.dumps(data), encoding="utf-8")
            seconds = []
            for _ in range(max(1, min(repeats, 3))):
                start = time.perf_counter()
                token_strings(Path(tmp))
                seconds.append(time.perf_counter() - start)
            out["planner_token_check_real_size"] = {"tokenizer_json_mb": round(path.stat().st_size / 1e6, 2),
                                                    "seconds": summary(seconds, 4)}
    return out


def measure_end_to_end(models_dir: Path, media_dir: Path, out_dir: Path, repeats: int = 1, steps: int = 2,
                       width: int = 64, height: int = 48, video_frames: int = 5,
                       tasks: tuple[str, ...] = ()) -> dict[str, Any]:
    """Each demo request (all 12 tasks, the demo's preview overrides) through `pipeline.run`, with
    the models already loaded (a warm process: U²-Net too), saving outputs as the demo does."""
    from unison_runtime.pipeline.demo import DEMO_REQUESTS
    from unison_runtime.pipeline.run import run
    from unison_runtime.pipeline.stages import find_run_models
    from unison_runtime.facts import VIDEO_TASKS
    from unison_runtime.router import Overrides

    chosen = [(t, text) for t, text in DEMO_REQUESTS if not tasks or t in tasks]
    options = run_options(models_dir, media_dir, steps=steps, max_new_tokens=16)
    start = time.perf_counter()
    sources = find_run_models(options.models)
    language_model = sources.planner.load()
    generator = sources.generator.load()
    sources.projector.load(planner_hidden=language_model.hidden_size, text_width=generator.text_width)
    if any(t == "video_edit" for t, _ in chosen):
        sources.annotators.load().load("u2net")
    warm_seconds = time.perf_counter() - start
    per_task: dict[str, dict[str, list]] = {t: {"total": [], "stages": [], "loads": [], "planned": []}
                                            for t, _ in chosen}
    for r in range(repeats):
        for task, text in rotated(chosen, r):
            overrides = {"width": width, "height": height}
            if task in VIDEO_TASKS:
                overrides["num_frames"] = video_frames
            opts = run_options(models_dir, media_dir, steps=steps, max_new_tokens=16, out_dir=Path(out_dir) / task)
            t0 = time.perf_counter()
            result = run(text, Overrides.from_mapping(overrides), opts)
            row = per_task[task]
            row["total"].append(time.perf_counter() - t0)
            row["stages"].append(result.timings)
            row["loads"].append(result.loads)
            row["planned"].append(result.route.task)
    tasks_out = {}
    for task, row in per_task.items():
        stage_names = sorted({k for s in row["stages"] for k in s})
        tasks_out[task] = {
            "seconds": summary(row["total"], 4),
            "stage_seconds": {k: round(statistics.median(s.get(k, 0.0) for s in row["stages"]), 4)
                              for k in stage_names},
            "loads": row["loads"],
            "planned_as_expected": all(p == task for p in row["planned"]),
        }
    rss_after = rss_mb()  # read first: the peak then includes it (the two counters differ in granularity)
    return {"width": width, "height": height, "video_frames": video_frames, "steps": steps, "repeats": repeats,
            "planner": "rules (the tiny Qwen answers the understanding tasks and feeds the projector)",
            "warm_up_seconds": round(warm_seconds, 3), "tasks": tasks_out,
            "sum_of_medians_seconds": round(sum(t["seconds"]["median"] for t in tasks_out.values()), 3),
            "peak_rss_mb": round(max(peak_rss_mb(), rss_after), 1), "rss_after_mb": round(rss_after, 1)}


# ------------------------------------------------------------------------------------------------
# The suite
# ------------------------------------------------------------------------------------------------
SECTIONS = ("import", "rules_planner", "qwen_planner", "sampling_steps", "overhead", "overhead_sizes", "cache",
            "end_to_end", "memory_accounting", "loading_ram")


def run_suite(quick: bool = True, out: Path | None = None, models: Path | None = None,
              sections: tuple[str, ...] = SECTIONS, log: Callable[[str], None] = print) -> dict[str, Any]:
    s = QUICK if quick else FULL
    out = Path(out or Path(tempfile.gettempdir()) / "unison_bench_out").resolve()
    out.mkdir(parents=True, exist_ok=True)
    suite_start = time.perf_counter()
    report: dict[str, Any] = {"mode": "quick" if quick else "full", "settings": asdict(s)}
    # Import cost first: nothing in this process can influence the fresh interpreters anyway.
    if "import" in sections:
        report["import"] = _timed(report, "import", log, lambda: measure_import(s.import_repeats))
    models_start = time.perf_counter()
    models_dir = prepare_models(models)
    media_dir = prepare_media(out / "inputs")
    report["models_dir"] = str(models_dir)
    report["prepare_models_seconds"] = round(time.perf_counter() - models_start, 2)
    report["machine"] = machine_info()
    steps_plan = [
        ("rules_planner", lambda: measure_rules_planner(media_dir, s.rules_passes)),
        ("qwen_planner", lambda: measure_qwen_planner(models_dir, media_dir, s.qwen_repeats, s.answer_tokens)),
        ("sampling_steps", lambda: measure_sampling_steps(models_dir, media_dir, s.width, s.height, s.step_frames,
                                                          s.step_count, s.step_runs)),
        ("overhead", lambda: measure_overhead(models_dir, media_dir, s.width, s.height, s.overhead_frames,
                                              s.overhead_steps, s.overhead_repeats)),
        ("cache", lambda: {**measure_cache(models_dir, media_dir, s.cache_repeats, s.e2e_steps, s.width, s.height),
                           **measure_cached_calls(models_dir, repeats=5)}),
        ("end_to_end", lambda: measure_end_to_end(models_dir, media_dir, out / "e2e", s.e2e_repeats, s.e2e_steps,
                                                  s.width, s.height, s.video_frames)),
        ("overhead_sizes", lambda: measure_overhead_sizes(models_dir, media_dir, s.overhead_sizes, s.overhead_steps,
                                                          s.overhead_repeats)),
        ("memory_accounting", lambda: _memory_accounting()),
        ("loading_ram", lambda: _loading_ram(out / "loading_ram", s.ram_model)),
    ]
    for name, fn in steps_plan:
        if name in sections:
            report[name] = _timed(report, name, log, fn)
    report["machine"]["load_average_end"] = load_average()
    report["total_seconds"] = round(time.perf_counter() - suite_start, 2)
    return report


def _timed(report: dict, name: str, log: Callable[[str], None], fn: Callable[[], dict]) -> dict:
    log(f"[benchmarks] {name} ...")
    start = time.perf_counter()
    result = fn()
    seconds = round(time.perf_counter() - start, 2)
    report.setdefault("section_seconds", {})[name] = seconds
    log(f"[benchmarks] {name} done in {seconds}s (load average {load_average()})")
    gc.collect()
    return result


def write_report(report: dict[str, Any], out: Path, doc: Path | None = None) -> dict[str, Path]:
    from .report import render_markdown

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "benchmarks.json", "markdown": out / "benchmarks.md"}
    paths["json"].write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    markdown = render_markdown(report)
    paths["markdown"].write_text(markdown, encoding="utf-8")
    if doc is not None:
        Path(doc).write_text(markdown, encoding="utf-8")
        paths["doc"] = Path(doc)
    return paths
