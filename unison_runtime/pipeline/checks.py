"""Up-front validation of a run: everything that can be wrong with the settings is refused before
any model loads (a bad --steps is one line at once, not a traceback after 35 s of loading).

`check_settings(options, overrides, media_kinds)` needs only the options, the overrides and the
request's media kinds; `check_route(route)` refuses what only the route reveals (how many
reference images, how many frames an image-to-video run makes) before annotators and the
generator load; `mask_notes` says when a given mask marks nothing or had another size.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from ..errors import GenerationError, PlanError, RequestError
from ..facts import MAX_REFERENCES, REFERENCE_TASKS

if TYPE_CHECKING:  # pragma: no cover
    from ..router import Overrides, Route
    from .options import RunOptions
    from .stage_two import StageTwoInputs

MIN_IMAGE_TO_VIDEO_FRAMES = 5  # the given frame plus at least one 4-frame latent step to animate


def check_settings(options: "RunOptions", overrides: "Overrides | None" = None,
                   media_kinds: Sequence[str] = ()) -> None:
    """Raise a UnisonError naming the first bad setting and what is allowed. (Choices, sampler
    numbers and the answer length are checked when the option values are built.)"""
    from ..devices import validate_device

    validate_device(options.models.load.device)
    check_out_dir(options.output.out_dir)
    _check_overrides(overrides, media_kinds)


def check_out_dir(out_dir: str | Path | None) -> None:
    """An output folder must be a folder (or not exist yet): never an existing file."""
    if out_dir is None:
        return
    path = Path(out_dir).expanduser()
    if path.exists() and not path.is_dir():
        raise RequestError(f"--out {str(path)!r} is an existing file; give a folder for the outputs")
    if path.is_symlink() and not path.exists():
        raise RequestError(f"--out {str(path)!r} is a symlink to nothing; give a folder for the outputs")


def check_route(route: "Route") -> None:
    """What only the route reveals, refused before annotators and the generator load."""
    if len(route.reference_indices) > MAX_REFERENCES:
        raise GenerationError(f"{route.task} was given {len(route.reference_indices)} reference images; "
                              f"at most {MAX_REFERENCES} are allowed")
    if route.task == "image_to_video" and route.num_frames < MIN_IMAGE_TO_VIDEO_FRAMES:
        raise PlanError(f"image_to_video makes {route.num_frames} frame(s); it needs at least "
                        f"{MIN_IMAGE_TO_VIDEO_FRAMES} (the given image plus frames to animate)")


def _check_overrides(overrides: "Overrides | None", media_kinds: Sequence[str]) -> None:
    """Overrides validated on their own (sizes, frame counts, indices), as the router will."""
    from ..plan import Plan
    from ..router import Overrides

    chosen = overrides.chosen() if overrides is not None else {}
    if not chosen:
        return
    # A stand-in plan checks the values exactly as the router will after planning: all of them
    # when the task is forced, else those that mean the same for every task (size, frame count).
    task = chosen.get("task")
    if task is None:
        task = "text_to_video" if "num_frames" in chosen else "text_to_image"
        chosen = {k: v for k, v in chosen.items() if k in ("width", "height", "num_frames")}
    plan = Overrides(**chosen).apply(Plan(task=task), len(media_kinds) or None)
    if plan.task == "image_to_video" and plan.num_frames is not None \
            and plan.num_frames < MIN_IMAGE_TO_VIDEO_FRAMES:
        raise PlanError(f"image_to_video with num_frames={plan.num_frames} is not allowed: it needs at "
                        f"least {MIN_IMAGE_TO_VIDEO_FRAMES} frames (the given image plus frames to animate)")
    images = sum(1 for kind in media_kinds if kind == "image")
    if plan.task in REFERENCE_TASKS and images > MAX_REFERENCES:
        raise GenerationError(f"{plan.task} was given {images} reference images; "
                              f"at most {MAX_REFERENCES} are allowed")


def mask_notes(route: "Route", media: Mapping[int, Any], inputs: "StageTwoInputs") -> list[str]:
    """Notes on a given mask that would otherwise surprise silently: one that marks nothing (the
    edit then returns the source unchanged; it still runs, so the user sees why) and one whose size
    differs from its source's (it is stretched to the source's framing)."""
    if route.mask_index is None or route.source_index is None or inputs.masks is None:
        return []
    mask, source = media[route.mask_index], media[route.source_index]
    number = route.mask_index + 1
    notes = []
    if not (inputs.masks > 0).any():
        notes.append(f"the mask (media #{number}) marks no pixel to regenerate (all black or opaque): "
                     "the output is the source unchanged; white or transparent areas are regenerated")
    (mh, mw), (sh, sw) = mask.shape[1:3], source.shape[1:3]
    if (mh, mw) != (sh, sw):
        notes.append(f"the mask (media #{number}) is {mw}x{mh} but its source (media "
                     f"#{route.source_index + 1}) is {sw}x{sh}: the mask was stretched to fit")
    return notes
