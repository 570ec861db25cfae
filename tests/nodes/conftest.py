"""Fixtures for the node tests: a stand-in `folder_paths` module (ComfyUI's folder registry)
pointing ComfyUI's folder names at the tiny demo models, and input/temp/output folders."""

from __future__ import annotations

import shutil
import sys
import types
from pathlib import Path

import pytest

PACK = Path(__file__).resolve().parents[2]
if str(PACK) not in sys.path:
    sys.path.insert(0, str(PACK))


def make_folder_paths(base: Path, folders: dict[str, list[Path]]) -> types.ModuleType:
    """A module with the parts of ComfyUI's folder_paths API the pack uses."""
    module = types.ModuleType("folder_paths")
    module.models_dir = str(base / "models")
    module.folder_names_and_paths = {name: ([str(p) for p in paths], set()) for name, paths in folders.items()}
    dirs = {"input": base / "input", "temp": base / "temp", "output": base / "output"}
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)

    def get_folder_paths(name):
        return list(module.folder_names_and_paths[name][0])

    def get_filename_list(name):
        out = set()
        for root in get_folder_paths(name):
            root_path = Path(root)
            if root_path.is_dir():
                out.update(p.relative_to(root_path).as_posix() for p in root_path.rglob("*") if p.is_file())
        return sorted(out)

    def get_full_path(name, filename):
        for root in get_folder_paths(name):
            path = Path(root) / filename
            if path.is_file():
                return str(path)
        return None

    module.get_folder_paths = get_folder_paths
    module.get_filename_list = get_filename_list
    module.get_full_path = get_full_path
    module.get_input_directory = lambda: str(dirs["input"])
    module.get_temp_directory = lambda: str(dirs["temp"])
    module.get_output_directory = lambda: str(dirs["output"])
    return module


def tiny_model_folders(models: Path) -> dict[str, list[Path]]:
    comfy = models / "comfyui"
    return {
        "unison_planner": [models / "planner"],
        "unison_projector": [models / "projector"],
        "unison_generator": [models / "generator"],
        "unison_annotators": [models / "annotators"],
        "diffusion_models": [comfy / "diffusion_models"],
        "text_encoders": [comfy / "text_encoders"],
        "vae": [comfy / "vae"],
    }


@pytest.fixture
def comfy_env(tmp_path, monkeypatch):
    """A fake ComfyUI folder registry with no models (for declaration/contract tests)."""
    return _install(tmp_path, tmp_path / "models", monkeypatch)


@pytest.fixture
def comfy_models_env(tmp_path, monkeypatch, all_models):
    """A fake ComfyUI folder registry whose model folders are the tiny demo models."""
    return _install(tmp_path, Path(all_models), monkeypatch)


def _install(base: Path, models: Path, monkeypatch):
    from nodes import comfy_glue

    module = make_folder_paths(base, tiny_model_folders(models))
    monkeypatch.setitem(sys.modules, "folder_paths", module)
    monkeypatch.setattr(comfy_glue, "_REGISTERED", False)
    comfy_glue.install_sample_media()
    return module


@pytest.fixture
def host_backend(monkeypatch):
    """The core Wan loader stand-ins' host backend (core_nodes.py), registered for one test."""
    from core_nodes import stand_in_host_backend
    from unison_runtime.generator import backend

    host = stand_in_host_backend()
    monkeypatch.setattr(backend, "_host", host)
    return host


@pytest.fixture
def no_comfy(monkeypatch):
    """Make sure no folder_paths is importable (the pack outside ComfyUI)."""
    monkeypatch.setitem(sys.modules, "folder_paths", None)
    yield


@pytest.fixture
def sample_media_dir():
    return PACK / "example_workflows" / "input"


def copy_into(src: Path, dest_dir: Path) -> Path:
    dest_dir.mkdir(parents=True, exist_ok=True)
    return Path(shutil.copy(src, dest_dir / src.name))
