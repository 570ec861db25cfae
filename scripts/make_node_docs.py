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


NATIVE_SECTION = """## With ComfyUI's own nodes (native Wan VACE graphs)

Our planning can drive ComfyUI's core Wan VACE graph (`UNETLoader`/`CLIPLoader` type wan/
`VAELoader` → `CLIPTextEncode` → `WanVaceToVideo` → `KSampler` → `TrimVideoLatent` → `VAEDecode`
→ `CreateVideo`/`SaveVideo`), with LoRAs, GGUF files and ComfyUI's memory manager. Templates
`14_native_wan_vace` and `15_native_wan_vace_lora` are exactly this graph.

| our output | connect to (core) | notes |
|---|---|---|
| UnisonTaskRouter `prompt` (STRING) | `CLIPTextEncode` text (the widget as an input) | the text our T5 reads, parentheses escaped (ComfyUI would read `(x:1.2)` as emphasis) |
| UnisonTaskRouter `width`, `height` (INT) | `WanVaceToVideo` width, height | multiples of 16; an edit keeps its source's size |
| UnisonTaskRouter `num_frames` (INT) | `WanVaceToVideo` length | Wan's 4k+1 |
| UnisonTaskRouter `control_video` (IMAGE) | `WanVaceToVideo` control_video | 0..1, mid-gray where regenerated; *absent* (None) when the task has no source: WanVaceToVideo then uses gray, as VACE does |
| UnisonTaskRouter `control_masks` (MASK) | `WanVaceToVideo` control_masks | {0, 1}, 1 = regenerate (soft masks binarised at 0.5, as our sampler does); absent without a source |
| UnisonTaskRouter `reference_image` (IMAGE) | `WanVaceToVideo` reference_image | letterboxed onto white at the target size; *absent* when the plan has no reference (never a placeholder). WanVaceToVideo reads only the first image; our sampler takes up to 3 |
| UnisonTaskRouter `needs_generator` (BOOLEAN), `task` (STRING) | switches, `PreviewAny` | understanding tasks block every generation output |
| UnisonPlanner `prompt`, `width`, `height`, `length` | the same core inputs | as planned, before the router's overrides |
| Unison Conditioning (native) `positive`, `negative` | `WanVaceToVideo` positive, negative | see below |
| UnisonVACESampler `frames` (IMAGE) | `SaveImage`, `PreviewImage`, `CreateVideo` | |
| UnisonVACESampler `latent` (LATENT) | `VAEDecode` (Wan 2.1 VAE), latent nodes | the VAE's own latents, reference frames trimmed |
| UnisonVACESampler `video` (VIDEO) | `SaveVideo` | 24 fps, the planner's time base |
| core `LoadVideo` (VIDEO) | UnisonPlanner / UnisonAuto `video`, UnisonTaskRouter `source_override_video` | frames at the file's own frame rate |
| core `UNETLoader` (+ `LoraLoaderModelOnly`…), `VAELoader`, `CLIPLoader` (type wan) | UnisonVACESampler `model`, `vae`, `clip` | all three: our sampler samples through ComfyUI's own nodes instead of diffusers |

**Unison Conditioning (native).** `CLIPTextEncode` (UMT5-XXL) gives `[1, 512, 4096]`: the prompt's
tokens, then padding rows that ComfyUI zeroes. ComfyUI's Wan model (`comfy/ldm/wan/model.py`)
embeds whatever length it is given: it neither pads nor truncates to a text length (`text_len=512`
is an unused constructor default), and it uses no text attention mask, so the zero rows take part
in cross-attention. Unison's DiT reads 2048 tokens: the node keeps the real tokens (up to the last
non-zero row), appends the projector's 4 tokens and pads with zeros to 2048, which is exactly our
own sampler's context (tested equal). The negative keeps its tokens and is zero-padded to 2048 too,
as the reference pads it: ComfyUI's Wan conditioning batches positive and negative only when their
lengths match, so an unpadded negative would run alone at 512 tokens and attend over 512 − n zero
rows instead of 2048 − n. An all-zero negative (`ConditioningZeroOut`) stays all zeros.

**Native vs our diffusers sampler.** On the same weights the two paths give the same text
context, the same VACE latents (inactive/reactive halves, folded masks, reference latent with a
zero reactive half and a zero mask) and the same DiT output for the same input (differences
≤ 2e-5), and both draw the same seeded noise (`torch.randn` on the CPU, reference frames
included). They differ by design in the solver: our sampler runs Wan's flow-matching UniPC
(order 2, diffusers) on Wan's sigmas (`linspace(0.999, 0)`, shifted); ComfyUI's `uni_pc_bh2` is
its own UniPC (order up to 3, sigmas converted as a VP schedule). UnisonVACESampler with
`model`/`vae`/`clip` connected feeds ComfyUI's UniPC Wan's own sigmas (as core `SamplerCustom`
does); a `KSampler` with the `simple` scheduler (the templates) takes ComfyUI's sigma table,
which starts at 1.0 instead of 0.999. Measured on the tiny models (4 steps, frames in 0..1):
our sampler's native path differs from the diffusers path by 0.016 mean absolute (edit with a
mask and a reference); `KSampler` (`uni_pc_bh2`, `simple`) by about 0.10. `tests/nodes/
native_parity.py` checks all of this in ComfyUI's own Python.

ComfyUI 0.8.0's `CLIPLoader` recognises UMT5-XXL only at its real size (24 blocks, width 4096, a
fixed config), and `UNETLoader` assumes a Wan text width of 4096; the tests' tiny stand-ins load
through a test-only shim (`tests/nodes/tiny_comfy_models/`). Real files need nothing.
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
    sections.append(NATIVE_SECTION)
    files[PACK / "docs" / "NODES.md"] = "\n".join(sections)
    return files


def main(argv=None) -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling helper, however we were loaded
    from generated_files import write_or_check

    return write_or_check(render, PACK, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    sys.exit(main())
