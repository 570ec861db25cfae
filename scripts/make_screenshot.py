#!/usr/bin/env python3
"""Remake the README's picture of the main Unison graph (`docs/images/unison_graph.png`): a real
ComfyUI (the harness's, see ../shared/comfyui-harness) with this pack and the tiny demo models,
the template drawn by its real frontend in headless Chromium (`scripts/screenshot_graph.js`).

    COMFYUI_DIR=... COMFYUI_PYTHON=... HARNESS_ROOT=... python scripts/make_screenshot.py [--workflow NAME]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

PACK = Path(__file__).resolve().parents[1]
OUT = PACK / "docs" / "images" / "unison_graph.png"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _server_command(python: str, state: Path, yaml: Path, port: int) -> list[str]:
    return [python, "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(port), "--disable-auto-launch",
            "--extra-model-paths-config", str(yaml), "--user-directory", str(state / "user"),
            "--input-directory", str(state / "input"), "--output-directory", str(state / "output"),
            "--temp-directory", str(state / "temp"), "--database-url", f"sqlite:///{state}/user/comfyui.db"]


def _state(root: Path, models: Path) -> Path:
    """A private server state: settings, the pack in its own custom_nodes, the tiny models' folders."""
    for sub in ("input", "output", "temp", "user/default", "custom_nodes"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    (root / "user/default/comfy.settings.json").write_text(json.dumps(
        {"Comfy.TutorialCompleted": True, "Comfy.Minimap.Visible": False, "Comfy.Graph.CanvasInfo": False}))
    (root / "custom_nodes" / "ComfyUI-Unison").symlink_to(PACK, target_is_directory=True)
    yaml = root / "extra_model_paths.yaml"
    yaml.write_text(
        "unison_demo:\n"
        f"  base_path: {models}\n"
        "  unison_planner: planner\n  unison_projector: projector\n  unison_generator: generator\n"
        "  unison_annotators: annotators\n  diffusion_models: comfyui/diffusion_models\n"
        "  text_encoders: comfyui/text_encoders\n  vae: comfyui/vae\n  loras: comfyui/loras\n"
        f"pack:\n  custom_nodes: {root / 'custom_nodes'}\n")
    return yaml


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workflow", default="08_text_to_video", help="template stem in example_workflows/")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    comfy, harness = Path(os.environ["COMFYUI_DIR"]), os.environ["HARNESS_ROOT"]
    python = os.environ.get("COMFYUI_PYTHON", sys.executable)
    with tempfile.TemporaryDirectory() as tmp:
        models, state = Path(tmp) / "models", Path(tmp) / "state"
        subprocess.run([sys.executable, "-m", "unison_runtime", "make-demo-models", "--out", str(models)],
                       check=True, cwd=PACK, stdout=subprocess.DEVNULL)
        yaml = _state(state, models)
        port = _free_port()
        with open(state / "server.log", "w") as log:
            server = subprocess.Popen(_server_command(python, state, yaml, port), cwd=comfy, stdout=log,
                                      stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            for _ in range(240):
                try:
                    urllib.request.urlopen(f"{url}/system_stats", timeout=2)
                    break
                except OSError:
                    if server.poll() is not None:
                        sys.exit((state / "server.log").read_text()[-3000:])
                    time.sleep(0.5)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            env = {**os.environ, "COMFY_URL": url, "HARNESS_ROOT": harness, "OUT": str(args.out),
                   "WORKFLOW": str(PACK / "example_workflows" / f"{args.workflow}.json")}
            shot = subprocess.run(["node", str(PACK / "scripts" / "screenshot_graph.js")], env=env, text=True,
                                  capture_output=True, timeout=300)
            print(shot.stdout.strip(), shot.stderr.strip()[-2000:])
            return shot.returncode
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
