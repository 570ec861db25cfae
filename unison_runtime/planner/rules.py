"""The rules planner: a deterministic plan from the request's words and media, no model.

It reads the cues the Unison planner was trained on (DESIGN §2): task words, image/video words,
the kinds of the attached media, resolution words, durations counted at 24 fps, first/last frame
phrasing and which attached file is the mask. It is the planner of the `rules` mode and the
source of `cross_check`, which (when asked) warns where a model's plan differs from values the
user seems to state outright.

Resolution words map the way the released planner writes them: "480P" -> 640x480, "720P" ->
1280x720, "1080P" -> 1920x1080 (snapped to 1920x1088), "16:9" -> 1280x720, "9:16" / "vertical" /
"portrait orientation" -> 720x1280; our choices: "1:1" / "square image" -> 1024x1024, "4:3" ->
1024x768, "3:4" -> 768x1024, "3:2" -> 1152x768, "2:3" -> 768x1152, "21:9" -> 1680x720,
"landscape orientation" / "horizontal" / "widescreen" -> 1280x720. A "<N>P" word with an aspect
word keeps N as the short side ("720P vertical" -> 720x1280). Sizes beyond 2048 per side are
scaled down to fit, keeping the aspect ratio, with a warning.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

from ..errors import RequestError, UnisonError
from ..facts import FPS, MAX_FRAMES, MAX_SIDE, MIN_SIDE, VIDEO_TASKS
from ..plan import Plan, snap_size
from ..request import MARKER, Request, parse_request

# -- cue vocabulary (matched on lower-cased text where each media marker reads " <mK> ") --------

_MEDIA = r"<m\d+>"
_INPUT_DETERMINER = r"(?:this|that|these|those|my|our|your|given|attached|input|uploaded|provided|above|following|original|source)"

_GENERATE_RE = re.compile(
    r"\b(?:create|generate|make|draw|render|produce|paint|design|illustrate|imagine|visuali[sz]e"
    r"|film|shoot|compose|give me|show me|i want|i'd like|i would like)\b")
_POLITE_RE = re.compile(r"^(?:please,? |(?:can|could|would|will) you(?: please)?,? )")
_ANIMATE_VERB_RE = re.compile(
    r"\b(?:animat(?:e|es|ing)|bring (?:\S+ ){0,3}to life|make (?:\S+ ){0,4}(?:move|come alive|dance)|come alive)\b")
_HOW_TO_RE = re.compile(r"\bhow (?:do|does|did|can|could|should|would|to|is|are)\b")
_STRONG_UNDERSTAND_RE = re.compile(
    r"\b(?:describe|explain|summari[sz]e|caption|tell me|identify|analy[sz]e|transcribe|recogni[sz]e)\b")
_WEAK_UNDERSTAND_RE = re.compile(
    r"\b(?:what|what's|whats|who|whom|whose|why|how|where|when|which|is there|are there|count)\b|\?")
_EDIT_RE = re.compile(
    r"\b(?:edit|replace|change|remove|erase|delete|swap|put|insert|add|inpaint|recolou?r|fill|alter|modify"
    r"|turn (?:\S+ ){0,4}into|apply (?:\S+ ){0,2}mask)\b")
# Orders whose output is text: with no image or video word they ask to be answered in words.
_TEXT_ORDER_RE = re.compile(
    r"^(?:write|translate|rewrite|paraphrase|proofread|solve|calculate|compute|answer|list|define"
    r"|spell|correct|compose (?:a|an) (?:poem|haiku|letter|email|essay|story|song))\b")
_ANIMATE_RE = re.compile(
    r"\b(?:animat(?:e|es|ing)|bring (?:\S+ ){0,3}to life|make (?:\S+ ){0,4}(?:move|come alive|dance)"
    r"|come alive|(?:into|as) an? (?:\S+ ){0,2}(?:video|clip|animation)"
    r"|(?:first|last|final|opening|closing|ending|starting|start|end|initial) frame)\b")
_REFERENCE_RE = re.compile(
    r"\b(?:reference|identity|featuring|same (?:person|character|subject|face|man|woman|girl|boy|dog|cat)"
    r"|keep(?:ing)? (?:his|her|their|its|the) (?:face|identity|look|appearance)"
    r"|(?:this|that) (?:person|subject|character|face|man|woman|girl|boy|guy|lady|kid|child|model"
    r"|actor|actress|dog|cat|pet|product|object|toy|mascot))\b")
_CONTROL_RE = re.compile(
    r"\b(?:poses?|depth(?! of field)|depth map|canny|edges|edge map|sketch|scribble|controlnet|control"
    r"|line ?art|skeleton|openpose|segmentation map|optical flow"
    r"|follow(?:s|ing)? (?:the|this|that|its) (?:motion|movement|layout|structure|outline))\b")

_VIDEO_NOUN_RE = re.compile(
    r"\b(?:videos?|clips?|animations?|footage|movies?|films?|time-?lapse|slow[- ]motion|gifs?|fps"
    r"|frames per second)\b")
_IMAGE_NOUN_RE = re.compile(
    r"\b(?:images?|pictures?|pics?|photos?(?![- ]?real)|photographs?|posters?|drawings?|paintings?"
    r"|illustrations?|wallpapers?|logos?|icons?|portraits?|sketch(?:es)?|artworks?|stills?|snapshots?"
    r"|renderings?)\b")

# -- parameters -------------------------------------------------------------------------------------

_NUMBER_WORDS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
                 "seven": 7, "eight": 8, "nine": 9, "ten": 10, "fifteen": 15, "twenty": 20,
                 "thirty": 30, "half a": 0.5}
_NUMBER = r"(\d{1,6}(?:\.\d{1,3})?|half a|one|two|three|four|five|six|seven|eight|nine|ten|fifteen|twenty|thirty|an?)"
_DURATION_RE = re.compile(rf"\b{_NUMBER}\s*-?\s*(seconds?|secs?|minutes?|mins?)\b")
_BARE_SECONDS_RE = re.compile(r"(?<![\w.'’])(\d{1,6}(?:\.\d{1,3})?)s\b")  # "4s"; "90s"/"1980s" are decades
_FRAMES_RE = re.compile(r"\b(\d{1,6})\s*-?\s*frames?\b(?!\s*(?:per|a|/)\s*s)")

_EXPLICIT_SIZE_RE = re.compile(r"(?<![\d.])(\d{2,5})\s*(?:px\s*)?(?:x|×|\*|by)\s*(\d{2,5})(?!\d)")
_WIDTH_RE = re.compile(r"\bwidth(?: of| is| =|:|=)?\s*(\d{2,5})(?!\d)|(?<!\d)(\d{2,5})\s*(?:px|pixels?)\s*wide\b")
_HEIGHT_RE = re.compile(r"\bheight(?: of| is| =|:|=)?\s*(\d{2,5})(?!\d)|(?<!\d)(\d{2,5})\s*(?:px|pixels?)\s*(?:tall|high)\b")
_P_RESOLUTION_RE = re.compile(r"\b(360|480|540|576|720|1080|1440|2160)\s*p\b|\b(4k|uhd)\b")
_ASPECT_RE = re.compile(r"(?<![\d:])(\d{1,2})\s*:\s*(\d{1,2})(?![\d:])")
_VERTICAL_RE = re.compile(
    r"\bvertical\b(?! (?:stripes?|lines?|bars?|blinds?))|\bportrait (?:orientation|mode|format|aspect|layout)"
    r"|\bin portrait\b|\btall format\b")
_HORIZONTAL_RE = re.compile(
    r"\bhorizontal\b(?! (?:stripes?|lines?|bars?))|\bwidescreen\b|\blandscape (?:orientation|mode|format|aspect|layout)"
    r"|\bin landscape\b")
_SQUARE_RE = re.compile(
    r"\bsquare (?:image|picture|photo|format|video|clip|aspect|frame|crop|poster|icon|logo)\b|\bin square\b")

# aspect ratio -> the size the planner writes for it (16:9 and 9:16 from the paper; rest ours)
ASPECT_SIZES = {
    (16, 9): (1280, 720), (9, 16): (720, 1280), (1, 1): (1024, 1024), (4, 3): (1024, 768),
    (3, 4): (768, 1024), (3, 2): (1152, 768), (2, 3): (768, 1152), (21, 9): (1680, 720),
}
# "<N>P" -> default size; 480P is 4:3 in the planner's data, the rest 16:9
P_SIZES = {360: (640, 360), 480: (640, 480), 540: (960, 540), 576: (1024, 576), 720: (1280, 720),
           1080: (1920, 1080), 1440: (2560, 1440), 2160: (3840, 2160)}

_THE_VIDEO = r"(?: (?:the|this|my|your|our) (?:video|clip|animation|movie|film))?"  # "end the video on ..."
_LAST_FRAME_RE = re.compile(
    rf"\b(?:last|final|ending|closing|end) frame\b|\bend(?:s|ing)?{_THE_VIDEO} (?:with|on|at|in) (?:{_MEDIA}|(?:{_INPUT_DETERMINER}|the) (?:image|picture|photo|frame|shot|still))")
_FIRST_FRAME_RE = re.compile(
    rf"\b(?:first|opening|starting|start|initial|beginning) frame\b|\b(?:start|begin)(?:s|ning|ing)?{_THE_VIDEO} (?:with|from|at|on) (?:{_MEDIA}|(?:{_INPUT_DETERMINER}|the) (?:image|picture|photo|frame|shot|still))")
_FROM_TO_RE = re.compile(rf"\b(?:from {_MEDIA} to {_MEDIA}|between {_MEDIA} and {_MEDIA})")
_MASK_BEFORE_RE = re.compile(r"\bmask(?:ed)?(?: image| region| area| file| video)?\s*(?:is|:|=)?\s*$")
_MASK_AFTER_RE = re.compile(r"^\s*(?:as|is|for)? ?(?:the|a|my)? ?mask\b")


@dataclass
class _Reading:
    """What the rules read from one request."""

    text: str  # lower-cased, each marker as " <mK> "
    size: tuple[int, int] | None = None
    frames: int | None = None
    frame_ref: str | None = None
    notes: list[str] = field(default_factory=list)


class RulesPlanner:
    """Plans by fixed rules; it cannot answer questions or provide hidden states."""

    mode = "rules"

    def plan(self, request: Request | str) -> Plan:
        request = _as_request(request)
        reading = _read(request)
        values = _choose_task(reading, request)
        task = values["task"]
        if task == "understanding":  # which one depends only on the media kinds
            return Plan.understanding(request.media_kinds)
        if reading.size is not None:
            values["width"], values["height"] = reading.size
        if task in VIDEO_TASKS and reading.frames is not None:
            values["num_frames"] = reading.frames
        if task == "image_to_video":
            values["frame_ref"] = _frame_ref_for(reading, request)
        notes = reading.notes + values.pop("notes", [])
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
    reading = _read(request)
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
        stated_ref = _frame_ref_for(reading, request)
        if stated_ref != model_plan.frame_ref:
            notes.append(f"the request seems to name the {stated_ref} frame; "
                         f"the plan's frame_ref {model_plan.frame_ref} is kept")
    if not notes:
        return model_plan
    return replace(model_plan, warnings=(*model_plan.warnings, *reading.notes, *notes))


# -- reading the request ------------------------------------------------------------------------------


def _as_request(request: Request | str) -> Request:
    if isinstance(request, Request):
        return request
    if isinstance(request, str):
        return parse_request(request, ())
    raise RequestError(f"a planner takes a Request (from parse_request), got {type(request).__name__}")


def _read(request: Request) -> _Reading:
    pieces = request.text.split(MARKER)
    text = "".join(piece if i % 2 == 0 else f" <m{i // 2}> " for i, piece in enumerate(pieces))
    reading = _Reading(text=" ".join(text.lower().split()))
    reading.size = _stated_size(reading)
    reading.frames = _stated_frames(reading)
    reading.frame_ref = _stated_frame_ref(reading.text)
    return reading


def _stated_size(reading: _Reading) -> tuple[int, int] | None:
    text = reading.text
    size = _explicit_size(text)
    if size is None:
        size = _size_from_words(text)
    if size is None:
        return None
    width, height = size
    if max(width, height) > MAX_SIDE:
        scale = MAX_SIDE / max(width, height)
        fitted = (max(MIN_SIDE, round(width * scale)), max(MIN_SIDE, round(height * scale)))
        reading.notes.append(f"size {width}x{height} is beyond {MAX_SIDE} pixels per side; "
                             f"scaled to {fitted[0]}x{fitted[1]}")
        width, height = fitted
    return width, height


def _explicit_size(text: str) -> tuple[int, int] | None:
    for match in _EXPLICIT_SIZE_RE.finditer(text):
        width, height = int(match.group(1)), int(match.group(2))
        if width >= 64 and height >= 64:  # smaller pairs are grids ("10x10 tiles"), not sizes
            return width, height
    width = _first_number(_WIDTH_RE, text)
    height = _first_number(_HEIGHT_RE, text)
    if width is not None and height is not None and width >= MIN_SIDE and height >= MIN_SIDE:
        return width, height
    return None


def _size_from_words(text: str) -> tuple[int, int] | None:
    aspect = None
    for match in _ASPECT_RE.finditer(text):
        ratio = (int(match.group(1)), int(match.group(2)))
        if ratio in ASPECT_SIZES:
            aspect = ratio
            break
    if aspect is None:
        if _VERTICAL_RE.search(text):
            aspect = (9, 16)
        elif _SQUARE_RE.search(text):
            aspect = (1, 1)
        elif _HORIZONTAL_RE.search(text):
            aspect = (16, 9)
    p_match = _P_RESOLUTION_RE.search(text)
    if p_match is None:
        return ASPECT_SIZES[aspect] if aspect else None
    short = int(p_match.group(1)) if p_match.group(1) else 2160
    if aspect is None:
        return P_SIZES[short]
    wide, tall = aspect
    if wide >= tall:
        return round(short * wide / tall), short
    return short, round(short * tall / wide)


def _stated_frames(reading: _Reading) -> int | None:
    text = reading.text
    frames_match = _FRAMES_RE.search(text)
    seconds = _stated_seconds(text)
    if frames_match:
        # The planner's data writes "120 frames" as <BONF>120<EONF>, i.e. 121 frames.
        frames = int(frames_match.group(1)) + 1
        if seconds is not None:
            reading.notes.append(f"the request gives both {frames_match.group(0)!r} and a duration; "
                                 "the frame count wins")
        source = frames_match.group(0)
    elif seconds is not None:
        frames = round(seconds * FPS) + 1
        source = f"{seconds:g} s at {FPS} fps"
    else:
        return None
    if frames > MAX_FRAMES:
        reading.notes.append(f"{source} is {frames} frames, beyond the {MAX_FRAMES}-frame maximum "
                             f"({(MAX_FRAMES - 1) // FPS} s at {FPS} fps); clamped to {MAX_FRAMES}")
        frames = MAX_FRAMES
    return frames


def _stated_seconds(text: str) -> float | None:
    match = _DURATION_RE.search(text)
    if match:
        amount, unit = match.group(1), match.group(2)
        if amount == "a" and unit.startswith("sec"):
            match = None  # "a second dog" is an ordinal, not one second
        else:
            value = _NUMBER_WORDS[amount] if amount in _NUMBER_WORDS else float(amount)
            return value * (60 if unit.startswith("min") else 1)
    for bare in _BARE_SECONDS_RE.finditer(text):
        value = float(bare.group(1))
        is_decade = value.is_integer() and (value >= 1000 or (value >= 20 and value % 10 == 0))
        if not is_decade:
            return value
    return None


def _stated_frame_ref(text: str) -> str | None:
    first = bool(_FIRST_FRAME_RE.search(text))
    last = bool(_LAST_FRAME_RE.search(text))
    if (first and last) or _FROM_TO_RE.search(text):
        return "firstlast"
    return "last" if last else "first" if first else None


def _frame_ref_for(reading: _Reading, request: Request) -> str:
    """The stated frame reference, or "first"; first-and-last needs two images."""
    stated = reading.frame_ref or "first"
    if stated == "firstlast" and request.media_kinds.count("image") < 2:
        last_only = bool(_LAST_FRAME_RE.search(reading.text)) and not _FIRST_FRAME_RE.search(reading.text)
        return "last" if last_only else "first"
    return stated


# -- choosing the task -----------------------------------------------------------------------------------

def _choose_task(reading: _Reading, request: Request) -> dict[str, Any]:
    """The task and its media indices. Order of precedence: understanding; control words with
    media; an edit with a mask; an edit of a video; reference words with an image; animating an
    image; any other image (used as a reference); any other video (edited); text only."""
    text = reading.text
    kinds = request.media_kinds
    images = [i for i, kind in enumerate(kinds) if kind == "image"]
    videos = [i for i, kind in enumerate(kinds) if kind == "video"]
    if _is_understanding(text, bool(kinds)):
        return {"task": "understanding"}

    notes: list[str] = []
    output_video = _output_is_video(reading, notes)
    mask = _mask_index(text, request)
    # A named mask that the words use ("apply the mask", "inside the mask") asks for an edit.
    has_edit = bool(_EDIT_RE.search(text)) or (mask is not None and bool(re.search(r"\bmask", _prose(text))))

    if kinds and _CONTROL_RE.search(_prose(text)):
        if videos:
            return _with_unused({"task": "video_control", "source_index": videos[0]}, [videos[0]], kinds, notes)
        if output_video:
            notes.append("the control input is an image, so the plan makes an image "
                         "(video control needs a control video)")
        return _with_unused({"task": "image_control", "source_index": images[0]}, [images[0]], kinds, notes)
    if has_edit and mask is not None:
        sources = [i for i in (videos or images) if i != mask]
        if sources:
            task = "video_edit" if videos and sources[0] in videos else "image_edit"
            values = {"task": task, "mask_index": mask, "source_index": sources[0]}
            return _with_unused(values, [mask, sources[0]], kinds, notes)
    if has_edit and videos:
        return _with_unused({"task": "video_edit", "source_index": videos[0]}, [videos[0]], kinds, notes)
    if images and _REFERENCE_RE.search(_prose(text)):
        task = "video_reference" if output_video else "image_reference"
        return _with_unused({"task": task}, images, kinds, notes)
    if images and not videos and (_ANIMATE_RE.search(text) or output_video):
        used = images[:2] if reading.frame_ref == "firstlast" else images[:1]
        return _with_unused({"task": "image_to_video"}, used, kinds, notes)
    if images and not videos:
        if has_edit:
            notes.append("image editing needs a mask image (a file named like *mask*, or "
                         "'the mask ###file###'); without one the image is used as a reference")
        return _with_unused({"task": "image_reference"}, images, kinds, notes)
    if videos:
        return _with_unused({"task": "video_edit", "source_index": videos[0]}, [videos[0]], kinds, notes)
    return {"task": "text_to_video" if output_video else "text_to_image", "notes": notes}


def _is_understanding(text: str, has_media: bool) -> bool:
    """A question or a request to describe, unless it orders something made."""
    if not _prose(text).strip():
        return has_media  # only markers: describe them
    body = text.strip()  # markers kept: "the picture <m0>" points at an input, not an output
    polite = _POLITE_RE.match(body)  # "can you ..." is an order, not a question
    if polite:
        body = body[polite.end():]
    orders = sorted(m.start() for pattern in (_GENERATE_RE, _EDIT_RE, _ANIMATE_VERB_RE)
                    for m in pattern.finditer(body))
    if _HOW_TO_RE.search(body):
        orders = []  # "how do I make pancakes?" asks, it does not order
    outputs = _output_words(_IMAGE_NOUN_RE, body) + _output_words(_VIDEO_NOUN_RE, body)
    if not has_media and not outputs and _TEXT_ORDER_RE.match(body):
        return True  # "Write a haiku about autumn.", "Translate 'good morning' into French."
    strong = _STRONG_UNDERSTAND_RE.search(body)
    if strong and (not orders or strong.start() < orders[0]):
        return True
    if not polite and body.endswith("?"):
        return not (orders and outputs)  # "generate a video of a cat?" still orders
    if orders or outputs:
        return False
    return bool(_WEAK_UNDERSTAND_RE.search(body))


def _output_is_video(reading: _Reading, notes: list[str]) -> bool:
    """Whether the output is a video: a stated duration or frame count decides; else the first
    image or video word that does not point at an attached file."""
    text = reading.text
    video_words = _output_words(_VIDEO_NOUN_RE, text)
    image_words = _output_words(_IMAGE_NOUN_RE, text)
    if reading.frames is not None:
        if image_words:
            notes.append(f"the request mentions {image_words[0][1]!r} but states a duration or "
                         "frame count; planned a video")
        return True
    if video_words and image_words:
        return video_words[0][0] < image_words[0][0]
    return bool(video_words) or bool(_ANIMATE_RE.search(text) and not image_words)


def _output_words(pattern: re.Pattern, text: str) -> list[tuple[int, str]]:
    """(position, word) of the matches that describe the output, not an attached file."""
    found = []
    for match in pattern.finditer(text):
        before = text[max(0, match.start() - 24):match.start()]
        after = text[match.end():match.end() + 6]
        if re.search(rf"\b{_INPUT_DETERMINER}\s+(?:\S+\s+)?$", before) or re.match(rf"\s*:?\s*{_MEDIA}", after):
            continue
        if re.search(rf"{_MEDIA}\s*$", before) or re.search(r"\b(?:in|of|from) (?:the|this|my)\s+$", before):
            continue  # "<m0> photo", "the person in the photo": the input
        found.append((match.start(), match.group(0)))
    return found


def _mask_index(text: str, request: Request) -> int | None:
    """Which media item is the mask: one given as a mask, a file named like *mask*, else one the
    words call the mask. (Reading names is planning from what the user wrote, as the model does.)"""
    for index, item in enumerate(request.media):
        if item.role == "mask":
            return index
    for index, item in enumerate(request.media):
        if item.path is not None and "mask" in item.path.name.lower():
            return index
    for index in range(len(request.media)):
        marker = f"<m{index}>"
        at = text.find(marker)
        before, after = text[max(0, at - 40):at], text[at + len(marker):at + len(marker) + 24]
        if _MASK_BEFORE_RE.search(before) or _MASK_AFTER_RE.search(after):
            return index
    return None


def _with_unused(values: dict[str, Any], used: list[int], kinds: tuple[str, ...], notes: list[str]) -> dict[str, Any]:
    for index, kind in enumerate(kinds):
        if index not in used:
            notes.append(f"media #{index + 1} ({kind}) is not used by {values['task']}")
    values["notes"] = notes
    return values


def _prose(text: str) -> str:
    return re.sub(_MEDIA, " ", text)


def _first_number(pattern: re.Pattern, text: str) -> int | None:
    match = pattern.search(text)
    if not match:
        return None
    return int(next(group for group in match.groups() if group))


def _describe_size(size: tuple[int | None, int | None]) -> str:
    return "832x480 (default)" if size[0] is None else f"{size[0]}x{size[1]}"
