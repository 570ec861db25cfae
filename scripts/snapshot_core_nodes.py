#!/usr/bin/env python3
"""Record the /object_info entries of the core ComfyUI nodes the example workflows use, from a
running ComfyUI, into tests/nodes/core_object_info.json. The tests check the UI workflows' widget
positions against it (ComfyUI's public node API, no ComfyUI code). Lists of the user's files (the
LoadImage image choices) are replaced by [] because they depend on the input folder.

    ../shared/comfyui-harness/server.sh start
    python scripts/snapshot_core_nodes.py http://127.0.0.1:8188
    ../shared/comfyui-harness/server.sh stop
"""

from __future__ import annotations

import json
import sys
import urllib.request
from pathlib import Path

PACK = Path(__file__).resolve().parents[1]
OUT = PACK / "tests" / "nodes" / "core_object_info.json"
CORE_NODES = ("LoadImage", "LoadImageMask", "SaveImage", "PreviewAny", "CreateVideo", "SaveVideo", "LoadVideo",
              # the native Wan VACE templates
              "UNETLoader", "CLIPLoader", "VAELoader", "LoraLoaderModelOnly", "CLIPTextEncode",
              "WanVaceToVideo", "SamplerCustom", "TrimVideoLatent", "VAEDecode")
FILE_LISTS = {("LoadImage", "image"), ("LoadImageMask", "image"), ("LoadVideo", "file"), ("UNETLoader", "unet_name"),
              ("CLIPLoader", "clip_name"), ("VAELoader", "vae_name"), ("LoraLoaderModelOnly", "lora_name")}
KEEP = ("input", "input_order", "output", "output_name", "output_node", "name", "category")


def main(argv: list[str]) -> int:
    url = (argv[1] if len(argv) > 1 else "http://127.0.0.1:8188").rstrip("/")
    snapshot = {"comfyui_version": None, "nodes": {}}
    with urllib.request.urlopen(f"{url}/system_stats", timeout=30) as response:
        snapshot["comfyui_version"] = json.load(response)["system"].get("comfyui_version")
    for name in CORE_NODES:
        with urllib.request.urlopen(f"{url}/object_info/{name}", timeout=30) as response:
            info = json.load(response)[name]
        entry = {k: info[k] for k in KEEP if k in info}
        for section in entry.get("input", {}).values():
            for input_name, spec in section.items():
                if (name, input_name) in FILE_LISTS and isinstance(spec, list) and isinstance(spec[0], list):
                    spec[0] = []
                elif (name, input_name) in FILE_LISTS and len(spec) > 1 and "options" in spec[1]:  # V3 COMBO
                    spec[1]["options"] = []
        snapshot["nodes"][name] = entry
    OUT.write_text(json.dumps(snapshot, indent=1, sort_keys=False) + "\n")
    print(f"wrote {OUT.relative_to(PACK)} (ComfyUI {snapshot['comfyui_version']})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
