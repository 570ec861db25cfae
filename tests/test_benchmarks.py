"""The benchmark suite's measuring functions, run at minimal sizes (not the whole --quick run):
the report has the structure docs/PERFORMANCE.md is rendered from, and its figures are sane
(positive times and ratios, a cached second run that loads nothing, a pack import without torch)."""

from __future__ import annotations

import json
import math
import os

import pytest

from benchmarks import suite
from unison_runtime.facts import CONTEXT_LENGTH
from benchmarks.__main__ import main
from benchmarks.report import GPU_TODO, PLACEMENT_SECTION, render_markdown

TINY = dict(width=32, height=32)


def positive_stat(stat: dict) -> bool:
    return stat["n"] >= 1 and stat["median"] is not None and stat["median"] > 0 and math.isfinite(stat["median"]) \
        and stat["min"] <= stat["median"] <= stat["max"]


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    return suite.prepare_media(tmp_path_factory.mktemp("bench_media"))


@pytest.fixture(scope="module")
def report(all_models, media, tmp_path_factory):
    """Every section at minimal size, assembled the way `run_suite` assembles them."""
    out = tmp_path_factory.mktemp("bench_out")
    return {
        "mode": "test",
        "machine": {**suite.machine_info(), "load_average_end": suite.load_average()},
        "import": suite.measure_import(repeats=1),
        "rules_planner": suite.measure_rules_planner(media, passes=3),
        "qwen_planner": suite.measure_qwen_planner(all_models, media, repeats=1, answer_tokens=4),
        "sampling_steps": suite.measure_sampling_steps(all_models, media, frames=(1,), steps=2, runs=1, **TINY),
        # profile_over=0 forces the profiling branch so its output is checked too
        "overhead": suite.measure_overhead(all_models, media, num_frames=1, steps=1, repeats=1, profile_over=0.0,
                                           **TINY),
        "cache": {**suite.measure_cache(all_models, media, repeats=1, steps=1, **TINY),
                  **suite.measure_cached_calls(all_models, repeats=1, real_size_tokenizer=False)},
        "end_to_end": suite.measure_end_to_end(all_models, media, out, repeats=1, steps=1, video_frames=5,
                                               tasks=("text_understanding", "text_to_image"), **TINY),
    }


def test_machine_is_described(report):
    machine = report["machine"]
    assert machine["cpu_model"] and machine["logical_cores"] >= 1 and machine["torch"]
    assert machine["date_utc"].endswith("UTC") and len(machine["load_average_start"]) == 3


def test_pack_and_runtime_import_without_heavy_libraries(report):
    imp = report["import"]
    for target in ("pack", "unison_runtime"):
        if target == "pack" and not os.environ.get("COMFYUI_DIR"):
            continue  # the V3 nodes need ComfyUI's comfy_api (torch comes with it, imported before the pack)
        assert positive_stat(imp[target]["seconds"])
        assert not imp[target]["pulls_torch"], f"importing {target} pulled in torch"
        assert not imp[target]["pulls_transformers"] and not imp[target]["pulls_diffusers"]
    assert "pack" not in imp or imp["pack"]["node_classes"] > 0, "the pack imported by path must expose its nodes"


def test_import_probe_sees_a_heavy_import(monkeypatch):
    """The probe can fail: a child that imports torch is reported as pulling torch."""
    monkeypatch.setattr(suite, "_PROBE", suite._PROBE.replace("start = time.perf_counter()",
                                                              "import torch\nstart = time.perf_counter()"))
    assert suite.import_probe("unison_runtime")["heavy"].count("torch") == 1


def test_planner_figures(report):
    rules = report["rules_planner"]
    assert rules["requests"] == 12 and rules["wrong_tasks"] == []
    assert positive_stat(rules["plan_us"]) and positive_stat(rules["parse_and_plan_us"])
    qwen = report["qwen_planner"]
    for key in ("plan_seconds", "plan_tokens", "plan_tokens_per_s", "answer_seconds", "answer_tokens",
                "answer_tokens_per_s"):
        assert positive_stat(qwen[key]), key
    assert qwen["answer_tokens"]["max"] <= 4  # max_new_tokens is honoured and counted


def test_sampling_step_figures(report):
    steps = report["sampling_steps"]["frames"]["1"]
    assert steps["seconds_per_step"]["n"] == 1  # 2 steps → one interval between callbacks
    assert positive_stat(steps["seconds_per_step"]) and positive_stat(steps["generate_seconds"])
    assert steps["generate_seconds"]["median"] > steps["seconds_per_step"]["median"]


def test_overhead_compares_the_same_computation(report):
    ov = report["overhead"]
    assert ov["context_tokens"] == CONTEXT_LENGTH
    for name in ("ours_separate_cfg", "diffusers", "ours_batched_cfg"):
        assert positive_stat(ov["seconds"][name]), name
    assert positive_stat(ov["ratio_separate_vs_diffusers"]) and positive_stat(ov["ratio_batched_vs_diffusers"])
    # Same modules, inputs, sigmas and seed: the direct pipeline call reproduces our frames.
    assert ov["max_abs_diff_separate_vs_diffusers"] < 1e-4
    assert ov["max_abs_diff_batched_vs_diffusers"] < 1e-3
    assert ov["meets_target"] == (ov["ratio_separate_vs_diffusers"]["median"] <= suite.OVERHEAD_TARGET)
    profile = ov["profile"]["ours_separate_cfg"]
    assert profile["seconds"] > 0 and profile["top_own_time"] and profile["own_time_by_package"]


def test_second_identical_run_loads_nothing(report):
    cache = report["cache"]
    assert cache["first_loads"][0] > 0, "the first run after free() must load the models"
    assert cache["second_loads"] == [0]
    assert cache["second_load_seconds"]["median"] < cache["first_load_seconds"]["median"]
    assert cache["second_over_first_load_ratio"]["median"] < 1
    calls = cache["cached_call_ms"]
    assert "planner (merged folder)" in calls and "generator (diffusers folder)" in calls
    assert all(positive_stat(stat) for stat in calls.values())


def test_end_to_end_figures(report):
    e2e = report["end_to_end"]
    assert set(e2e["tasks"]) == {"text_understanding", "text_to_image"}
    for task, row in e2e["tasks"].items():
        assert row["planned_as_expected"], task
        assert row["loads"] == [0], f"{task} loaded a model in a warm process"
        assert positive_stat(row["seconds"])
    assert "generate" in e2e["tasks"]["text_to_image"]["stage_seconds"]
    assert "answer" in e2e["tasks"]["text_understanding"]["stage_seconds"]
    assert e2e["peak_rss_mb"] >= e2e["rss_after_mb"] > 0


def test_markdown_report_names_every_section_and_the_missing_gpu_figures(report):
    text = render_markdown(report)
    for heading in ("## Machine", "## Import cost", "## Planner", "## Generator: sampling steps",
                    "## Stage-two overhead", "## Model cache", "## End to end", "## GPU"):
        assert heading in text, heading
    assert report["machine"]["cpu_model"] in text
    if report["machine"]["gpu"] is None:
        assert "no GPU figures" in text
        assert all(item in text for item in GPU_TODO)
    assert f"{report['overhead']['ratio_separate_vs_diffusers']['median']:.4f}" in text


def test_command_line_writes_json_and_markdown(all_models, tmp_path):
    doc = tmp_path / "PERFORMANCE.md"
    assert main(["--quick", "--only", "rules_planner", "--models", str(all_models), "--out", str(tmp_path),
                 "--doc", str(doc)]) == 0
    data = json.loads((tmp_path / "benchmarks.json").read_text())
    assert data["mode"] == "quick" and "rules_planner" in data and "overhead" not in data
    assert data["settings"] == json.loads(json.dumps(suite.asdict(suite.QUICK)))
    assert (tmp_path / "benchmarks.md").read_text() == doc.read_text()
    assert "## Planner" in doc.read_text()


def test_gpu_plan_dry_run_writes_every_case_into_the_gpu_section(tmp_path):
    """`python -m benchmarks --gpu --dry-run`: the GPU plan's plumbing on the CPU (tiny models)."""
    from benchmarks.__main__ import main
    from benchmarks.gpu import plan

    doc = tmp_path / "PERFORMANCE.md"
    doc.write_text("# Performance\n\n## Import cost\n\nkept\n\n## GPU\n\nold\n\n## Reproduce\n\nkept too\n")
    assert main(["--gpu", "--dry-run", "--out", str(tmp_path / "out"), "--doc", str(doc), "--comfyui-dir", ""]) == 0
    text = doc.read_text()
    assert "## Import cost\n\nkept" in text and "## Reproduce\n\nkept too" in text and "\nold\n" not in text
    assert "not GPU figures" in text
    report = json.loads((tmp_path / "out" / "gpu.json").read_text())
    names = [c.name for c in plan()]
    assert list(report["cases"]) == names and not any("error" in r for r in report["cases"].values())
    for name in names:
        assert f"| {name} |" in text
    assert report["cases"]["policy sequential"]["placement"] == "sequential"
    assert report["cases"]["complete run, auto"]["steps"] == 2


@pytest.mark.skipif(not os.environ.get("COMFYUI_DIR"), reason="COMFYUI_DIR is not set: no ComfyUI to run the native path in")
def test_gpu_plan_dry_run_measures_the_native_path_in_comfyuis_python(tmp_path):
    """The native half of the plan: our sampler on ComfyUI's Wan VACE in COMFYUI_PYTHON (no
    diffusers there), under ComfyUI's default memory mode and --lowvram, beside the diffusers path."""
    from benchmarks.gpu import NATIVE_MODES, render

    doc = tmp_path / "PERFORMANCE.md"
    assert main(["--gpu", "--dry-run", "--out", str(tmp_path / "out"), "--doc", str(doc)]) == 0
    report = json.loads((tmp_path / "out" / "gpu.json").read_text())
    native = report["native"]
    assert list(native) == list(NATIVE_MODES)
    for mode, run in native.items():
        assert "error" not in run, run
        assert run["steps"] == report["size"]["steps"] == 2 and run["frames"] == [1, 5, 32, 32, 3]
        assert 0 < run["sampling_seconds"] <= run["video_seconds"]
        assert f"| {mode} (" in doc.read_text()
    assert "Native path: our sampler" in render(report)


def test_who_places_the_weights_is_in_every_rendering_and_in_the_doc():
    """The section is text, not figures: a full benchmark run must not drop it from the doc."""
    from pathlib import Path

    section = "\n".join(PLACEMENT_SECTION)
    assert section in render_markdown({})
    doc = Path(__file__).resolve().parents[1] / "docs" / "PERFORMANCE.md"
    assert section in doc.read_text(encoding="utf-8")
