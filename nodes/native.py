"""The native bridge: our planning in front of ComfyUI's own Wan VACE graph (issue 17).

- `planner_outputs` / `router_outputs`: the values the Planner and the Task Router append as
  native sockets (prompt for `CLIPTextEncode`, size and length, `WanVaceToVideo`'s VACE inputs).
  The computation is `unison_runtime.native`; here only blocking for understanding tasks.
- `UnisonNativeConditioning`: ComfyUI's T5 CONDITIONING + the planner's projected hidden states →
  the Unison context (what our own sampler's DiT sees), for `WanVaceToVideo` / `KSampler`.
- `native_inputs` / `generator_of`: UnisonVACESampler's optional MODEL / VAE / CLIP sockets, and
  the generator it runs on: the connected ones (adopted by the runtime's host backend, ComfyUI's:
  checked first, `comfy_wan.check_wan_vace`), else its generator source, loaded by the backend
  the runtime picks (`unison_runtime.generator.backend`).
"""

from __future__ import annotations

from comfy_api.latest import io

from . import comfy_glue as glue
from . import comfy_wan
from .values import CONDITIONING, PLAN, PLANNER, PROJECTOR

CATEGORY = "Unison"

# Sockets appended to UnisonPlanner and UnisonTaskRouter (after their original outputs, so saved
# workflows keep their links): (type, name, tooltip).
PLANNER_OUTPUTS = (
    (io.String, "prompt", "The request as the generator's T5 reads it, for CLIPTextEncode (parentheses escaped)."),
    (io.Int, "width", "Planned width, for WanVaceToVideo (an edit keeps its source's size)."),
    (io.Int, "height", "Planned height, for WanVaceToVideo."),
    (io.Int, "length", "Planned frame count (Wan's 4k+1), for WanVaceToVideo's length."),
)
ROUTER_OUTPUTS = (
    (io.String, "prompt", "The request as the generator's T5 reads it, for CLIPTextEncode (parentheses escaped)."),
    (io.Image, "control_video", "For WanVaceToVideo's control_video: source frames 0..1, gray where regenerated; "
                                "absent when the task has no source (WanVaceToVideo then uses gray)."),
    (io.Mask, "control_masks", "For WanVaceToVideo's control_masks: 1 = regenerate; absent when the task has no source."),
    (io.Image, "reference_image", "For WanVaceToVideo's reference_image: the reference letterboxed to the target "
                                  "size; absent when the plan has none."),
    (io.Boolean, "needs_generator", "False for understanding tasks (answered by the planner), else True."),
)


def native_outputs(declared) -> list:
    """The appended native sockets as V3 outputs."""
    return [kind.Output(display_name=name, tooltip=tip) for kind, name, tip in declared]


def planner_outputs(planned) -> tuple:
    """(prompt, width, height, length) for a planned request; blocked for understanding tasks.
    The size is as planned, before the router's overrides (`api.planned_shape`)."""
    if planned.plan.is_understanding:
        return (glue.blocked(None),) * len(PLANNER_OUTPUTS)
    from unison_runtime import api

    width, height, num_frames = api.planned_shape(planned)
    return api.comfy_prompt(planned.prompt), width, height, api.snap_frames(num_frames)


def router_outputs(planned) -> tuple:
    """(prompt, control_video, control_masks, reference_image, needs_generator) for a routed plan."""
    if planned.route is None or not planned.route.needs_generator:
        block = glue.blocked(None)
        return block, block, block, block, False
    from unison_runtime.api import comfy_prompt, vace_inputs

    vace = vace_inputs(planned.inputs)
    return comfy_prompt(planned.prompt), vace.control_video, vace.control_masks, vace.reference_image, True


class UnisonNativeConditioning(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="UnisonNativeConditioning", display_name="Unison Conditioning (native)", category=CATEGORY,
            description=(
                "Unison's conditioning for ComfyUI's own Wan VACE sampler: the prompt's T5 tokens from CLIPTextEncode "
                "(CLIPLoader type wan) without their padding, the projector's 4 tokens from the planner's hidden "
                "states, zeros up to the 2048 tokens Unison's DiT reads. The negative keeps its tokens and is "
                "zero-padded to the same length. Connect either UnisonProjector's conditioning, or the planner, "
                "projector and plan."),
            inputs=[
                io.Conditioning.Input("positive", tooltip="CLIPTextEncode of the router's prompt (UMT5-XXL, CLIPLoader type wan)."),
                io.Conditioning.Input("negative", tooltip="CLIPTextEncode of the negative prompt."),
                CONDITIONING.Input("conditioning", optional=True, tooltip=(
                    "From UnisonProjector (its projector tokens are used; projector off = T5 alone).")),
                PLANNER.Input("planner", optional=True, tooltip=(
                    "With projector and plan, instead of conditioning: the planner whose hidden states are projected.")),
                PROJECTOR.Input("projector", optional=True, tooltip="The Unison projector (with planner and plan)."),
                PLAN.Input("plan", optional=True, tooltip="The plan from the planner or router (with planner and projector)."),
            ],
            outputs=[
                io.Conditioning.Output(display_name="positive", tooltip="The Unison context, for WanVaceToVideo's positive."),
                io.Conditioning.Output(display_name="negative", tooltip=(
                    "The negative, zero-padded to the same length, for WanVaceToVideo's negative.")),
            ],
        )

    @classmethod
    def execute(cls, positive, negative, conditioning=None, planner=None, projector=None, plan=None) -> io.NodeOutput:
        glue.on_first_run()
        from unison_runtime.api import padded_context, unison_context

        tokens = projector_tokens(conditioning, planner, projector, plan)
        return io.NodeOutput(comfy_wan.map_conditioning(positive, lambda t: unison_context(t, tokens)),
                             comfy_wan.map_conditioning(negative, padded_context))


def projector_tokens(conditioning, planner, projector, plan):
    """`[1, 4, W]` from UnisonProjector's conditioning, or computed from planner + projector + plan."""
    from unison_runtime import api

    if conditioning is not None:
        if not isinstance(conditioning, api.Conditioning):
            raise ValueError(f"conditioning must come from UnisonProjector, got {type(conditioning).__name__}")
        return conditioning.projector_tokens
    given = {"planner": planner, "projector": projector, "plan": plan}
    if all(v is None for v in given.values()):
        raise ValueError("UnisonNativeConditioning: connect UnisonProjector's conditioning, or the planner, "
                         "projector and plan (without them this would be plain T5 conditioning)")
    missing = [name for name, value in given.items() if value is None]
    if missing:
        raise ValueError(f"UnisonNativeConditioning: {', '.join(missing)} not connected; the projector needs "
                         "the planner, the projector and the plan together")
    if not isinstance(plan, api.Planned):
        raise ValueError(f"UnisonNativeConditioning: the plan must come from UnisonPlanner or UnisonTaskRouter, "
                         f"got {type(plan).__name__}")
    return api.condition(plan, planner.load(), projector, True, check_cancel=glue.check_interrupted).projector_tokens


def native_inputs() -> list:
    """UnisonVACESampler's optional MODEL / VAE / CLIP sockets (ComfyUI's own Wan VACE)."""
    return [
        io.Model.Input("model", optional=True, tooltip=(
            "Wan2.1 VACE as ComfyUI loads it (UNETLoader, LoRAs applied, GGUF...), with vae and clip; they win over a "
            "connected generator. Sampling runs through ComfyUI's own sampler and memory manager.")),
        io.Vae.Input("vae", optional=True, tooltip="Optional: the Wan 2.1 VAE from VAELoader (with model and clip)."),
        io.Clip.Input("clip", optional=True, tooltip="Optional: UMT5-XXL from CLIPLoader (type wan), with model and vae."),
    ]


def wants_native(model, vae, clip) -> bool:
    """True when ComfyUI's models are connected (all three are needed; a partial set is an error)."""
    given = {"model": model, "vae": vae, "clip": clip}
    if all(v is None for v in given.values()):
        return False
    missing = [name for name, value in given.items() if value is None]
    if missing:
        raise ValueError(f"UnisonVACESampler: {', '.join(missing)} not connected; ComfyUI's sampling needs "
                         "model (UNETLoader), vae (VAELoader) and clip (CLIPLoader, type wan) together")
    return True


def generator_of(generator, model, vae, clip):
    """The loaded generator UnisonVACESampler runs on: ComfyUI's connected MODEL / VAE / CLIP (all
    three, checked), else its generator source's."""
    if wants_native(model, vae, clip):
        from unison_runtime.api import adopt

        return adopt(model, vae, clip)
    if generator is None:
        raise ValueError("UnisonVACESampler: connect a generator (UnisonGeneratorLoader), or ComfyUI's model "
                         "(UNETLoader), vae (VAELoader) and clip (CLIPLoader, type wan)")
    return generator.load()


def latent_output(latent) -> dict | None:
    """The runtime's latent (the VAE's own z) as ComfyUI's LATENT (None when the sampler gave none)."""
    return None if latent is None else {"samples": latent}


NODES = [UnisonNativeConditioning]


# -- core VIDEO in and out (issue 16 item 6) ---------------------------------------------------
VIDEO_INPUT_TIP = ("A core VIDEO (LoadVideo, CreateVideo): its frames at its own frame rate. Stands for {video1} "
                   "in the request; connect this or video1, not both.")
VIDEO_OUTPUT_TIP = "The frames as a core VIDEO at 24 fps (the planner's time base), for SaveVideo."


def video_frames(video) -> tuple:
    """(IMAGE frames `[T, H, W, 3]`, frames per second) of a core VIDEO (comfy_api VideoInput)."""
    if not hasattr(video, "get_components"):
        raise ValueError(f"expected a core VIDEO (from LoadVideo or CreateVideo), got {type(video).__name__}")
    components = video.get_components()
    images = components.images
    if images.ndim != 4 or images.shape[0] < 1:
        raise ValueError(f"the VIDEO has no frames (images shape {tuple(images.shape)})")
    return images[..., :3], float(components.frame_rate)


def one_video(video1, video, node: str):
    """The IMAGE frames and fps for the video slot: `video1` (IMAGE, 24 fps) or `video` (VIDEO)."""
    if video is None:
        return video1, None
    if video1 is not None:
        raise ValueError(f"{node}: both video1 (IMAGE) and video (VIDEO) are connected; connect one of them")
    return video_frames(video)


def one_source(source_override, source_override_video):
    """The router's source override: the IMAGE frames, or a core VIDEO's frames (not both)."""
    if source_override_video is None:
        return source_override
    if source_override is not None:
        raise ValueError("UnisonTaskRouter: connect source_override or source_override_video, not both")
    return video_frames(source_override_video)[0]


def video_output(images, fps: float | None = None):
    """A core VIDEO of IMAGE frames (comfy_api's VideoFromComponents; a stand-in outside ComfyUI)."""
    from fractions import Fraction

    from unison_runtime.api import FPS

    rate = Fraction(fps or FPS).limit_denominator(1001)
    try:
        from comfy_api.latest import InputImpl, Types
    except ImportError:  # outside ComfyUI (tests, CLI): the same get_components() contract
        return StandInVideo(images, rate)
    return InputImpl.VideoFromComponents(Types.VideoComponents(images=images, audio=None, frame_rate=rate))


class StandInVideo:
    """comfy_api's VideoInput outside ComfyUI: `get_components()` → images, audio, frame_rate."""

    def __init__(self, images, frame_rate):
        from types import SimpleNamespace

        self._components = SimpleNamespace(images=images, audio=None, frame_rate=frame_rate, metadata=None)

    def get_components(self):
        return self._components
