"""Contract tests for every node: valid V3 declarations, a frozen schema (saved workflows must keep
loading), cheap import, clear errors, and the ComfyUI hooks (blocker, unload, sample media)."""

from __future__ import annotations

import inspect
import json
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from executor import call_node, v1_spec
from nodes import NODE_CLASS_MAPPINGS, comfy_glue, display_names

PACK = Path(__file__).resolve().parents[2]
SCHEMA_FILE = Path(__file__).with_name("node_schema.json")
RELEASE1_SCHEMA_FILE = Path(__file__).with_name("node_schema_release1.json")  # never regenerate
UPDATE_ENV = "UNISON_UPDATE_NODE_SCHEMA"
WIDGET_TYPES = ("INT", "FLOAT", "STRING", "BOOLEAN")
KNOWN_TYPES = {"IMAGE", "MASK", "STRING", "INT", "FLOAT", "BOOLEAN", "UNISON_PLANNER", "UNISON_GENERATOR",
               "UNISON_PROJECTOR", "UNISON_ANNOTATORS", "UNISON_PLAN", "UNISON_CONDITIONING",
               "CONDITIONING", "LATENT", "MODEL", "VAE", "CLIP", "VIDEO", "SAMPLER", "SIGMAS"}
EXPECTED_NODES = {
    "UnisonPlannerLoader", "UnisonGeneratorLoader", "UnisonProjectorLoader", "UnisonAnnotatorLoader",
    "UnisonPlanner", "UnisonTaskRouter", "UnisonProjector", "UnisonAnnotator", "UnisonVACESampler", "UnisonAuto",
    "UnisonNativeConditioning", "UnisonWanUniPC", "UnisonWanSigmas",
}


def all_nodes():
    return sorted(NODE_CLASS_MAPPINGS.items())


def test_every_expected_node_is_registered_with_a_display_name(comfy_env):
    names = display_names()
    assert set(NODE_CLASS_MAPPINGS) == EXPECTED_NODES == set(names)
    assert all(names[n].startswith("Unison") for n in EXPECTED_NODES)


def test_the_pack_registers_its_nodes_through_the_v3_entrypoint(comfy_env):
    """ComfyUI asks a pack for comfy_entrypoint only when it has no NODE_CLASS_MAPPINGS (nodes.py)."""
    import asyncio
    import importlib.util

    from comfy_api.latest import ComfyExtension

    spec = importlib.util.spec_from_file_location("unison_pack_entry", PACK / "__init__.py",
                                                  submodule_search_locations=[str(PACK)])
    pack = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = pack
    try:
        spec.loader.exec_module(pack)
        assert not hasattr(pack, "NODE_CLASS_MAPPINGS") and pack.WEB_DIRECTORY == "./web"
        extension = asyncio.run(pack.comfy_entrypoint())
        assert isinstance(extension, ComfyExtension)
        listed = asyncio.run(extension.get_node_list())
        assert {cls.GET_SCHEMA().node_id for cls in listed} == EXPECTED_NODES
    finally:
        for name in [m for m in sys.modules if m == spec.name or m.startswith(spec.name + ".")]:
            del sys.modules[name]


@pytest.mark.parametrize("node_id,cls", all_nodes())
def test_v3_declaration_is_valid(node_id, cls, comfy_env):
    from comfy_api.latest import io

    assert issubclass(cls, io.ComfyNode)
    schema = cls.GET_SCHEMA()
    assert schema.node_id == node_id == cls.__name__
    assert schema.category.startswith("Unison")
    assert isinstance(schema.description, str) and len(schema.description) > 40
    assert all(t in KNOWN_TYPES for t in cls.RETURN_TYPES)
    assert all(o.display_name and o.tooltip for o in schema.outputs)
    params = inspect.signature(cls.execute).parameters
    assert list(params) == [i.id for i in schema.inputs], "execute's parameters must be the inputs, in order"
    for spec in schema.inputs:
        if spec.optional:
            assert params[spec.id].default is None, f"optional {spec.id} needs the default None"
        else:  # ComfyUI always passes required inputs: a default here would only hide a missing one.
            assert params[spec.id].default is inspect.Parameter.empty, f"required {spec.id} must have no default"
    declared = cls.INPUT_TYPES()  # ComfyUI's V1 view of the schema (what /object_info serves)
    assert set(declared) <= {"required", "optional", "hidden"}
    for section in ("required", "optional"):
        for name, spec in declared.get(section, {}).items():
            kind, options = v1_spec(spec)
            assert options.get("tooltip"), f"{node_id}.{name} has no tooltip"
            if isinstance(kind, list):
                assert kind and all(isinstance(v, str) for v in kind)
                if "default" in options:
                    assert options["default"] in kind
            elif kind in ("INT", "FLOAT"):
                assert "default" in options
                assert options.get("min", -float("inf")) <= options["default"] <= options.get("max", float("inf"))
                if kind == "INT":
                    assert isinstance(options["default"], int)
            elif kind == "STRING":
                assert isinstance(options.get("default", ""), str)
            elif kind == "BOOLEAN":
                assert isinstance(options["default"], bool)
            else:
                assert kind in KNOWN_TYPES, f"{node_id}.{name}: unknown type {kind}"


# Combo inputs whose choices are the user's model files: their type and position are frozen, their
# list is not (it is whatever the model folders hold). test_dynamic_choices_are_exactly_these checks
# that no other input's choices move with the model folders.
DYNAMIC_CHOICES = {
    ("UnisonPlannerLoader", "model"), ("UnisonPlannerLoader", "adapter"),
    ("UnisonGeneratorLoader", "diffusers_folder"), ("UnisonGeneratorLoader", "transformer"),
    ("UnisonGeneratorLoader", "text_encoder"), ("UnisonGeneratorLoader", "vae"),
    ("UnisonProjectorLoader", "projector"),
    ("UnisonAnnotatorLoader", "grounding_dino"), ("UnisonAnnotatorLoader", "sam2"), ("UnisonAnnotatorLoader", "u2net"),
}


def schema() -> dict:
    """Node IDs, inputs in declaration order (the UI format stores widget values by position, and
    `control_after_generate` adds one value right after its INT), their types, combo choices
    (except the model lists, which depend on the user's folders), and outputs."""
    out = {}
    for node_id, cls in all_nodes():
        declared = cls.INPUT_TYPES()
        inputs = []
        for section in ("required", "optional"):
            for name, spec in declared.get(section, {}).items():
                kind, options = v1_spec(spec)
                entry = {"name": name, "type": "COMBO" if isinstance(kind, list) else kind,
                         "required": section == "required"}
                if isinstance(kind, list):
                    if (node_id, name) in DYNAMIC_CHOICES:
                        entry["choices"] = "model files"
                        if "default" in options:
                            entry["default"] = options["default"]
                    else:
                        entry["choices"] = kind
                if options.get("control_after_generate"):
                    entry["control_after_generate"] = True
                inputs.append(entry)
        out[node_id] = {"inputs": inputs, "outputs": list(cls.RETURN_TYPES), "output_names": list(cls.RETURN_NAMES),
                        "output_node": bool(getattr(cls, "OUTPUT_NODE", False))}
    return out


# Deliberate schema changes since the first release, each with its reason (saved workflows that
# used a removed value fail validation with ComfyUI's own "value not in list" message).
SCHEMA_CHANGES = {
    ("UnisonGeneratorLoader", "attention_backend"): (
        "choices are now the runtime's list (facts.ATTENTION_BACKENDS): '_flash_3' and 'flex' were "
        "offered but always refused at load ('unknown attention backend'), and 'flash3' was missing"),
    ("UnisonGeneratorLoader", "offload_policy"): (
        "'auto' added and made the default (picks keep/offload/sequential from free VRAM; every old value "
        "still loads)"),
    ("UnisonPlannerLoader", "offload_policy"): ("'auto' added and made the default, as for the generator"),
}


# Inputs required in the first release and optional now, each with its reason. A V1 node declares
# its required inputs before its optional ones, so such an input moves behind the required ones; saved
# workflows keep their links: the API format links by input name, and the UI format restores each
# node's inputs from the saved file (test_comfyui_saved_workflows drops one on the frontend).
NOW_OPTIONAL = {
    ("UnisonVACESampler", "generator"): (
        "the sampler runs on ComfyUI's own MODEL / VAE / CLIP (UNETLoader, VAELoader, CLIPLoader) or on the "
        "generator; the templates connect ComfyUI's loaders (issue 21)"),
}


def test_listed_schema_changes_name_existing_inputs(comfy_env):
    current = schema()
    for node_id, name in (*SCHEMA_CHANGES, *NOW_OPTIONAL):
        assert name in [i["name"] for i in current[node_id]["inputs"]]


def test_schema_is_frozen(comfy_env):
    """A change here breaks users' saved workflows. Regenerate deliberately:
    UNISON_UPDATE_NODE_SCHEMA=1 pytest tests/nodes/test_nodes_contracts.py -k schema"""
    current = schema()
    if os.environ.get(UPDATE_ENV):
        SCHEMA_FILE.write_text(json.dumps(current, indent=1) + "\n")
    frozen = json.loads(SCHEMA_FILE.read_text())
    assert current == frozen, f"node schema changed; if deliberate, rerun with {UPDATE_ENV}=1"


def test_schema_only_appends_to_the_first_release():
    """Workflows saved with the first release keep loading: every node it had is still there, its
    inputs and outputs come first in the same order, and anything added is an optional input, an
    output appended after the old ones (links are stored by output position), or a choice appended
    to a list (every saved value still loads: a new annotator mode, say). A required input may
    become optional (NOW_OPTIONAL, with its reason): it keeps its type, the others their order."""
    current = schema()
    for node_id, old in json.loads(RELEASE1_SCHEMA_FILE.read_text()).items():
        new = current[node_id]
        freed = {name for node, name in NOW_OPTIONAL if node == node_id}
        for name in freed:
            was, now = (next(i for i in inputs if i["name"] == name) for inputs in (old["inputs"], new["inputs"]))
            assert was["required"] and {**now, "required": True} == was and not now["required"], (node_id, name)
        old = {**old, "inputs": [i for i in old["inputs"] if i["name"] not in freed]}
        new = {**new, "inputs": [i for i in new["inputs"] if i["name"] not in freed]}
        changed = {name for node, name in SCHEMA_CHANGES if node == node_id}  # listed above, with reasons
        same = [(a, b) for a, b in zip(new["inputs"], old["inputs"]) if b["name"] not in changed]
        assert [n["name"] for n in new["inputs"][: len(old["inputs"])]] == [o["name"] for o in old["inputs"]], node_id
        assert all(_keeps(a, b) for a, b in same), node_id
        assert all(not entry["required"] for entry in new["inputs"][len(old["inputs"]):]), node_id
        n = len(old["outputs"])
        assert (new["outputs"][:n], new["output_names"][:n]) == (old["outputs"], old["output_names"]), node_id
        assert new["output_node"] == old["output_node"], node_id


def _keeps(new: dict, old: dict) -> bool:
    """An input as the first release had it, or with choices appended to its list."""
    if isinstance(new.get("choices"), list) and isinstance(old.get("choices"), list):
        grown = new["choices"][: len(old["choices"])] == old["choices"]
        return grown and {**new, "choices": None} == {**old, "choices": None}
    return new == old


def _combo_choices() -> dict:
    return {(node_id, name): v1_spec(spec)[0] for node_id, cls in all_nodes() for section in ("required", "optional")
            for name, spec in cls.INPUT_TYPES().get(section, {}).items() if isinstance(v1_spec(spec)[0], list)}


def test_dynamic_choices_are_exactly_these(comfy_models_env, monkeypatch, tmp_path):
    """The inputs whose choices change with the model folders are the DYNAMIC_CHOICES, no others."""
    with_models = _combo_choices()
    empty = {name: ([str(tmp_path / "nothing")], set()) for name in comfy_models_env.folder_names_and_paths}
    monkeypatch.setattr(comfy_models_env, "folder_names_and_paths", empty)
    monkeypatch.setattr(comfy_models_env, "models_dir", str(tmp_path / "nothing"))
    without = _combo_choices()
    moved = {key for key in with_models if with_models[key] != without[key]}
    assert moved <= DYNAMIC_CHOICES
    assert {("UnisonGeneratorLoader", "transformer"), ("UnisonProjectorLoader", "projector")} <= moved
    frozen = json.loads(SCHEMA_FILE.read_text())
    assert frozen["UnisonVACESampler"]["inputs"][1] == {"name": "seed", "type": "INT", "required": True,
                                                        "control_after_generate": True}
    assert frozen["UnisonPlannerLoader"]["inputs"][0]["choices"] == "model files"


def test_import_is_cheap_and_imports_no_heavy_library():
    """As ComfyUI loads the pack: comfy_api (and with it torch) is already imported; the pack itself
    adds no transformers, diffusers, OpenCV or PyAV and takes well under a second."""
    code = (
        "import sys, time, importlib.util as u; sys.path.append(sys.argv[3]); import comfy_api.latest;"
        "before = set(sys.modules); t = time.perf_counter();"  # by path, as ComfyUI does
        "s = u.spec_from_file_location(sys.argv[2], sys.argv[1] + '/__init__.py', submodule_search_locations=[sys.argv[1]]);"
        "m = u.module_from_spec(s); sys.modules[s.name] = m; s.loader.exec_module(m); dt = time.perf_counter() - t;"
        "heavy = sorted({k.split('.')[0] for k in set(sys.modules) - before} & {'torch','transformers','diffusers','av','cv2'});"
        "print(dt, len(sys.modules[s.name + '.nodes'].NODE_LIST), ','.join(heavy))"
    )
    result = subprocess.run([sys.executable, "-c", code, str(PACK), PACK.name, os.environ["COMFYUI_DIR"]],
                            capture_output=True, text=True, timeout=60, check=True)
    seconds, count, heavy = (result.stdout.strip().split(" ") + [""])[:3]
    assert int(count) == len(EXPECTED_NODES)
    assert heavy == "", f"importing the pack imported {heavy}"
    assert float(seconds) < 0.5


def test_nodes_declare_without_comfyuis_folders(no_comfy):
    for _, cls in all_nodes():
        cls.INPUT_TYPES()
    assert comfy_glue.folder_paths() is None
    assert comfy_glue.list_files("diffusion_models") == []
    assert type(comfy_glue.blocked(None)).__name__.endswith("Blocker")


# -- errors ------------------------------------------------------------------------------------
def test_planner_rejects_empty_request(comfy_env):
    with pytest.raises(ValueError, match="empty"):
        NODE_CLASS_MAPPINGS["UnisonPlanner"].execute("   ", 16, "auto")


def test_planner_names_an_unconnected_placeholder(comfy_env):
    with pytest.raises(ValueError, match=r"\{image2\}.*image2"):
        NODE_CLASS_MAPPINGS["UnisonPlanner"].execute("edit {image2}", 16, "auto")


def test_planner_confines_files_to_the_input_folder(comfy_env):
    from unison_runtime.errors import RequestError

    with pytest.raises(RequestError, match="outside"):
        NODE_CLASS_MAPPINGS["UnisonPlanner"].execute("describe ###/etc/passwd.png###", 16, "auto")


def test_rules_planner_cannot_answer_and_says_so(comfy_env):
    from unison_runtime.errors import UnisonError

    with pytest.raises(UnisonError, match="planner model"):
        NODE_CLASS_MAPPINGS["UnisonPlanner"].execute("What is the capital of France?", 16, "auto")


def test_loaders_name_what_is_missing(comfy_env):
    from unison_runtime.errors import ModelLoadError

    with pytest.raises(ModelLoadError, match="not found"):
        NODE_CLASS_MAPPINGS["UnisonProjectorLoader"].execute("nope.pth")
    with pytest.raises(ModelLoadError, match="diffusers_folder"):
        NODE_CLASS_MAPPINGS["UnisonGeneratorLoader"].execute("none", "none", "none", "none", "auto", "native", "keep")


def test_model_names_cannot_escape_their_folder(comfy_env, tmp_path):
    from unison_runtime.errors import ModelLoadError

    (tmp_path / "models" / "projector").mkdir(parents=True)
    with pytest.raises(ModelLoadError):
        comfy_glue.resolve("unison_projector", "../../../etc/passwd", "projector")


def test_sampler_and_projector_refuse_foreign_plans(comfy_env):
    with pytest.raises(ValueError, match="UnisonPlanner"):
        NODE_CLASS_MAPPINGS["UnisonVACESampler"].execute("not a plan", 0, 1, 5.0, 5.0, 1.0, "")
    with pytest.raises(ValueError, match="UnisonPlanner"):
        NODE_CLASS_MAPPINGS["UnisonProjector"].execute(None, None, {"task": "x"}, True)


def test_boxes_are_parsed_or_explained():
    from nodes.generation import parse_boxes

    assert parse_boxes("") is None
    assert parse_boxes("1,2,30,40; 5,5,9,9") == [[1, 2, 30, 40], [5, 5, 9, 9]]
    with pytest.raises(ValueError, match="four numbers"):
        parse_boxes("1,2,3")
    with pytest.raises(ValueError, match="x2 must exceed x1"):
        parse_boxes("10,0,5,5")


def test_router_overrides_map_widget_defaults_to_as_planned():
    from nodes.planning import UnisonTaskRouter

    from unison_runtime.router import Overrides

    assert UnisonTaskRouter.overrides("auto", 0, 0, 0, "auto", -1, -1, "auto", "auto") == Overrides()
    chosen = UnisonTaskRouter.overrides("text_to_video", 64, 32, 9, "last", 1, 0, "on", "off")
    assert chosen == Overrides(task="text_to_video", width=64, height=32, num_frames=9, frame_ref="last",
                               mask_index=1, source_index=0, reference=True, control=False)


# -- media placeholders -------------------------------------------------------------------------
def test_connected_media_are_given_with_their_roles_in_text_order(comfy_env):
    """No file is written for connected media: they reach the runtime as pixels with the role of
    their socket (a MASK stays soft), placed where the text mentions them, the rest appended."""
    import numpy as np
    import torch

    from nodes import convert
    from unison_runtime.request import parse_request

    image = torch.rand(1, 16, 16, 3)
    mask = torch.full((1, 16, 16), 0.3)
    given = convert.given_media({"image1": image, "mask1": mask, "image2": image}, "put {mask1} on {image1}")
    request = parse_request("put {mask1} on {image1}", (), given)
    assert request.prompt == "put <IMGPAD> on <IMGPAD> <IMGPAD>"
    assert [(m.name, m.role, m.path) for m in request.media] == [("mask1", "mask", None), ("image1", "image", None),
                                                                 ("image2", "image", None)]
    assert np.allclose(request.media[0].given.pixels, 0.3)  # soft, not thresholded
    assert np.array_equal(request.media[1].given.pixels, convert.image_to_uint8(image))
    one_frame_video = convert.given_media({"video1": image})
    assert one_frame_video["video1"].role == "image"  # a still, whatever the socket


# -- ComfyUI hooks --------------------------------------------------------------------------------
def test_unload_hook_frees_the_manager_once_wrapped(monkeypatch):
    from unison_runtime.models import get_manager

    calls = []
    fake = types.ModuleType("comfy.model_management")
    fake.unload_all_models = lambda: calls.append("comfy")
    monkeypatch.setitem(sys.modules, "comfy.model_management", fake)
    manager = get_manager()
    manager.get("test-hook", "x", lambda device, dtype: object(), device="cpu", dtype="float32")
    assert comfy_glue.install_unload_hook()
    wrapped = fake.unload_all_models
    assert comfy_glue.install_unload_hook() and fake.unload_all_models is wrapped  # idempotent
    fake.unload_all_models()
    assert calls == ["comfy"]
    assert not any(k.kind == "test-hook" for k in manager.cached_keys())


def test_comfy_memory_pressure_leaves_our_cache_alone(monkeypatch):
    """ComfyUI offloads our models itself when it needs room (they are among its loaded models:
    test_memory_hooks.py); making room on the GPU must not throw away our copy in RAM."""
    from unison_runtime.models import get_manager

    fake = types.ModuleType("comfy.model_management")
    fake.unload_all_models = lambda: None
    fake.free_memory = lambda memory_required, device, keep_loaded=[]: ["unloaded"]
    monkeypatch.setitem(sys.modules, "comfy.model_management", fake)
    original = fake.free_memory
    assert comfy_glue.install_unload_hook()
    manager = get_manager()
    manager.get("test-pressure", "x", lambda device, dtype: object(), device="cpu", dtype="float32")
    assert fake.free_memory is original and fake.free_memory(50, types.SimpleNamespace(type="cuda")) == ["unloaded"]
    assert any(k.kind == "test-pressure" for k in manager.cached_keys())
    manager.free("test-pressure")


def test_sample_media_never_overwrite_user_files(comfy_env):
    folder = Path(comfy_env.get_input_directory())
    assert (folder / "unison_bowl.png").is_file() and (folder / "unison_clip.mp4").is_file()
    (folder / "unison_bowl.png").write_bytes(b"mine")
    comfy_glue.install_sample_media()
    assert (folder / "unison_bowl.png").read_bytes() == b"mine"


def _run_prestartup(monkeypatch, input_dir):
    """ComfyUI's prestartup step: the script run by path, with only `folder_paths` importable."""
    import runpy

    monkeypatch.setitem(sys.modules, "folder_paths", types.SimpleNamespace(get_input_directory=lambda: str(input_dir)))
    runpy.run_path(str(PACK / "prestartup_script.py"), run_name="prestartup_script")


def test_prestartup_puts_the_samples_in_the_input_folder_without_touching_a_users_file(tmp_path, monkeypatch):
    samples = sorted(p.name for p in (PACK / "example_workflows" / "input").iterdir() if p.is_file())
    assert "unison_bowl.png" in samples
    folder = tmp_path / "input"
    folder.mkdir()
    (folder / "unison_bowl.png").write_bytes(b"mine")
    _run_prestartup(monkeypatch, folder)
    assert sorted(p.name for p in folder.iterdir()) == samples
    assert (folder / "unison_bowl.png").read_bytes() == b"mine"
    first = (folder / samples[-1]).stat().st_mtime_ns
    _run_prestartup(monkeypatch, folder)  # every start: nothing copied twice
    assert (folder / samples[-1]).stat().st_mtime_ns == first


def test_prestartup_never_fails_comfyuis_start(tmp_path, monkeypatch, caplog):
    not_a_folder = tmp_path / "input"
    not_a_folder.write_text("a file where the input folder should be")  # cannot be created or written
    _run_prestartup(monkeypatch, not_a_folder)
    assert "could not copy sample media" in caplog.text and not_a_folder.read_text().startswith("a file")
    import runpy

    monkeypatch.setitem(sys.modules, "folder_paths", None)  # no ComfyUI at all: its import fails inside
    runpy.run_path(str(PACK / "prestartup_script.py"))
    assert "sample media not copied" in caplog.text


def test_model_folders_are_registered_once(comfy_env):
    comfy_glue.register_model_folders()
    comfy_glue.register_model_folders()
    paths = comfy_env.folder_names_and_paths["unison_planner"][0]
    assert len(paths) == len(set(paths)) and any(p.endswith(os.path.join("unison", "planner")) for p in paths)


def test_executor_skips_everything_downstream_of_a_blocker():
    from executor import run_graph

    class Source:
        RETURN_TYPES = ("STRING", "STRING")
        FUNCTION = "run"

        @classmethod
        def INPUT_TYPES(cls):
            return {"required": {}}

        def run(self):
            return ("ok", comfy_glue.blocked(None))

    class Sink:
        RETURN_TYPES = ()
        FUNCTION = "run"
        OUTPUT_NODE = True
        seen: list = []

        @classmethod
        def INPUT_TYPES(cls):
            return {"required": {"text": ("STRING", {})}}

        def run(self, text):
            Sink.seen.append(text)
            return {"ui": {"text": [text]}}

    graph = {"1": {"class_type": "Source", "inputs": {}},
             "2": {"class_type": "Sink", "inputs": {"text": ["1", 0]}},
             "3": {"class_type": "Sink", "inputs": {"text": ["1", 1]}}}
    result = run_graph(graph, {"Source": Source, "Sink": Sink})
    assert Sink.seen == ["ok"] and result.blocked == ["3"] and result.ui == {"2": {"text": ["ok"]}}


def test_node_docs_match_the_declarations(no_comfy):
    """docs/NODES.md and web/docs/*.md are generated: python scripts/make_node_docs.py"""
    result = subprocess.run([sys.executable, str(PACK / "scripts" / "make_node_docs.py"), "--check"],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_annotator_node_outputs_frames_and_masks(comfy_env):
    import torch

    node = NODE_CLASS_MAPPINGS["UnisonAnnotator"]()
    image = torch.rand(1, 24, 40, 3)
    frames, masks = node.execute("firstframe", image, "", "", 32, 16, 5, 0, 0, False)
    assert tuple(frames.shape) == (5, 16, 32, 3) and tuple(masks.shape) == (5, 16, 32)
    assert float(masks[0].max()) == 0.0 and float(masks[1].min()) == 1.0
    mask = torch.zeros(1, 24, 40)
    mask[:, 4:12, 8:20] = 1
    frames, masks = node.execute("mask", image, "", "", 0, 0, 0, 2, 0, True, mask=mask)
    assert tuple(frames.shape) == (1, 24, 40, 3) and float(masks[0, 6, 10]) == 0.0 and float(masks[0, 20, 35]) == 1.0
    from unison_runtime.errors import AnnotatorError

    with pytest.raises(AnnotatorError, match="SAM2"):
        node.execute("bbox", image, "", "1,1,10,10", 0, 0, 0, 0, 0, False)


def test_media_the_planned_task_cannot_use_fail_at_the_router_which_may_still_choose_a_task(comfy_env):
    """The planner plans (its size outputs as planned); the router refuses the unused image in one
    line, or runs the task the user chose there that uses both."""
    import torch

    image = torch.rand(1, 64, 96, 3)
    planned, _, _, _, width, height, _ = call_node(NODE_CLASS_MAPPINGS["UnisonPlanner"], dict(
        request="Generate an image of a dancer following this pose. {image1} {image2}", max_new_tokens=16,
        plan_by="rules", image1=image, image2=image))[0]
    assert planned.plan.task == "image_control" and (width, height) != (0, 0)
    router = NODE_CLASS_MAPPINGS["UnisonTaskRouter"]
    settings = dict(plan=planned, width=0, height=0, num_frames=0, frame_ref="auto", mask_index=-1,
                    source_index=-1, reference="auto", control="auto")
    with pytest.raises(ValueError, match=r"^image_control uses one control image; the request has 2 media "
                                         r"item\(s\) and #2 \(image\) would be left unused"):
        call_node(router, dict(settings, task="auto"))
    assert call_node(router, dict(settings, task="image_reference"))[0][7] == "image_reference"
