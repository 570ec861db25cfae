"""Unison end to end: request → plan → route → (answer | annotate → project → generate) → files.

`run(text, overrides, options)` is the whole automatic flow for the CLI and the UnisonAuto node
alike: each step is one call of a stage in `stages`, and every model comes from the model
manager, so a second similar run loads nothing.
"""

from __future__ import annotations

import json
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator, Mapping

from ..facts import FPS
from ..plan import Plan
from ..router import Overrides, Route
from .options import RunOptions

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import torch

    from ..request import GivenMedia

@dataclass
class RunResult:
    """What one request produced, with the decisions that led there."""

    plan: Plan
    route: Route
    answer: str | None = None
    frames: "np.ndarray | None" = None  # [T, H, W, 3] uint8, as saved
    video: "torch.Tensor | None" = field(default=None, repr=False)  # [3, T, H, W] float in [-1, 1], unrounded
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


def run(text: str, overrides: Overrides | None = None, options: RunOptions | None = None,
        given: Mapping[str, "GivenMedia"] | None = None) -> RunResult:
    """Run one request end to end. Understanding tasks never load the generator nor decode
    pixels; generation tasks never call `answer`. `given`: media handed over as pixels, each with
    its role (a node's connected inputs), referred to as `{name}` in the text."""
    from ..models import get_manager
    from . import stages
    from .checks import check_settings

    options = options or RunOptions()
    hooks = options.hooks
    hooks.check_cancel()
    manager = get_manager()
    loads_before = manager.load_count()
    clock = _Stopwatch()

    # 1. Find the models, parse the request (media confined to the allowed roots)
    with clock.stage("parse"):
        sources = stages.find_run_models(options.models)
        request = stages.read_request(text, options.media_roots, given)
    check_settings(options, overrides, request.media_kinds)  # before any model loads

    # 2. Plan (when the rules plan, the planner model loads only after the route is checked)
    plan_by = options.models.plan_by
    model = None
    if sources.planner is not None and plan_by != "rules":
        with clock.stage("load_planner"):
            model = sources.planner.load()
    with clock.stage("plan"):
        planned = stages.plan_request(request, model, plan_by)
    notes = [] if sources.planner is not None else ["planned by rules (no planner model found)"]
    if sources.planner is not None and sources.planner.mode == "instruct":
        notes.append(f"planner: {sources.planner.describe()} (no Unison LoRA found)")

    # 3. Route (overrides applied and validated here; media headers only)
    with clock.stage("route"):
        planned = stages.route_request(planned, overrides)
    if model is None and sources.planner is not None:  # it answers and feeds the projector
        with clock.stage("load_planner"):
            model = sources.planner.load()
    result = RunResult(plan=planned.plan, route=planned.route, notes=notes)
    if not planned.route.needs_generator:
        # 4a. Understanding: the planner model answers with the media attached
        with clock.stage("answer"):
            planned = stages.answer_request(planned, model, options.max_new_tokens, options.sampling.seed,
                                            hooks.check_cancel)
        result.answer = planned.answer
    else:
        # 4b. Generation: annotate, condition, sample
        with clock.stage("annotate"):
            planned = stages.prepare_request(planned, sources.annotators)
            result.route, result.stage_two = planned.route, planned.inputs.summary()
        hooks.check_cancel()
        with clock.stage("load_generator"):
            generator = sources.require_generator().load()
        with clock.stage("project"):
            conditioning = stages.condition(planned, model, sources.projector, options.models.use_projector,
                                            text_width=generator.text_width, check_cancel=hooks.check_cancel)
            result.stage_two["projector_used"] = conditioning.projector_tokens is not None
            if conditioning.note and options.models.use_projector:
                notes.append(conditioning.note)
        with clock.stage("generate"):
            from ..media import to_uint8_frames

            result.video = stages.generate_video(generator, planned.inputs, conditioning, options.sampling, hooks).video
            result.frames = to_uint8_frames(result.video)
    notes.extend(manager.take_notes())  # the memory policy's choices (placements, CFG batching, tiling)

    # 5. Save
    out_dir = options.output.out_dir
    if out_dir is not None:
        with clock.stage("save"):
            result.files = save_outputs(result, Path(out_dir))
    result.timings = clock.timings
    result.loads = manager.load_count() - loads_before
    result.peak_rss_mb, result.peak_vram_mb = peak_memory_mb()
    if out_dir is not None:
        write_result_json(result, Path(out_dir))
    return result


def peak_memory_mb() -> tuple[float, float]:
    """(peak resident memory of this process, peak VRAM allocated on the GPU or 0), in MiB."""
    import resource
    import sys

    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux
    torch = sys.modules.get("torch")
    vram = torch.cuda.max_memory_allocated() / 2**20 if torch is not None and torch.cuda.is_available() else 0.0
    return rss, vram


def save_outputs(result: RunResult, out_dir: Path) -> list[Path]:
    """answer.txt, output.png or output.mp4 in `out_dir`; an existing name (a dangling symlink
    included, or one another run takes first) is never replaced: the next free `stem_N` is used."""
    from ..media import save_mp4, save_png
    from ..outputs import write_text

    out_dir.mkdir(parents=True, exist_ok=True)
    if result.answer is not None:
        return [write_text(out_dir / "answer.txt", result.answer + "\n")]
    if result.route.plan.is_video:
        return [save_mp4(result.frames, out_dir / "output.mp4", fps=FPS, next_free=True)]
    return [save_png(result.frames[0], out_dir / "output.png", next_free=True)]


def write_result_json(result: RunResult, out_dir: Path) -> Path:
    from ..outputs import write_text

    return write_text(out_dir / "result.json", json.dumps(result.to_dict(), indent=2, ensure_ascii=False))
