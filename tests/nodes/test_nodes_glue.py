"""The pack's edges with ComfyUI: model folders registered directly, UnisonAuto's model discovery,
IS_CHANGED for files named in requests, lazy sample media, Cancel reaching the runtime, the
annotator lists, and the template thumbnails / icon."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
import types
from pathlib import Path

import pytest

from nodes import NODE_CLASS_MAPPINGS, comfy_glue

PACK = Path(__file__).resolve().parents[2]


# -- 1. a model folder registered directly ---------------------------------------------------------
def test_a_folder_registered_directly_is_listed_and_resolved(comfy_env, tmp_path):
    direct = tmp_path / "data" / "Unison-Qwen2.5-VL-3B"
    direct.mkdir(parents=True)
    (direct / "config.json").write_text("{}")
    nested = tmp_path / "models" / "planner" / "Other-Model"
    nested.mkdir(parents=True)
    (nested / "config.json").write_text("{}")
    comfy_env.folder_names_and_paths["unison_planner"][0].insert(0, str(direct))  # as extra_model_paths.yaml
    names = comfy_glue.list_folders("unison_planner", "config.json")
    assert names == ["Other-Model", "Unison-Qwen2.5-VL-3B"]
    for name in names:  # every listed name resolves
        assert (comfy_glue.resolve("unison_planner", name, "planner") / "config.json").is_file()
    assert comfy_glue.resolve("unison_planner", "Unison-Qwen2.5-VL-3B", "planner") == direct.resolve()
    assert comfy_glue.resolve("unison_planner", "Other-Model", "planner") == nested.resolve()


# -- 2. UnisonAuto finds models through ComfyUI's folders -------------------------------------------
def test_auto_default_models_dir_is_comfys_models_unison(comfy_env, tmp_path):
    # extra paths first (as add_model_folder_path puts them): the parent of the first is no models dir
    comfy_env.folder_names_and_paths["unison_planner"][0].insert(0, str(tmp_path / "elsewhere" / "planner"))
    assert comfy_glue.default_models_dir() == Path(comfy_env.models_dir) / "unison"


def test_auto_uses_comfys_single_files_and_registered_folders(comfy_env, all_models, tmp_path):
    """A user with the standard ComfyUI files in diffusion_models / text_encoders / vae, and the
    planner and projector registered in extra_model_paths.yaml, gets a working UnisonAuto."""
    from unison_runtime import layout
    from unison_runtime.sources import find_models

    models = Path(all_models)
    comfy_models = tmp_path / "ComfyUI" / "models"
    for folder, name in ((layout.COMFY_DIFFUSION_MODELS, layout.COMFY_TRANSFORMER_FILE),
                         (layout.COMFY_TEXT_ENCODERS, layout.COMFY_TEXT_ENCODER_FILE), (layout.COMFY_VAE, layout.COMFY_VAE_FILE)):
        (comfy_models / folder).mkdir(parents=True)
        os.symlink(models / layout.COMFYUI_MODELS / folder / name, comfy_models / folder / name)
        comfy_env.folder_names_and_paths[folder] = ([str(comfy_models / folder)], set())
    comfy_env.models_dir = str(comfy_models)
    paths = comfy_env.folder_names_and_paths
    paths["unison_planner"][0].insert(0, str(models / layout.PLANNER_MERGED))  # registered directly
    paths["unison_projector"][0].insert(0, str(models / "projector"))
    paths["unison_generator"] = ([str(tmp_path / "no_generator")], set())

    found = find_models(comfy_glue.default_models_dir(), folder_roots=comfy_glue.folder_roots_map())
    assert found.root == comfy_models / "unison"
    assert found.planner.model_dir == models / layout.PLANNER_MERGED and found.planner.mode == "unison"
    assert found.projector is not None
    assert found.generator.diffusers_dir is None and found.generator.native_dir is None
    assert Path(found.generator.transformer_file).name == layout.COMFY_TRANSFORMER_FILE
    assert Path(found.generator.text_encoder_file).name == layout.COMFY_TEXT_ENCODER_FILE
    assert Path(found.generator.vae_file).name == layout.COMFY_VAE_FILE

    out = NODE_CLASS_MAPPINGS["UnisonAuto"].execute("Generate an image of a red fox.", "", 32, 32, 0, 0, 2, 5.0,
                                                  True, "rules")
    frames, _, text = out.args
    assert tuple(frames.shape) == (1, 32, 32, 3) and "text_to_image" in text


# -- 3. IS_CHANGED -------------------------------------------------------------------------------------
def _touch_later(path: Path) -> None:
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 2_000_000_000))


@pytest.mark.parametrize("node_id", ["UnisonPlanner", "UnisonAuto"])
def test_is_changed_follows_files_named_in_the_request(node_id, comfy_env):
    cls = NODE_CLASS_MAPPINGS[node_id]
    widgets = {"request": "Describe what happens in this video. ###unison_clip.mp4###", "max_new_tokens": 256,
               "plan_by": "auto"}
    if node_id == "UnisonAuto":  # ComfyUI passes the constant (widget) inputs only
        widgets = {"request": widgets["request"], "models_dir": "", "width": 0, "height": 0, "num_frames": 0,
                   "seed": 0, "steps": 50, "cfg": 5.0, "use_projector": True, "plan_by": "auto"}
    clip = Path(comfy_env.get_input_directory()) / "unison_clip.mp4"
    first = cls.fingerprint_inputs(**widgets)
    assert cls.fingerprint_inputs(**widgets) == first  # unchanged file: cached
    clip.write_bytes(clip.read_bytes() + b"\0")
    second = cls.fingerprint_inputs(**widgets)
    assert second != first  # new content, same name: re-run
    _touch_later(clip)
    assert cls.fingerprint_inputs(**widgets) != second  # replaced in place (same size): re-run
    clip.unlink()
    assert cls.fingerprint_inputs(**widgets) not in (first, second)


def test_auto_is_changed_follows_the_models_dir(comfy_env, tmp_path):
    root = Path(comfy_env.models_dir) / "mine"
    (root / "projector").mkdir(parents=True)
    cls = NODE_CLASS_MAPPINGS["UnisonAuto"]
    before = cls.fingerprint_inputs(request="a fox", models_dir=str(root))
    (root / "projector" / "projector.pth").write_bytes(b"x")
    after = cls.fingerprint_inputs(request="a fox", models_dir=str(root))
    assert after != before
    assert cls.fingerprint_inputs(request="a fox", models_dir=str(root)) == after
    assert cls.fingerprint_inputs(request="a fox", models_dir="mine") == after  # a name under ComfyUI's models folder
    (Path(comfy_env.models_dir) / "other").mkdir()
    assert cls.fingerprint_inputs(request="a fox", models_dir="other") != after


# -- 3b. models_dir stays inside ComfyUI's model folders ---------------------------------------------
@pytest.mark.parametrize("typed", ["/", "/proc", "/etc", "../../..", "unison/../../..", "~"])
def test_a_models_dir_outside_comfyuis_model_folders_is_refused_in_one_line(comfy_env, typed):
    from unison_runtime.errors import ModelLoadError

    Path(comfy_env.models_dir).mkdir(parents=True, exist_ok=True)
    with pytest.raises(ModelLoadError) as err:
        comfy_glue.models_location(typed)
    message = str(err.value)
    assert message.startswith(f"models_dir {typed!r} is outside ComfyUI's model folders") and "\n" not in message
    assert comfy_env.models_dir in message and "extra_model_paths.yaml" in message  # what is allowed
    assert "Errno" not in message


def test_a_models_dir_in_a_registered_folder_is_taken(comfy_env, tmp_path):
    extra = tmp_path / "data" / "unison_tree"  # as extra_model_paths.yaml registers a unison tree
    (extra / "planner").mkdir(parents=True)
    comfy_env.folder_names_and_paths["unison_planner"][0].append(str(extra / "planner"))
    assert comfy_glue.models_location(str(extra))[0] == extra
    assert str(extra) in str(comfy_glue.allowed_model_roots())
    (Path(comfy_env.models_dir) / "unison_alt").mkdir(parents=True)
    assert comfy_glue.models_location("unison_alt")[0] == Path(comfy_env.models_dir) / "unison_alt"
    assert comfy_glue.models_location(" unison_alt ")[0] == Path(comfy_env.models_dir) / "unison_alt"


def test_a_models_dir_that_cannot_be_read_is_one_line_not_an_oserror(comfy_env, monkeypatch):
    from unison_runtime.errors import ModelLoadError

    models = Path(comfy_env.models_dir)
    models.mkdir(parents=True, exist_ok=True)
    (models / "a_file").write_text("x")
    cases = {"missing": "there is no such folder", "a_file": "is a file, not a folder"}
    for typed, words in cases.items():
        with pytest.raises(ModelLoadError, match=words):
            comfy_glue.models_location(typed)
    (models / "locked").mkdir()
    real_scandir = os.scandir

    def denied(path):
        if Path(path).name == "locked":  # what a folder without read permission gives (root reads anything)
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", denied)
    with pytest.raises(ModelLoadError) as err:
        comfy_glue.models_location("locked")
    assert str(err.value) == f"models_dir 'locked' cannot be read: permission denied ({models / 'locked'})"


def test_outside_comfyui_the_callers_path_is_used(no_comfy, tmp_path):
    assert comfy_glue.models_location(str(tmp_path))[0] == tmp_path


# -- 4. sample media: at start-up, else at the first run, once per process -------------------------------------------------------
def test_importing_the_pack_writes_nothing_and_the_first_run_copies_once(tmp_path):
    """In a fresh process with a folder_paths: neither import nor listing the nodes writes a file
    (prestartup_script.py copies the samples before ComfyUI starts); the first run copies them where
    it did not, once: a deleted sample stays deleted through later runs."""
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "folder_paths.py").write_text(
        "import os\n"
        f"models_dir = {str(tmp_path / 'models')!r}\n"
        "folder_names_and_paths = {}\n"
        f"def get_input_directory(): return {str(tmp_path / 'input')!r}\n"
        f"def get_temp_directory(): return {str(tmp_path / 'temp')!r}\n"
        "def get_folder_paths(name): return list(folder_names_and_paths[name][0])\n"
        "def get_filename_list(name): return []\n"
        "def get_full_path(name, f): return None\n")
    code = (
        "import sys, os, importlib.util as u; sys.path.insert(0, sys.argv[1]); inp = sys.argv[3];"
        "sys.path.append(sys.argv[5]);"  # ComfyUI's source, for comfy_api (the fake folder_paths wins)
        "s = u.spec_from_file_location(sys.argv[4], sys.argv[2] + '/__init__.py', submodule_search_locations=[sys.argv[2]]);"
        "m = u.module_from_spec(s); sys.modules[s.name] = m; s.loader.exec_module(m);"  # by path, as ComfyUI does
        "nodes = sys.modules[sys.argv[4] + '.nodes']; listing = lambda: sorted(os.listdir(inp)) if os.path.isdir(inp) else [];"
        "print('after import', listing());"
        "[cls.INPUT_TYPES() for cls in nodes.NODE_LIST];"
        "print('after INPUT_TYPES', listing());"
        "nodes.comfy_glue.on_first_run(); print('after a run', len(listing()));"
        "os.remove(os.path.join(inp, 'unison_bowl.png')); nodes.comfy_glue.on_first_run();"
        "print('bowl back', os.path.exists(os.path.join(inp, 'unison_bowl.png')))"
    )
    result = subprocess.run([sys.executable, "-c", code, str(fake), str(PACK), str(tmp_path / "input"), PACK.name,
                             os.environ["COMFYUI_DIR"]], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    count = len(list((PACK / "example_workflows" / "input").iterdir()))
    assert lines == ["after import []", "after INPUT_TYPES []", f"after a run {count}", "bowl back False"]


# -- 7. annotator lists -------------------------------------------------------------------------------
def test_annotator_lists_match_what_the_runtime_accepts(comfy_env, tmp_path):
    root = tmp_path / "models" / "annotators"
    for folder in ("grounding-dino", "sam2"):
        (root / folder).mkdir(parents=True)
        (root / folder / "config.json").write_text("{}")
        (root / folder / "model.safetensors").write_bytes(b"")
    (root / "u2net").mkdir()
    (root / "u2net" / "u2net.pt").write_bytes(b"")
    (root / "sam2_hiera_tiny.pt").write_bytes(b"")  # an original SAM2 checkpoint: not accepted
    (root / "other.pth").write_bytes(b"")
    from executor import v1_spec

    required = {name: v1_spec(spec) for name, spec in
                NODE_CLASS_MAPPINGS["UnisonAnnotatorLoader"].INPUT_TYPES()["required"].items()}
    assert required["u2net"][0] == ["none", "u2net/u2net.pt"]
    assert required["sam2"][0] == ["none", "grounding-dino", "sam2"]
    assert "file" not in required["sam2"][1]["tooltip"] and "folder" in required["sam2"][1]["tooltip"]


# -- 8/11. Cancel and latent previews reach the runtime ------------------------------------------------
class Interrupted(Exception):
    pass


@pytest.fixture
def fake_interrupt(monkeypatch):
    state = {"interrupted": False}
    fake = types.ModuleType("comfy.model_management")

    def throw():
        if state["interrupted"]:
            raise Interrupted("cancelled")

    fake.throw_exception_if_processing_interrupted = throw
    monkeypatch.setitem(sys.modules, "comfy.model_management", fake)
    return state


def _sample_with(monkeypatch, generate_frames):
    from unison_runtime.pipeline import stages
    from unison_runtime.router import Overrides

    monkeypatch.setattr("unison_runtime.pipeline.stage_two.generate_frames", generate_frames)
    planned = stages.plan_request(stages.read_request("a red cube"), None, "rules")
    planned = stages.prepare_request(stages.route_request(planned, Overrides(width=32, height=32)))
    from unison_runtime.generator.loading import GeneratorModels

    models = GeneratorModels(transformer=None, vae=None, text_encoder=None, tokenizer=None, scheduler_config={})
    generator = types.SimpleNamespace(load=lambda: models)  # the diffusers backend's, with its sampling patched
    return NODE_CLASS_MAPPINGS["UnisonVACESampler"].execute(planned, 0, 2, 5.0, 5.0, 1.0, "", generator=generator)


def test_sampler_passes_comfys_interrupt_and_raw_latents(monkeypatch, fake_interrupt):
    import torch

    latents = torch.zeros(1, 16, 2, 4, 4)
    seen = {}
    monkeypatch.setattr(comfy_glue, "latent_previewer", lambda: (lambda x: seen.setdefault("preview", x)))

    def generate_frames(models, stage, prompt, tokens, settings, callback=None, check_cancel=None):
        seen["check_cancel"] = check_cancel
        callback(1, 2, latents)
        check_cancel()
        fake_interrupt["interrupted"] = True
        check_cancel()  # the runtime stops here (before decoding)
        return torch.zeros(3, 1, 8, 8)

    with pytest.raises(Interrupted):
        _sample_with(monkeypatch, generate_frames)
    assert seen["preview"] is latents  # generated frames' latents straight to the previewer, no slicing


def test_planner_answer_gets_the_interrupt_check(comfy_env, fake_interrupt):
    calls = {}

    class Model:
        mode = "unison"

        def answer(self, request, max_new_tokens=256, temperature=0.0, seed=0, check_cancel=None):
            calls["check_cancel"] = check_cancel
            fake_interrupt["interrupted"] = True
            check_cancel()
            return "never"

    source = types.SimpleNamespace(load=lambda: Model())
    with pytest.raises(Interrupted):
        NODE_CLASS_MAPPINGS["UnisonPlanner"].execute("What is the capital of France?", 8, "rules", planner=source)
    assert calls["check_cancel"] is comfy_glue.check_interrupted


def test_projector_checks_the_interrupt_around_hidden_states(fake_interrupt):
    from unison_runtime.pipeline import stages

    calls = []

    class Model:  # today's QwenPlanner.hidden_states: no check_cancel argument
        mode = "unison"

        def hidden_states(self, request):
            calls.append(request)
            raise AssertionError("a cancelled prompt must not encode")

    planned = stages.plan_request(stages.read_request("a red cube"), None, "rules")
    projector = types.SimpleNamespace(load=lambda **_: None)
    fake_interrupt["interrupted"] = True
    with pytest.raises(Interrupted):
        NODE_CLASS_MAPPINGS["UnisonProjector"].execute(types.SimpleNamespace(load=lambda: Model()), projector,
                                                         planned, True)
    assert calls == []
