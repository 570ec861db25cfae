"""The shipped example workflows (one per task, plus the public-weights one): UI and API twins agree with their one description, the UI
files are well-formed for ComfyUI's frontend, and every API workflow runs on the tiny models
through the test executor (ComfyUI's execution rules, core nodes stood in by `core_nodes`)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from core_nodes import CORE_NODE_CLASSES, SaveImage, SaveVideo
from executor import run_graph, validate
from nodes import NODE_CLASS_MAPPINGS

PACK = Path(__file__).resolve().parents[2]
UI_DIR = PACK / "example_workflows"
API_DIR = UI_DIR / "api"
# The native-bridge templates run ComfyUI's own Wan VACE nodes: checked here for form, run only in
# real ComfyUI (tests/nodes/test_native_comfyui.py).
NATIVE_NAMES = sorted(p.stem for p in API_DIR.glob("*_native_*.json"))
NAMES = sorted(p.stem for p in API_DIR.glob("*.json") if p.stem not in NATIVE_NAMES)
CLASSES = {**NODE_CLASS_MAPPINGS, **CORE_NODE_CLASSES}
EXPECTED_TASK = {
    "01_text_understanding": "text_understanding", "02_image_understanding": "image_understanding",
    "03_video_understanding": "video_understanding", "04_text_to_image": "text_to_image",
    "05_image_edit": "image_edit", "06_image_control": "image_control", "07_image_reference": "image_reference",
    "08_text_to_video": "text_to_video", "09_image_to_video": "image_to_video",
    "10_video_reference": "video_reference", "11_video_edit": "video_edit", "12_video_control": "video_control",
    "13_public_weights_text_to_image": "text_to_image",
}
TINY = {"width": 32, "height": 32}
TINY_VIDEO_FRAMES = 5
TINY_STEPS = 2


def _script():
    spec = importlib.util.spec_from_file_location("make_example_workflows", PACK / "scripts" / "make_example_workflows.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


def test_there_is_one_workflow_per_task_in_both_formats():
    assert NAMES == sorted(EXPECTED_TASK)
    assert sorted(p.stem for p in UI_DIR.glob("*.json")) == sorted(NAMES + NATIVE_NAMES)
    assert len(NATIVE_NAMES) == 2


def test_files_match_their_description():
    """Regenerate with `python scripts/make_example_workflows.py` after changing a node or workflow."""
    module = _script()
    stale = [str(p.relative_to(PACK)) for p, text in module.render(NODE_CLASS_MAPPINGS).items()
             if p.read_text(encoding="utf-8") != text]
    assert not stale, f"out of date (run scripts/make_example_workflows.py): {stale}"


CORE_OBJECT_INFO = json.loads((Path(__file__).with_name("core_object_info.json")).read_text())
CONTROL = object()  # stands for the seed's control_after_generate value
LINKED = object()  # stands for the value of a widget fed by a link (kept by the frontend, unused)
CONTROL_VALUES = ("fixed", "increment", "decrement", "randomize")
WIDGET_KINDS = ("INT", "FLOAT", "STRING", "BOOLEAN", "COMBO")


def _ordered_inputs(node_type: str) -> list[tuple[str, object, dict]]:
    """(name, type, options) in the frontend's order: this pack's INPUT_TYPES, or ComfyUI 0.8.0's
    /object_info (tests/nodes/core_object_info.json, from scripts/snapshot_core_nodes.py)."""
    if node_type in NODE_CLASS_MAPPINGS:
        declared = NODE_CLASS_MAPPINGS[node_type].INPUT_TYPES()
        order = {section: list(declared.get(section, {})) for section in ("required", "optional")}
    else:
        info = CORE_OBJECT_INFO["nodes"][node_type]
        declared = info["input"]
        order = info.get("input_order") or {s: list(declared.get(s, {})) for s in ("required", "optional")}
    out = []
    for section in ("required", "optional"):
        for name in order.get(section, []):
            spec = declared[section][name]
            out.append((name, spec[0], spec[1] if len(spec) > 1 else {}))
    return out


def expected_widgets_values(node_type: str, api_inputs: dict) -> list:
    """The UI format's widgets_values: each widget input's value by position, the seed's control
    value right after the seed, and the image-upload button's value after the widgets."""
    expected = []
    upload = False
    for name, kind, options in _ordered_inputs(node_type):
        if not (isinstance(kind, list) or kind in WIDGET_KINDS):
            continue  # a socket
        assert name in api_inputs, f"{node_type}: widget {name} missing from the API workflow"
        expected.append(LINKED if isinstance(api_inputs[name], list) else api_inputs[name])
        if options.get("control_after_generate"):
            expected.append(CONTROL)
        upload = upload or bool(options.get("image_upload") or options.get("video_upload"))
    if upload:
        expected.append("image")
    return expected


def widgets_mismatch(values: list, expected: list) -> str | None:
    """Why `values` is not the `expected` layout (None when it is). Strict: 1 is not True, 0 is
    not False, 5 is not 5.0."""
    if len(values) != len(expected):
        return f"widgets_values {values} vs layout {expected}"
    for position, (value, want) in enumerate(zip(values, expected)):
        if want is LINKED:
            continue
        if want is CONTROL:
            if value not in CONTROL_VALUES or isinstance(value, bool):
                return f"widgets_values[{position}] = {value!r} is no seed control value"
        elif type(value) is not type(want) or value != want:
            return f"widgets_values[{position}] = {value!r}, expected {want!r}"
    return None


def test_widget_layout_check_catches_swaps_and_lookalikes():
    """The check is positional and type-strict: 0/False, 1/True and swapped values all fail."""
    api_inputs = {"seed": 1, "steps": 50, "cfg": 5.0, "shift": 5.0, "context_scale": 1.0, "negative_prompt": "",
                  "vae_tiling": "auto"}
    layout = expected_widgets_values("UnisonVACESampler", api_inputs)
    assert layout[0] == 1 and layout[1] is CONTROL and layout[2:] == [50, 5.0, 5.0, 1.0, "", "auto"]
    assert expected_widgets_values("LoadImageMask", {"image": "a.png", "channel": "red"}) == ["a.png", "red", "image"]
    assert expected_widgets_values("SaveVideo", {"filename_prefix": "v", "format": "auto", "codec": "auto"}) == ["v", "auto", "auto"]
    good = [1, "fixed", 50, 5.0, 5.0, 1.0, "", "auto"]
    assert widgets_mismatch(good, layout) is None
    assert widgets_mismatch([True, "fixed", 50, 5.0, 5.0, 1.0, "", "auto"], layout)  # 1 vs True
    assert widgets_mismatch([1, 50, "fixed", 5.0, 5.0, 1.0, "", "auto"], layout)  # control not right after the seed
    assert widgets_mismatch([1, "fixed", 50, 5.0, 1.0, 5.0, "", "auto"], layout)  # two FLOATs swapped
    router = expected_widgets_values("UnisonProjector", {"enabled": False})
    assert widgets_mismatch([0], router) and widgets_mismatch([False], router) is None  # 0 vs False


@pytest.mark.parametrize("name", NAMES + NATIVE_NAMES)
def test_ui_workflow_is_well_formed(name, comfy_env):
    ui = json.loads((UI_DIR / f"{name}.json").read_text())
    api = json.loads((API_DIR / f"{name}.json").read_text())
    nodes = {n["id"]: n for n in ui["nodes"]}
    assert {str(i) for i in nodes} == set(api)
    assert ui["last_link_id"] == len(ui["links"]) and ui["last_node_id"] == max(nodes)
    for link_id, src, src_slot, dst, dst_slot, kind in ui["links"]:
        assert nodes[src]["outputs"][src_slot]["type"] == kind and link_id in nodes[src]["outputs"][src_slot]["links"]
        target = nodes[dst]["inputs"][dst_slot]
        assert target["link"] == link_id and target["type"] in (kind, "*")
        assert api[str(dst)]["inputs"][target["name"]] == [str(src), src_slot]
    for node in ui["nodes"]:
        api_inputs = api[str(node["id"])]["inputs"]
        expected = expected_widgets_values(node["type"], api_inputs)
        problem = widgets_mismatch(list(node["widgets_values"]), expected)
        assert problem is None, f"{node['type']}: {problem}"
        outputs = [o["type"] for o in node["outputs"]]
        if node["type"] in NODE_CLASS_MAPPINGS:
            assert outputs == list(NODE_CLASS_MAPPINGS[node["type"]].RETURN_TYPES)
        else:
            assert outputs == CORE_OBJECT_INFO["nodes"][node["type"]]["output"]


@pytest.mark.parametrize("name", NAMES)
def test_api_workflow_validates(name, comfy_models_env):
    validate(json.loads((API_DIR / f"{name}.json").read_text()), CLASSES)


def tiny(graph: dict, name: str) -> dict:
    """The shipped graph at test size: 32x32, 5 frames, 2 steps, short answers; the rules planner
    decides the plan (the tiny planner's random weights would pick arbitrary tasks), while the
    tiny Qwen model still answers and feeds the projector."""
    for node in graph.values():
        inputs = node["inputs"]
        if node["class_type"] == "UnisonPlanner":
            inputs.update(plan_by="rules", max_new_tokens=8)
        elif node["class_type"] == "UnisonTaskRouter":
            inputs.update(TINY)
            if "video" in name:
                inputs["num_frames"] = TINY_VIDEO_FRAMES
        elif node["class_type"] == "UnisonVACESampler":
            inputs["steps"] = TINY_STEPS
    return graph


@pytest.mark.parametrize("name", NAMES)
def test_workflow_runs_on_tiny_models(name, comfy_models_env, host_backend):
    graph = tiny(json.loads((API_DIR / f"{name}.json").read_text()), name)
    SaveImage.saved.clear()
    SaveVideo.saved.clear()
    result = run_graph(graph, CLASSES)
    by_type = {graph[i]["class_type"]: i for i in result.outputs}
    task = EXPECTED_TASK[name]
    planner_ui = result.ui[by_type["UnisonPlanner"]]["text"][0]
    assert f"task: {task}" in planner_ui
    if task.endswith("understanding"):
        answer = result.outputs[by_type["UnisonPlanner"]][2]
        assert isinstance(answer, str)
        assert result.ui[by_type["PreviewAny"]]["text"] == (answer,)
        return
    router_out = result.outputs[by_type["UnisonTaskRouter"]]
    assert router_out[7] == task and router_out[4:7] == (32, 32, TINY_VIDEO_FRAMES if "video" in name else 1)
    frames = result.outputs[by_type["UnisonVACESampler"]][0]
    expected = (TINY_VIDEO_FRAMES if "video" in name else 1, 32, 32, 3)
    assert tuple(frames.shape) == expected
    assert float(frames.min()) >= 0.0 and float(frames.max()) <= 1.0
    saved = SaveVideo.saved[0].get_components().images if "video" in name else SaveImage.saved[0]
    assert saved is frames
    # The router's previews are IMAGE/MASK batches at the target size.
    src, masks, refs = router_out[1:4]
    assert src.shape[1:] == (32, 32, 3) and masks.shape[1:] == (32, 32) and refs.shape[1:] == (32, 32, 3)


def test_ui_nodes_offer_the_public_downloads():
    """ComfyUI's `properties.models` (name, url, directory) on every node naming a public file, so
    the frontend's missing-models dialog can download it; the name is the widget's value."""
    module = _script()
    offered = 0
    for name in NAMES:
        for node in json.loads((UI_DIR / f"{name}.json").read_text())["nodes"]:
            models = node["properties"].get("models", [])
            for model in models:
                assert set(model) == {"name", "url", "directory"} and model["url"].startswith("https://huggingface.co/")
                assert model["url"].endswith(model["name"].rsplit("/", 1)[-1]) and model["name"] in node["widgets_values"]
            files = [v for v in node["widgets_values"] if isinstance(v, str) and v in module.MODEL_DOWNLOADS]
            assert [m["name"] for m in models] == files
            offered += len(models)
    assert offered >= 3 * 10  # every generation workflow's transformer, text encoder and VAE


def test_public_weights_workflow_needs_no_unison_files():
    """The 13th template: the stock instruct planner, no LoRA, no projector anywhere."""
    graph = json.loads((API_DIR / "13_public_weights_text_to_image.json").read_text())
    kinds = {n["class_type"] for n in graph.values()}
    assert not kinds & {"UnisonProjectorLoader", "UnisonProjector", "UnisonAuto"}
    loader = next(n["inputs"] for n in graph.values() if n["class_type"] == "UnisonPlannerLoader")
    assert (loader["model"], loader["adapter"], loader["mode"]) == ("Qwen2.5-VL-3B-Instruct", "none", "instruct")
    sampler = next(n["inputs"] for n in graph.values() if n["class_type"] == "UnisonVACESampler")
    assert "conditioning" not in sampler


def test_understanding_task_blocks_the_generation_branch(comfy_models_env, host_backend):
    """One graph for every task: a question planned through the text-to-video graph is answered,
    and the router's generation outputs block the sampler and the savers."""
    graph = tiny(json.loads((API_DIR / "08_text_to_video.json").read_text()), "08_text_to_video")
    planner_id = next(i for i, n in graph.items() if n["class_type"] == "UnisonPlanner")
    graph[planner_id]["inputs"]["request"] = "What is the capital of France?"
    graph["99"] = {"class_type": "PreviewAny", "inputs": {"source": [planner_id, 2]}}
    SaveVideo.saved.clear()
    result = run_graph(graph, CLASSES)
    kinds = {graph[i]["class_type"] for i in result.blocked}
    assert {"UnisonProjector", "UnisonVACESampler", "SaveVideo"} <= kinds
    assert SaveVideo.saved == [] and isinstance(result.ui["99"]["text"][0], str)
    router_id = next(i for i, n in graph.items() if n["class_type"] == "UnisonTaskRouter")
    assert result.outputs[router_id][7] == "text_understanding"


def test_rerunning_a_graph_loads_nothing_and_loaders_share_models(comfy_models_env, host_backend):
    from unison_runtime.models import get_manager

    graph = tiny(json.loads((API_DIR / "04_text_to_image.json").read_text()), "04_text_to_image")
    graph["50"] = dict(graph["1"])  # a second planner loader naming the same folder
    graph["51"] = {"class_type": "UnisonProjector",
                   "inputs": {"planner": ["50", 0], "projector": ["2", 0], "plan": ["11", 0], "enabled": True}}
    graph["52"] = {"class_type": "PreviewAny", "inputs": {"source": ["51", 0]}}
    run_graph(graph, CLASSES)
    loads = get_manager().load_count()
    run_graph(graph, CLASSES)
    assert get_manager().load_count() == loads


def test_free_then_rerun_reloads_through_the_same_handles(comfy_models_env, host_backend):
    from unison_runtime.models import get_manager

    graph = tiny(json.loads((API_DIR / "04_text_to_image.json").read_text()), "04_text_to_image")
    first = run_graph(graph, CLASSES)
    wan = {name: first.outputs[graph["13"]["inputs"][name][0]][0] for name in ("model", "vae", "clip")}
    get_manager().free()
    assert get_manager().cached_keys() == []
    loads = get_manager().load_count("generator")
    sampler = NODE_CLASS_MAPPINGS["UnisonVACESampler"]()
    plan = first.outputs["11"][0]
    frames = sampler.execute(plan, 1, 1, 5.0, 5.0, 1.0, "", **wan)[0]
    assert tuple(frames.shape) == (1, 32, 32, 3) and get_manager().load_count("generator") == loads + 1


def test_a_saved_graph_with_the_generator_loader_still_runs(comfy_models_env, host_backend):
    """A graph saved before the templates moved to ComfyUI's loaders (UnisonGeneratorLoader naming the
    single files, linked to the sampler's first socket) validates and runs unchanged."""
    saved = Path(__file__).with_name("saved_workflows") / "04_text_to_image_with_generator_loader.api.json"
    graph = tiny(json.loads(saved.read_text()), "04_text_to_image")
    assert graph["3"]["class_type"] == "UnisonGeneratorLoader" and graph["13"]["inputs"]["generator"] == ["3", 0]
    SaveImage.saved.clear()
    run_graph(graph, CLASSES)
    assert tuple(SaveImage.saved[0].shape) == (1, 32, 32, 3)


def test_auto_node_runs_the_whole_pipeline_from_a_models_dir(comfy_models_env, all_models):
    auto = NODE_CLASS_MAPPINGS["UnisonAuto"]()
    out = auto.execute("Generate an image of a red fox.", str(all_models), 32, 32, 0, 0, TINY_STEPS, 5.0, True, "rules")
    frames, answer, text = out.args
    assert tuple(frames.shape) == (1, 32, 32, 3) and "text_to_image" in text
    assert type(answer).__name__.endswith("Blocker")
    out = auto.execute("What is the capital of France?", str(all_models), 32, 32, 0, 0, TINY_STEPS, 5.0, True, "rules")
    frames, answer, text = out.args
    assert isinstance(answer, str) and type(frames).__name__.endswith("Blocker") and "text_understanding" in text
