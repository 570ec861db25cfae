"""Unison end to end: request → plan → route → (answer | annotate → project → generate) → files.

`run(text, overrides, options)` is the whole automatic flow; every stage is one call into its own
module, and every model comes from the model manager, so a second similar run loads nothing.
"""

from __future__ import annotations

import json
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

from ..errors import Cancelled, RequestError, UnisonError
from ..plan import Plan
from ..router import Route, route

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

PLANNER_CHOICES = ("auto", "rules", "unison", "instruct")


@dataclass
class RunOptions:
    """Where the models are and how to run. Paths left None are discovered under `models_dir`."""

    models_dir: Path | None = None
    planner: str = "auto"  # who decides the plan: auto = the model planner when one is found
    planner_model: Path | None = None
    planner_adapter: Path | None = None
    projector: Path | None = None
    generator: Path | None = None  # diffusers folder or native Wan folder
    annotators_dir: Path | None = None
    media_roots: tuple[Path, ...] = ()
    out_dir: Path | None = None
    seed: int = 0
    steps: int = 50
    cfg: float = 5.0
    shift: float = 5.0
    context_scale: float = 1.0
    negative_prompt: str = ""
    use_projector: bool = True
    device: str = "auto"
    dtype: str = "auto"
    offload_policy: str = "auto"  # models.OFFLOAD_POLICIES; auto: chosen from free device memory
    vae_tiling: str = "auto"  # generator.inputs.SWITCHES; auto: tiled when untiled does not fit
    max_new_tokens: int = 256
    progress: Callable[[int, int], None] | None = None  # (step, total) per sampling step
    cancel: threading.Event | None = None


@dataclass
class RunResult:
    """What one request produced, with the decisions that led there."""

    plan: Plan
    route: Route
    answer: str | None = None
    frames: "np.ndarray | None" = None  # [T, H, W, 3] uint8
    files: list[Path] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    loads: int = 0  # model loads this run performed (0 when everything was cached)
    peak_rss_mb: float = 0.0
    peak_vram_mb: float = 0.0
    notes: list[str] = field(default_factory=list)
    stage_two: dict[str, Any] = field(default_factory=dict)  # what reached the generator

    @property
    def output_kind(self) -> str:
        if self.answer is not None:
            return "text"
        return "video" if self.route.plan.is_video else "image"

    def to_dict(self) -> dict[str, Any]:
        return {
            "task": self.route.task,
            "output": self.output_kind,
            "plan": self.plan.to_dict(),
            "route": self.route.to_dict(),
            "answer": self.answer,
            "frames_shape": list(self.frames.shape) if self.frames is not None else None,
            "files": [str(p) for p in self.files],
            "seconds": {k: round(v, 4) for k, v in self.timings.items()},
            "model_loads": self.loads,
            "peak_rss_mb": round(self.peak_rss_mb, 1),
            "peak_vram_mb": round(self.peak_vram_mb, 1),
            "notes": self.notes,
            "stage_two": self.stage_two,
        }


class _Stopwatch:
    def __init__(self) -> None:
        self.timings: dict[str, float] = {}

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + time.perf_counter() - start


def run(text: str, overrides: dict[str, Any] | None = None, options: RunOptions | None = None) -> RunResult:
    """Run one request end to end. Understanding tasks never load the generator; generation tasks
    never call `answer`."""
    from ..models import get_manager
    from ..planner import choose_planner
    from ..request import parse_request
    from . import resources
    from .stage_two import describe_media, load_mask_frames, load_media, prepare_stage_two

    options = options or RunOptions()
    _check_options(options)
    manager = get_manager()
    loads_before = manager.load_count()
    clock = _Stopwatch()
    notes: list[str] = []

    # 1. Parse the request (media confined to the allowed roots)
    with clock.stage("parse"):
        roots = options.media_roots or (Path.cwd(),)
        request = parse_request(text, roots)

    # 2. Plan
    with clock.stage("load_planner"):
        language_model = resources.language_model(options)
        planner = choose_planner(options.planner, language_model)
    with clock.stage("plan"):
        plan = planner.plan(request)
    if planner.mode == "rules" and language_model is None:
        notes.append("planned by rules (no planner model found)")

    # 3. Route (overrides applied and validated here). Pixels are decoded only for generation:
    # an understanding request's media are read by the planner itself.
    with clock.stage("load_media"):
        answering = plan.is_understanding and not (overrides or {}).get("task")
        media = [] if answering else load_media(request)
        names = [m.path.name for m in request.media]
        infos = describe_media(media, request.media_kinds, names, sizes_known=not answering)
    with clock.stage("route"):
        chosen = route(plan, infos, overrides)
    if chosen.mask_index is not None and request.media[chosen.mask_index].kind == "image":
        media[chosen.mask_index] = load_mask_frames(request.media[chosen.mask_index].path)

    result = RunResult(plan=plan, route=chosen, notes=notes)
    if not chosen.needs_generator:
        # 4a. Understanding: the planner model answers with the media attached
        if language_model is None:
            raise UnisonError(
                f"{chosen.task} needs a planner model to answer; none was found. Put Qwen2.5-VL "
                f"under models/planner/ or pass --planner-model"
            )
        with clock.stage("answer"):
            result.answer = language_model.answer(request, max_new_tokens=options.max_new_tokens,
                                                   seed=options.seed,
                                                   check_cancel=lambda: resources.check_cancel(options))
    else:
        # 4b. Generation: annotate, condition, sample
        with clock.stage("annotate"):
            annotators = resources.annotators(options) if chosen.annotator == "salient" else None
            inputs = prepare_stage_two(chosen, media, annotators)
            result.stage_two = inputs.summary()
        with clock.stage("load_generator"):
            generator = resources.generator(options)
            projector = resources.projector(options, language_model, generator)
        with clock.stage("project"):
            tokens = resources.projector_tokens(request, language_model, projector)
            result.stage_two["projector_used"] = tokens is not None
            if tokens is None and options.use_projector:
                notes.append("no projector (or no planner model): the text context is T5 alone")
        with clock.stage("generate"):
            result.frames = resources.generate(generator, request, tokens, inputs, options)

    # 5. Save
    if options.out_dir is not None:
        with clock.stage("save"):
            result.files = save_outputs(result, Path(options.out_dir))
    result.timings = clock.timings
    result.loads = manager.load_count() - loads_before
    result.peak_rss_mb, result.peak_vram_mb = resources.peak_memory_mb()
    if options.out_dir is not None:
        write_result_json(result, Path(options.out_dir))
    return result


def _check_options(options: RunOptions) -> None:
    if options.planner not in PLANNER_CHOICES:
        raise RequestError(f"unknown planner {options.planner!r}; allowed: {', '.join(PLANNER_CHOICES)}")
    if options.cancel is not None and options.cancel.is_set():
        raise Cancelled("cancelled before the run started")


def save_outputs(result: RunResult, out_dir: Path) -> list[Path]:
    """answer.txt, output.png or output.mp4 in `out_dir`, never overwriting an existing file."""
    from ..media import save_mp4, save_png

    out_dir.mkdir(parents=True, exist_ok=True)
    if result.answer is not None:
        return [_write_new(out_dir / "answer.txt", result.answer + "\n")]
    if result.route.plan.is_video:
        return [save_mp4(result.frames, _unused(out_dir / "output.mp4"), fps=24)]
    return [save_png(result.frames[0], _unused(out_dir / "output.png"))]


def write_result_json(result: RunResult, out_dir: Path) -> Path:
    return _write_new(out_dir / "result.json", json.dumps(result.to_dict(), indent=2, ensure_ascii=False))


def _write_new(path: Path, text: str) -> Path:
    """Write `text` to `path` or the first free `stem_N` name; never replaces an existing file,
    even one that appears between the check and the write (exclusive create)."""
    while True:
        candidate = _unused(path)
        try:
            with open(candidate, "x", encoding="utf-8") as handle:
                handle.write(text)
            return candidate
        except FileExistsError:
            continue


def _unused(path: Path) -> Path:
    """`path`, or `stem_1.ext`, `stem_2.ext`, ... when a file of that name already exists."""
    candidate, n = path, 0
    while candidate.exists():
        n += 1
        candidate = path.with_name(f"{path.stem}_{n}{path.suffix}")
    return candidate
