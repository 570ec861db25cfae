"""The rules planner: a deterministic plan from the request's words and media, no model.

It reads the cues the Unison planner was trained on (DESIGN §2): task words, image/video words,
the kinds of the attached media, resolution words, durations counted at 24 fps, first/last frame
phrasing and which attached file is the mask, in the languages of `planner.lexicons` (English,
Chinese, Japanese, Korean, Spanish, French, German, Portuguese, Russian, Italian; mixed in one
request too). The words are data there; what they mean for the plan is decided here, once for
every language, and `planner.reading` reads sizes and lengths (the size each word means is listed
in `planner.lexicons`). It is the planner of the `rules` mode and the source of `cross_check`, which
(when asked) warns where a model's plan differs from values the user seems to state outright.

Defaults: a request with no task word plans from its media: none -> text_to_image (a description
is a text-to-image prompt), images -> image_reference, a video -> video_edit. Words in a script
no lexicon reads (Thai, Arabic...) never raise: the plan is made from the rest, with a warning.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from ..errors import RequestError, UnisonError
from ..facts import VIDEO_TASKS
from ..plan import Plan, snap_size
from ..request import Request, parse_request
from .reading import Reading, frame_ref_for, mask_index, output_words, read

_READS = "Latin, Cyrillic, Chinese, Japanese and Korean"


class RulesPlanner:
    """Plans by fixed rules; it cannot answer questions or provide hidden states."""

    mode = "rules"

    def plan(self, request: Request | str) -> Plan:
        request = _as_request(request)
        reading = read(request)
        values = _choose_task(reading, request)
        task, default = values["task"], values.pop("default")
        if task == "understanding":  # which one depends only on the media kinds
            plan = Plan.understanding(request.media_kinds)
            return replace(plan, warnings=tuple(_unread_notes(reading, plan.task, default=False)))
        notes = reading.notes + values.pop("notes") + _unread_notes(reading, task, default)
        if reading.size is not None:
            values["width"], values["height"] = reading.size
        if task in VIDEO_TASKS and reading.frames is not None:
            values["num_frames"] = reading.frames
        if task == "image_to_video":
            values["frame_ref"] = frame_ref_for(reading, request.media_kinds.count("image"))
        plan = Plan(**values, warnings=tuple(notes))
        return replace(plan, raw=plan.to_tokens())

    def answer(self, request: Any = None, **_: Any) -> str:
        raise UnisonError("the rules planner cannot answer questions; load a Qwen2.5-VL planner "
                          "(--planner unison or instruct)")

    def hidden_states(self, request: Any = None, **_: Any):
        raise UnisonError("the rules planner has no hidden states; load a Qwen2.5-VL planner "
                          "(--planner unison or instruct)")


def cross_check(model_plan: Plan, request: Request | str) -> Plan:
    """`model_plan` unchanged, with a warning for each value the request seems to state outright
    (size, duration or frame count, first/last frame) that the plan does not have.

    Only warns: the planner's own plan stands, because regexes over free text misread requests
    ("a table 100 by 200 cm" is no output size). Planners run it only when asked (`cross_check`).
    """
    request = _as_request(request)
    if model_plan.is_understanding:
        return model_plan
    reading = read(request)
    notes: list[str] = []
    if reading.size is not None:
        stated = tuple(snap_size(v) for v in reading.size)
        planned = (model_plan.width, model_plan.height)
        if stated != planned:
            notes.append(f"the request seems to state the size {stated[0]}x{stated[1]}; "
                         f"the plan's {_describe_size(planned)} is kept")
    if model_plan.is_video and reading.frames is not None and reading.frames != model_plan.num_frames:
        was = "81 (default)" if model_plan.num_frames is None else model_plan.num_frames
        notes.append(f"the request seems to state {reading.frames} frames; the plan's {was} is kept")
    if model_plan.task == "image_to_video" and reading.frame_ref is not None:
        stated_ref = frame_ref_for(reading, request.media_kinds.count("image"))
        if stated_ref != model_plan.frame_ref:
            notes.append(f"the request seems to name the {stated_ref} frame; "
                         f"the plan's frame_ref {model_plan.frame_ref} is kept")
    if not notes:
        return model_plan
    return replace(model_plan, warnings=(*model_plan.warnings, *reading.notes, *notes))


def _as_request(request: Request | str) -> Request:
    if isinstance(request, Request):
        return request
    if isinstance(request, str):
        return parse_request(request, ())
    raise RequestError(f"a planner takes a Request (from parse_request), got {type(request).__name__}")


# -- choosing the task -----------------------------------------------------------------------------------

def _choose_task(reading: Reading, request: Request) -> dict[str, Any]:
    """The task and its media indices. Order of precedence: understanding; control words with
    media; an edit with a mask; an edit of a video; reference words with an image; animating an
    image; any other image (used as a reference); any other video (edited); text only.
    `default` says the task came from the media kinds alone, no word chose it."""
    found = reading.cues
    text, prose = reading.text, reading.prose
    kinds = request.media_kinds
    images = [i for i, kind in enumerate(kinds) if kind == "image"]
    videos = [i for i, kind in enumerate(kinds) if kind == "video"]
    if _is_understanding(reading, bool(kinds)):
        return {"task": "understanding", "default": False}

    notes: list[str] = []
    output_video = _output_is_video(reading, notes)
    mask = mask_index(reading, request)
    # A named mask that the words use ("apply the mask", "inside the mask") asks for an edit.
    has_edit = bool(found.edit.search(text)) or (mask is not None and bool(found.mask_word.search(prose)))

    def chosen(values: dict[str, Any], used: list[int], default: bool = False) -> dict[str, Any]:
        for index, kind in enumerate(kinds):
            if index not in used:
                notes.append(f"media #{index + 1} ({kind}) is not used by {values['task']}")
        return {**values, "notes": notes, "default": default}

    if kinds and found.control.search(prose):
        if videos:
            return chosen({"task": "video_control", "source_index": videos[0]}, [videos[0]])
        if output_video:
            notes.append("the control input is an image, so the plan makes an image "
                         "(video control needs a control video)")
        return chosen({"task": "image_control", "source_index": images[0]}, [images[0]])
    if has_edit and mask is not None:
        sources = [i for i in (videos or images) if i != mask]
        if sources:
            task = "video_edit" if videos and sources[0] in videos else "image_edit"
            return chosen({"task": task, "mask_index": mask, "source_index": sources[0]}, [mask, sources[0]])
    if has_edit and videos:
        return chosen({"task": "video_edit", "source_index": videos[0]}, [videos[0]])
    if images and found.reference.search(prose):
        return chosen({"task": "video_reference" if output_video else "image_reference"}, images)
    if images and not videos and (found.animating.search(text) or output_video):
        used = images[:2] if reading.frame_ref == "firstlast" else images[:1]
        return chosen({"task": "image_to_video"}, used)
    if images and not videos:
        if has_edit:
            notes.append("image editing needs a mask image (a file named like *mask*, or "
                         "'the mask ###file###'); without one the image is used as a reference")
        return chosen({"task": "image_reference"}, images, default=not has_edit)
    if videos:
        return chosen({"task": "video_edit", "source_index": videos[0]}, [videos[0]], default=True)
    has_words = bool(found.generate.search(text) or output_video or found.image_noun.search(text))
    return chosen({"task": "text_to_video" if output_video else "text_to_image"}, [], default=not has_words)


def _is_understanding(reading: Reading, has_media: bool) -> bool:
    """A question or a request to describe, unless it orders something made."""
    found = reading.cues
    if not reading.prose.strip():
        return has_media  # only markers: describe them
    body = reading.text.strip()  # markers kept: "the picture <m0>" points at an input, not an output
    polite = found.polite.match(body)  # "can you ..." is an order, not a question
    if polite:
        body = body[polite.end():]
    orders = sorted(m.start() for pattern in (found.generate, found.edit, found.animate)
                    for m in pattern.finditer(body))
    if found.how_to.search(body):
        orders = []  # "how do I make pancakes?" asks, it does not order
    outputs = output_words(found, found.image_noun, body) + output_words(found, found.video_noun, body)
    if not has_media and not outputs and found.text_order.match(body):
        return True  # "Write a haiku about autumn.", "Translate 'good morning' into French.", 写一首诗
    strong = found.describe.search(body)
    if strong and (not orders or strong.start() < orders[0]):
        return True
    words = re.sub(r"<m\d+>", " ", body).strip()
    if not polite and (words.endswith("?") or words.startswith("¿")):  # a file may follow the "?"
        return not (orders and outputs)  # "generate a video of a cat?" still orders
    if orders or outputs:
        return False
    return bool(found.question.search(body))


def _output_is_video(reading: Reading, notes: list[str]) -> bool:
    """Whether the output is a video: a stated duration or frame count decides; else the first
    image or video word that does not point at an attached file."""
    found, text = reading.cues, reading.text
    video_words = output_words(found, found.video_noun, text)
    image_words = output_words(found, found.image_noun, text)
    if reading.frames is not None:
        if image_words:
            notes.append(f"the request mentions {image_words[0][1]!r} but states a duration or "
                         "frame count; planned a video")
        return True
    if video_words and image_words:
        return video_words[0][0] < image_words[0][0]
    return bool(video_words) or bool(found.animating.search(text) and not image_words)


def _unread_notes(reading: Reading, task: str, default: bool) -> list[str]:
    """Say which words were not read, and that a task nothing chose is the default."""
    notes = []
    if reading.unread:
        notes.append(f"words in {' and '.join(reading.unread)} script were not read (the rules planner "
                     f"reads {_READS}); a Qwen2.5-VL planner reads any language")
    has_letters = any(char.isalpha() for char in reading.prose)
    if default and (reading.unread or not has_letters):
        notes.append(f"no task word recognised; planned {task}, the default for "
                     f"{_DEFAULT_FOR.get(task, 'this request')}")
    return notes


_DEFAULT_FOR = {"text_to_image": "a request without media", "image_reference": "a request with an image",
                "video_edit": "a request with a video"}


def _describe_size(size: tuple[int | None, int | None]) -> str:
    return "832x480 (default)" if size[0] is None else f"{size[0]}x{size[1]}"
