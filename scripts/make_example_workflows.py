#!/usr/bin/env python3
"""Write the 13 example workflows, each twice: ComfyUI's UI format (drag and drop,
`example_workflows/<name>.json`) and the API format (`example_workflows/api/<name>.json`, for
`/prompt` and `scripts/queue_workflow.py`). Both come from the one description below, so they
cannot drift. UI nodes that name a downloadable file carry ComfyUI's `properties.models`
(name, url, directory) so the frontend offers the download. Run from anywhere:

    python scripts/make_example_workflows.py          # write
    python scripts/make_example_workflows.py --check  # exit 1 if the files on disk differ

Widget order for this pack's nodes is read from their INPUT_TYPES (declaration order, as the
frontend lays widgets out); core nodes' widget order is written down in CORE_NODES (ComfyUI 0.8.0).
Standard library only (plus the pack's own node declarations, which import nothing heavy).
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

PACK = Path(__file__).resolve().parents[1]
OUT = PACK / "example_workflows"
API_OUT = OUT / "api"

# The standard model names (unison_runtime/layout.py): what users' folders hold.
PLANNER_MODEL = "Unison-Qwen2.5-VL-3B"
PLANNER_BASE = "Qwen2.5-VL-3B-Instruct"
PROJECTOR_FILE = "projector.pth"
TRANSFORMER_FILE = "wan2.1_vace_1.3B_fp16.safetensors"
TEXT_ENCODER_FILE = "umt5_xxl_fp16.safetensors"
VAE_FILE = "wan_2.1_vae.safetensors"
U2NET_FILE = "u2net/u2net.pt"

# Public single-file downloads of widget values: value -> (url, ComfyUI model folder), for the
# frontend's missing-models dialog. Folders (the Qwen planner) and the unpublished Unison projector
# and LoRA have no such URL; README "Where each file comes from" lists every source.
_HF = "https://huggingface.co"
_COMFY_WAN = f"{_HF}/Comfy-Org/Wan_2.1_ComfyUI_repackaged/resolve/main/split_files"
MODEL_DOWNLOADS = {
    TRANSFORMER_FILE: (f"{_COMFY_WAN}/diffusion_models/{TRANSFORMER_FILE}", "diffusion_models"),
    TEXT_ENCODER_FILE: (f"{_COMFY_WAN}/text_encoders/{TEXT_ENCODER_FILE}", "text_encoders"),
    VAE_FILE: (f"{_COMFY_WAN}/vae/{VAE_FILE}", "vae"),
    U2NET_FILE: (f"{_HF}/ali-vilab/VACE-Annotators/resolve/main/salient/u2net.pt", "unison_annotators"),
}

# Sample media shipped in example_workflows/input/ (copied into ComfyUI's input folder).
BOWL = "unison_bowl.png"
PHOTO = "unison_photo.png"
PHOTO_MASK = "unison_photo_mask.png"
POSE = "unison_pose.png"
SUBJECT = "unison_subject.png"
CLIP = "unison_clip.mp4"
DEPTH_CLIP = "unison_depth.mp4"


@dataclass(frozen=True)
class CoreNode:
    """A core ComfyUI node as the frontend lays it out: sockets, then widgets in order."""

    sockets: tuple[tuple[str, str, bool], ...]  # (name, type, optional)
    widgets: tuple[str, ...]
    outputs: tuple[tuple[str, str], ...]  # (name, type)
    trailing_widget_values: tuple = ()  # e.g. the image-upload button's value
    output_node: bool = False


CORE_NODES = {
    "LoadImage": CoreNode((), ("image",), (("IMAGE", "IMAGE"), ("MASK", "MASK")), ("image",)),
    "LoadImageMask": CoreNode((), ("image", "channel"), (("MASK", "MASK"),), ("image",)),
    "SaveImage": CoreNode((("images", "IMAGE", False),), ("filename_prefix",), (), (), True),
    "PreviewAny": CoreNode((("source", "*", False),), (), (), (), True),
    "CreateVideo": CoreNode((("images", "IMAGE", False), ("audio", "AUDIO", True)), ("fps",), (("VIDEO", "VIDEO"),)),
    "SaveVideo": CoreNode((("video", "VIDEO", False),), ("filename_prefix", "format", "codec"), (), (), True),
    "LoadVideo": CoreNode((), ("file",), (("VIDEO", "VIDEO"),), ("image",)),
    # The native Wan VACE graph (native_workflows below).
    "UNETLoader": CoreNode((), ("unet_name", "weight_dtype"), (("MODEL", "MODEL"),)),
    "CLIPLoader": CoreNode((), ("clip_name", "type", "device"), (("CLIP", "CLIP"),)),
    "VAELoader": CoreNode((), ("vae_name",), (("VAE", "VAE"),)),
    "LoraLoaderModelOnly": CoreNode((("model", "MODEL", False),), ("lora_name", "strength_model"), (("MODEL", "MODEL"),)),
    "CLIPTextEncode": CoreNode((("clip", "CLIP", False),), ("text",), (("CONDITIONING", "CONDITIONING"),)),
    "WanVaceToVideo": CoreNode(
        (("positive", "CONDITIONING", False), ("negative", "CONDITIONING", False), ("vae", "VAE", False),
         ("control_video", "IMAGE", True), ("control_masks", "MASK", True), ("reference_image", "IMAGE", True)),
        ("width", "height", "length", "batch_size", "strength"),
        (("positive", "CONDITIONING"), ("negative", "CONDITIONING"), ("latent", "LATENT"), ("trim_latent", "INT"))),
    "SamplerCustom": CoreNode(
        (("model", "MODEL", False), ("positive", "CONDITIONING", False), ("negative", "CONDITIONING", False),
         ("sampler", "SAMPLER", False), ("sigmas", "SIGMAS", False), ("latent_image", "LATENT", False)),
        ("add_noise", "noise_seed", "cfg"), (("output", "LATENT"), ("denoised_output", "LATENT"))),
    "TrimVideoLatent": CoreNode((("samples", "LATENT", False),), ("trim_amount",), (("LATENT", "LATENT"),)),
    "VAEDecode": CoreNode((("samples", "LATENT", False), ("vae", "VAE", False)), (), (("IMAGE", "IMAGE"),)),
}
CONTROL_AFTER_GENERATE = {("SamplerCustom", "noise_seed")}
WIDGET_TYPES = ("INT", "FLOAT", "STRING", "BOOLEAN")


@dataclass
class Node:
    id: int
    type: str
    widgets: dict = field(default_factory=dict)
    links: dict = field(default_factory=dict)  # input name -> (source node id, output index)
    title: str | None = None


@dataclass
class Workflow:
    name: str
    title: str
    description: str
    nodes: list[Node]


# -- the description -------------------------------------------------------------------------
if str(PACK) not in sys.path:
    sys.path.insert(0, str(PACK))
from unison_runtime.generator.inputs import SamplerSettings  # noqa: E402  (the pack's own defaults)

DEFAULT = SamplerSettings()
SEED = 42  # the examples' seed (the nodes default to 0)


def sampler_widgets():
    """UnisonVACESampler's widgets: the runtime's defaults, the examples' seed."""
    return {"seed": SEED, "steps": DEFAULT.steps, "cfg": DEFAULT.cfg, "shift": DEFAULT.shift,
            "context_scale": DEFAULT.context_scale, "negative_prompt": DEFAULT.negative_prompt,
            "vae_tiling": DEFAULT.vae_tiling}


def planner_loader(i=1, model=PLANNER_MODEL, mode="unison"):
    return Node(i, "UnisonPlannerLoader", {"model": model, "adapter": "none", "mode": mode,
                                           "dtype": "auto", "offload_policy": "auto"})


# ComfyUI's own Wan VACE loaders (node ids), feeding UnisonVACESampler's model / clip / vae: the
# generation templates run on ComfyUI's stack, with no diffusers (issue 21).
UNET, CLIP_LOADER, VAE_LOADER = 3, 7, 8


def wan_loaders():
    """UNETLoader, CLIPLoader (type wan) and VAELoader naming ComfyUI's repackaged Wan files."""
    return [Node(UNET, "UNETLoader", {"unet_name": TRANSFORMER_FILE, "weight_dtype": "default"}),
            Node(CLIP_LOADER, "CLIPLoader", {"clip_name": TEXT_ENCODER_FILE, "type": "wan", "device": "default"}),
            Node(VAE_LOADER, "VAELoader", {"vae_name": VAE_FILE})]


def wan_links():
    return {"model": (UNET, 0), "clip": (CLIP_LOADER, 0), "vae": (VAE_LOADER, 0)}


def planner(i, request, links=None):
    return Node(i, "UnisonPlanner", {"request": request, "max_new_tokens": 256, "plan_by": "auto"}, {"planner": (1, 0), **(links or {})})


def router(i, plan_from, annotators=None):
    links = {"plan": (plan_from, 0)}
    if annotators is not None:
        links["annotators"] = (annotators, 0)
    return Node(i, "UnisonTaskRouter", {"task": "auto", "width": 0, "height": 0, "num_frames": 0,
                                        "frame_ref": "auto", "mask_index": -1, "source_index": -1,
                                        "reference": "auto", "control": "auto"}, links)


def generation(name, title, description, request, media_nodes=(), media_links=None, video=False, annotators=False):
    """Planner → router → projector → sampler (on ComfyUI's Wan VACE loaders) → save, the graph every
    generation task shares."""
    nodes = [planner_loader(1), Node(2, "UnisonProjectorLoader", {"projector": PROJECTOR_FILE}), *wan_loaders()]
    if annotators:
        nodes.append(Node(4, "UnisonAnnotatorLoader", {"grounding_dino": "none", "sam2": "none", "u2net": U2NET_FILE}))
    nodes.extend(media_nodes)
    nodes += [
        planner(10, request, media_links),
        router(11, 10, annotators=4 if annotators else None),
        Node(12, "UnisonProjector", {"enabled": True}, {"planner": (1, 0), "projector": (2, 0), "plan": (11, 0)}),
        Node(13, "UnisonVACESampler",
             sampler_widgets(), {"plan": (11, 0), "conditioning": (12, 0), **wan_links()}),
    ]
    if video:  # the sampler's VIDEO output (24 fps) straight into core SaveVideo
        nodes.append(Node(15, "SaveVideo", {"filename_prefix": f"unison/{name}", "format": "auto", "codec": "auto"},
                          {"video": (13, 2)}))
    else:
        nodes.append(Node(14, "SaveImage", {"filename_prefix": f"unison/{name}"}, {"images": (13, 0)}))
    return Workflow(name, title, description, nodes)


def public_weights(name, title, description, request):
    """The path without the Unison LoRA and projector: the stock instruct model plans (instruct
    mode) and the sampler gets no projector conditioning (T5 alone)."""
    nodes = [planner_loader(1, PLANNER_BASE, "instruct"), *wan_loaders(), planner(10, request), router(11, 10),
             Node(13, "UnisonVACESampler", sampler_widgets(), {"plan": (11, 0), **wan_links()}),
             Node(14, "SaveImage", {"filename_prefix": f"unison/{name}"}, {"images": (13, 0)})]
    return Workflow(name, title, description, nodes)


def understanding(name, title, description, request, media_nodes=(), media_links=None):
    nodes = [planner_loader(1), *media_nodes, planner(10, request, media_links),
             Node(11, "PreviewAny", {}, {"source": (10, 2)}, title="Answer")]
    return Workflow(name, title, description, nodes)


def load_image(i, name):
    return Node(i, "LoadImage", {"image": name})


def load_video(i, name):
    """Core LoadVideo: its VIDEO goes to the planner's `video` input ({video1} in the request)."""
    return Node(i, "LoadVideo", {"file": name})


WORKFLOWS = [
    understanding("01_text_understanding", "Unison: text understanding",
                  "The planner answers a question in words.",
                  "What is the capital of France, and what river runs through it?"),
    understanding("02_image_understanding", "Unison: image understanding",
                  "The planner looks at the connected image and answers.",
                  "What sauce is in this bowl? {image1}", [load_image(5, BOWL)], {"image1": (5, 0)}),
    understanding("03_video_understanding", "Unison: video understanding",
                  "The planner watches the video from core LoadVideo and answers.",
                  "Describe what happens in this video. {video1}", [load_video(5, CLIP)], {"video": (5, 0)}),
    generation("04_text_to_image", "Unison: text to image", "An image from words alone.",
               "Generate a 768x480 image of a red fox sitting in fresh snow at golden hour."),
    generation("05_image_edit", "Unison: image editing with a mask",
               "Regenerates the white part of the mask in the connected photo.",
               "Edit this image: replace the masked area with a bunch of sunflowers. {image1} {mask1}",
               [load_image(5, PHOTO), Node(6, "LoadImageMask", {"image": PHOTO_MASK, "channel": "red"})],
               {"image1": (5, 0), "mask1": (6, 0)}),
    generation("06_image_control", "Unison: image controllable generation",
               "An image that follows the pose of the connected control image.",
               "Generate an image of a dancer in a red dress following this pose. {image1}",
               [load_image(5, POSE)], {"image1": (5, 0)}),
    generation("07_image_reference", "Unison: image reference (subject)",
               "A new image of the subject in the connected reference image.",
               "Generate an image of this toy robot standing on a beach at sunset. {image1}",
               [load_image(5, SUBJECT)], {"image1": (5, 0)}),
    generation("08_text_to_video", "Unison: text to video", "A video from words alone.",
               "Make a 2-second 768x480 video of a lion walking through tall grass.", video=True),
    generation("09_image_to_video", "Unison: image to video",
               "The connected image becomes the first frame of a video.",
               "Animate this image as the first frame of a 2-second video: the waves roll in. {image1}",
               [load_image(5, PHOTO)], {"image1": (5, 0)}, video=True),
    generation("10_video_reference", "Unison: video reference (subject)",
               "A video of the subject in the connected reference image.",
               "Make a 2-second video of this toy robot dancing in a disco. {image1}",
               [load_image(5, SUBJECT)], {"image1": (5, 0)}, video=True),
    generation("11_video_edit", "Unison: video editing",
               "Edits the salient object of the video from core LoadVideo (no mask: U²-Net finds it).",
               "Edit this video: make the ball bright red. {video1}", [load_video(5, CLIP)], {"video": (5, 0)},
               video=True, annotators=True),
    generation("12_video_control", "Unison: video controllable generation",
               "A video that follows the depth video from core LoadVideo.",
               "Generate a video of a robot walking that follows this depth video. {video1}",
               [load_video(5, DEPTH_CLIP)], {"video": (5, 0)}, video=True),
    public_weights("13_public_weights_text_to_image", "Unison: text to image with public weights only",
                   "No Unison LoRA or projector needed: the stock Qwen2.5-VL-3B-Instruct plans (instruct mode) "
                   "and Wan2.1 VACE 1.3B generates from the T5 text alone.",
                   "Generate a 768x480 image of a lighthouse on a rocky coast under a stormy sky."),
]


# -- the native bridge (issue 17): our planning in front of ComfyUI's own Wan VACE graph ---------
LORA_FILE = "wan2.1_vace_1.3B_lora.safetensors"  # stands for the user's own Wan 2.1 1.3B LoRA
# Router outputs (nodes/planning.py + nodes/native.py ROUTER_OUTPUTS), by position.
ROUTER_WIDTH, ROUTER_HEIGHT, ROUTER_LENGTH, ROUTER_PROMPT = 4, 5, 6, 8
ROUTER_CONTROL_VIDEO, ROUTER_CONTROL_MASKS, ROUTER_REFERENCE_IMAGE = 9, 10, 11


def native_wan_vace(name, title, description, request, lora=False):
    """Planner → router → (CLIPTextEncode + projector → Unison Conditioning (native)) → core
    WanVaceToVideo → core SamplerCustom with Unison Wan UniPC and Unison Wan Sigmas (the reference's
    sampling) → TrimVideoLatent → VAEDecode → CreateVideo → SaveVideo, with ComfyUI's own loaders
    (and a core LoRA loader when `lora`)."""
    if str(PACK) not in sys.path:
        sys.path.insert(0, str(PACK))
    from unison_runtime.facts import FPS
    from unison_runtime.generator.conditioning import DEFAULT_NEGATIVE_PROMPT
    from unison_runtime.native import comfy_prompt

    model = (6, 0) if lora else (3, 0)
    nodes = [
        planner_loader(1),
        Node(2, "UnisonProjectorLoader", {"projector": PROJECTOR_FILE}),
        Node(3, "UNETLoader", {"unet_name": TRANSFORMER_FILE, "weight_dtype": "default"}),
        Node(4, "CLIPLoader", {"clip_name": TEXT_ENCODER_FILE, "type": "wan", "device": "default"}),
        Node(5, "VAELoader", {"vae_name": VAE_FILE}),
        *([Node(6, "LoraLoaderModelOnly", {"lora_name": LORA_FILE, "strength_model": 1.0}, {"model": (3, 0)})]
          if lora else []),
        Node(7, "UnisonWanUniPC", {}),
        Node(8, "UnisonWanSigmas", {"steps": DEFAULT.steps, "shift": DEFAULT.shift}),
        planner(10, request),
        router(11, 10),
        Node(12, "UnisonProjector", {"enabled": True}, {"planner": (1, 0), "projector": (2, 0), "plan": (11, 0)}),
        Node(13, "CLIPTextEncode", {"text": ""}, {"clip": (4, 0), "text": (11, ROUTER_PROMPT)}, title="Prompt (from the router)"),
        Node(14, "CLIPTextEncode", {"text": comfy_prompt(DEFAULT_NEGATIVE_PROMPT)}, {"clip": (4, 0)}, title="Negative prompt"),
        Node(15, "UnisonNativeConditioning", {}, {"positive": (13, 0), "negative": (14, 0), "conditioning": (12, 0)}),
        Node(16, "WanVaceToVideo", {"width": 832, "height": 480, "length": 81, "batch_size": 1, "strength": 1.0},
             {"positive": (15, 0), "negative": (15, 1), "vae": (5, 0), "width": (11, ROUTER_WIDTH),
              "height": (11, ROUTER_HEIGHT), "length": (11, ROUTER_LENGTH), "control_video": (11, ROUTER_CONTROL_VIDEO),
              "control_masks": (11, ROUTER_CONTROL_MASKS), "reference_image": (11, ROUTER_REFERENCE_IMAGE)}),
        Node(17, "SamplerCustom", {"add_noise": True, "noise_seed": SEED, "cfg": DEFAULT.cfg},
             {"model": model, "positive": (16, 0), "negative": (16, 1), "sampler": (7, 0), "sigmas": (8, 0),
              "latent_image": (16, 2)}),
        Node(18, "TrimVideoLatent", {"trim_amount": 0}, {"samples": (17, 0), "trim_amount": (16, 3)}),
        Node(19, "VAEDecode", {}, {"samples": (18, 0), "vae": (5, 0)}),
        Node(20, "CreateVideo", {"fps": float(FPS)}, {"images": (19, 0)}),
        Node(21, "SaveVideo", {"filename_prefix": f"unison/{name}", "format": "auto", "codec": "auto"}, {"video": (20, 0)}),
    ]
    return Workflow(name, title, description, nodes)


NATIVE_WORKFLOWS = [
    native_wan_vace("14_native_wan_vace", "Unison planning → native Wan VACE",
                    "Unison plans the request; ComfyUI's own Wan VACE nodes generate it (UNETLoader, CLIPLoader "
                    "type wan, VAELoader, WanVaceToVideo, SamplerCustom with Unison Wan UniPC and Unison Wan "
                    "Sigmas: the reference's own sampling). The same graph serves text-to-video and video edits: "
                    "the router leaves the VACE inputs a task has not unconnected.",
                    "Make a 2-second 768x480 video of a lion walking through tall grass."),
    native_wan_vace("15_native_wan_vace_lora", "Unison planning → native Wan VACE with a LoRA",
                    "The native Wan VACE graph with a core LoRA loader (pick your own Wan 2.1 1.3B LoRA). "
                    "Here a video edit with a mask from the input folder.",
                    f"Edit this video: make the masked area bright red. ###{CLIP}### ###{PHOTO_MASK}###", lora=True),
]
WORKFLOWS += NATIVE_WORKFLOWS


# -- writers ---------------------------------------------------------------------------------
def pack_nodes() -> dict:
    return _helper().pack_nodes().NODE_CLASS_MAPPINGS


def _v1_spec(spec) -> tuple:
    return _helper().v1_spec(spec)


def _helper():
    """scripts/pack_nodes.py, however this script was loaded (by path from the tests, or run)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import pack_nodes

    return pack_nodes


def layout_of(node_type: str, classes: dict) -> tuple[list, list, list, tuple]:
    """(sockets [(name, type, optional)], widgets [(name, extra values)], outputs, trailing)."""
    if node_type in CORE_NODES:
        core = CORE_NODES[node_type]
        widgets = [(w, ("fixed",) if (node_type, w) in CONTROL_AFTER_GENERATE else ()) for w in core.widgets]
        return list(core.sockets), widgets, list(core.outputs), core.trailing_widget_values
    cls = classes[node_type]
    declared = cls.INPUT_TYPES()
    sockets, widgets = [], []
    for section in ("required", "optional"):
        for name, spec in declared.get(section, {}).items():
            kind, options = _v1_spec(spec)
            if isinstance(kind, list) or kind in WIDGET_TYPES:
                extra = ("fixed",) if options.get("control_after_generate") else ()
                widgets.append((name, extra))
            else:
                sockets.append((name, kind, section == "optional"))
    outputs = list(zip(getattr(cls, "RETURN_NAMES", cls.RETURN_TYPES), cls.RETURN_TYPES))
    return sockets, widgets, outputs, ()


def to_api(workflow: Workflow, classes: dict) -> dict:
    graph = {}
    for node in workflow.nodes:
        _, widgets, _, _ = layout_of(node.type, classes)
        inputs = {}
        for name, _extra in widgets:
            if name in node.widgets:
                inputs[name] = node.widgets[name]
        missing = set(node.widgets) - {w for w, _ in widgets}
        if missing:
            raise SystemExit(f"{workflow.name}: {node.type} has no widget(s) {sorted(missing)}")
        for name, (source, index) in node.links.items():
            inputs[name] = [str(source), index]
        entry = {"class_type": node.type, "inputs": inputs}
        if node.title:
            entry["_meta"] = {"title": node.title}
        graph[str(node.id)] = entry
    return graph


def _depths(workflow: Workflow) -> dict[int, int]:
    depth: dict[int, int] = {}
    by_id = {n.id: n for n in workflow.nodes}

    def of(node_id: int) -> int:
        if node_id not in depth:
            node = by_id[node_id]
            depth[node_id] = 1 + max((of(src) for src, _ in node.links.values()), default=-1)
        return depth[node_id]

    for node in workflow.nodes:
        of(node.id)
    return depth


def to_ui(workflow: Workflow, classes: dict) -> dict:
    depth = _depths(workflow)
    order = sorted(workflow.nodes, key=lambda n: (depth[n.id], n.id))
    links, ui_nodes = [], []
    out_links: dict[tuple[int, int], list[int]] = {}
    in_link: dict[tuple[int, str], int] = {}
    for node in order:  # links in a stable order: by target node, then input name order
        socket_names = [s[0] for s in ui_inputs(node, classes)]
        for name in sorted(node.links, key=socket_names.index):
            source, index = node.links[name]
            source_type = layout_of(by_type(workflow, source).type, classes)[2][index][1]
            link_id = len(links) + 1
            links.append([link_id, source, index, node.id, socket_names.index(name), source_type])
            out_links.setdefault((source, index), []).append(link_id)
            in_link[(node.id, name)] = link_id
    column_y: dict[int, float] = {}
    for position, node in enumerate(order):
        sockets, widgets, outputs, trailing = layout_of(node.type, classes)
        values = []
        for name, extra in widgets:
            if name not in node.widgets:
                raise SystemExit(f"{workflow.name}: {node.type} widget {name!r} needs a value in the description")
            values.append(node.widgets[name])
            values.extend(extra)
        values.extend(trailing)
        height = 60 + 24 * (len(sockets) + len(widgets)) + (120 if node.type == "UnisonPlanner" else 0)
        x = 40 + 380 * depth[node.id]
        y = column_y.get(depth[node.id], 40.0)
        column_y[depth[node.id]] = y + height + 40
        entry = {
            "id": node.id,
            "type": node.type,
            "pos": [x, y],
            "size": [340, height],
            "flags": {},
            "order": position,
            "mode": 0,
            "inputs": [{"name": name, "type": kind, **({"widget": {"name": name}} if widget else {}),
                        "link": in_link.get((node.id, name))}
                       for name, kind, widget in ui_inputs(node, classes)],
            "outputs": [{"name": name, "type": kind, "links": out_links.get((node.id, i), []), "slot_index": i}
                        for i, (name, kind) in enumerate(outputs)],
            "properties": {"Node name for S&R": node.type, **_models_property(node)},
            "widgets_values": values,
        }
        if node.title:
            entry["title"] = node.title
        ui_nodes.append(entry)
    return {
        "id": _stable_uuid(workflow.name),
        "revision": 0,
        "last_node_id": max(n.id for n in workflow.nodes),
        "last_link_id": len(links),
        "nodes": ui_nodes,
        "links": links,
        "groups": [],
        "config": {},
        "extra": {"ds": {"scale": 0.8, "offset": [0, 0]},
                  "info": {"name": workflow.title, "description": workflow.description}},
        "version": 0.4,
    }


def _models_property(node: Node) -> dict:
    """ComfyUI's `properties.models` for the downloadable files a node's widgets name."""
    models = [{"name": value, "url": MODEL_DOWNLOADS[value][0], "directory": MODEL_DOWNLOADS[value][1]}
              for value in node.widgets.values() if isinstance(value, str) and value in MODEL_DOWNLOADS]
    return {"models": models} if models else {}


def ui_inputs(node: Node, classes: dict) -> list[tuple[str, str, bool]]:
    """(name, type, is a widget) of the node's input slots in the UI format: its sockets, then the
    widgets fed by a link (e.g. CLIPTextEncode's text from the router's prompt)."""
    sockets, widgets, _, _ = layout_of(node.type, classes)
    linked = [(name, _widget_type(node.type, name, classes), True) for name, _ in widgets if name in node.links]
    return [(name, kind, False) for name, kind, _optional in sockets] + linked


def _widget_type(node_type: str, name: str, classes: dict) -> str:
    if node_type in CORE_NODES:
        return {"text": "STRING", "width": "INT", "height": "INT", "length": "INT", "trim_amount": "INT"}[name]
    kind = _v1_spec({**classes[node_type].INPUT_TYPES().get("required", {}),
                     **classes[node_type].INPUT_TYPES().get("optional", {})}[name])[0]
    return "COMBO" if isinstance(kind, list) else kind


def by_type(workflow: Workflow, node_id: int) -> Node:
    return next(n for n in workflow.nodes if n.id == node_id)


def _stable_uuid(name: str) -> str:
    import uuid

    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"comfyui-unison/example_workflows/{name}"))


def render(classes: dict | None = None) -> dict[Path, str]:
    classes = classes or pack_nodes()
    files = {}
    for workflow in WORKFLOWS:
        files[OUT / f"{workflow.name}.json"] = json.dumps(to_ui(workflow, classes), indent=2, ensure_ascii=False) + "\n"
        files[API_OUT / f"{workflow.name}.json"] = json.dumps(to_api(workflow, classes), indent=2, ensure_ascii=False) + "\n"
    return files


def main(argv=None) -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling helper, however we were loaded
    from generated_files import write_or_check

    return write_or_check(render, PACK, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    sys.exit(main())
