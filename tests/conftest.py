"""Shared fixtures. Tiny demo models are built once per test session, family by family, into one
folder that every test reads (building them is the slow part; sharing keeps the suite fast)."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# The runtime and the node adapters import by their absolute names (`unison_runtime`, `nodes`), as
# the pack's __init__ arranges inside ComfyUI. The checkout's parent (ComfyUI's custom_nodes, full
# of other packs) is not put on the path: tests that need the pack itself load it by path, as
# ComfyUI does.
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
if str(ROOT / "tests") not in sys.path:
    sys.path.insert(0, str(ROOT / "tests"))  # tests import `helpers`




def _pack_nodes_script():
    spec = importlib.util.spec_from_file_location("unison_pack_nodes", ROOT / "scripts" / "pack_nodes.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    sys.modules[spec.name] = module
    return module


# The nodes are V3 (`comfy_api.latest`), which only ComfyUI's source has: taken from COMFYUI_DIR.
HAS_COMFY_API = _pack_nodes_script().import_comfy_api()
# Without ComfyUI's source the node adapters cannot be imported: their tests are not collected.
collect_ignore_glob = [] if HAS_COMFY_API else ["nodes/*"]

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

_BUILT: set[str] = set()


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory) -> Path:
    """Folder holding the tiny demo models (the `unison_runtime.layout` tree)."""
    preset = os.environ.get("UNISON_TEST_MODELS")
    if preset:
        return Path(preset)
    return tmp_path_factory.mktemp("demo_models")


def _ensure(models_dir: Path, family: str) -> Path:
    if family not in _BUILT:
        module = importlib.import_module(f"unison_runtime.demo_models.{family}")
        module.build(models_dir, 0)
        _BUILT.add(family)
    return models_dir


@pytest.fixture(scope="session")
def planner_models(models_dir) -> Path:
    return _ensure(models_dir, "planner")


@pytest.fixture(scope="session")
def projector_models(models_dir) -> Path:
    return _ensure(models_dir, "projector")


@pytest.fixture(scope="session")
def generator_models(models_dir) -> Path:
    return _ensure(models_dir, "generator")


@pytest.fixture(scope="session")
def annotator_models(models_dir) -> Path:
    return _ensure(models_dir, "annotators")


@pytest.fixture(scope="session")
def all_models(planner_models, projector_models, generator_models, annotator_models) -> Path:
    return models_dir_of(planner_models)


@pytest.fixture(scope="session")
def sample_media(tmp_path_factory) -> Path:
    """The demo's sample images and videos (`pipeline.samples`), written once per session."""
    from unison_runtime.pipeline.samples import write_sample_media

    folder = tmp_path_factory.mktemp("sample_media")
    write_sample_media(folder)
    return folder


@pytest.fixture
def rules_run_options(all_models, sample_media, tmp_path):
    """RunOptions for quick runs on the tiny models: rules plan, 2 steps, outputs in tmp_path/out."""
    from helpers import run_options

    return run_options(models_dir=all_models, planner="rules", media_roots=(sample_media,),
                       out_dir=tmp_path / "out", steps=2, max_new_tokens=8)


def models_dir_of(path: Path) -> Path:
    return path


@pytest.fixture(autouse=True)
def _fresh_manager():
    """Each test starts with whatever the previous left cached; tests that count loads reset it."""
    yield


@pytest.fixture(autouse=True)
def _no_host_left_behind():
    """A test that installs a host (ComfyUI's generator backend or placement host, with stand-in
    ComfyUI modules) must not leave it to the next test: the runtime's own paths are the default."""
    from unison_runtime import models
    from unison_runtime.generator import backend

    placement, generator = models._placement_host, backend._host
    yield
    models._placement_host, backend._host = placement, generator
