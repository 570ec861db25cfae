"""Integration with a real ComfyUI (skipped unless COMFYUI_DIR is set).

Starts `main.py --cpu` with this pack installed in `custom_nodes/` and ComfyUI's model folders
pointed at the tiny demo models (extra_model_paths.yaml), then: /object_info lists every node,
every API example queued through /prompt finishes with outputs in /history, the examples appear in
/api/workflow_templates, and (when COMFYUI_HARNESS and node are available) a workflow dropped on
the real frontend in headless Chromium runs. See ../shared/comfyui-harness/README.md:

    COMFYUI_DIR=~/.cache/comfyui-harness/ComfyUI COMFYUI_PYTHON=~/.cache/comfyui-harness/venv/bin/python \\
        pytest tests/nodes/test_nodes_comfyui.py
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from test_nodes_workflows import API_DIR, EXPECTED_TASK, NAMES, NATIVE_NAMES, UI_DIR, tiny

COMFYUI_DIR = os.environ.get("COMFYUI_DIR")
pytestmark = pytest.mark.skipif(not COMFYUI_DIR, reason="COMFYUI_DIR is not set: no real ComfyUI to test against "
                                "(see ../shared/comfyui-harness/README.md)")
PACK = Path(__file__).resolve().parents[2]
TINY_SHIM = Path(__file__).resolve().with_name("tiny_comfy_models")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str, timeout: float = 30):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read().decode())


def _post(url: str, payload: dict, timeout: float = 30):
    req = urllib.request.Request(url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return response.status, json.loads(response.read().decode() or "null")
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read().decode() or "null")


@pytest.fixture(scope="module")
def server(tmp_path_factory, all_models):
    comfy = Path(COMFYUI_DIR).expanduser()
    python = os.environ.get("COMFYUI_PYTHON", sys.executable)
    state = tmp_path_factory.mktemp("comfy_state")
    for sub in ("input", "output", "temp", "user/default", "custom_nodes"):
        (state / sub).mkdir(parents=True, exist_ok=True)
    (state / "user/default/comfy.settings.json").write_text('{"Comfy.TutorialCompleted": true}')
    # The pack as ComfyUI finds it: CI clones it into ComfyUI's custom_nodes; elsewhere it goes into a
    # private custom_nodes folder of this server (registered below), so several checkouts can share one
    # ComfyUI without loading each other. The shim always goes there: it is for the tests alone.
    installed = [p for p in (comfy / "custom_nodes").iterdir() if p.resolve() == PACK]
    pack_name = installed[0].name if installed else "ComfyUI-Unison"
    if not installed:
        (state / "custom_nodes" / pack_name).symlink_to(PACK, target_is_directory=True)
    (state / "custom_nodes" / TINY_SHIM.name).symlink_to(TINY_SHIM, target_is_directory=True)
    models = Path(all_models)
    yaml = state / "extra_model_paths.yaml"
    yaml.write_text(
        "unison_tiny:\n"
        f"  base_path: {models}\n"
        "  unison_planner: planner\n  unison_projector: projector\n  unison_generator: generator\n"
        "  unison_annotators: annotators\n  diffusion_models: comfyui/diffusion_models\n"
        "  text_encoders: comfyui/text_encoders\n  vae: comfyui/vae\n  loras: comfyui/loras\n"
        f"test_custom_nodes:\n  custom_nodes: {state / 'custom_nodes'}\n"
    )
    port = _free_port()
    log = open(state / "server.log", "w")
    process = subprocess.Popen(
        [python, "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(port), "--disable-auto-launch",
         "--extra-model-paths-config", str(yaml), "--user-directory", str(state / "user"),
         "--output-directory", str(state / "output"), "--input-directory", str(state / "input"),
         "--temp-directory", str(state / "temp"), "--database-url", f"sqlite:///{state}/user/comfyui.db"],
        cwd=comfy, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(240):
            if process.poll() is not None:
                pytest.fail(f"ComfyUI exited: {(state / 'server.log').read_text()[-3000:]}")
            try:
                _get(f"{url}/system_stats", timeout=2)
                break
            except Exception:
                time.sleep(0.5)
        else:
            pytest.fail("ComfyUI did not answer in 120 s")
        yield {"url": url, "state": state, "log": state / "server.log", "pack_name": pack_name}
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def test_the_first_node_list_already_offers_the_sample_media(server):
    """The frontend's first /object_info lists LoadImage's choices: prestartup_script.py copied the
    samples before ComfyUI served anything (a template dropped on a fresh server shows no error)."""
    first = _get(f"{server['url']}/object_info/LoadImage")  # this module's first node list
    choices = first["LoadImage"]["input"]["required"]["image"][0]
    assert {"unison_bowl.png", "unison_photo.png"} <= set(choices), choices
    assert (server["state"] / "input" / "unison_clip.mp4").is_file()
    log = server["log"].read_text()
    ran = [line for line in log.splitlines() if line.rstrip().endswith(server["pack_name"]) and "seconds" in line]
    assert ran and "PRESTARTUP FAILED" not in ran[0], log[-2000:]


def test_object_info_lists_every_node(server):
    from nodes import NODE_CLASS_MAPPINGS

    info = _get(f"{server['url']}/object_info")
    missing = set(NODE_CLASS_MAPPINGS) - set(info)
    assert not missing, f"not registered: {missing}; log: {server['log'].read_text()[-2000:]}"
    assert info["UnisonVACESampler"]["category"] == "Unison"
    transformer = info["UnisonGeneratorLoader"]["input"]["required"]["transformer"]
    assert transformer[0] == "COMBO"  # a V3 node's combo: its choices in the options
    assert "wan2.1_vace_1.3B_fp16.safetensors" in transformer[1]["options"]  # tiny models reached through folder_paths


def test_examples_are_listed_as_templates(server):
    templates = _get(f"{server['url']}/api/workflow_templates")
    assert sorted(templates.get(server["pack_name"], [])) == sorted(NAMES + NATIVE_NAMES)
    served = _get(f"{server['url']}/api/workflow_templates/{server['pack_name']}/{NAMES[0]}.json")
    assert served == json.loads((UI_DIR / f"{NAMES[0]}.json").read_text())
    with urllib.request.urlopen(f"{server['url']}/api/workflow_templates/{server['pack_name']}/{NAMES[0]}.jpg", timeout=30) as r:
        assert r.read() == (UI_DIR / f"{NAMES[0]}.jpg").read_bytes()  # the template card's thumbnail


def _run(server, graph: dict, timeout: float = 300) -> dict:
    status, answer = _post(f"{server['url']}/prompt", {"prompt": graph, "client_id": "unison-tests"})
    assert status == 200 and not answer.get("node_errors"), answer
    prompt_id = answer["prompt_id"]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        history = _get(f"{server['url']}/history/{prompt_id}")
        if prompt_id in history and history[prompt_id].get("status", {}).get("completed") is not None:
            return history[prompt_id]
        time.sleep(0.5)
    pytest.fail(f"prompt {prompt_id} did not finish in {timeout} s")


@pytest.mark.parametrize("name", NAMES)
def test_every_api_example_runs_through_prompt(server, name):
    graph = tiny(json.loads((API_DIR / f"{name}.json").read_text()), name)
    entry = _run(server, graph)
    assert entry["status"]["status_str"] == "success", json.dumps(entry["status"], indent=1)[-3000:]
    outputs = entry["outputs"]
    planner_id = next(i for i, n in graph.items() if n["class_type"] == "UnisonPlanner")
    assert f"task: {EXPECTED_TASK[name]}" in outputs[planner_id]["text"][0]
    saver = next(i for i, n in graph.items() if n["class_type"] in ("SaveImage", "SaveVideo", "PreviewAny"))
    assert outputs.get(saver), f"no output from {graph[saver]['class_type']}"


def test_a_failing_node_reports_a_clear_message(server):
    graph = tiny(json.loads((API_DIR / "04_text_to_image.json").read_text()), "04_text_to_image")
    planner_id = next(i for i, n in graph.items() if n["class_type"] == "UnisonPlanner")
    graph[planner_id]["inputs"]["request"] = "describe ###../../etc/passwd.png###"
    entry = _run(server, graph)
    assert entry["status"]["status_str"] == "error"
    messages = [m for kind, m in entry["status"]["messages"] if kind == "execution_error"]
    assert "outside the allowed folders" in messages[0]["exception_message"]


def test_unison_auto_reads_models_only_inside_comfyuis_model_folders(server):
    """Through the HTTP API (a server started with --listen), models_dir cannot make ComfyUI scan `/`."""
    inputs = {"request": "Generate an image of a red fox.", "models_dir": "/", "width": 32, "height": 32,
              "num_frames": 0, "seed": 0, "steps": 1, "cfg": 5.0, "use_projector": True, "plan_by": "rules"}
    entry = _run(server, {"1": {"class_type": "UnisonAuto", "inputs": inputs}})
    assert entry["status"]["status_str"] == "error"
    message = next(m for kind, m in entry["status"]["messages"] if kind == "execution_error")["exception_message"]
    assert message.strip().startswith("models_dir '/' is outside ComfyUI's model folders") and "Errno" not in message
    assert str(Path(COMFYUI_DIR).expanduser().resolve() / "models") in message and "\n" not in message.strip()


@pytest.mark.parametrize("request_text, message", [
    ("Generate a caf\udce9 at night", "not valid UTF-8"),  # a lone surrogate: bytes that were not UTF-8
    ("Generate an image of ###" + "x" * 30 + ".tga###", "unsupported media file"),
])
def test_runtime_errors_are_one_line_node_errors_and_the_server_keeps_serving(server, request_text, message):
    graph = tiny(json.loads((API_DIR / "04_text_to_image.json").read_text()), "04_text_to_image")
    planner_id = next(i for i, n in graph.items() if n["class_type"] == "UnisonPlanner")
    graph[planner_id]["inputs"]["request"] = request_text
    entry = _run(server, graph)
    assert entry["status"]["status_str"] == "error"
    error = next(m for kind, m in entry["status"]["messages"] if kind == "execution_error")
    assert message in error["exception_message"] and "\n" not in error["exception_message"].strip()
    # The next prompt runs, and mentioning a placeholder is just text.
    graph[planner_id]["inputs"]["request"] = "Generate an image of a sign reading <|image_pad|> and <IMGPAD>"
    assert _run(server, graph)["status"]["status_str"] == "success"


@pytest.mark.skipif(not shutil.which("node") or not os.environ.get("COMFYUI_HARNESS"),
                    reason="needs node and COMFYUI_HARNESS (the harness folder with drop_and_run.js)")
@pytest.mark.parametrize("name", NAMES)
def test_drop_every_workflow_on_the_frontend_and_run_it(server, tmp_path, name):
    harness = Path(os.environ["COMFYUI_HARNESS"])
    ui = json.loads((UI_DIR / f"{name}.json").read_text())
    for node in ui["nodes"]:  # the same tiny settings as the API runs (widget positions: see the UI file)
        if node["type"] == "UnisonTaskRouter":
            node["widgets_values"][1:3] = [32, 32]
            if "video" in name:
                node["widgets_values"][3] = 5
        if node["type"] == "UnisonPlanner":
            node["widgets_values"][1:3] = [8, "rules"]
        if node["type"] == "UnisonVACESampler":
            node["widgets_values"][2] = 2  # steps (after seed and its control value)
    workflow = tmp_path / f"{name}.json"
    workflow.write_text(json.dumps(ui))
    result = subprocess.run(["node", str(harness / "drop_and_run.js")], capture_output=True, text=True, timeout=300,
                            env={**os.environ, "COMFY_URL": server["url"], "WORKFLOW": str(workflow),
                                 "STRICT_DROP": "1"})  # an error shown after the drop fails
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


@pytest.mark.skipif(not shutil.which("node") or not os.environ.get("HARNESS_ROOT"),
                    reason="needs node and HARNESS_ROOT (the harness's playwright-core)")
def test_the_readme_screenshot_script_draws_the_graph_in_the_real_frontend(server, tmp_path):
    """scripts/make_screenshot.py remakes docs/images/unison_graph.png with this drawing step."""
    from PIL import Image

    workflow = UI_DIR / "08_text_to_video.json"
    out = tmp_path / "graph.png"
    result = subprocess.run(["node", str(PACK / "scripts" / "screenshot_graph.js")], capture_output=True, text=True,
                            timeout=300, env={**os.environ, "COMFY_URL": server["url"], "WORKFLOW": str(workflow),
                                              "OUT": str(out)})
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["count"] == len(json.loads(workflow.read_text())["nodes"]) and not report["unknown"]
    with Image.open(out) as shot:
        assert shot.width == 1600 and 300 < shot.height <= 900
        assert len(shot.convert("L").getcolors(1 << 16)) > 50  # nodes and links drawn, not an empty canvas


@pytest.mark.skipif(not shutil.which("node") or not os.environ.get("HARNESS_ROOT"),
                    reason="needs node and HARNESS_ROOT (the harness's playwright-core)")
def test_switching_the_language_to_chinese_shows_the_nodes_in_chinese(server):
    """locales/zh, served by ComfyUI at /i18n, is what the frontend shows after Settings > Language."""
    zh = json.loads((PACK / "locales/zh/nodeDefs.json").read_text(encoding="utf-8"))
    ids = ["UnisonPlanner", "UnisonTaskRouter", "UnisonVACESampler", "UnisonAnnotator"]
    result = subprocess.run(["node", str(Path(__file__).with_name("locale_check.js"))], capture_output=True,
                            text=True, timeout=300, env={**os.environ, "COMFY_URL": server["url"], "LOCALE": "zh",
                                                         "NODES": ",".join(ids)})
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    for node_id in ids:
        assert seen[node_id]["title"] == zh[node_id]["display_name"], node_id
        assert any("\u4e00" <= ch <= "\u9fff" for ch in seen[node_id]["title"]), seen[node_id]["title"]
    planner = seen["UnisonPlanner"]
    assert planner["inputs"]["request"] == zh["UnisonPlanner"]["inputs"]["request"]["name"] != "request"
    assert planner["inputs"]["image1"] == zh["UnisonPlanner"]["inputs"]["image1"]["name"]
    assert planner["outputs"][0] == zh["UnisonPlanner"]["outputs"]["0"]["name"]


def test_more_media_than_the_task_uses_is_a_one_line_error_naming_the_limit(server):
    graph = tiny(json.loads((API_DIR / "06_image_control.json").read_text()), "06_image_control")
    planner = next(n for n in graph.values() if n["class_type"] == "UnisonPlanner")
    router = next(n for n in graph.values() if n["class_type"] == "UnisonTaskRouter")
    planner["inputs"]["image2"] = planner["inputs"]["image1"]  # a second image on a one-image task
    router["inputs"]["task"] = "image_control"
    entry = _run(server, graph)
    assert entry["status"]["status_str"] == "error"
    error = next(m for kind, m in entry["status"]["messages"] if kind == "execution_error")
    assert error["node_type"] == "UnisonTaskRouter"  # the planner plans; the router could still choose a task
    message = error["exception_message"].strip()
    assert message.startswith("image_control uses one control image; the request has 2 media item(s) and "
                              "#2 (image) would be left unused") and "\n" not in message


@pytest.mark.skipif(not shutil.which("node") or not os.environ.get("HARNESS_ROOT"),
                    reason="needs node and HARNESS_ROOT (the harness's playwright-core)")
def test_the_frontend_shows_the_inputs_that_apply_and_grows_the_media_row(server, tmp_path):
    sys.path.insert(0, str(PACK / "scripts"))
    from make_web_facts import widgets_of_choice

    names = ["05_image_edit", "11_video_edit"]
    forced = json.loads((UI_DIR / "11_video_edit.json").read_text())  # a graph saved with the task chosen
    next(n for n in forced["nodes"] if n["type"] == "UnisonTaskRouter")["widgets_values"][0] = "video_edit"
    (tmp_path / "forced_video_edit.json").write_text(json.dumps(forced))
    files = [UI_DIR / f"{n}.json" for n in names] + [tmp_path / "forced_video_edit.json"]
    result = subprocess.run(["node", str(Path(__file__).with_name("inputs_check.js"))], capture_output=True,
                            text=True, timeout=300, env={**os.environ, "COMFY_URL": server["url"],
                                                         "PACK_NAME": server["pack_name"],
                                                         "WORKFLOWS": ",".join(map(str, files))})
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    seen = json.loads(result.stdout.strip().splitlines()[-1])
    assert seen["errors"] == []
    facts = widgets_of_choice()
    as_sets = lambda table: {choice: set(names) for choice, names in table.items()}  # noqa: E731
    # The Router shows the overrides the chosen task reads (all of them on auto), the Annotator its mode's.
    assert as_sets(seen["router"]) == as_sets(facts["UnisonTaskRouter"]["shows"])
    assert seen["router"]["image_to_video"] == ["width", "height", "num_frames", "frame_ref"]
    assert seen["router"]["video_edit"] == ["width", "height", "num_frames", "mask_index", "source_index"]
    assert seen["router"]["text_understanding"] == []
    assert as_sets(seen["annotator"]) == as_sets(facts["UnisonAnnotator"]["shows"])
    assert "boxes" in seen["annotator"]["bbox"] and "text" not in seen["annotator"]["bbox"]
    assert "text" in seen["annotator"]["caption"] and "dilate" not in seen["annotator"]["reference"]
    # One free image socket after the last connected one, links following their sockets.
    assert [(s["what"], s["sockets"]) for s in seen["row"]] == [
        ("created", ["image1"]), ("connect image1", ["image1", "image2"]),
        ("connect image2", ["image1", "image2", "image3"]), ("connect image3", ["image1", "image2", "image3", "image4"]),
        ("connect image4", ["image1", "image2", "image3", "image4"]),
        ("disconnect image4", ["image1", "image2", "image3", "image4"]), ("disconnect image3", ["image1", "image2", "image3"])]
    assert all(s["linked"] for s in seen["row"])
    ids = seen["ids"]
    assert seen["rowPrompt"] == {"image1": [ids["load"], 0], "image2": [ids["load"], 0], "mask1": [ids["mask"], 1],
                                 "image3": None}
    # Released templates: fewer sockets shown, the same values saved and the same prompt queued as their API twins.
    for name in names:
        shown, ui = seen["templates"][name], json.loads((UI_DIR / f"{name}.json").read_text())
        api = json.loads((API_DIR / f"{name}.json").read_text())
        for node in ui["nodes"]:
            if not node["type"].startswith("Unison"):
                continue
            mine = shown["nodes"][str(node["id"])]
            assert mine["linked"] and mine["widgets_values"][:len(node["widgets_values"])] == node["widgets_values"]
            assert shown["prompt"][str(node["id"])]["inputs"] == api[str(node["id"])]["inputs"], (name, node["type"])
        planner = next(v for v in shown["nodes"].values() if v["type"] == "UnisonPlanner")
        router = next(v for v in shown["nodes"].values() if v["type"] == "UnisonTaskRouter")
        assert [i for i in planner["inputs"] if i.startswith("image")] == (["image1", "image2"] if name == "05_image_edit" else ["image1"])
        assert router["hidden"] == []  # task auto: every override may apply
    # Loaded with its task chosen: the settings video_edit does not read are hidden, and still queued.
    forced_seen = seen["templates"]["forced_video_edit"]
    router = next(v for v in forced_seen["nodes"].values() if v["type"] == "UnisonTaskRouter")
    assert router["hidden"] == ["frame_ref", "reference", "control"]
    router_id = next(k for k, v in forced_seen["nodes"].items() if v["type"] == "UnisonTaskRouter")
    assert forced_seen["prompt"][router_id]["inputs"]["frame_ref"] == "auto"
