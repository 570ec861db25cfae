"""UnisonProjector (planner hidden states → 4 text tokens), UnisonAnnotator (VACE preprocessing)
and UnisonVACESampler (stage two)."""

from __future__ import annotations

from comfy_api.latest import io
from unison_runtime.api import ANNOTATOR_MODES, MAX_FRAMES, MAX_SIDE, SWITCHES, SamplerSettings

from . import comfy_glue as glue
from . import convert, native
from .values import ANNOTATORS, CONDITIONING, GENERATOR, PLAN, PLANNER, PROJECTOR, expect

CATEGORY = "Unison"
DEFAULT = SamplerSettings()  # the widgets' defaults


def _planned(plan, node: str):
    from unison_runtime.api import Planned

    return expect(plan, Planned, node, "plan", "UnisonPlanner or UnisonTaskRouter")


class UnisonProjector(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="UnisonProjector", display_name="Unison Projector", category=CATEGORY,
            description=(
                "Unison's alignment step: the planner reads the request and the projector maps its last hidden "
                "states to 4 extra text tokens that the generator sees after the T5 text. Switch it off to "
                "compare with plain T5 conditioning."),
            inputs=[
                PLANNER.Input("planner", tooltip="The planner whose hidden states are projected (a Qwen2.5-VL planner)."),
                PROJECTOR.Input("projector", tooltip="The Unison projector."),
                PLAN.Input("plan", tooltip="The plan (from the planner or the router): its request is what is encoded."),
                io.Boolean.Input("enabled", default=True, label_on="projector on", label_off="T5 only", tooltip=(
                    "Off: the generator gets T5 text alone (the paper's no-alignment ablation).")),
            ],
            outputs=[CONDITIONING.Output(display_name="conditioning",
                                         tooltip="Text plus projector tokens, for UnisonVACESampler.")],
        )

    @classmethod
    def execute(cls, planner, projector, plan, enabled) -> io.NodeOutput:
        glue.on_first_run()
        from unison_runtime import api

        planned = _planned(plan, "UnisonProjector")
        model = planner.load() if enabled else None
        return io.NodeOutput(api.condition(planned, model, projector, enabled, check_cancel=glue.check_interrupted))


class UnisonAnnotator(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="UnisonAnnotator", display_name="Unison Annotator (VACE preprocessing)", category=CATEGORY,
            description=(
                "VACE preprocessing: turns frames (and a mask, words or boxes) into the source frames and masks "
                "VACE expects. mask/bbox/label/caption/salient make edit masks; firstframe/lastframe/"
                "firstlastframe expand an image into a video with gray frames to fill; reference letterboxes a "
                "subject image; control passes pose/depth/edge frames through."),
            inputs=[
                io.Combo.Input("mode", options=list(ANNOTATOR_MODES), default="mask",
                               tooltip="What to prepare (see the node's description)."),
                io.Image.Input("frames", tooltip="An image or a batch of video frames."),
                io.String.Input("text", default="", multiline=False,
                                tooltip="label/caption modes: what to find (e.g. 'the dog')."),
                io.String.Input("boxes", default="", multiline=False,
                                tooltip="bbox mode: boxes in pixels, 'x1,y1,x2,y2;x1,y1,x2,y2'."),
                io.Int.Input("width", default=0, min=0, max=MAX_SIDE, step=16, tooltip="Target width; 0 keeps the input's."),
                io.Int.Input("height", default=0, min=0, max=MAX_SIDE, step=16, tooltip="Target height; 0 keeps the input's."),
                io.Int.Input("num_frames", default=0, min=0, max=MAX_FRAMES,
                             tooltip="firstframe/lastframe/firstlastframe: video length; 0 = 81."),
                io.Int.Input("dilate", default=0, min=-256, max=256,
                             tooltip="Grow the mask by this many pixels (negative: shrink it)."),
                io.Int.Input("feather", default=0, min=0, max=256, tooltip="Soften the mask edge by this many pixels."),
                io.Boolean.Input("invert", default=False, tooltip="Regenerate everything except the mask."),
                io.Mask.Input("mask", optional=True, tooltip="mask mode: the mask to apply (white = regenerate)."),
                io.Image.Input("last_frame", optional=True, tooltip="firstlastframe mode: the last frame."),
                ANNOTATORS.Input("annotators", optional=True, tooltip="Models for bbox/label/caption/salient modes."),
            ],
            outputs=[io.Image.Output(display_name="frames", tooltip="Frames as VACE sees them (gray where regenerated)."),
                     io.Mask.Output(display_name="masks", tooltip="Masks, white = regenerate.")],
        )

    @classmethod
    def execute(cls, mode, frames, text, boxes, width, height, num_frames, dilate, feather, invert,
                mask=None, last_frame=None, annotators=None) -> io.NodeOutput:
        glue.on_first_run()
        from unison_runtime.api import FRAME_REF_MODES, run_annotator

        if last_frame is not None:
            import torch

            frames = torch.cat([frames[:1], last_frame[:1].to(frames)], dim=0)
        if mode in FRAME_REF_MODES and not num_frames:
            from unison_runtime.api import DEFAULT_VIDEO_FRAMES

            num_frames = DEFAULT_VIDEO_FRAMES
        result = run_annotator(
            mode,
            frames=convert.image_to_uint8(frames),
            mask=None if mask is None else convert.mask_to_float(mask),
            text=text or None,
            boxes=parse_boxes(boxes),
            width=width or None, height=height or None, num_frames=num_frames or None,
            dilate=dilate, feather=feather, invert=invert,
            models=None if annotators is None else annotators.load(),
        )
        notes = result.info.notes  # settings this mode does not read (a saved graph's), one line each
        return io.NodeOutput(*convert.annotator_outputs(result), ui={"text": notes} if notes else None)


def parse_boxes(text: str) -> list[list[float]] | None:
    """'x1,y1,x2,y2;x1,y1,x2,y2' → list of boxes (None when empty); ValueError names the bad box."""
    if not text or not text.strip():
        return None
    boxes = []
    for part in (p for p in text.split(";") if p.strip()):
        values = [v.strip() for v in part.split(",")]
        try:
            x1, y1, x2, y2 = (float(v) for v in values)
        except ValueError:
            raise ValueError(f"box {part.strip()!r} is not 'x1,y1,x2,y2' (four numbers); "
                             "separate several boxes with ';'") from None
        if x2 <= x1 or y2 <= y1:
            raise ValueError(f"box {part.strip()!r}: x2 must exceed x1 and y2 must exceed y1")
        boxes.append([x1, y1, x2, y2])
    return boxes


class UnisonVACESampler(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="UnisonVACESampler", display_name="Unison VACE Sampler", category=CATEGORY,
            description=(
                "Stage two: Wan2.1 VACE generates the frames for the resolved plan (size, frame count, source "
                "frames, masks and references from UnisonTaskRouter), conditioned on the request text and the "
                "projector's tokens. Wan's flow-matching UniPC with classifier-free guidance; shows progress "
                "and a latent preview, and stops promptly on Cancel. Inside ComfyUI it generates on ComfyUI's own "
                "Wan VACE: the model, vae and clip from UNETLoader, VAELoader and CLIPLoader (type wan), or the "
                "files UnisonGeneratorLoader names, loaded the way those loaders load them."),
            inputs=[
                PLAN.Input("plan", tooltip="The resolved plan from UnisonTaskRouter."),
                io.Int.Input("seed", default=DEFAULT.seed, min=0, max=0xFFFFFFFFFFFFFFFF, control_after_generate=True,
                             tooltip="Noise seed; the same seed and settings give the same result."),
                io.Int.Input("steps", default=DEFAULT.steps, min=1, max=200, tooltip="Sampling steps (50 as in the paper)."),
                io.Float.Input("cfg", default=DEFAULT.cfg, min=0.0, max=30.0, step=0.1, round=0.01,
                               tooltip="Classifier-free guidance scale; 1.0 turns the negative pass off."),
                io.Float.Input("shift", default=DEFAULT.shift, min=0.0, max=100.0, step=0.1, round=0.01,
                               tooltip="Flow-matching sigma shift."),
                io.Float.Input("context_scale", default=DEFAULT.context_scale, min=0.0, max=2.0, step=0.05,
                               tooltip="Strength of the VACE context (source frames, masks, references)."),
                io.String.Input("negative_prompt", default=DEFAULT.negative_prompt, multiline=True,
                                tooltip="What to avoid; empty uses Wan 2.1's standard negative prompt."),
                GENERATOR.Input("generator", optional=True, tooltip=(
                    "Wan2.1 VACE from UnisonGeneratorLoader (inside ComfyUI it runs on ComfyUI's own Wan VACE); or "
                    "connect model, vae and clip instead.")),
                CONDITIONING.Input("conditioning", optional=True, tooltip=(
                    "From UnisonProjector; without it the request text alone (T5) conditions.")),
                io.Image.Input("frames", optional=True, tooltip=(
                    "Source frames (from the router or an annotator); default: the router's.")),
                io.Mask.Input("masks", optional=True, tooltip="Masks, white = regenerate; default: the router's."),
                io.Image.Input("references", optional=True, tooltip="Reference images; default: the router's."),
                *native.native_inputs(),
                io.Combo.Input("vae_tiling", options=list(SWITCHES), default=DEFAULT.vae_tiling, optional=True, tooltip=(
                    "Tiled VAE encode/decode (less VRAM, a little slower); auto: on when the GPU lacks room.")),
            ],
            outputs=[
                io.Image.Output(display_name="frames", tooltip=(
                    "The generated image (1 frame) or video frames; save with SaveImage or CreateVideo + SaveVideo.")),
                io.Latent.Output(display_name="latent", tooltip=(
                    "The generated latents (ComfyUI's Wan 2.1 LATENT), e.g. for VAEDecode or further sampling.")),
                io.Video.Output(display_name="video", tooltip=native.VIDEO_OUTPUT_TIP),
            ],
        )

    @classmethod
    def execute(cls, plan, seed, steps, cfg, shift, context_scale, negative_prompt, generator=None,
                conditioning=None, frames=None, masks=None, references=None, model=None, vae=None, clip=None,
                vae_tiling=None) -> io.NodeOutput:
        glue.on_first_run()
        from unison_runtime import api

        planned = _planned(plan, "UnisonVACESampler")
        inputs = convert.override_inputs(api.generation_inputs(planned), frames, masks, references)
        sampling = SamplerSettings(seed=seed, steps=steps, cfg=cfg, shift=shift, context_scale=context_scale,
                                   negative_prompt=negative_prompt, vae_tiling=vae_tiling or DEFAULT.vae_tiling)
        conditioning = conditioning if conditioning is not None else api.Conditioning(planned.prompt)
        loaded = native.generator_of(generator, model, vae, clip)  # ComfyUI's Wan VACE inside ComfyUI
        made = api.generate_video(loaded, inputs, conditioning, sampling, glue.run_hooks(steps))
        images = convert.video_to_image(made.video)
        return io.NodeOutput(images, native.latent_output(made.latent), native.video_output(images))


NODES = [UnisonProjector, UnisonAnnotator, UnisonVACESampler]
