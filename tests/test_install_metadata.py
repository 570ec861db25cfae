"""How the pack installs: one static dependency list that ComfyUI's registry can read, and a test
suite that runs from a checkout named like the repository (not a Python identifier), inside
ComfyUI's custom_nodes/ or anywhere."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def requirement_lines() -> list[str]:
    lines = (ROOT / "requirements.txt").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_requirements_and_pyproject_list_the_same_dependencies():
    project = pyproject()["project"]
    assert "dependencies" not in project.get("dynamic", []), "the registry reads only a static list"
    assert project["dependencies"] == requirement_lines()


def test_no_dependency_reinstalls_torch_and_each_has_a_lower_bound():
    for line in requirement_lines():
        name = re.split(r"[<>=!~;\[ ]", line, maxsplit=1)[0].lower()
        assert name not in {"torch", "torchvision", "torchaudio"}, f"{line}: ComfyUI provides it"
        assert ">=" in line, f"{line} has no lower bound"


def test_the_registry_metadata_names_the_comfyui_it_needs():
    comfy = pyproject()["tool"]["comfy"]
    assert re.fullmatch(r">=\s*\d+\.\d+\.\d+", comfy["requires-comfyui"])


@pytest.mark.parametrize("parent", ["elsewhere", "ComfyUI/custom_nodes"])
def test_the_suite_runs_from_a_checkout_named_like_the_repository(tmp_path, parent):
    """The checkout's own __init__.py (the pack) must not be imported as a test package: its folder
    name has a hyphen. One test from tests/ and one from tests/nodes, run in a copy."""
    checkout = tmp_path / parent / "ComfyUI-Unison"
    shutil.copytree(ROOT, checkout, ignore=shutil.ignore_patterns(
        ".git", ".venv", "__pycache__", ".pytest_cache", "*.egg-info", "demo_out"))
    tests = ["tests/test_request.py::test_a_request_without_media_needs_no_roots"]
    if os.environ.get("COMFYUI_DIR"):  # the node tests need ComfyUI's comfy_api (tests/conftest.py)
        tests.append("tests/nodes/test_nodes_contracts.py::test_nodes_declare_without_comfyuis_folders")
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests],
                          cwd=checkout, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert f"{len(tests)} passed" in done.stdout


def _names(lines) -> set[str]:
    return {re.split(r"[<>=!~;\[ ]", line, maxsplit=1)[0].lower() for line in lines}


def test_a_comfyui_install_gets_no_diffusers_and_the_cli_extra_does():
    """Inside ComfyUI the pack generates on ComfyUI's own Wan VACE: the dependency list ComfyUI-Manager
    and the registry install carries no diffusers (it would move huggingface-hub and transformers under
    every other pack); the standalone CLI, its demo and the tests get it through the `cli` extra."""
    extras = pyproject()["project"]["optional-dependencies"]
    assert "diffusers" not in _names(requirement_lines())
    assert "diffusers" in _names(extras["cli"])
    assert "comfyui-unison[cli]" in extras["test"], "the tests run the CLI's generator too"
    readme = (ROOT / "README.md").read_text()
    assert 'pip install -e ".[cli]" && python -m unison_runtime demo' in readme
