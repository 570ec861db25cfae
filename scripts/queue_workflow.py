#!/usr/bin/env python3
"""Queue one API-format workflow on a running ComfyUI, wait for it, and download its outputs.

    python scripts/queue_workflow.py example_workflows/api/04_text_to_image.json
    python scripts/queue_workflow.py wf.json --url http://127.0.0.1:8188 --out outputs/ \\
        --set 10.request="make a 3-second video of a fox" --set 13.steps=20

Standard library only. Local media named in the workflow or in `--set` (an input whose value is
an existing image or video file, or a `###path###` marker in a request) is first uploaded through
ComfyUI's /upload/image (which takes videos too) and the input renamed to the uploaded file, so a
remote server needs no copying by hand. POST /prompt queues the graph; /history/<prompt_id> is polled until the
prompt finishes; every file a node reported (images, videos) is fetched from /view into --out,
and text outputs (answers, plan summaries) are printed. Exit status: 0 on success, 1 when
ComfyUI rejected or failed the prompt (its error is printed), 2 on a timeout.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path


def request_json(url: str, payload: dict | None = None, timeout: float = 30.0):
    data = None if payload is None else json.dumps(payload).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"} if data else {})
    with urllib.request.urlopen(req, timeout=timeout) as response:
        return json.loads(response.read().decode() or "null")


def apply_settings(graph: dict, settings: list[str]) -> dict:
    """`node.input=value` pairs; value is JSON when it parses (numbers, true, "text"), else text."""
    for item in settings:
        target, _, raw = item.partition("=")
        node_id, _, name = target.partition(".")
        if node_id not in graph or not name:
            raise SystemExit(f"--set {item!r}: expected NODE_ID.INPUT=VALUE with a node of the workflow")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        graph[node_id]["inputs"][name] = value
    return graph


MEDIA_EXTENSIONS = {".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".mp4", ".avi", ".mov", ".webm", ".mkv"}
MARKER = re.compile(r"###(.+?)###")


def local_media(value: str) -> Path | None:
    """The local file an input value names, when it is an image or video that exists here."""
    path = Path(value).expanduser()
    return path if path.suffix.lower() in MEDIA_EXTENSIONS and path.is_file() else None


def upload(url: str, path: Path) -> str:
    """POST one file to ComfyUI's input folder; the name to use in the workflow (ComfyUI renames a
    different file of the same name, and keeps one copy of an identical one)."""
    boundary = uuid.uuid4().hex
    body = b"".join([
        f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="{path.name}"\r\n'.encode(),
        b"Content-Type: application/octet-stream\r\n\r\n", path.read_bytes(), b"\r\n",
        f'--{boundary}\r\nContent-Disposition: form-data; name="type"\r\n\r\ninput\r\n--{boundary}--\r\n'.encode(),
    ])
    req = urllib.request.Request(f"{url}/upload/image", data=body,
                                 headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    try:
        with urllib.request.urlopen(req, timeout=300) as response:
            answer = json.loads(response.read().decode())
    except urllib.error.HTTPError as err:
        raise SystemExit(f"ComfyUI refused the upload of {path} (HTTP {err.code})") from None
    name = answer["name"] if not answer.get("subfolder") else f"{answer['subfolder']}/{answer['name']}"
    print(f"uploaded {path} as {name}")
    return name


def upload_media(url: str, graph: dict) -> dict:
    """Upload every local file the graph's inputs name (whole values and ###markers###), once each,
    and point the inputs at the uploaded names."""
    names: dict[Path, str] = {}

    def uploaded(path: Path) -> str:
        key = path.resolve()
        if key not in names:
            names[key] = upload(url, path)
        return names[key]

    def replace_marker(match: re.Match) -> str:
        path = local_media(match.group(1))
        return f"###{uploaded(path)}###" if path else match.group(0)

    for node in graph.values():
        inputs = node.get("inputs", {})
        for name, value in inputs.items():
            if not isinstance(value, str):
                continue
            path = local_media(value)
            inputs[name] = uploaded(path) if path else MARKER.sub(replace_marker, value)
    return graph


def queue(url: str, graph: dict, client_id: str) -> str:
    try:
        answer = request_json(f"{url}/prompt", {"prompt": graph, "client_id": client_id})
    except urllib.error.HTTPError as err:
        body = err.read().decode(errors="replace")
        raise SystemExit(f"ComfyUI rejected the workflow (HTTP {err.code}):\n{body}") from None
    if answer.get("node_errors"):
        raise SystemExit(f"ComfyUI reported node errors:\n{json.dumps(answer['node_errors'], indent=2)}")
    return answer["prompt_id"]


def wait(url: str, prompt_id: str, timeout: float, poll: float = 0.5) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        history = request_json(f"{url}/history/{prompt_id}")
        entry = history.get(prompt_id) if history else None
        if entry and entry.get("status", {}).get("completed") is not None:
            return entry  # finished, successfully or not (status_str says which)
        time.sleep(poll)
    print(f"timed out after {timeout:.0f} s waiting for {prompt_id}", file=sys.stderr)
    sys.exit(2)


def download(url: str, entry: dict, out_dir: Path) -> list[Path]:
    saved = []
    for node_id, output in entry.get("outputs", {}).items():
        for text in output.get("text", []) or []:
            print(f"[node {node_id}] {text}")
        for key in ("images", "gifs", "videos", "animated"):
            for item in output.get(key, []) or []:
                if not isinstance(item, dict) or "filename" not in item:
                    continue
                query = urllib.parse.urlencode({"filename": item["filename"], "subfolder": item.get("subfolder", ""),
                                                "type": item.get("type", "output")})
                target = out_dir / item.get("subfolder", "") / item["filename"]
                target.parent.mkdir(parents=True, exist_ok=True)
                with urllib.request.urlopen(f"{url}/view?{query}", timeout=60) as response:
                    target.write_bytes(response.read())
                saved.append(target)
                print(f"[node {node_id}] saved {target}")
    return saved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Queue an API-format workflow on ComfyUI and fetch its outputs.")
    parser.add_argument("workflow", type=Path, help="API-format JSON (e.g. example_workflows/api/04_text_to_image.json)")
    parser.add_argument("--url", default="http://127.0.0.1:8188", help="ComfyUI server address")
    parser.add_argument("--out", type=Path, default=Path("comfy_outputs"), help="where to save the outputs")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds to wait for the prompt")
    parser.add_argument("--set", action="append", default=[], metavar="NODE.INPUT=VALUE",
                        help="change an input before queueing (repeatable)")
    args = parser.parse_args(argv)

    graph = json.loads(args.workflow.read_text(encoding="utf-8"))
    if "nodes" in graph and "links" in graph:
        raise SystemExit(f"{args.workflow} is a UI-format workflow; use its API twin (example_workflows/api/)")
    graph = apply_settings(graph, args.set)
    url = args.url.rstrip("/")
    graph = upload_media(url, graph)
    prompt_id = queue(url, graph, uuid.uuid4().hex)
    print(f"queued {args.workflow.name} as {prompt_id}")
    entry = wait(url, prompt_id, args.timeout)
    status = entry.get("status", {})
    if status.get("status_str") == "error":
        for kind, message in status.get("messages", []):
            if kind == "execution_error":
                print(f"error in node {message.get('node_id')} ({message.get('node_type')}): "
                      f"{message.get('exception_message', '').strip()}", file=sys.stderr)
        return 1
    download(url, entry, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
