"""Fault injection on the tiny models (CPU): kill -9 at random points, a full disk during a save,
eight runs publishing into one folder at once, and model files changing under the cache.

Every fault ends with the same check: each file under a final name is complete (it decodes), every
file a writer reported as published is still there, and nothing that existed before was replaced.
Counts go to UNISON_RELIABILITY_COUNTS when set (docs/RELIABILITY.md)."""

from __future__ import annotations

import errno
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from _reliability_counts import count, counted_module  # noqa: F401  (autouse: writes the counts)
from unison_runtime import media
from unison_runtime.errors import ModelLoadError, OutputError
from unison_runtime.models import get_manager
from helpers import overrides as as_overrides
from helpers import with_option
from unison_runtime.pipeline import run as run_pipeline


def run(text, values, options):
    """`pipeline.run` with the overrides written as a dict."""
    return run_pipeline(text, as_overrides(values), options)

ROOT = Path(__file__).resolve().parents[1]
TINY = {"width": 32, "height": 32}
SENTINEL = "-- end of answer --"
SEED = int.from_bytes(os.urandom(4), "little")  # random kill points; a failure names the seed
RNG = random.Random(SEED)


@pytest.fixture
def options(rules_run_options):
    return rules_run_options


def check_folder(folder: Path, published: list[str] = ()) -> int:
    """Every final-named file in `folder` is complete and every published name is there; returns
    how many files were checked. Hidden names are temp files, never final ones."""
    finals = sorted(p for p in folder.iterdir() if not p.name.startswith("."))
    lost = [name for name in published if not (folder / name).is_file()]
    count("files_lost", len(lost))
    assert not lost, f"published but gone: {lost} (seed {SEED})"
    for path in finals:
        count("files_checked")
        if path.suffix == ".png":
            with Image.open(path) as image:
                image.load()  # raises on a truncated file
        elif path.suffix == ".mp4":
            assert media.load_video(path).shape[0] >= 1
        elif path.suffix == ".json":
            json.loads(path.read_text())
        elif path.suffix == ".txt":
            assert path.read_text().rstrip("\n").endswith(SENTINEL), f"{path} (seed {SEED})"
    return len(finals)


# -- kill -9 ---------------------------------------------------------------------------------------
# A run's save step (`pipeline.run.save_outputs` and `write_result_json`) on big outputs, as fast
# as it can, printing each final name once it is published.
STORM = """
import sys, numpy as np
sys.path[:0] = [{root!r}]
from pathlib import Path
from types import SimpleNamespace as NS
from unison_runtime.pipeline.run import save_outputs, write_result_json
out = Path({out!r})
rng = np.random.default_rng()
video = NS(is_video=True)
print("ready", flush=True)
while True:
    noise = rng.integers(0, 255, (2, 256, 256, 3), dtype=np.uint8)
    results = [NS(answer="x" * 30_000_000 + {sentinel!r}, route=NS(plan=video), frames=None),
               NS(answer=None, route=NS(plan=NS(is_video=False)), frames=noise[:1]),
               NS(answer=None, route=NS(plan=video), frames=noise[:, :64, :64])]
    for result in results:
        print(save_outputs(result, out)[0].name, flush=True)
        result.to_dict = lambda: {{"log": ["y" * 100] * 100_000}}
        print(write_result_json(result, out).name, flush=True)
"""


def test_kill_9_while_saving_never_leaves_a_half_written_file(tmp_path):
    out = tmp_path / "storm"
    out.mkdir()
    published: list[str] = []
    for _ in range(5):
        code = STORM.format(root=str(ROOT), out=str(out), sentinel=SENTINEL)
        proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(RNG.uniform(0.05, 1.0))
        proc.send_signal(signal.SIGKILL)
        count("faults_injected")
        names, _ = proc.communicate()
        published += [line.strip() for line in names.splitlines() if line.strip()]
        check_folder(out, published)
    assert len(published) >= 3, "the writer never got to publish: kill points too early"


def test_kill_9_of_a_cli_run_at_random_points(all_models, tmp_path):
    """One run killed at a random moment of its start-up or loading, one just after it published
    its image (while it writes result.json); the folder holds only complete files either way."""
    out = tmp_path / "cli"
    args = [sys.executable, "-m", "unison_runtime", "run", "Generate an image of a lighthouse", "--out", str(out),
            "--models", str(all_models), "--planner", "rules", "--steps", "2", "--width", "32", "--height", "32"]
    for after_image in (False, True):
        proc = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if after_image:
            deadline = time.monotonic() + 240
            while not (out / "output.png").exists() and proc.poll() is None and time.monotonic() < deadline:
                time.sleep(0.005)
            time.sleep(RNG.uniform(0.0, 0.02))
        else:
            time.sleep(RNG.uniform(0.2, 3.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        count("faults_injected")
        if out.exists():
            check_folder(out)
    assert (out / "output.png").is_file()


# -- a full disk -----------------------------------------------------------------------------------
def _disk_full(self, fp, *args, **kwargs):
    """Image.save as on a full disk: part of the file is written, then ENOSPC."""
    Path(fp).write_bytes(b"\x89PNG partial")
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_full_disk_during_a_save_keeps_earlier_outputs_and_says_so(options, monkeypatch):
    first = run("Generate an image of a cat", TINY, options)
    out = options.output.out_dir
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert sorted(before) == ["output.png", "result.json"]
    monkeypatch.setattr(Image.Image, "save", _disk_full)
    count("faults_injected")
    with pytest.raises(OutputError) as caught:
        run("Generate an image of a dog", TINY, options)
    message = str(caught.value)
    assert "No space left on device" in message and "earlier outputs are intact" in message
    assert "output.png" in message and "\n" not in message
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # nothing replaced, no temp left
    assert first.files == [out / "output.png"]
    check_folder(out)


def test_a_full_disk_while_writing_result_json(options, monkeypatch):
    run("Generate an image of a cat", TINY, options)
    real_write_text = Path.write_text

    def full(self, data, *args, **kwargs):
        if self.name.startswith(".result"):
            real_write_text(self, data[: len(data) // 2], *args, **kwargs)
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write_text(self, data, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", full)
    count("faults_injected")
    with pytest.raises(OutputError, match="result.json.*No space left"):
        run("Generate an image of a dog", TINY, options)
    names = sorted(p.name for p in options.output.out_dir.iterdir())
    assert names == ["output.png", "output_1.png", "result.json"]  # the new image was kept
    check_folder(options.output.out_dir)


# -- eight runs, one folder ----------------------------------------------------------------------
def test_eight_concurrent_runs_into_one_folder_all_keep_their_outputs(options):
    barrier = threading.Barrier(8)
    results, errors = [None] * 8, []

    def one(i: int) -> None:
        mine = with_option(options, seed=i, progress=None)
        try:
            barrier.wait()
            results[i] = run("Generate an image of a cat", TINY, mine)
        except BaseException as err:  # reported below
            errors.append(err)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert not errors, errors
    count("faults_injected", 8)
    files = [r.files[0] for r in results]
    assert len(set(files)) == 8
    for i, result in enumerate(results):  # each file holds its own run's pixels
        assert np.array_equal(np.asarray(media.load_image(result.files[0])), result.frames[0]), i
    assert check_folder(options.output.out_dir, [f.name for f in files]) == 16  # 8 images + 8 result.json


# One run's save step (`pipeline.run.save_outputs`), five times, starting at the same instant as
# seven other processes; prints each published name and the grey level it holds.
PUBLISHER = """
import sys, time
sys.path[:0] = [{root!r}]
from pathlib import Path
from types import SimpleNamespace
import numpy as np
from unison_runtime.pipeline.run import save_outputs
start = {start!r}
while time.time() < start:
    pass
for n in range(5):
    level = {i} * 5 + n
    result = SimpleNamespace(answer=None, route=SimpleNamespace(plan=SimpleNamespace(is_video=False)),
                             frames=np.full((1, 16, 16, 3), level, np.uint8))
    print(save_outputs(result, Path({out!r}))[0].name, level, flush=True)
"""


def test_eight_processes_saving_at_the_same_instant_all_keep_their_outputs(tmp_path):
    start = time.time() + 2.0  # all eight spin until the same instant
    procs = [subprocess.Popen([sys.executable, "-c", PUBLISHER.format(root=str(ROOT), out=str(tmp_path), i=i,
                                                                     start=start)],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(8)]
    published: dict[str, int] = {}
    for proc in procs:
        lines, errors = proc.communicate(timeout=120)
        assert proc.returncode == 0, errors[-2000:]
        published.update((name, int(level)) for name, level in (line.split() for line in lines.splitlines()))
    count("faults_injected", 8)
    assert len(published) == 40  # 40 saves, 40 distinct names
    assert check_folder(tmp_path, list(published)) == 40
    for name, level in published.items():  # each file holds what its run saved
        assert np.asarray(media.load_image(tmp_path / name))[0, 0, 0] == level, name


# -- the cache and files that change on disk ---------------------------------------------------------
def test_a_cached_planner_whose_files_change_is_reloaded(planner_models, tmp_path):
    import shutil

    from unison_runtime.layout import PLANNER_MERGED
    from unison_runtime.planner import load_planner

    folder = tmp_path / "planner"
    shutil.copytree(planner_models / PLANNER_MERGED, folder)
    manager = get_manager()
    first = load_planner(folder, device="cpu")
    loads = manager.load_count("planner")
    assert load_planner(folder, device="cpu").loaded is first.loaded  # unchanged: the cached copy
    config = folder / "config.json"
    config.write_text(config.read_text() + "\n")  # an edit on disk (new size and mtime)
    count("faults_injected")
    second = load_planner(folder, device="cpu")
    assert second.loaded is not first.loaded and manager.load_count("planner") == loads + 1
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:1000])  # corrupted under the cache
    count("faults_injected")
    with pytest.raises(ModelLoadError, match="model.safetensors"):
        load_planner(folder, device="cpu")  # refused, not the stale copy handed out


def test_a_cached_generator_whose_files_change_is_reloaded(generator_models, tmp_path):
    import shutil

    from unison_runtime.generator.loading import load_generator
    from unison_runtime.layout import GENERATOR_DIFFUSERS

    folder = tmp_path / "generator"
    shutil.copytree(generator_models / GENERATOR_DIFFUSERS, folder)
    first = load_generator(folder, device="cpu")
    assert load_generator(folder, device="cpu") is first
    weights = next((folder / "vae").glob("*.safetensors"))
    os.utime(weights, ns=(time.time_ns(), time.time_ns() + 10**9))  # replaced by a newer copy
    count("faults_injected")
    assert load_generator(folder, device="cpu") is not first
