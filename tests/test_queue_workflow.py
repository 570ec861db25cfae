"""scripts/queue_workflow.py against a small local stand-in for ComfyUI's HTTP API: local media named
in the workflow or in --set is uploaded through /upload/image before the prompt is queued."""

from __future__ import annotations

import email.parser
import email.policy
import importlib.util
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def load_script():
    spec = importlib.util.spec_from_file_location("queue_workflow", ROOT / "scripts" / "queue_workflow.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class FakeComfy(BaseHTTPRequestHandler):
    """/upload/image as ComfyUI 0.8.0 answers it (same name + other bytes: renamed "x (1).png";
    identical bytes: kept once), /prompt, /history and /view."""
    inputs: dict[str, bytes]
    uploads: list[str]
    prompts: list[dict]

    def log_message(self, *args):
        pass

    def _json(self, value, status=200):
        body = json.dumps(value).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.path == "/prompt":
            self.prompts.append(json.loads(body)["prompt"])
            return self._json({"prompt_id": "p1", "number": 0, "node_errors": {}})
        head = f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode()
        form = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
        fields = {part.get_param("name", header="content-disposition"): part for part in form.iter_parts()}
        assert fields["type"].get_content().strip() == "input"
        name, data = fields["image"].get_filename(), fields["image"].get_payload(decode=True)
        stem, dot, ext = name.rpartition(".")
        i = 0
        while name in self.inputs and self.inputs[name] != data:
            i += 1
            name = f"{stem} ({i}).{ext}"
        self.inputs[name] = data
        self.uploads.append(name)
        self._json({"name": name, "subfolder": "", "type": "input"})

    def do_GET(self):
        if self.path.startswith("/history/"):
            return self._json({"p1": {"status": {"completed": True, "status_str": "success", "messages": []},
                                      "outputs": {"9": {"images": [{"filename": "out.png", "subfolder": "",
                                                                    "type": "output"}]}}}})
        body = b"output bytes"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def comfy():
    handler = type("Handler", (FakeComfy,), {"inputs": {"photo.png": b"the server's own photo"},
                                             "uploads": [], "prompts": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield handler, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_local_media_is_uploaded_and_the_workflow_points_at_it(comfy, tmp_path, monkeypatch):
    handler, url = comfy
    media = tmp_path / "media"
    media.mkdir()
    (media / "photo.png").write_bytes(b"my photo")  # same name as a server file, other bytes
    (media / "clip.mp4").write_bytes(b"my clip")
    (media / "mask.png").write_bytes(b"my mask")
    workflow = tmp_path / "wf.json"
    workflow.write_text(json.dumps({
        "5": {"class_type": "LoadImage", "inputs": {"image": "unison_bowl.png"}},
        "6": {"class_type": "LoadImageMask", "inputs": {"image": str(media / "mask.png"), "channel": "alpha"}},
        "10": {"class_type": "UnisonPlanner",
               "inputs": {"request": "edit ###media/clip.mp4### like ###unison_clip.mp4###, keep ###media/clip.mp4###"}},
    }))
    monkeypatch.chdir(tmp_path)  # relative paths are read from the current folder
    status = load_script().main([str(workflow), "--url", url, "--out", str(tmp_path / "out"),
                                 "--set", "5.image=media/photo.png"])
    assert status == 0
    assert sorted(handler.uploads) == ["clip.mp4", "mask.png", "photo (1).png"]  # each file once
    assert handler.inputs["photo (1).png"] == b"my photo" and handler.inputs["clip.mp4"] == b"my clip"
    assert handler.inputs["photo.png"] == b"the server's own photo"
    graph = handler.prompts[0]
    assert graph["5"]["inputs"]["image"] == "photo (1).png"
    assert graph["6"]["inputs"] == {"image": "mask.png", "channel": "alpha"}
    # a marker naming no local file (the server's sample) is left for the server to resolve
    assert graph["10"]["inputs"]["request"] == "edit ###clip.mp4### like ###unison_clip.mp4###, keep ###clip.mp4###"
    assert (tmp_path / "out" / "out.png").read_bytes() == b"output bytes"


def test_names_of_files_that_are_not_here_are_sent_unchanged(comfy, tmp_path, monkeypatch):
    handler, url = comfy
    (tmp_path / "weights.pth").write_bytes(b"not media")
    workflow = tmp_path / "wf.json"
    workflow.write_text(json.dumps({"5": {"class_type": "LoadImage", "inputs": {"image": "photo.png"}},
                                    "7": {"class_type": "X", "inputs": {"file": "weights.pth", "n": 3}}}))
    monkeypatch.chdir(tmp_path)
    assert load_script().main([str(workflow), "--url", url, "--out", str(tmp_path / "out")]) == 0
    assert handler.uploads == []
    assert handler.prompts[0]["5"]["inputs"]["image"] == "photo.png"
    assert handler.prompts[0]["7"]["inputs"] == {"file": "weights.pth", "n": 3}
