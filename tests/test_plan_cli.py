"""`python -m unison_runtime plan`: the rules path end to end in a subprocess."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from unison_runtime.errors import UnisonError
from unison_runtime.planner import cli as plan_cli

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "unison_runtime", "plan", *args],
                          cwd=cwd or ROOT, env=env, capture_output=True, text=True, timeout=60)


@pytest.fixture()
def media_root(tmp_path):
    folder = tmp_path / "media"
    folder.mkdir()
    for name in ("cat.png", "clip.mp4", "mask.png"):
        (folder / name).write_bytes(b"tiny")
    return folder


def test_prints_the_plan_as_json(media_root):
    result = run_cli("Make a 3 seconds video ending with ###cat.png###, 720P", "--media-root", str(media_root))
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["task"] == "image_to_video"
    assert (plan["width"], plan["height"], plan["num_frames"], plan["frame_ref"]) == (1280, 720, 73, "last")
    assert plan["raw"] == "<BORES>1280,720<EORES><BONF>72<EONF><BOFIDX>1<EOFIDX><CFV>"
    assert set(plan) == {"task", "width", "height", "num_frames", "frame_ref", "mask_index",
                         "source_index", "reference", "control", "raw", "warnings"}


def test_media_root_defaults_to_the_current_folder(media_root):
    result = run_cli("Remove the car from ###clip.mp4### inside ###mask.png###", cwd=media_root)
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert (plan["task"], plan["mask_index"], plan["source_index"]) == ("video_edit", 1, 0)


def test_an_understanding_request_under_rules_has_no_answer(media_root):
    result = run_cli("What is in ###cat.png###?", "--media-root", str(media_root))
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["task"] == "image_understanding" and "answer" not in plan


def test_a_path_outside_the_roots_is_refused(media_root, tmp_path):
    (tmp_path / "secret.png").write_bytes(b"x")
    result = run_cli("Animate ###../secret.png###", "--media-root", str(media_root))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("error: ") and "outside the allowed folders" in result.stderr
    assert str(media_root) in result.stderr and "Traceback" not in result.stderr


def test_several_media_roots_are_searched(media_root, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    (other / "face.png").write_bytes(b"x")
    result = run_cli("Create an image of this person ###face.png###",
                     "--media-root", str(media_root), "--media-root", str(other))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["task"] == "image_reference"


def test_a_model_planner_needs_a_model_folder(media_root):
    result = run_cli("A red fox", "--planner", "unison", "--media-root", str(media_root))
    assert result.returncode == 2
    assert "--model" in result.stderr


def test_unknown_planner_is_an_argparse_error():
    result = run_cli("A red fox", "--planner", "magic")
    assert result.returncode == 2 and "invalid choice" in result.stderr


def _args(**overrides) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    plan_cli.add_arguments(parser)
    args = parser.parse_args(["A question?"])
    for key, value in overrides.items():
        setattr(args, key, value)
    return args


def test_model_planners_are_loaded_lazily_and_answer_understanding(monkeypatch, tmp_path, capsys):
    """The unison/instruct path calls planner.load_planner and adds the answer."""
    import unison_runtime.planner as planner_package

    from unison_runtime.plan import Plan

    calls = {}

    class FakePlanner:
        mode = "unison"

        def plan(self, request):
            return Plan.understanding(request.media_kinds)

        def answer(self, request, **_):
            return "forty-two"

    def fake_load(model_dir, adapter_dir=None, mode="unison", **_):
        calls.update(model_dir=model_dir, adapter_dir=adapter_dir, mode=mode)
        return FakePlanner()

    monkeypatch.setattr(planner_package, "load_planner", fake_load)
    args = _args(planner="instruct", model=tmp_path / "qwen", adapter=tmp_path / "lora", media_roots=[tmp_path])
    assert plan_cli.run(args) == 0
    output = json.loads(capsys.readouterr().out)
    assert output["task"] == "text_understanding" and output["answer"] == "forty-two"
    assert calls == {"model_dir": tmp_path / "qwen", "adapter_dir": tmp_path / "lora", "mode": "instruct"}


def test_run_raises_unison_errors_for_the_cli_to_print(tmp_path):
    with pytest.raises(UnisonError, match="needs --model"):
        plan_cli.run(_args(planner="unison", model=None, media_roots=[tmp_path]))
