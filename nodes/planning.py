"""UnisonPlanner (request → plan or answer) and UnisonTaskRouter (plan → stage-two inputs)."""

from __future__ import annotations

from dataclasses import replace

from comfy_api.latest import io
from unison_runtime.api import FRAME_REFS, MAX_FRAMES, MAX_SIDE, PLAN_BY_CHOICES, TASKS

from . import comfy_glue as glue
from . import convert, native
from .values import ANNOTATORS, PLAN, PLANNER, expect

CATEGORY = "Unison"
MAX_MEDIA_INDEX = 15
TASK_CHOICES = ["auto", *TASKS]
FRAME_REF_CHOICES = ["auto", *FRAME_REFS]
FLAG_VALUES = {"auto": None, "on": True, "off": False}  # the reference/control override widgets
FLAG_CHOICES = list(FLAG_VALUES)


def _ui_text(*parts: str) -> dict:
    return {"text": [p for p in parts if p]}


MEDIA_TIP = "Connected {slot}: write {{{slot}}} in the request where it belongs (appended when not mentioned)."


class UnisonPlanner(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="UnisonPlanner", display_name="Unison Planner", category=CATEGORY, is_output_node=True,
            description=(
                "Reads a plain-words request and plans it: which of the 12 Unison tasks it is, and its size, "
                "frame count and media roles. Understanding requests are answered here (answer output). "
                "Connected media are referred to as {image1}..{image4}, {video1}, {mask1} in the text "
                "(unmentioned ones are appended); ###name.png### refers to a file in ComfyUI's input folder. "
                "Without a planner it plans with the model-free rules planner."),
            inputs=[
                io.String.Input("request", multiline=True,
                                default="make a 2-second 768x480 video of a lion walking through tall grass",
                                tooltip="What you want, in plain words: a question, or an image/video to make or edit."),
                io.Int.Input("max_new_tokens", default=256, min=1, max=4096, step=1,
                             tooltip="Longest answer for understanding requests (tokens)."),
                io.Combo.Input("plan_by", options=list(PLAN_BY_CHOICES), default="auto", tooltip=(
                    "auto: the connected planner model plans (cross-checked by the rules); rules: the model-free "
                    "rules planner decides the plan (the model still answers and feeds the projector).")),
                PLANNER.Input("planner", optional=True, tooltip=(
                    "The Qwen2.5-VL planner; without it the rules planner plans (no answers).")),
                *(io.Image.Input(slot, optional=True, tooltip=MEDIA_TIP.format(slot=slot))
                  for slot in ("image1", "image2", "image3", "image4")),
                io.Image.Input("video1", optional=True, tooltip=MEDIA_TIP.format(slot="video1") + " A batch of frames."),
                io.Mask.Input("mask1", optional=True, tooltip=MEDIA_TIP.format(slot="mask1") + " White = regenerate."),
                io.Video.Input("video", optional=True, tooltip=native.VIDEO_INPUT_TIP),
            ],
            outputs=[
                PLAN.Output(display_name="plan", tooltip="The plan with its request and media; all the router needs."),
                io.String.Output(display_name="plan_text", tooltip="The plan as readable text."),
                io.String.Output(display_name="answer", tooltip=(
                    "The answer to an understanding request (blocked for generation tasks).")),
                *native.native_outputs(native.PLANNER_OUTPUTS),
            ],
        )

    @classmethod
    def fingerprint_inputs(cls, request="", **_):
        """Re-plan when a `###file###` the request names changes on disk (same name, new pixels)."""
        return glue.request_files_fingerprint(request)

    @classmethod
    def execute(cls, request, max_new_tokens, plan_by, planner=None, image1=None, image2=None, image3=None,
                image4=None, video1=None, mask1=None, video=None) -> io.NodeOutput:
        glue.on_first_run()
        from unison_runtime import api

        video1, video_fps = native.one_video(video1, video, "UnisonPlanner")
        given = convert.given_media({"image1": image1, "image2": image2, "image3": image3, "image4": image4,
                                     "video1": video1, "mask1": mask1}, request, video_fps)
        parsed = api.read_request(request, glue.allowed_roots(), given)
        model = planner.load() if planner is not None else None
        planned = api.plan_request(parsed, model, plan_by)
        if planned.plan.is_understanding:  # Cancel stops the answer between tokens
            planned = api.answer_request(planned, model, max_new_tokens, check_cancel=glue.check_interrupted)
        summary = planned.summary()
        answer = planned.answer if planned.answer is not None else glue.blocked(None)
        return io.NodeOutput(planned, summary, answer, *native.planner_outputs(planned),
                             ui=_ui_text(summary, planned.answer or ""))


ROUTER_OUTPUTS = (  # the router's own sockets, before the native ones (saved links count by position)
    (PLAN, "plan", "The resolved plan (overrides applied, route decided), for UnisonProjector and UnisonVACESampler."),
    (io.Image, "frames", "Source frames as VACE sees them, gray where regenerated (one gray frame when the task has "
                         "no source). For previews; connect to the sampler only to override."),
    (io.Mask, "masks", "Masks, white = regenerate (one white frame when the task has no source)."),
    (io.Image, "references", "Reference images, letterboxed to the target size (one white image when the task has none)."),
    (io.Int, "width", "Target width in pixels."),
    (io.Int, "height", "Target height in pixels."),
    (io.Int, "num_frames", "Number of frames to generate."),
    (io.String, "task", "The task that will run (always passes, also for understanding tasks)."),
)


class UnisonTaskRouter(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        size_tip = "0: as planned (or the source's size); else a multiple of 16."
        return io.Schema(
            node_id="UnisonTaskRouter", display_name="Unison Task Router", category=CATEGORY,
            description=(
                "Turns a plan into exactly what the generator needs: source frames, masks, reference images, "
                "size and frame count. Every planned value can be overridden here (auto / 0 / -1 = as planned). "
                "For understanding tasks the generation outputs are blocked, so one graph serves all 12 tasks."),
            inputs=[
                PLAN.Input("plan", tooltip="The plan from UnisonPlanner."),
                io.Combo.Input("task", options=TASK_CHOICES, default="auto",
                               tooltip="auto: as planned; otherwise run this task."),
                io.Int.Input("width", default=0, min=0, max=MAX_SIDE, step=16, tooltip=size_tip),
                io.Int.Input("height", default=0, min=0, max=MAX_SIDE, step=16, tooltip=size_tip),
                io.Int.Input("num_frames", default=0, min=0, max=MAX_FRAMES, step=1, tooltip=(
                    "0: as planned; video frame counts snap to 4k+1 (81 = 3.4 s at 24 fps).")),
                io.Combo.Input("frame_ref", options=FRAME_REF_CHOICES, default="auto", tooltip=(
                    "image_to_video: the image is the first, last, or first and last frame.")),
                io.Int.Input("mask_index", default=-1, min=-1, max=MAX_MEDIA_INDEX, tooltip=(
                    "Edits: which media item (0-based, request order) is the mask; -1 as planned.")),
                io.Int.Input("source_index", default=-1, min=-1, max=MAX_MEDIA_INDEX, tooltip=(
                    "Edits/control: which media item is the source; -1 as planned.")),
                io.Combo.Input("reference", options=FLAG_CHOICES, default="auto",
                               tooltip="Subject/identity reference flag; auto as planned."),
                io.Combo.Input("control", options=FLAG_CHOICES, default="auto",
                               tooltip="Controllable-generation flag; auto as planned."),
                ANNOTATORS.Input("annotators", optional=True, tooltip=(
                    "Needed for video editing without a mask (salient object) and label/caption masks.")),
                io.Image.Input("source_override", optional=True, tooltip=(
                    "Use these frames as the source/control input instead of the request's.")),
                io.Mask.Input("mask_override", optional=True, tooltip=(
                    "Use this mask instead of the request's (white = regenerate).")),
                io.Image.Input("reference_override", optional=True,
                               tooltip="Use these reference images instead of the request's."),
                io.Video.Input("source_override_video", optional=True,
                               tooltip="A core VIDEO to use as source_override (its frames)."),
            ],
            outputs=[*native.native_outputs(ROUTER_OUTPUTS), *native.native_outputs(native.ROUTER_OUTPUTS)],
        )

    @staticmethod
    def overrides(task, width, height, num_frames, frame_ref, mask_index, source_index, reference, control):
        """The widgets as the runtime's `Overrides` (auto / 0 / -1 = as planned)."""
        from unison_runtime.api import Overrides

        return Overrides(task=None if task == "auto" else task, width=width or None, height=height or None,
                         num_frames=num_frames or None, frame_ref=None if frame_ref == "auto" else frame_ref,
                         mask_index=None if mask_index < 0 else mask_index,
                         source_index=None if source_index < 0 else source_index,
                         reference=FLAG_VALUES[reference], control=FLAG_VALUES[control])

    @classmethod
    def execute(cls, plan, task, width, height, num_frames, frame_ref, mask_index, source_index,
                reference, control, annotators=None, source_override=None, mask_override=None,
                reference_override=None, source_override_video=None) -> io.NodeOutput:
        glue.on_first_run()
        from unison_runtime import api

        planned = expect(plan, api.Planned, "UnisonTaskRouter", "plan", "UnisonPlanner")
        source_override = native.one_source(source_override, source_override_video)
        overrides = cls.overrides(task, width, height, num_frames, frame_ref, mask_index, source_index,
                                   reference, control)
        planned = api.route_request(planned, overrides)
        route = planned.route
        if not route.needs_generator:
            block = glue.blocked(None)
            return io.NodeOutput(block, block, block, block, block, block, block, route.task,
                                 *native.router_outputs(planned), ui=_ui_text(planned.summary()))
        planned = api.prepare_request(planned, annotators)
        planned = replace(planned, inputs=convert.override_inputs(planned.inputs, source_override, mask_override,
                                                                  reference_override))
        frames, masks, refs = convert.router_outputs(planned.inputs)
        return io.NodeOutput(planned, frames, masks, refs, route.width, route.height, route.num_frames, route.task,
                             *native.router_outputs(planned), ui=_ui_text(planned.summary()))


NODES = [UnisonPlanner, UnisonTaskRouter]
