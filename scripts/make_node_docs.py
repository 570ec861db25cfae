#!/usr/bin/env python3
"""Write the node reference from the nodes' own declarations, so it cannot drift from them:
`docs/NODES.md` (all nodes) and `web/docs/<NodeId>.md` (the help page ComfyUI's frontend shows
for a selected node). Run after changing a node (the nodes are V3: COMFYUI_DIR names a ComfyUI for
its comfy_api):  COMFYUI_DIR=... python scripts/make_node_docs.py [--check]"""

from __future__ import annotations

import sys
from pathlib import Path

PACK = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling helpers, however we were loaded
from generated_files import write_or_check  # noqa: E402
from pack_nodes import pack_nodes, v1_spec  # noqa: E402
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

In the frontend the image row grows as you connect it (one free socket after the last connected
one), and UnisonTaskRouter and UnisonAnnotator show only the settings their chosen task or mode
reads: the others are hidden, kept in the saved workflow, and ignored with a note if they are set.
"""


NATIVE_SECTION = """## With ComfyUI's own nodes (native Wan VACE graphs)

Our planning can drive ComfyUI's core Wan VACE graph (`UNETLoader`/`CLIPLoader` type wan/
`VAELoader` → `CLIPTextEncode` → `WanVaceToVideo` → `SamplerCustom` with **Unison Wan UniPC** and
**Unison Wan Sigmas** → `TrimVideoLatent` → `VAEDecode` → `CreateVideo`/`SaveVideo`), with LoRAs,
GGUF files and ComfyUI's memory manager. Templates `14_native_wan_vace` and
`15_native_wan_vace_lora` are exactly this graph.

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
| core `UNETLoader` (+ `LoraLoaderModelOnly`…), `VAELoader`, `CLIPLoader` (type wan) | UnisonVACESampler `model`, `vae`, `clip` | all three: our sampler samples ComfyUI's own model with Wan's UniPC instead of diffusers; a model, VAE or CLIP that is not Wan 2.1 VACE's is refused in one line before anything runs |
| Unison Wan UniPC (SAMPLER), Unison Wan Sigmas (SIGMAS) | core `SamplerCustom` / `SamplerCustomAdvanced` sampler, sigmas | the reference's sampling for any core Wan 2.1 graph (in place of `KSampler` + `ModelSamplingSD3`) |

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

**Native vs our diffusers path.** There is one solver, `unison_runtime/generator/unipc.py`: Wan's
flow-matching UniPC written from the UniPC algorithm (order 2, B(h) = e^h − 1, data prediction, a
corrector after every step, first order at the last; step coefficients in float32 from the float32
schedule, as the reference computes them), checked step by step against diffusers'
`UniPCMultistepScheduler` in Wan's configuration (1 to 50 steps, shifts 1 to 8: every intermediate
sample within 2.4e-8 in float64, 2.9e-6 in float32). Our diffusers path runs it on the diffusers
DiT; UnisonVACESampler with `model`/`vae`/`clip` connected, and core `SamplerCustom` with Unison Wan
UniPC, run it on ComfyUI's model prediction (CFG, LoRAs and patches applied by ComfyUI), with
ComfyUI's progress bar, latent preview and Cancel. Two of ComfyUI's conventions are bridged so that
it samples as the reference does:
- the reference conditions its DiT on the integer timestep `trunc(σ·1000)`, ComfyUI on `σ·1000`:
  the sampler asks ComfyUI's model at that timestep's level and re-expresses the prediction at σ
  with the same velocity (without this the tiny models' frames differ by 0.010 mean, 0.11 max);
- the reference starts from the unit noise, ComfyUI from `σ0·noise` (σ0 = 0.9998 at shift 5): on
  an empty latent (a fresh generation) the sampler divides the start by σ0 (without: 3e-5 mean,
  3e-4 max). A latent with content (partial denoise) starts as ComfyUI scaled it.

Measured on the tiny models, same weights, seed, steps, cfg and shift, frames in 0..1
(`tests/nodes/test_native_comfyui.py`, identical on ComfyUI 0.8.0 and 0.33.0): text-to-video
(4 steps, shift 5), an image edit with a mask and a reference (3 steps, shift 3) and a video control
(5 steps, shift 8, cfg 4) differ by at most 7.3e-6 (mean 7e-7), inside the 1e-4 bar. What remains is
float32 rounding in two implementations of the same networks: for identical inputs ComfyUI's Wan DiT
and diffusers' differ by 1.9e-5 on outputs of magnitude 3.3, ComfyUI's UMT5 and ours by 1.9e-6 on
the text context, the VACE latents by 3e-7; the solver adds nothing measurable. (Before, with
ComfyUI's own `uni_pc_bh2`, the native path differed by 0.016 mean, 0.18 max; a core `KSampler`
with the `simple` scheduler, which starts at σ = 1.0 and uses that UniPC, by about 0.10.) Given
sigmas other than Unison Wan Sigmas', the timesteps come from the float32 sigmas, which for about
one (steps, shift) pair in 400 puts one step one timestep off the reference's float64 schedule;
UnisonVACESampler passes the exact schedule. A level below 1/1000 (timestep 0) is asked at σ itself.
`tests/nodes/native_parity.py` computes the native side in ComfyUI's own Python, which has no
diffusers, and the test compares it with our diffusers path.

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
    declared = cls.INPUT_TYPES()  # ComfyUI's V1 view of the V3 schema
    for section in ("required", "optional"):
        for name, spec in declared.get(section, {}).items():
            kind, options = v1_spec(spec)
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
    nodes = pack_nodes()
    names = nodes.display_names()
    files = {}
    sections = [INTRO]
    for node_id, cls in nodes.NODE_CLASS_MAPPINGS.items():
        display = names[node_id]
        sections.append(node_page(node_id, cls, display, level=2))
        files[PACK / "web" / "docs" / f"{node_id}.md"] = node_page(node_id, cls, display)
    sections.append(NATIVE_SECTION)
    files[PACK / "docs" / "NODES.md"] = "\n".join(sections)
    return files


def main(argv=None) -> int:
    return write_or_check(render, PACK, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    sys.exit(main())
