"""The Markdown rendering of a benchmark report (also what `docs/PERFORMANCE.md` holds)."""

from __future__ import annotations

from typing import Any

GPU_TODO = (
    "Wan2.1-VACE-1.3B at 832×480×81 frames, 50 steps: seconds per step and per video (target < 90 s on one H100)",
    "peak VRAM under each offload policy (`auto`, `keep`, `offload`, `sequential`): targets ≤ 12 GB and ≤ 8.2 GB",
    "attention backends (`native` SDPA, `flash`, `flash3`, `sage`) on the real model",
    "batched vs separate classifier-free guidance on the GPU",
    "VAE decode tiled vs untiled (seconds, peak VRAM)",
    "`torch.compile` (`compile_repeated_blocks`) warm-up cost and steady-state speed-up",
    "planner (Qwen2.5-VL-3B) plan latency and tokens/s on the GPU",
    "the native path (our sampler on ComfyUI's own Wan VACE, in a ComfyUI Python: `COMFYUI_DIR`, `COMFYUI_PYTHON`) beside the diffusers path at 832×480×81, 50 steps, cfg 5: seconds per step and per video, peak VRAM under ComfyUI's default memory mode and `--lowvram`",
)
ACTIVATION_NOTES = (
    "DiT, per denoising call of B samples (B = 2 with batched CFG), in the weights' dtype (bf16: 2 bytes): "
    "L = (latent frames + references) · (H/16) · (W/16) tokens, width D = 1536, FFN F = 8960, V = 15 VACE blocks. "
    "Live for the whole call: hidden states, the VACE control stream and the V hints diffusers computes before "
    "the main blocks, (2 + V)·L·D; the largest block transient is the feed-forward, L·(3D + 2F); plus the "
    "2048-token text context. SDPA's flash / memory-efficient kernels store no L×L matrix (the math fallback "
    "would: heads·L² per sample, 24 GiB here). At 832×480×81: L = 21·30·52 = 32,760.",
    "VAE (float32), decoding one latent frame per chunk (t = 1, 2, 4, 4 frames from the latent side up, "
    "channels 384, 384, 192, 96 at 1/8, 1/4, 1/2, 1/1 of the size): the largest stage's working set, about "
    "4 tensors of C·(t + 2)·H·W (input with its 2 cached frames, norm, activation, conv output), plus every "
    "causal conv's 2-frame cache, Σ (2 per residual block · 3 blocks + head)·C·2·H·W, plus the output video. "
    "Tiled (256×256 tiles, stride 192), every H·W term is a tile's, plus the overlapping decoded tiles diffusers "
    "keeps until it blends them. Encoding mirrors decoding.",
)

# Who places the weights (not measured by the suite; checked by tests/nodes/test_comfyui_model_management.py).
PLACEMENT_SECTION = (
    "## Who places the weights: our model manager outside ComfyUI, ComfyUI's inside",
    "",
    "Outside ComfyUI (the CLI, the demo, the tests) the model manager (`unison_runtime.models`) places every "
    "model under its offload policy (`--offload auto|keep|offload|sequential`; the accounting above). Inside "
    "ComfyUI, ComfyUI's model management does: the node layer installs a placement host "
    "(`nodes/comfy_memory.py`), each torch module the manager caches (planner, projector, GroundingDINO, SAM2, "
    "U²-Net, and the diffusers generator's transformer, text encoder and VAE where that generator runs) becomes "
    "a ComfyUI `ModelPatcher` (0.33's `CoreModelPatcher`, the class its own CLIP-vision and upscale models use), "
    "and every use of it goes through `load_models_gpu`. The loaders' `offload_policy` widget is then not used "
    "(it stays for saved workflows). What ComfyUI's options do to our models:",
    "",
    "| ComfyUI | our models |",
    "|---|---|",
    "| default | loaded whole onto the GPU before each use, after ComfyUI made room by offloading other models "
    "(its own and ours, least recently used first); between uses they stay until ComfyUI needs the room |",
    "| `--lowvram` | the same: whole loads (`force_full_load`). ComfyUI runs only `comfy.ops` layers partly "
    "loaded; its default for a module of plain torch / transformers layers would split it across the CPU and "
    "the GPU, which that module cannot run |",
    "| `--novram` | no weight of ours moves to the GPU; our models run on the CPU |",
    "| `--highvram`, `--gpu-only` | loaded whole and never moved back to the CPU (their offload device is the "
    "GPU, as for ComfyUI's models) |",
    "| `--cpu` | everything on the CPU, still listed among ComfyUI's loaded models |",
    "| `--disable-smart-memory` | unloaded after every prompt with ComfyUI's models, and our cache released "
    "(read from disk again at the next prompt) |",
    "| `--reserve-vram` | counted in ComfyUI's free memory, as for its own models |",
    "",
    "A model bigger than the room ComfyUI can make fails with ComfyUI's out-of-memory error, as its own full "
    "loads do. ComfyUI unloading one of ours for room, whole or in part, keeps our copy in RAM; the next use "
    "loads it whole again, with nothing read from disk. \"Unload models\", \"Free model and node cache\" and "
    "`POST /free` unload ours with ComfyUI's and release our cache, RAM included. Each module exists once: the "
    "patcher wraps the module itself, and ComfyUI backs up only weights it patches (none of ours). Each use "
    "costs a `load_models_gpu` call: about 20 µs on this CPU with ComfyUI 0.8.0 and 0.33.0 (median of 300), "
    "against 2 µs for the manager's own policy; not measured on a GPU. The sampler's CFG batching and VAE "
    "tiling read ComfyUI's free-memory figure.",
    "",
)


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        if value != 0 and abs(value) < 10 ** -digits:
            return f"{value:.2e}"
        return f"{value:.{digits}f}"
    return str(value)


def _med(stat: dict | None, digits: int = 3, scale: float = 1.0) -> str:
    if not stat or stat.get("median") is None:
        return "–"
    return _fmt(stat["median"] * scale, digits)


def _range(stat: dict | None, digits: int = 3, scale: float = 1.0) -> str:
    if not stat or stat.get("median") is None:
        return "–"
    return f"{_fmt(stat['min'] * scale, digits)}–{_fmt(stat['max'] * scale, digits)} (n={stat['n']})"


def findings(report: dict[str, Any]) -> list[str]:
    """Conclusions the measured figures support (each printed only when its figures say so)."""
    notes = []
    ov = report.get("overhead") or {}
    plain = (ov.get("ratio_separate_vs_diffusers") or {}).get("median")
    no_gc = (ov.get("ratio_separate_no_final_gc_vs_diffusers") or {}).get("median")
    if plain is not None and no_gc is not None and plain > ov["target"] and no_gc < plain:
        notes.append(
            f"Stage-two overhead: the ratio falls from {plain:.3f} to {no_gc:.3f} without the full `gc.collect()` "
            f"that `generate` runs in its `finally` (`unison_runtime/generator/sampling.py`). A full collection "
            f"walks every tracked object ({ov['gc_tracked_objects']:,} here, nearly all library code once torch, "
            f"transformers and diffusers are imported) and took {ov['full_gc_collect_seconds']:.3f} s, per "
            "request, freeing nothing on the success path (the working tensors go with `work.clear()`). "
            "Suggested fix: collect only on the error/cancel path, or a young-generation `gc.collect(1)`. "
            "Against a 50-step 832×480×81 GPU run this is well under 1 %; on the tiny CPU models it dominates.")
    cache = report.get("cache") or {}
    real = (cache.get("planner_token_check_real_size") or {}).get("seconds", {}).get("median")
    if real is not None and real > 0.02:
        notes.append(
            f"Cache hits are not free for the planner: `load_planner` runs `require_unison_tokens` → "
            f"`token_strings` (`unison_runtime/planner/qwen.py`) before the model-manager lookup, parsing the "
            f"whole tokenizer.json on every call; at Qwen2.5's real tokenizer size that is {real * 1000:.0f} ms "
            "per request (plus `check_model_folder` reading every safetensors header). Suggested fix: run the "
            "folder checks inside the loader (only on a cache miss) or memoise them by (path, size, mtime).")
    native = (cache.get("cached_call_ms") or {}).get("generator (native Wan folder)", {}).get("median")
    diffusers_ms = (cache.get("cached_call_ms") or {}).get("generator (diffusers folder)", {}).get("median")
    if native is not None and diffusers_ms and native > 10 * diffusers_ms:
        notes.append(
            f"A cached `load_generator(native_dir=...)` costs {native:.1f} ms against {diffusers_ms:.2f} ms for "
            "the diffusers folder: `resolve_files` checks each single file's keys on every call, and for "
            "`.pth` files `file_keys` unpickles the checkpoint's whole structure (`read_state_dict`: "
            "a memory-mapped `torch.load`, tensors mapped rather than read; `unison_runtime/generator/files.py`) — "
            "the native VAE and T5 files included — before the cache lookup. Measured here on tiny files only; "
            "the real files hold more tensors. Suggested fix: check kinds only on a cache miss (the key "
            "already names the paths), or memoise the check by (path, size, mtime).")
    return notes


def render_markdown(report: dict[str, Any]) -> str:
    lines: list[str] = ["# Performance", ""]
    machine = report.get("machine", {})
    mode = report.get("mode", "?")
    lines += [
        f"Figures from `python -m benchmarks{' --quick' if mode == 'quick' else ''}` ({mode} mode), "
        f"{machine.get('date_utc', '?')}. Every figure is a median over repeated runs (min–max and the "
        "number of samples beside it); every comparison is a ratio of two things timed in the same "
        "run, in interleaved rounds whose order rotates. The models are the tiny random demo models "
        "(`unison_runtime.demo_models`), so absolute times say little about real checkpoints; ratios, "
        "the cache behaviour and the import cost carry over.",
        "",
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        f"| CPU | {machine.get('cpu_model', '?')} |",
        f"| cores | {machine.get('logical_cores', '?')} logical, {machine.get('usable_cores', '?')} usable; "
        f"torch threads {machine.get('torch_threads', '?')} |",
        f"| memory | {machine.get('memory_gib', '?')} GiB |",
        f"| load average (1, 5, 15 min) | start {machine.get('load_average_start')}, "
        f"end {machine.get('load_average_end')} |",
        f"| Python / torch / diffusers / transformers | {machine.get('python')} / {machine.get('torch')} / "
        f"{machine.get('diffusers')} / {machine.get('transformers')} |",
        f"| GPU | {machine.get('gpu') or 'none'} |",
        f"| suite wall time | {report.get('total_seconds', '?')} s (sections: {report.get('section_seconds', {})}) |",
        "",
    ]
    peak_load = max([(machine.get(k) or [0])[0] for k in ("load_average_start", "load_average_end")])
    cores = machine.get("usable_cores") or 1
    if peak_load > cores * 0.75:
        lines += [f"The machine was shared while this ran (1-minute load average up to {peak_load} on {cores} "
                  "cores; other jobs were running): absolute times are inflated and noisy; the ratios, measured "
                  "in interleaved rounds, are the figures to trust.", ""]

    imp = report.get("import")
    if imp:
        lines += ["## Import cost (fresh interpreter per import)", "",
                  "| what | seconds (median) | range | torch | transformers | diffusers | heavy modules |",
                  "|---|---|---|---|---|---|---|"]
        for key, label in (("pack", f"the pack, as ComfyUI loads it (`{imp.get('module_name')}` by path, "
                                    "after ComfyUI's comfy_api)"),
                           ("unison_runtime", "`import unison_runtime`")):
            r = imp.get(key)
            if r is None:  # the pack's V3 nodes are measured only with a ComfyUI (COMFYUI_DIR)
                continue
            lines.append(f"| {label} | {_med(r['seconds'], 4)} | {_range(r['seconds'], 4)} | "
                         f"{'yes' if r['pulls_torch'] else 'no'} | {'yes' if r['pulls_transformers'] else 'no'} | "
                         f"{'yes' if r['pulls_diffusers'] else 'no'} | {', '.join(r['heavy_imported']) or 'none'} |")
        lines.append("")

    rules = report.get("rules_planner")
    qwen = report.get("qwen_planner")
    if rules or qwen:
        lines += ["## Planner", "", "| measure | median | range |", "|---|---|---|"]
        if rules:
            lines.append(f"| rules planner, µs per request ({rules['requests']} demo requests × {rules['passes']} passes) "
                         f"| {_med(rules['plan_us'], 1)} | {_range(rules['plan_us'], 1)} |")
            lines.append(f"| rules planner incl. request parsing, µs per request | {_med(rules['parse_and_plan_us'], 1)} "
                         f"| {_range(rules['parse_and_plan_us'], 1)} |")
        if qwen:
            lines += [
                f"| tiny Qwen planner: plan latency, s | {_med(qwen['plan_seconds'])} | {_range(qwen['plan_seconds'])} |",
                f"| tiny Qwen planner: plan tokens generated | {_med(qwen['plan_tokens'], 1)} | {_range(qwen['plan_tokens'], 1)} |",
                f"| tiny Qwen planner: plan decoding, tokens/s (grammar-constrained) | {_med(qwen['plan_tokens_per_s'], 1)} "
                f"| {_range(qwen['plan_tokens_per_s'], 1)} |",
                f"| tiny Qwen planner: `answer` latency, s (max {qwen['answer_max_new_tokens']} new tokens) "
                f"| {_med(qwen['answer_seconds'])} | {_range(qwen['answer_seconds'])} |",
                f"| tiny Qwen planner: `answer` tokens/s | {_med(qwen['answer_tokens_per_s'], 1)} "
                f"| {_range(qwen['answer_tokens_per_s'], 1)} |",
            ]
        if rules and rules.get("wrong_tasks"):
            lines.append(f"\nThe rules planner chose a different task than the demo expects for: {rules['wrong_tasks']}")
        lines.append("")

    steps = report.get("sampling_steps")
    if steps:
        lines += [f"## Generator: sampling steps ({steps['width']}×{steps['height']}, {steps['steps']} steps, "
                  "cfg 5 batched, tiny model)", "",
                  "| frames | s per step (median) | range | whole `generate`, s | outside the denoising loop, s |",
                  "|---|---|---|---|---|"]
        for n, r in steps["frames"].items():
            lines.append(f"| {n} | {_med(r['seconds_per_step'], 4)} | {_range(r['seconds_per_step'], 4)} | "
                         f"{_med(r['generate_seconds'])} | {_fmt(r['outside_denoising_seconds'])} |")
        lines += ["", "On the tiny model the VAE encode/decode (\"outside the loop\") dominates; with the real "
                  "1.3B DiT the loop does.", ""]

    ov = report.get("overhead")
    if ov:
        lines += ["## Stage-two overhead against a direct `WanVACEPipeline` call", "",
                  f"{ov['width']}×{ov['height']}, {ov['num_frames']} frames, {ov['steps']} steps, cfg {ov['cfg']}, "
                  f"prompt embeddings of {ov['context_tokens']} tokens, {ov['sigmas']}, same seed, same loaded "
                  f"modules; {ov['repeats']} interleaved rounds after an untimed warm-up round. {ov['cfg_note']}.", "",
                  "| variant | seconds (median) | range |", "|---|---|---|"]
        for name, stat in ov["seconds"].items():
            lines.append(f"| {name} | {_med(stat, 4)} | {_range(stat, 4)} |")
        verdict = "meets" if ov["meets_target"] else "misses"
        lines += ["",
                  f"- **overhead ratio, ours (separate CFG) / diffusers: {_med(ov['ratio_separate_vs_diffusers'], 4)}** "
                  f"(per-round range {_range(ov['ratio_separate_vs_diffusers'], 4)}); target ≤ {ov['target']}: {verdict} it.",
                  f"- ours with batched CFG (the default) / diffusers: {_med(ov['ratio_batched_vs_diffusers'], 4)} "
                  f"(range {_range(ov['ratio_batched_vs_diffusers'], 4)}).",
                  f"- same computation: largest pixel difference (0..1 scale) ours-separate vs diffusers "
                  f"{_fmt(ov['max_abs_diff_separate_vs_diffusers'], 6)}, ours-batched vs diffusers "
                  f"{_fmt(ov['max_abs_diff_batched_vs_diffusers'], 6)}.", ""]
        if "ratio_separate_no_final_gc_vs_diffusers" in ov:
            lines[-1:-1] = [
                f"- diagnostic: ours (separate CFG) with the full `gc.collect()` at the end of `generate` "
                f"stubbed out / diffusers: {_med(ov['ratio_separate_no_final_gc_vs_diffusers'], 4)} "
                f"(range {_range(ov['ratio_separate_no_final_gc_vs_diffusers'], 4)}). One full collection in this "
                f"process takes {_fmt(ov['full_gc_collect_seconds'], 4)} s ({ov['gc_tracked_objects']:,} objects "
                f"tracked, almost all of them torch/transformers/diffusers code); it frees nothing here."]
        prof = ov.get("profile")
        if prof:
            lines += ["The ratio is above the target, so one call of each was profiled (cProfile; own time by package):", ""]
            for name, p in prof.items():
                groups = ", ".join(f"{k} {_fmt(v)} s" for k, v in p["own_time_by_package"].items())
                lines.append(f"- {name}: {_fmt(p['seconds'])} s under the profiler — {groups}")
                top = "; ".join(f"{r['function']} {_fmt(r['own_s'])} s" for r in p["top_own_time"][:6])
                lines.append(f"  - top own time: {top}")
            lines.append("")

    cache = report.get("cache")
    if cache:
        lines += [f"## Model cache (same `{cache['task']}` request twice after `get_manager().free()`)", "",
                  "| | first run | second run |", "|---|---|---|",
                  f"| model loads | {cache['first_loads']} | {cache['second_loads']} |",
                  f"| `load_planner` + `load_generator` stage seconds (median) | {_med(cache['first_load_seconds'], 4)} "
                  f"| {_med(cache['second_load_seconds'], 4)} |",
                  f"| whole run, s (median) | {_med(cache['first_total_seconds'])} | {_med(cache['second_total_seconds'])} |",
                  "", f"Second/first load-stage time ratio: {_med(cache['second_over_first_load_ratio'], 5)}. "
                  "The first run's load time leaves out importing torch/transformers/diffusers when earlier "
                  "sections already did (they do in a full suite run).", ""]
        if cache.get("cached_call_ms"):
            lines += ["What a cache hit costs per call (the file checks before the cache lookup are memoised on the files' size and mtime):", "",
                      "| call (model already cached) | ms (median) | range |", "|---|---|---|"]
            for name, stat in cache["cached_call_ms"].items():
                lines.append(f"| `{name}` | {_med(stat, 2)} | {_range(stat, 2)} |")
            real = cache.get("planner_token_check_real_size")
            if real:
                lines.append(f"| planner token check (`token_strings`) on a tokenizer.json of Qwen2.5's real size "
                             f"({real['tokenizer_json_mb']} MB) | {_med(real['seconds'], 1, 1000)} | "
                             f"{_range(real['seconds'], 1, 1000)} |")
            lines.append("")

    e2e = report.get("end_to_end")
    if e2e:
        lines += [f"## End to end, all 12 tasks (`pipeline.run`, warm models, {e2e['width']}×{e2e['height']}, "
                  f"videos {e2e['video_frames']} frames, {e2e['steps']} steps, {e2e['repeats']} repeat(s))", "",
                  f"Planner: {e2e['planner']}.", "",
                  "| task | seconds (median) | range | main stages (median s) | loads |", "|---|---|---|---|---|"]
        for task, r in e2e["tasks"].items():
            stages = sorted(r["stage_seconds"].items(), key=lambda kv: -kv[1])[:3]
            flag = "" if r["planned_as_expected"] else " (planned as another task!)"
            lines.append(f"| {task}{flag} | {_med(r['seconds'])} | {_range(r['seconds'])} | "
                         f"{', '.join(f'{k} {v:.3f}' for k, v in stages)} | {r['loads']} |")
        lines += ["", f"Sum of the medians: {e2e['sum_of_medians_seconds']} s. Peak RSS of the benchmark process "
                  f"(everything above included): {e2e['peak_rss_mb']} MiB; RSS after: {e2e['rss_after_mb']} MiB.", ""]

    lines += _overhead_sizes(report.get("overhead_sizes"))
    lines += _accounting(report.get("memory_accounting"))
    lines += _loading_ram(report.get("loading_ram"))
    lines += list(PLACEMENT_SECTION)

    notes = findings(report)
    if notes:
        lines += ["## What the figures point at", ""] + [f"- {n}" for n in notes] + [""]

    gpu = machine.get("gpu")
    lines += ["## GPU", ""]
    if gpu:
        lines += [f"A GPU was present ({gpu}) but this suite measures the CPU path only.", ""]
    else:
        lines += ["No GPU was lent for this run, so there are **no GPU figures**. `python -m benchmarks --gpu` "
                  "measures them (planned to take under 12 minutes on one GPU, never yet run on one; `--dry-run` "
                  "tests its plumbing on the CPU) and "
                  "rewrites this section. Not yet measured:", ""]
    lines += [f"- {item}" for item in GPU_TODO]
    lines += ["", "## Reproduce", "", "```", "python -m benchmarks --quick --out /tmp/unison-bench   # < 3 min on 2 cores",
              "python -m benchmarks --out /tmp/unison-bench           # more repeats",
              "python -m benchmarks --gpu                             # full-size GPU figures (needs a GPU)",
              "python -m benchmarks --gpu --dry-run --out /tmp/g      # the GPU plan's plumbing, on the CPU",
              "COMFYUI_DIR=ComfyUI COMFYUI_PYTHON=ComfyUI/venv/bin/python python -m benchmarks --gpu   "
              "# with the native path", "```",
              "`--models DIR` reuses a tiny-model folder (otherwise they are built once into the temp dir); "
              "`--doc docs/PERFORMANCE.md` rewrites this file.", ""]
    return "\n".join(lines)


def _overhead_sizes(ov: dict | None) -> list[str]:
    if not ov:
        return []
    lines = ["## Stage two against bare diffusers, by work size", "",
             f"Text-to-X (no source video), {ov['steps']} steps, cfg 5, same modules, inputs and seed; "
             f"{ov['repeats']} interleaved rounds after a warm-up round per size. diffusers VAE-encodes the all-zero "
             "video twice per call; we encode it once per loaded model and size (bit-identical latents).", "",
             "| size | ours batched / diffusers | ours separate / diffusers | diffusers s | largest pixel difference |",
             "|---|---|---|---|---|"]
    for r in ov["sizes"]:
        lines.append(f"| {r['width']}×{r['height']}×{r['num_frames']} | {_med(r['ratio_batched_vs_diffusers'], 4)} "
                     f"({_range(r['ratio_batched_vs_diffusers'], 4)}) | {_med(r['ratio_separate_vs_diffusers'], 4)} "
                     f"({_range(r['ratio_separate_vs_diffusers'], 4)}) | {_med(r['seconds']['diffusers'], 4)} | "
                     f"{_fmt(max(r['max_abs_diff_batched_vs_diffusers'], r['max_abs_diff_separate_vs_diffusers']), 6)} |")
    worst = max(r["ratio_batched_vs_diffusers"]["median"] for r in ov["sizes"])
    verdict = "met" if worst <= ov["target"] else "**not met**"
    lines += ["", f"Target: median ratio ≤ {ov['target']} at every size (ours with its default settings): {verdict} "
              f"(worst median {worst:.4f}).", ""]
    return lines


def _accounting(acc: dict | None) -> list[str]:
    if not acc:
        return []
    sizes = ", ".join(f"{k} {v} GiB" for k, v in acc["sizes_gb"].items())
    est = acc["estimates_gb"]
    lines = ["## Memory accounting: real architectures on the `meta` device", "",
             "Qwen2.5-VL-3B (merged Unison planner, untied head), the UMT5-XXL encoder, Wan2.1-VACE-1.3B (bf16) "
             "and the Wan VAE (fp32), built from their real configs with no weights; the model manager's own "
             "placement logic runs a video run twice through a fake card (free = card − what it placed there). "
             f"Sizes: {sizes}. `tests/test_memory_accounting.py` asserts the same figures for all 12 tasks.", "",
             "Working memory at 832×480×81 (first principles, see below): DiT "
             f"{est['dit_separate_cfg']} GiB with separate CFG passes, {est['dit_batched_cfg']} GiB batched; VAE "
             f"decode {est['vae_decode_untiled']} GiB untiled, {est['vae_decode_tiled']} GiB tiled.", "",
             "| policy | card | peak weights on the card, GiB | + running module's working memory | placement (planner, generator) |",
             "|---|---|---|---|---|"]
    for r in acc["rows"]:
        if r["task"] != "text_to_video":
            continue
        where = f"{r['placements']['planner']}, {r['placements']['generator']}"
        if r["error"]:
            where += f" — refused: {r['error'].split(';')[0]}"
        lines.append(f"| {r['policy']} | {r['card_gb']} GB | {r['peak_weights_gb']} | {r['peak_with_work_gb']} | {where} |")
    lines += ["", "How the working memory is estimated (`unison_runtime/generator/memory.py`):", ""]
    lines += [f"- {n}" for n in ACTIVATION_NOTES] + [""]
    return lines


def _loading_ram(ram: dict | None) -> list[str]:
    if not ram:
        return []
    size = ram["size"]
    lines = ["## Host RAM while loading a single-file text encoder", "",
             f"A UMT5 encoder of {size['layers']} layers at width {size['width']} (FFN {size['d_ff']}, vocabulary "
             f"{size['vocab']}) with random weights, in each single-file format, loaded to bfloat16 by the runtime's "
             "loader in a fresh interpreter: peak resident memory (VmHWM) minus resident memory before the load, "
             "÷ the loaded model's bf16 size. Measured in one run on this CPU. Target ≤ 1.3.", "",
             "| format | model (bf16) MiB | peak growth MiB | ratio |", "|---|---|---|---|"]
    for name, r in ram["rows"].items():
        lines.append(f"| {name} | {r['model_mb']} | {r['peak_growth_mb']} | {r['ratio']} |")
    lines += ["", "The native `.pth` is memory-mapped and already bf16: its tensors are used in place and read "
              "from the page cache when first touched, so loading itself grows the process very little.", ""]
    return lines
