"""Importing the runtime's light modules (and the pack itself, as ComfyUI does at start-up) must be
fast and must not pull in heavy libraries: they are imported inside the functions that use them.

Each import runs in a fresh interpreter, so modules imported by earlier tests cannot hide a cost."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "transformers", "diffusers", "numpy", "cv2", "av", "PIL")
MAX_SECONDS = 0.5
LIGHT_MODULES = (
    "unison_runtime",
    "unison_runtime.plan",
    "unison_runtime.request",
    "unison_runtime.media",
    "unison_runtime.models",
    "unison_runtime.projector",
    "unison_runtime.layout",
    "unison_runtime.cli",
)

# Runs in the child: time the import alone (not interpreter start-up) and list heavy modules.
PROBE = """
import importlib, json, sys, time
sys.path[:0] = {paths!r}
start = time.perf_counter()
{import_code}
seconds = time.perf_counter() - start
heavy = sorted(m for m in {heavy!r} if m in sys.modules)
print(json.dumps({{"seconds": seconds, "heavy": heavy, "extra": extra}}))
"""


def probe(import_code: str) -> dict:
    code = PROBE.format(paths=[str(ROOT), str(ROOT.parent)], import_code=import_code, heavy=HEAVY)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def module_exists(name: str) -> bool:
    relative = Path(*name.split("."))
    return (ROOT / relative.with_suffix(".py")).is_file() or (ROOT / relative / "__init__.py").is_file()


def best_of(import_code: str, tries: int = 2) -> dict:
    """The faster of a couple of runs: a busy machine can stall one start, not the code's cost."""
    results = [probe(import_code) for _ in range(tries)]
    return min(results, key=lambda r: r["seconds"])


@pytest.mark.parametrize("name", LIGHT_MODULES)
def test_light_module_imports_fast_without_heavy_libraries(name):
    if not module_exists(name):
        pytest.skip(f"{name} is not written yet")
    result = best_of(f"importlib.import_module({name!r}); extra = None")
    assert result["heavy"] == [], f"importing {name} pulled in {result['heavy']}"
    assert result["seconds"] < MAX_SECONDS, f"importing {name} took {result['seconds']:.2f}s"


PACK_IMPORT = """
import asyncio, importlib.util, os
from pathlib import Path
sys.path.append(os.environ["COMFYUI_DIR"])
import comfy_api.latest  # ComfyUI has imported it (and torch) before it loads a pack
before = set(sys.modules)
start = time.perf_counter()
root = Path({root!r})
spec = importlib.util.spec_from_file_location(
    root.name, root / "__init__.py", submodule_search_locations=[str(root)])
pack = importlib.util.module_from_spec(spec)
sys.modules[root.name] = pack
spec.loader.exec_module(pack)
seconds_pack = time.perf_counter() - start
nodes = asyncio.run(asyncio.run(pack.comfy_entrypoint()).get_node_list())
extra = {{
    "v1_mappings": hasattr(pack, "NODE_CLASS_MAPPINGS"),
    "v3_nodes": len(nodes), "new_heavy": sorted(m for m in {heavy!r} if m in set(sys.modules) - before),
    "seconds_pack": seconds_pack,
}}
"""


@pytest.mark.skipif(not os.environ.get("COMFYUI_DIR"), reason="the V3 nodes need ComfyUI's comfy_api (COMFYUI_DIR)")
def test_pack_imports_as_comfyui_loads_it():
    """ComfyUI imports each custom-node folder as a package by path and asks it for comfy_entrypoint
    (only when it has no NODE_CLASS_MAPPINGS); the pack itself adds no heavy library."""
    code = PACK_IMPORT.format(root=str(ROOT), heavy=HEAVY)
    results = [probe(code) for _ in range(2)]
    result = min(results, key=lambda r: r["extra"]["seconds_pack"])
    assert not result["extra"]["v1_mappings"], "NODE_CLASS_MAPPINGS would make ComfyUI skip comfy_entrypoint"
    assert result["extra"]["v3_nodes"] == 13
    assert result["extra"]["new_heavy"] == [], f"importing the pack pulled in {result['extra']['new_heavy']}"
    assert result["extra"]["seconds_pack"] < MAX_SECONDS, f"importing the pack took {result['extra']['seconds_pack']:.2f}s"


def test_probe_detects_a_heavy_import():
    """The checks above can fail: a heavy import in the child is seen."""
    if importlib.util.find_spec("numpy") is None:
        pytest.skip("numpy is not installed")
    assert "numpy" in probe("import numpy; extra = None")["heavy"]
