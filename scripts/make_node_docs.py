#!/usr/bin/env python3
"""Write the node reference from the nodes' own declarations, so it cannot drift from them:
`docs/NODES.md` (all nodes) and `web/docs/<NodeId>.md` (the help page ComfyUI's frontend shows
for a selected node). Run after changing a node:  python scripts/make_node_docs.py [--check]"""

from __future__ import annotations

import sys
from pathlib import Path

PACK = Path(__file__).resolve().parents[1]
INTRO = """# ComfyUI-Unison nodes

Category **Unison**. Node IDs are stable: saved workflows refer to them. Generated from the nodes'
declarations by `scripts/make_node_docs.py` (the same text is each node's help page in ComfyUI).

How they fit together (every example in `example_workflows/` is this graph or part of it):

    UnisonPlannerLoader ─┐                      ┌─ UnisonProjector ◄─ UnisonProjectorLoader
    (LoadImage …) ───────┴► UnisonPlanner ─► UnisonTaskRouter ─┴─► UnisonVACESampler ─► SaveImage / CreateVideo ► SaveVideo
                               └─ answer ─► Preview as Text          ▲ UnisonGeneratorLoader

Understanding requests are answered by UnisonPlanner (its `answer` output, and the text shown on
the node); the router then blocks every generation output, so one graph serves all 12 tasks.
Media: connect images to `image1`..`image4`, a frame batch to `video1`, a mask to `mask1`, and
write `{image1}` … in the request where each belongs; or write `###name.png###` for a file in
ComfyUI's input folder. Models go under `models/unison/{planner,projector,generator,annotators}`
(the Wan single files may instead sit in ComfyUI's `diffusion_models`, `text_encoders`, `vae`).
"""


# Dropdowns filled from the user's model folders: their choices are not part of the reference.
MODEL_LISTS = {"model", "adapter", "diffusers_folder", "transformer", "text_encoder", "vae", "projector",
               "grounding_dino", "sam2", "u2net"}


def _type(kind) -> str:
    return "choice" if isinstance(kind, list) else kind


def node_page(node_id: str, cls, display: str, level: int = 1) -> str:
    h = "#" * level
    lines = [f"{h} {display} (`{node_id}`)", "", cls.DESCRIPTION, "", f"{h}# Inputs", "",
             "| name | type | default | description |", "|---|---|---|---|"]
    declared = cls.INPUT_TYPES()
    for section in ("required", "optional"):
        for name, spec in declared.get(section, {}).items():
            kind, options = spec[0], (spec[1] if len(spec) > 1 else {})
            default = options.get("default", "")
            if isinstance(kind, list) and name not in MODEL_LISTS:
                tip = f"{options.get('tooltip', '')} Choices: {', '.join(kind)}."
            else:
                tip = options.get("tooltip", "")
            optional = " (optional)" if section == "optional" else ""
            default_text = repr(default) if default != "" else ""
            lines.append(f"| `{name}`{optional} | {_type(kind)} | {default_text} | {tip.replace('|', '/').strip()} |")
    lines += ["", f"{h}# Outputs", "", "| name | type | description |", "|---|---|---|"]
    for name, kind, tip in zip(cls.RETURN_NAMES, cls.RETURN_TYPES, cls.OUTPUT_TOOLTIPS):
        lines.append(f"| `{name}` | {kind} | {tip} |")
    return "\n".join(lines) + "\n"


def render() -> dict[Path, str]:
    sys.path.insert(0, str(PACK))
    from nodes import NODE_CLASS_MAPPINGS, NODE_DISPLAY_NAME_MAPPINGS

    files = {}
    sections = [INTRO]
    for node_id, cls in NODE_CLASS_MAPPINGS.items():
        display = NODE_DISPLAY_NAME_MAPPINGS[node_id]
        sections.append(node_page(node_id, cls, display, level=2))
        files[PACK / "web" / "docs" / f"{node_id}.md"] = node_page(node_id, cls, display)
    files[PACK / "docs" / "NODES.md"] = "\n".join(sections)
    return files


def main(argv=None) -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling helper, however we were loaded
    from generated_files import write_or_check

    return write_or_check(render, PACK, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    sys.exit(main())
