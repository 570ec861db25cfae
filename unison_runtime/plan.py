"""The plan: which of the 12 tasks to run and its hyper-parameters, and the token grammar the
Unison planner writes it in (DESIGN §2-3).

Grammar (token order does not matter; the released model writes parameters first and the task
token last, and `Plan.to_tokens` writes that order)::

    <BORES>w,h<EORES>      target size, width,height in pixels
    <BONF>n<EONF>          n+1 frames (so `<BONF>72<EONF>` is 73 frames, 3 s at 24 fps)
    <BOFIDX>k<EOFIDX>      image-to-video: k=0 the image is the first frame, 1 the last frame;
                           "0,1" (first and last frame) is this pack's extension
    <REF>                  subject/identity reference
    <CTRL>                 controllable generation (pose/depth/edge... input)
    <BOEDIT>m,s<EOEDIT>    editing: mask index m, source index s into the request's media list;
                           a single index is the source alone (video editing without a mask);
                           empty (`<BOEDIT><EOEDIT>`) leaves both to the router (our extension)
    <CFI> / <CFV>          the task token: image or video output

Validation, the same for tokens, JSON (`from_dict`) and overrides (`with_overrides`):
- A width/height that is not a multiple of 16 is snapped to the nearest one (halves go up), and a
  frame count that is not 4k+1 to the nearest 4k+1, each with a warning. Values outside
  16..2048 pixels per side or 1..241 frames, and anything that is not a whole number, are a
  PlanError: clamping one side would silently change the aspect ratio, so out of range is never
  guessed at.
- Values a task cannot use (a frame count on an image task, a size or frame count on an
  understanding task) are dropped with a warning. Fields that choose the task (frame_ref, the
  edit indices, the reference/control flags) must agree with it, else PlanError.
- Every failure is a `PlanError` naming what was found and what is allowed.

Two plans are equal when they plan the same thing: `raw` and `warnings` take no part in `==`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, fields
from typing import Any, Iterable, Mapping

from .errors import PlanError

from .facts import (CONTROL_TASKS, DEFAULT_HEIGHT, DEFAULT_VIDEO_FRAMES, DEFAULT_WIDTH, EDIT_TASKS, FPS,
                    FRAME_REFS, MAX_FRAMES, MAX_SIDE, MIN_SIDE, REFERENCE_TASKS, SIZE_STEP, TASKS,
                    UNDERSTANDING_TASKS, VIDEO_TASKS)

PLAN_TOKENS = (
    "<CFI>", "<CFV>", "<BORES>", "<EORES>", "<BONF>", "<EONF>", "<BOFIDX>", "<EOFIDX>",
    "<REF>", "<CTRL>", "<BOEDIT>", "<EOEDIT>",
)
_PAIRS = {"BORES": "EORES", "BONF": "EONF", "BOFIDX": "EOFIDX", "BOEDIT": "EOEDIT"}
_CLOSERS = {closer: opener for opener, closer in _PAIRS.items()}
_TASK_TOKENS = ("CFI", "CFV")
_FLAG_TOKENS = ("REF", "CTRL")
_KNOWN_NAMES = set(_PAIRS) | set(_CLOSERS) | set(_TASK_TOKENS) | set(_FLAG_TOKENS)
END_OF_TURN = ("<|im_end|>", "<|endoftext|>")
# Any <NAME> or <|name|> the model might write; the bounded name keeps scanning linear.
_TOKEN_RE = re.compile(r"<(\|?[A-Za-z_]{1,24}\|?)>")
_MAX_CONTENT = 64  # longer text between a begin/end pair cannot be a number list
_INT = r"\s*([0-9]{1,12})\s*"
_ONE_INT_RE = re.compile(_INT, re.ASCII)
_TWO_INTS_RE = re.compile(_INT + "," + _INT, re.ASCII)
_FRAME_INDEX = {"0": "first", "1": "last", "0,1": "firstlast"}
_FRAME_INDEX_TOKEN = {v: k for k, v in _FRAME_INDEX.items()}

_FIELD_NAMES = (
    "task", "width", "height", "num_frames", "frame_ref", "mask_index", "source_index",
    "reference", "control", "raw", "warnings",
)


def snap_size(value: Any) -> int:
    """The multiple of 16 nearest `value` (halves go up), kept within 16..2048."""
    # Clamp first (the bounds are multiples of 16), so huge ints never reach float maths.
    number = min(MAX_SIDE, max(MIN_SIDE, _as_number(value, "size")))
    return int(math.floor(number / SIZE_STEP + 0.5)) * SIZE_STEP


def snap_frames(value: Any) -> int:
    """The frame count 4k+1 at or below `value`, kept within 1..241: what Wan makes of it (its
    VAE keeps (n - 1) // 4 + 1 latent frames, which decode to 4k+1)."""
    number = min(MAX_FRAMES, max(1, _as_number(value, "frame count")))  # both bounds are 4k+1
    return int(math.floor((number - 1) / 4)) * 4 + 1


def looks_like_plan(text: Any) -> bool:
    """Whether `text` holds any plan token (else it is prose: an answer, not a plan)."""
    return isinstance(text, str) and any(token in text for token in PLAN_TOKENS)


@dataclass(frozen=True)
class Plan:
    """One planned task. Fields the plan leaves out are None; `resolved_*` apply the defaults."""

    task: str
    width: int | None = None
    height: int | None = None
    num_frames: int | None = None  # the real frame count (`<BONF>n<EONF>` is n+1)
    frame_ref: str | None = None  # image_to_video: "first" | "last" | "firstlast"
    mask_index: int | None = None  # edits: index into the request's media list
    source_index: int | None = None  # edits: the source; control: the control input
    reference: bool | None = None  # None = follow the task; stored as a bool
    control: bool | None = None
    raw: str = field(default="", compare=False)
    warnings: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        notes: list[str] = list(_as_warnings(self.warnings))
        values = _normalise({f.name: getattr(self, f.name) for f in fields(self)}, notes)
        for name, value in values.items():
            object.__setattr__(self, name, value)
        object.__setattr__(self, "warnings", tuple(notes))

    # -- construction ---------------------------------------------------------------------------

    @classmethod
    def from_tokens(cls, text: str, media_count: int | None = None, clamp: bool = False) -> "Plan":
        """Parse the planner's output. Raises PlanError (and only PlanError) when it is not a plan.

        `clamp`: a size or length out of range is brought into range with a warning (a size
        scaled down keeping its aspect) instead of refused; for a model's own plan, whose
        numbers the grammar lets finish rather than cut short.
        """
        if not isinstance(text, str):
            raise PlanError(f"a plan must be text, got {type(text).__name__}")
        values = _parse_tokens(strip_end_of_turn(text))
        notes = _clamp_numbers(values) if clamp else []
        plan = cls(**values, raw=text, warnings=tuple(notes))
        _check_media_count(plan, media_count)
        return plan

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], media_count: int | None = None, clamp: bool = False) -> "Plan":
        """A plan from `to_dict`'s JSON, validated exactly like `from_tokens` (`clamp` too)."""
        if not isinstance(data, Mapping):
            raise PlanError(f"a plan must be a JSON object, got {type(data).__name__}")
        unknown = sorted(str(k) for k in data if k not in _FIELD_NAMES)
        if unknown:
            raise PlanError(f"unknown plan key(s) {unknown}; allowed: {', '.join(_FIELD_NAMES)}")
        if "task" not in data:
            raise PlanError(f"a plan needs a 'task'; allowed tasks: {', '.join(TASKS)}")
        values = dict(data)
        if values.get("raw") is None:
            values["raw"] = ""
        if values.get("warnings") is None:
            values["warnings"] = ()
        if clamp:
            values["warnings"] = (*_as_warnings(values["warnings"]), *_clamp_numbers(values))
        plan = cls(**values)
        _check_media_count(plan, media_count)
        return plan

    @classmethod
    def understanding(cls, media_kinds: Iterable[str] = ()) -> "Plan":
        """The understanding task for a request with these media kinds: any video -> video,
        any image -> image, none -> text."""
        if isinstance(media_kinds, str):
            media_kinds = (media_kinds,)
        kinds = set()
        for kind in media_kinds:
            if kind not in ("image", "video"):
                raise PlanError(f"unknown media kind {kind!r}; allowed: image, video")
            kinds.add(kind)
        task = ("video_understanding" if "video" in kinds
                else "image_understanding" if "image" in kinds else "text_understanding")
        return cls(task=task)

    def with_overrides(self, *, media_count: int | None = None, **changes: Any) -> "Plan":
        """A new plan with `changes` applied, validated like any plan. Changing the task makes the
        flags follow it and drops the fields the new task cannot use, with a warning."""
        unknown = sorted(set(changes) - set(_FIELD_NAMES))
        if unknown:
            raise PlanError(f"unknown plan field(s) {unknown}; allowed: {', '.join(_FIELD_NAMES)}")
        values = self.to_dict()
        new_task = changes.get("task", self.task)
        if new_task != self.task and new_task in TASKS:
            follow, dropped = _fields_for_new_task(values, new_task, changes)
            values.update(follow)
            if dropped:
                values["warnings"].append(f"dropped {', '.join(dropped)}: not used by {new_task}")
        values.update(changes)
        return Plan.from_dict(values, media_count=media_count)

    # -- views -----------------------------------------------------------------------------------

    @property
    def is_understanding(self) -> bool:
        return self.task in UNDERSTANDING_TASKS

    @property
    def is_video(self) -> bool:
        """True for the five video generation tasks (a video understanding plan outputs text)."""
        return self.task in VIDEO_TASKS

    def resolved_size(self) -> tuple[int, int]:
        if self.width is None or self.height is None:
            return DEFAULT_WIDTH, DEFAULT_HEIGHT
        return self.width, self.height

    def resolved_num_frames(self) -> int:
        """1 for image (and understanding) tasks; the planned count or 81 for video tasks."""
        if not self.is_video:
            return 1
        return DEFAULT_VIDEO_FRAMES if self.num_frames is None else self.num_frames

    def to_tokens(self) -> str:
        """The plan in the released model's order: parameters, then the task token. A control
        plan's source_index (an override choosing the control input) has no token and is left out."""
        if self.is_understanding:
            raise PlanError(f"{self.task} has no plan tokens: the planner answers it in words")
        parts = []
        if self.width is not None:
            parts.append(f"<BORES>{self.width},{self.height}<EORES>")
        if self.num_frames is not None:
            parts.append(f"<BONF>{self.num_frames - 1}<EONF>")
        if self.frame_ref is not None:
            parts.append(f"<BOFIDX>{_FRAME_INDEX_TOKEN[self.frame_ref]}<EOFIDX>")
        if self.reference:
            parts.append("<REF>")
        if self.control:
            parts.append("<CTRL>")
        if self.task in EDIT_TASKS:
            indices = [] if self.source_index is None else [self.source_index]
            if self.mask_index is not None:
                indices.insert(0, self.mask_index)
            parts.append(f"<BOEDIT>{','.join(map(str, indices))}<EOEDIT>")
        parts.append("<CFV>" if self.is_video else "<CFI>")
        return "".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: the keys of `_FIELD_NAMES`, warnings as a list."""
        data = {name: getattr(self, name) for name in _FIELD_NAMES}
        data["warnings"] = list(self.warnings)
        return data


# -- token parsing ----------------------------------------------------------------------------------

def strip_end_of_turn(text: str) -> str:
    """`text` without surrounding whitespace and trailing end-of-turn tokens."""
    # A loop, not a regex: `(\s*<|im_end|>)+\s*$` backtracks quadratically on long whitespace.
    stripped = text.strip()
    while True:
        for tail in END_OF_TURN:
            if stripped.endswith(tail):
                stripped = stripped[: -len(tail)].rstrip()
                break
        else:
            return stripped


def _parse_tokens(text: str) -> dict[str, Any]:
    """Token text -> Plan constructor values. Token order is free; each token at most once."""
    if not looks_like_plan(text):
        raise PlanError(
            f"no plan tokens in {_show(text)}; a plan ends with a task token <CFI> (image) or "
            f"<CFV> (video) and may hold {', '.join(PLAN_TOKENS[2:])}")
    seen: list[str] = []
    contents: dict[str, str] = {}
    open_name: str | None = None
    open_at = 0
    position = 0
    for match in _TOKEN_RE.finditer(text):
        name = match.group(1)
        if name not in _KNOWN_NAMES:
            if open_name is None:
                raise PlanError(f"unexpected token <{name}> in the plan; allowed: {', '.join(PLAN_TOKENS)}")
            continue  # inside a pair: it becomes part of the (then invalid) content
        gap = text[position:match.start()]
        position = match.end()
        if open_name is not None:
            if name != _PAIRS[open_name]:
                raise PlanError(f"<{open_name}> is not closed: expected <{_PAIRS[open_name]}>, found <{name}>")
            contents[open_name] = text[open_at:match.start()]
            open_name = None
            continue
        if gap.strip():
            raise PlanError(f"unexpected text {_show(gap)} between plan tokens; "
                            "numbers belong inside <BORES>..<EORES>, <BONF>..<EONF>, <BOFIDX>..<EOFIDX>, <BOEDIT>..<EOEDIT>")
        if name in _CLOSERS:
            raise PlanError(f"<{name}> without a matching <{_CLOSERS[name]}> before it")
        if name in seen:
            raise PlanError(f"<{name}> appears twice; each plan token may appear once")
        if name in _TASK_TOKENS and any(t in seen for t in _TASK_TOKENS):
            raise PlanError("two task tokens <CFI> and <CFV>; a plan has exactly one")
        seen.append(name)
        if name in _PAIRS:
            open_name, open_at = name, match.end()
    if open_name is not None:
        raise PlanError(f"<{open_name}> is not closed: expected <{_PAIRS[open_name]}> before the end")
    tail = text[position:]
    if tail.strip():
        raise PlanError(f"unexpected text {_show(tail)} after the plan tokens")
    task_tokens = [t for t in seen if t in _TASK_TOKENS]
    if not task_tokens:
        raise PlanError("no task token: a plan holds <CFI> (image) or <CFV> (video)")
    return _values_from_tokens(task_tokens[0], set(seen), contents)


def _values_from_tokens(task_token: str, seen: set[str], contents: dict[str, str]) -> dict[str, Any]:
    selectors = [t for t in ("BOEDIT", "CTRL", "REF", "BOFIDX") if t in seen]
    if len(selectors) > 1:
        raise PlanError(
            f"conflicting task tokens {', '.join(f'<{t}>' for t in selectors)}; a plan holds at most "
            "one of <BOEDIT> (edit), <CTRL> (control), <REF> (reference), <BOFIDX> (image-to-video)")
    selector = selectors[0] if selectors else None
    if task_token == "CFI":
        if selector == "BOFIDX":
            raise PlanError("<BOFIDX> (image-to-video) needs the video task token <CFV>, found <CFI>")
        task = {"BOEDIT": "image_edit", "CTRL": "image_control", "REF": "image_reference"}.get(selector, "text_to_image")
    else:
        task = {"BOFIDX": "image_to_video", "REF": "video_reference", "BOEDIT": "video_edit",
                "CTRL": "video_control"}.get(selector, "text_to_video")
    values: dict[str, Any] = {"task": task}
    if "BORES" in contents:
        values["width"], values["height"] = _parse_numbers(
            "BORES", contents["BORES"], (_TWO_INTS_RE,), "width,height in pixels, e.g. <BORES>1280,720<EORES>")
    if "BONF" in contents:
        (count,) = _parse_numbers("BONF", contents["BONF"], (_ONE_INT_RE,),
                                  "a frame count n (n+1 frames), e.g. <BONF>72<EONF>")
        values["num_frames"] = count + 1
    if "BOFIDX" in contents:
        key = re.sub(r"\s+", "", contents["BOFIDX"])
        if key not in _FRAME_INDEX:
            raise PlanError(f"<BOFIDX>{_clip(contents['BOFIDX'])}<EOFIDX>: allowed 0 (first frame), "
                            "1 (last frame) or 0,1 (first and last frame)")
        values["frame_ref"] = _FRAME_INDEX[key]
    if "BOEDIT" in contents:
        values.update(_edit_indices(contents["BOEDIT"]))
    return values


def _edit_indices(content: str) -> dict[str, int]:
    if not content.strip():
        return {}
    numbers = _parse_numbers("BOEDIT", content, (_TWO_INTS_RE, _ONE_INT_RE),
                             "mask,source media indices (or the source alone), e.g. <BOEDIT>1,0<EOEDIT>")
    if len(numbers) == 1:
        return {"source_index": numbers[0]}
    return {"mask_index": numbers[0], "source_index": numbers[1]}


def _parse_numbers(name: str, content: str, patterns: tuple[re.Pattern, ...], allowed: str) -> tuple[int, ...]:
    closer = _PAIRS[name]
    if len(content) <= _MAX_CONTENT:
        for pattern in patterns:
            match = pattern.fullmatch(content)
            if match:
                return tuple(int(g) for g in match.groups())
    raise PlanError(f"<{name}>{_clip(content)}<{closer}>: expected {allowed}")


# -- validation --------------------------------------------------------------------------------------

def _normalise(values: dict[str, Any], notes: list[str]) -> dict[str, Any]:
    """Check and normalise constructor values; snapping and dropping append to `notes`."""
    task = values["task"]
    if not isinstance(task, str) or task not in TASKS:
        raise PlanError(f"unknown task {task!r}; allowed: {', '.join(TASKS)}")
    if not isinstance(values["raw"], str):
        raise PlanError(f"raw must be the planner's text, got {type(values['raw']).__name__}")
    for name in ("width", "height", "num_frames", "mask_index", "source_index"):
        values[name] = _as_whole_number(values[name], name)
    values["reference"] = _check_flag(values["reference"], "reference", task, REFERENCE_TASKS)
    values["control"] = _check_flag(values["control"], "control", task, CONTROL_TASKS)
    _normalise_size(values, task, notes)
    _normalise_frames(values, task, notes)
    _normalise_frame_ref(values, task)
    _check_indices(values, task)
    return values


def _clamp_numbers(values: dict[str, Any]) -> list[str]:
    """Bring a parsed size and frame count into range; one warning for each change."""
    notes = []
    width, height = values.get("width"), values.get("height")
    if width is not None and height is not None and not (
            MIN_SIDE <= width <= MAX_SIDE and MIN_SIDE <= height <= MAX_SIDE):
        scale = min(1.0, MAX_SIDE / max(width, height, 1))
        new = [min(MAX_SIDE, max(MIN_SIDE, round(v * scale))) for v in (width, height)]
        notes.append(f"size {width}x{height} is out of range ({MIN_SIDE}..{MAX_SIDE} a side); "
                     f"brought to {new[0]}x{new[1]}")
        values["width"], values["height"] = new
    frames = values.get("num_frames")
    if frames is not None and not 1 <= frames <= MAX_FRAMES:
        values["num_frames"] = min(MAX_FRAMES, max(1, frames))
        notes.append(f"num_frames {frames} is out of range (1..{MAX_FRAMES}); clamped to {values['num_frames']}")
    return notes


def _normalise_size(values: dict[str, Any], task: str, notes: list[str]) -> None:
    width, height = values["width"], values["height"]
    if width is None and height is None:
        return
    if task in UNDERSTANDING_TASKS:
        notes.append(f"dropped the size {width}x{height}: {task} generates nothing")
        values["width"] = values["height"] = None
        return
    if width is None or height is None:
        raise PlanError(f"width and height go together; got width={width}, height={height}")
    for name, value in (("width", width), ("height", height)):
        if not MIN_SIDE <= value <= MAX_SIDE:
            raise PlanError(f"{name} {value} is out of range: allowed {MIN_SIDE}..{MAX_SIDE} pixels")
        snapped = snap_size(value)
        if snapped != value:
            notes.append(f"{name} {value} snapped to {snapped} (sizes are multiples of {SIZE_STEP})")
            values[name] = snapped


def _normalise_frames(values: dict[str, Any], task: str, notes: list[str]) -> None:
    frames = values["num_frames"]
    if frames is None:
        return
    if task not in VIDEO_TASKS:
        if frames != 1:
            notes.append(f"dropped num_frames {frames}: {task} makes no video")
        values["num_frames"] = None
        return
    if not 1 <= frames <= MAX_FRAMES:
        raise PlanError(f"num_frames {frames} is out of range: allowed 1..{MAX_FRAMES} frames "
                        f"(<BONF>0<EONF> .. <BONF>{MAX_FRAMES - 1}<EONF>, {MAX_FRAMES // FPS} s at {FPS} fps)")
    snapped = snap_frames(frames)
    if snapped != frames:
        notes.append(f"num_frames {frames} snapped to {snapped} (frame counts are 4k+1)")
        values["num_frames"] = snapped


def _normalise_frame_ref(values: dict[str, Any], task: str) -> None:
    frame_ref = values["frame_ref"]
    if frame_ref is not None and frame_ref not in FRAME_REFS:
        raise PlanError(f"frame_ref {frame_ref!r} is not allowed: use first, last or firstlast")
    if task == "image_to_video":
        values["frame_ref"] = frame_ref or "first"  # the planner's default (DESIGN §2, task 9)
    elif frame_ref is not None:
        raise PlanError(f"frame_ref applies only to image_to_video, not {task}")


def _check_indices(values: dict[str, Any], task: str) -> None:
    mask, source = values["mask_index"], values["source_index"]
    for name, index in (("mask_index", mask), ("source_index", source)):
        if index is not None and index < 0:
            raise PlanError(f"{name} {index} is negative; media indices count from 0")
    if mask is not None and task not in EDIT_TASKS:
        raise PlanError(f"mask_index applies only to {' and '.join(EDIT_TASKS)}, not {task}")
    if source is not None and task not in EDIT_TASKS + CONTROL_TASKS:
        raise PlanError(f"source_index applies only to editing and control tasks, not {task}")
    if mask is not None and source is None:
        raise PlanError("mask_index needs a source_index too (<BOEDIT>mask,source<EOEDIT>)")
    if mask is not None and mask == source:
        raise PlanError(f"mask_index and source_index are both {mask}; the mask and the source "
                        "must be different media items")


def _check_media_count(plan: Plan, media_count: int | None) -> None:
    if media_count is None:
        return
    if isinstance(media_count, bool) or not isinstance(media_count, int) or media_count < 0:
        raise PlanError(f"media_count must be a whole number >= 0, got {media_count!r}")
    for name in ("mask_index", "source_index"):
        index = getattr(plan, name)
        if index is not None and index >= media_count:
            allowed = f"0..{media_count - 1}" if media_count else "none (the request has no media)"
            raise PlanError(f"{name} {index} is out of range: the request has {media_count} "
                            f"media item(s), allowed indices {allowed}")


def _check_flag(value: Any, name: str, task: str, tasks: tuple[str, ...]) -> bool:
    expected = task in tasks
    if value is None:
        return expected
    if not isinstance(value, bool):
        raise PlanError(f"{name} must be true or false, got {value!r}")
    if value != expected:
        wanted = " or ".join(tasks)
        raise PlanError(f"{name}={value} contradicts task {task}; {name} is true exactly for {wanted}")
    return value


def _fields_for_new_task(values: Mapping[str, Any], task: str,
                         changes: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Values that follow a task change unless the caller set them too, and the names dropped."""
    follow: dict[str, Any] = {
        "reference": task in REFERENCE_TASKS,
        "control": task in CONTROL_TASKS,
        "frame_ref": (values.get("frame_ref") or "first") if task == "image_to_video" else None,
    }
    if task not in EDIT_TASKS:
        follow["mask_index"] = None
        if task not in CONTROL_TASKS:
            follow["source_index"] = None
    follow = {k: v for k, v in follow.items() if k not in changes}
    dropped = [k for k in ("frame_ref", "mask_index", "source_index")
               if k in follow and follow[k] is None and values.get(k) is not None]
    return follow, dropped


def _as_whole_number(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise PlanError(f"{name} must be a whole number, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise PlanError(f"{name} must be a whole number, got {_clip(repr(value))}")


def _as_number(value: Any, what: str) -> int | float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PlanError(f"{what} must be a number, got {_clip(repr(value))}")
    if isinstance(value, float) and not math.isfinite(value):
        raise PlanError(f"{what} must be a finite number, got {value!r}")
    return value


def _as_warnings(value: Any) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise PlanError(f"warnings must be a list of strings, got {type(value).__name__}")
    if not all(isinstance(item, str) for item in value):
        raise PlanError("warnings must be a list of strings")
    return tuple(value)


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def _show(text: str) -> str:
    return repr(_clip(text.strip()))
