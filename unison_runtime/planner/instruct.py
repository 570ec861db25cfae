"""`instruct` mode: a stock Qwen2.5-VL-Instruct (no Unison LoRA) plans through a JSON schema.

A system prompt describes the 12 tasks and their parameters; decoding is constrained to a JSON
object whose first key is the task and whose other keys are exactly the ones that task uses, so
the output always converts with `Plan.from_dict`. Answers and hidden states work as in `unison`
mode (the same loaded model may serve both).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

from ..errors import PlanError
from ..facts import MAX_FRAMES, MAX_SIDE, MIN_SIDE
from . import prompting
from .constrained import JsonField, tagged_json_grammar
from .qwen import QwenPlanner, in_media_indices

SYSTEM_PROMPT = """You turn a user's request into a JSON plan for a media generation system.
Media attached to the request appear as <IMGPAD> (image) and <VIDPAD> (video); they are numbered 0, 1, 2... in order.
Choose exactly one task:
- text_understanding / image_understanding / video_understanding: the user asks a question or wants a description; nothing is generated.
- text_to_image: make an image from words. Keys: width, height.
- image_edit: change an image. Keys: source_index (the image), mask_index (a mask image, or null).
- image_control: make an image following a pose/depth/edge image. Keys: source_index (that image).
- image_reference: make an image of the subject/person in a reference image.
- text_to_video: make a video from words. Keys: width, height, num_frames.
- image_to_video: animate an image. Keys: frame_ref ("first": the image starts the video, "last": it ends it, "firstlast").
- video_reference: make a video of the subject/person in a reference image.
- video_edit: change a video. Keys: source_index (the video), mask_index (a mask, or null).
- video_control: make a video following a pose/depth/edge video.
Sizes are width and height in pixels (default 832 x 480; "480P" is 640 x 480, "16:9" is 1280 x 720, "vertical" is 720 x 1280).
num_frames counts frames at 24 fps (3 seconds = 73; default 81) or null for the default.
Reply with the JSON object only."""

# Sizes and lengths are written in full even above the maximum, then clamped with a warning.
SIZE = dict(kind="int", lo=MIN_SIDE, hi=MAX_SIDE, finish=True)
FRAMES = dict(kind="int", lo=1, hi=MAX_FRAMES, finish=True)


def plan_schema(media_count: int) -> dict[str, list[JsonField]]:
    """Task name -> the keys that follow it; tasks that need media only when media is given."""
    from ..facts import TASKS

    index = dict(kind="int", lo=0, hi=max(media_count, 1) - 1)
    size = [JsonField("width", **SIZE), JsonField("height", **SIZE)]
    frames = [JsonField("num_frames", nullable=True, **FRAMES)]
    fields = {
        "text_to_image": size,
        "text_to_video": size + frames,
        "image_to_video": size + frames + [JsonField("frame_ref", "enum", ("first", "last", "firstlast"))],
        "image_edit": [JsonField("source_index", **index), JsonField("mask_index", nullable=True, **index)],
        "video_edit": size + frames + [JsonField("source_index", **index),
                                       JsonField("mask_index", nullable=True, **index)],
        "image_control": size + [JsonField("source_index", nullable=True, **index)],
        "video_control": size + frames + [JsonField("source_index", nullable=True, **index)],
        "image_reference": size,
        "video_reference": size + frames,
    }
    needs_media = {"image_understanding", "video_understanding", "image_to_video", "image_edit",
                   "video_edit", "image_control", "video_control", "image_reference", "video_reference"}
    return {task: fields.get(task, []) for task in TASKS if media_count or task not in needs_media}


@dataclass
class InstructPlanner(QwenPlanner):
    """A stock instruct model planning in JSON; same interface as `QwenPlanner`."""

    mode = "instruct"
    max_plan_tokens: int = 96

    def plan(self, request):
        grammar = None
        if self.constrained:
            grammar = tagged_json_grammar(self.loaded.tokenizer, "task", plan_schema(len(request.slots)),
                                          end_id=self._end_ids()[0])
        messages = prompting.plain_turn(request.prompt, system=SYSTEM_PROMPT)
        text = self._generate_text(messages, grammar, self.max_plan_tokens)
        return self._checked(self._from_json(text, request), request)

    def _from_json(self, text: str, request):
        from ..plan import Plan

        try:
            data = json.loads(text)
            return in_media_indices(_plan_from_dict(data, len(request.slots), raw=text), request)
        except (ValueError, PlanError) as exc:  # only reachable unconstrained
            fallback = Plan.understanding(request.media_kinds)
            return replace(fallback, raw=text, warnings=(f"the planner's JSON was not a valid plan ({exc}); "
                                                         "answering instead",))


def _plan_from_dict(data, media_count: int, raw: str):
    """Plan.from_dict, giving up a mask that names the source itself (the one clash left open)."""
    from ..plan import Plan

    if not isinstance(data, dict):
        raise PlanError(f"expected a JSON object, got {type(data).__name__}")
    data = {**data, "raw": raw}
    if data.get("mask_index") is not None and data.get("mask_index") == data.get("source_index"):
        data["mask_index"] = None
        data["warnings"] = ["the planner named the source as its own mask; no mask used"]
    return Plan.from_dict(data, media_count=media_count, clamp=True)
