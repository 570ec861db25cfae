"""The task router: from a Plan and the request's media to exactly what stage two needs.

`route(plan, media, overrides)` decides which media item is the source, the mask, the reference
or the control input, which annotator prepares it, and the size and frame count to generate.
It is pure (no models, no pixels): `media` describes each item's kind and size, so the router can
be tested exhaustively and the pipeline and the ComfyUI Task Router node share it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Mapping

from .errors import PlanError
from .facts import FRAME_REFS, MEDIA_LIMIT_OF_TASK, ROUTER_OVERRIDES_OF_TASK, TASKS
from .plan import Plan

FRAME_REF_ANNOTATOR = {"first": "firstframe", "last": "lastframe", "firstlast": "firstlastframe"}


@dataclass(frozen=True)
class Overrides:
    """Values chosen by hand in place of the planned ones (None: as planned). They are checked
    exactly like planned values when applied (`Plan.with_overrides`), so an override can never
    produce a plan the planner could not have written."""

    task: str | None = None
    width: int | None = None
    height: int | None = None
    num_frames: int | None = None
    frame_ref: str | None = None
    mask_index: int | None = None
    source_index: int | None = None
    reference: bool | None = None
    control: bool | None = None

    def __post_init__(self) -> None:
        if self.task is not None and self.task not in TASKS:
            raise PlanError(f"unknown task override {self.task!r}; allowed: {', '.join(TASKS)}")
        if self.frame_ref is not None and self.frame_ref not in FRAME_REFS:
            raise PlanError(f"unknown frame_ref override {self.frame_ref!r}; allowed: {', '.join(FRAME_REFS)}")
        for name in ("mask_index", "source_index"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
                raise PlanError(f"{name} override must be a media index 0, 1, 2...; got {value!r}")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any] | None) -> "Overrides":
        """From `{name: value}` (None values ignored); unknown names are an error naming the allowed."""
        chosen = {k: v for k, v in (values or {}).items() if v is not None}
        unknown = sorted(set(chosen) - {f.name for f in fields(cls)})
        if unknown:
            raise PlanError(f"unknown override(s) {unknown}; allowed: {', '.join(f.name for f in fields(cls))}")
        return cls(**chosen)

    def chosen(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}

    def apply(self, plan: Plan, media_count: int) -> Plan:
        """The plan with these values in place of the planned ones, validated like a plan."""
        chosen = self.chosen()
        if not chosen:
            return plan
        if ("width" in chosen) != ("height" in chosen):
            # One side overridden: the other stays as planned (or the default size).
            width, height = plan.resolved_size()
            chosen.setdefault("width", width)
            chosen.setdefault("height", height)
        updated = plan.with_overrides(media_count=media_count, **chosen)
        note = "overridden: " + ", ".join(f"{k}={v}" for k, v in sorted(chosen.items()))
        return replace(updated, warnings=(*updated.warnings, note))


@dataclass(frozen=True)
class MediaInfo:
    """What the router needs to know about one media item of the request."""

    kind: str  # "image" | "video"
    width: int
    height: int
    num_frames: int = 1
    name: str = ""
    role: str = ""  # "image" | "video" | "mask", as stated by whoever gave the item

    @property
    def is_mask(self) -> bool:
        return self.role == "mask"


@dataclass(frozen=True)
class Route:
    """Stage two's inputs for one request, decided from the plan (after overrides)."""

    plan: Plan
    task: str
    needs_generator: bool
    width: int = 0
    height: int = 0
    num_frames: int = 0
    source_index: int | None = None
    mask_index: int | None = None
    reference_indices: tuple[int, ...] = ()
    frame_indices: tuple[int, ...] = ()  # image-to-video: the given first/last frame(s)
    control_index: int | None = None
    annotator: str | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["plan"] = self.plan.to_dict()
        data["reference_indices"] = list(self.reference_indices)
        data["frame_indices"] = list(self.frame_indices)
        data["notes"] = list(self.notes)
        return data

    def describe(self) -> str:
        if not self.needs_generator:
            return f"{self.task}: answered by the planner"
        parts = [f"{self.task} {self.width}x{self.height}, {self.num_frames} frame(s)"]
        if self.annotator:
            parts.append(f"annotator {self.annotator}")
        for label, index in (("source", self.source_index), ("mask", self.mask_index),
                             ("control", self.control_index)):
            if index is not None:
                parts.append(f"{label} = media #{index + 1}")
        if self.reference_indices:
            parts.append("reference = " + ", ".join(f"media #{i + 1}" for i in self.reference_indices))
        if self.frame_indices:
            parts.append("frames = " + ", ".join(f"media #{i + 1}" for i in self.frame_indices))
        return "; ".join(parts)


def route(plan: Plan, media: list[MediaInfo], overrides: Overrides | None = None) -> Route:
    """Decide stage two's inputs for `plan` (with `overrides` applied) and the request's media.
    An override the task does not read (a frame reference on a video edit, a saved graph's value
    for another task) is left out, with a note naming it."""
    if overrides is not None and not isinstance(overrides, Overrides):
        raise PlanError(f"overrides must be an Overrides value, got {type(overrides).__name__}")
    overrides, ignored = without_ignored(overrides or Overrides(), (overrides and overrides.task) or plan.task)
    plan = overrides.apply(plan, len(media))
    task = plan.task
    if plan.is_understanding:
        return Route(plan=plan, task=task, needs_generator=False, notes=ignored)
    builder = _ROUTE_BUILDERS[task]
    given = set(overrides.chosen())
    routed = builder(plan, media)
    check_every_media_used(routed, media)
    routed = fit_to_source(routed, media, exact_size=bool(given & {"width", "height"}),
                           exact_frames="num_frames" in given)
    return replace(routed, notes=ignored + routed.notes)


def check_every_media_used(route: Route, media: list[MediaInfo]) -> None:
    """Refuse media the task would leave out (a third image on an edit, a video on text-to-image):
    the user connected it to be used, so say in one line what the task takes."""
    used = {route.source_index, route.mask_index, route.control_index, *route.reference_indices,
            *route.frame_indices}
    unused = [i for i in range(len(media)) if i not in used]
    if not unused:
        return
    left = ", ".join(f"#{i + 1} ({'mask' if media[i].is_mask else media[i].kind})" for i in unused)
    raise PlanError(f"{route.task} uses {MEDIA_LIMIT_OF_TASK[route.task]}; the request has {len(media)} media "
                    f"item(s) and {left} would be left unused: remove {'it' if len(unused) == 1 else 'them'} "
                    "or choose a task that uses them")


def without_ignored(overrides: Overrides, task: str) -> tuple[Overrides, tuple[str, ...]]:
    """(the overrides `task` reads, one note per value left out), by `facts.ROUTER_OVERRIDES_OF_TASK`."""
    reads = ROUTER_OVERRIDES_OF_TASK.get(task, ())
    ignored = {name: value for name, value in overrides.chosen().items() if name != "task" and name not in reads}
    if not ignored:
        return overrides, ()
    shown = {True: "on", False: "off"}
    notes = tuple(f"{name}={shown.get(value, value) if isinstance(value, bool) else value} ignored: "
                  f"{task} does not use it" for name, value in ignored.items())
    return replace(overrides, **{name: None for name in ignored}), notes


def fit_to_source(route: Route, media: list[MediaInfo], exact_size: bool = False,
                  exact_frames: bool = False) -> Route:
    """A route with a source (edit, control, a given first/last frame) at the reference's size
    and length (`annotators.sources.fit_source_to_area`): the source's aspect at the planned
    area, never upscaled, snapped to 16; a video source's frames, at most the planned count (81
    by default), spread over its whole clip. A width/height or frame count the caller overrides
    is kept exactly (the source is then resized and centre-cropped, or resampled, to it)."""
    from .annotators.sources import fit_source_to_area

    index = route.source_index if route.source_index is not None else route.control_index
    if index is None and route.frame_indices:
        index = route.frame_indices[0]
    if index is None or media[index].width < 1 or media[index].height < 1:
        return route
    like, plan = media[index], route.plan
    planned_w, planned_h = plan.resolved_size()
    from_video = like.kind == "video" and route.num_frames > 1 and not route.frame_indices
    fit = fit_source_to_area(like.width, like.height, like.num_frames if from_video else 1,
                             planned_w * planned_h, max_frames=plan.resolved_num_frames())
    width, height = (route.width, route.height) if exact_size else (fit.width, fit.height)
    frames = fit.num_frames if from_video and not exact_frames else route.num_frames
    notes = route.notes + (f"source prepared as the reference: {like.width}x{like.height} -> {width}x{height}"
              + ("" if exact_size else f" (its aspect at the planned area {planned_w}x{planned_h})")
              + (f", {like.num_frames} -> {frames} frames over the whole clip" if from_video else ""),)
    return replace(route, width=width, height=height, num_frames=frames, notes=notes)


# -- per-task routes ---------------------------------------------------------------------------

def _pick(media: list[MediaInfo], kind: str, task: str, what: str, exclude: set[int] = frozenset()) -> int:
    for index, item in enumerate(media):
        if item.kind == kind and index not in exclude:
            return index
    have = ", ".join(m.kind for m in media) or "no media"
    raise PlanError(f"{task} needs {what} ({kind}) in the request, but it has {have}; "
                    f"add one with ###file### or connect it to the node")


def _check_kind(media: list[MediaInfo], index: int, allowed: tuple[str, ...], task: str, role: str) -> None:
    if index >= len(media):
        raise PlanError(f"{task}: the {role} is media #{index + 1}, but the request has {len(media)} item(s)")
    if media[index].kind not in allowed:
        raise PlanError(f"{task}: the {role} (media #{index + 1}) is a {media[index].kind}; "
                        f"allowed: {' or '.join(allowed)}")


def _route_text(plan: Plan, media: list[MediaInfo]) -> Route:
    width, height = plan.resolved_size()
    frames = plan.resolved_num_frames()
    return Route(plan=plan, task=plan.task, needs_generator=True, width=width, height=height,
                 num_frames=frames)


def _edit_indices(plan: Plan, media: list[MediaInfo], source_kind: str) -> tuple[int, int | None]:
    """(source, mask) for an edit: the plan's indices; else an item given as a mask (its role is
    stated, never guessed from a name) is the mask. An image edit always has a mask, so with no
    indices at all any other image serves; a source-only plan (`<BOEDIT>s<EOEDIT>`) or a video
    edit never takes an unrelated item as mask (a video edit without one edits the salient object)."""
    task = plan.task
    source, mask = plan.source_index, plan.mask_index
    planned_source = source is not None
    if source is None:
        exclude = {mask} if mask is not None else {i for i, m in enumerate(media) if m.is_mask}
        source = _pick(media, source_kind, task, "a source", exclude)
    if mask is None:
        candidates = [i for i, m in enumerate(media) if i != source]
        named = [i for i in candidates if media[i].is_mask]
        unnamed_allowed = source_kind == "image" and not planned_source
        mask = (named or (candidates if unnamed_allowed else []) or [None])[0]
    _check_kind(media, source, (source_kind,), task, "source")
    if mask is not None:
        _check_kind(media, mask, ("image", "video"), task, "mask")
        if mask == source:
            raise PlanError(f"{task}: the mask and the source are the same media #{source + 1}")
    return source, mask


def _route_image_edit(plan: Plan, media: list[MediaInfo]) -> Route:
    source, mask = _edit_indices(plan, media, "image")
    if mask is None:
        raise PlanError("image_edit needs a source image and a mask image; the request has only "
                        f"{len(media)} media item(s). Add the mask with ###mask.png###")
    width, height = plan.resolved_size()  # fit_to_source then follows the source
    return Route(plan=plan, task=plan.task, needs_generator=True, width=width, height=height,
                 num_frames=1, source_index=source, mask_index=mask, annotator="mask")


def _route_video_edit(plan: Plan, media: list[MediaInfo]) -> Route:
    source, mask = _edit_indices(plan, media, "video")
    width, height = plan.resolved_size()  # fit_to_source then follows the source
    notes = () if mask is not None else ("no mask given: the salient object is edited",)
    return Route(plan=plan, task=plan.task, needs_generator=True, width=width, height=height,
                 num_frames=plan.resolved_num_frames(), source_index=source, mask_index=mask,
                 annotator="mask" if mask is not None else "salient", notes=notes)


def _route_control(plan: Plan, media: list[MediaInfo]) -> Route:
    kind = "video" if plan.task == "video_control" else "image"
    wanted = (kind,) if kind == "image" else ("video", "image")
    index = plan.source_index
    if index is None:
        index = next((i for i, m in enumerate(media) if m.kind in wanted), None)
        if index is None:
            _pick(media, kind, plan.task, "a control input (pose/depth/edge...)")
    _check_kind(media, index, wanted, plan.task, "control input")
    width, height = plan.resolved_size()  # fit_to_source then follows the source
    frames = 1 if kind == "image" else plan.resolved_num_frames()
    return Route(plan=plan, task=plan.task, needs_generator=True, width=width, height=height,
                 num_frames=frames, control_index=index, annotator="control")


def _route_reference(plan: Plan, media: list[MediaInfo]) -> Route:
    refs = tuple(i for i, m in enumerate(media) if m.kind == "image")
    if not refs:
        _pick(media, "image", plan.task, "a reference image")
    width, height = plan.resolved_size()
    return Route(plan=plan, task=plan.task, needs_generator=True, width=width, height=height,
                 num_frames=plan.resolved_num_frames(), reference_indices=refs, annotator="reference")


def _route_image_to_video(plan: Plan, media: list[MediaInfo]) -> Route:
    images = [i for i, m in enumerate(media) if m.kind == "image"]
    mode = plan.frame_ref or "first"
    needed = 2 if mode == "firstlast" else 1
    if len(images) < needed:
        raise PlanError(f"image_to_video with frame_ref={mode!r} needs {needed} image(s); "
                        f"the request has {len(images)}")
    width, height = plan.resolved_size()
    return Route(plan=plan, task=plan.task, needs_generator=True, width=width, height=height,
                 num_frames=plan.resolved_num_frames(), frame_indices=tuple(images[:needed]),
                 annotator=FRAME_REF_ANNOTATOR[mode])


_ROUTE_BUILDERS = {
    "text_to_image": _route_text,
    "text_to_video": _route_text,
    "image_edit": _route_image_edit,
    "video_edit": _route_video_edit,
    "image_control": _route_control,
    "video_control": _route_control,
    "image_reference": _route_reference,
    "video_reference": _route_reference,
    "image_to_video": _route_image_to_video,
}
