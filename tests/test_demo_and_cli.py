"""The README's main job (`demo`) and the `run` / `make-demo-models` commands."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


from unison_runtime.pipeline.demo import DEMO_REQUESTS, run_demo
from unison_runtime.facts import TASKS

ROOT = Path(__file__).resolve().parents[1]


def test_demo_runs_all_twelve_tasks(all_models, tmp_path):
    report = run_demo(tmp_path / "demo", models=all_models, progress=False)
    tasks = [t["task"] for t in report["tasks"]]
    assert sorted(tasks) == sorted(TASKS)
    assert [t["expected_task"] for t in report["tasks"]] == tasks  # the rules planner got each right
    for entry in report["tasks"]:
        assert entry["seconds"] and entry["peak_rss_mb"] > 0
        files = [Path(f) for f in entry["files"]]
        assert files and all(f.exists() and f.stat().st_size > 0 for f in files)
        suffix = files[0].suffix
        expected = ".txt" if entry["task"].endswith("understanding") else (
            ".mp4" if entry["output"] == "video" else ".png")
        assert suffix == expected, entry["task"]
    saved = json.loads((tmp_path / "demo" / "report.json").read_text())
    assert len(saved["tasks"]) == len(DEMO_REQUESTS) == 12


def _cli(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "unison_runtime", *args], capture_output=True, text=True,
                          cwd=cwd or ROOT, timeout=300)


def test_cli_help_lists_every_command():
    out = _cli("--help")
    assert out.returncode == 0
    for name in ("make-demo-models", "plan", "run", "demo"):
        assert name in out.stdout


def test_cli_run_writes_output_and_result_json(all_models, tmp_path):
    out = _cli("run", "Generate an image of a lighthouse", "--models", str(all_models), "--out",
               str(tmp_path / "o"), "--planner", "rules", "--steps", "2", "--width", "32", "--height", "32")
    assert out.returncode == 0, out.stderr
    result = json.loads((tmp_path / "o" / "result.json").read_text())
    assert result["task"] == "text_to_image" and result["route"]["width"] == 32
    assert (tmp_path / "o" / "output.png").is_file()


def test_cli_run_refuses_bad_input_with_a_message(all_models, tmp_path):
    out = _cli("run", "Generate an image", "--models", str(all_models), "--out", str(tmp_path / "o"),
               "--width", "5000", "--planner", "rules")
    assert out.returncode == 2
    assert "width" in out.stderr and "Traceback" not in out.stderr
