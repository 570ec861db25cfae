"""How to run a request, split by concern: which models (`ModelOptions`), how to sample
(`generator.inputs.SamplerSettings`, the one sampler-options type), where results go
(`OutputOptions`), and the caller's progress/cancel hooks (`RunHooks`). The CLI and the nodes build
these; every check happens when they are built, before any model loads.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from ..errors import Cancelled, RequestError
from ..facts import PLANNER_CHOICES
from ..generator.inputs import SamplerSettings
from ..sources import LoadSettings, ModelSources


@dataclass(frozen=True)
class ModelOptions:
    """Which models a run uses. Explicit paths win over `models_dir` (the README's layout), which
    wins over `folder_roots` (ComfyUI's registered folders); `given` sources (a node's connected
    loaders) win over everything found."""

    models_dir: Path | None = None
    folder_roots: Mapping[str, Sequence[Path]] = field(default_factory=dict)
    planner: str = "auto"  # who plans: auto = the model planner when one is found; see facts
    planner_model: Path | None = None
    planner_adapter: Path | None = None
    projector: Path | None = None
    generator: Path | None = None  # diffusers folder or native Wan folder
    annotators_dir: Path | None = None
    use_projector: bool = True
    load: LoadSettings = field(default_factory=LoadSettings)
    attention_backend: str = "native"
    given: ModelSources = field(default_factory=ModelSources)

    def __post_init__(self) -> None:
        if self.planner not in PLANNER_CHOICES:
            raise RequestError(f"unknown planner {self.planner!r}; allowed: {', '.join(PLANNER_CHOICES)}")

    @property
    def plan_by(self) -> str:
        """"rules" when the rules decide the plan, else "auto" (the model when there is one)."""
        return "rules" if self.planner == "rules" else "auto"


@dataclass(frozen=True)
class OutputOptions:
    out_dir: Path | None = None  # None: nothing is written (the nodes hand frames on instead)


@dataclass
class RunHooks:
    """The caller's view into a run: `progress(step, total, latents)` after every sampling step
    (latents for previews), and cancellation — a `cancel` event (CLI, tests) or an `interrupt()`
    that raises (ComfyUI's Cancel). Both are checked between stages, per step and per answer token."""

    progress: Callable[[int, int, Any], None] | None = None
    cancel: threading.Event | None = None
    interrupt: Callable[[], None] | None = None

    def check_cancel(self) -> None:
        if self.interrupt is not None:
            self.interrupt()
        if self.cancel is not None and self.cancel.is_set():
            raise Cancelled("cancelled by the user")

    def on_step(self, step: int, total: int, latents: Any = None) -> None:
        self.check_cancel()
        if self.progress is not None:
            self.progress(step, total, latents)


@dataclass
class RunOptions:
    models: ModelOptions = field(default_factory=ModelOptions)
    sampling: SamplerSettings = field(default_factory=SamplerSettings)
    output: OutputOptions = field(default_factory=OutputOptions)
    media_roots: tuple[Path, ...] = ()
    hooks: RunHooks = field(default_factory=RunHooks)
    max_new_tokens: int = 256  # the answer's length (understanding tasks); its seed is sampling.seed

    def __post_init__(self) -> None:
        from ..planner import check_max_new_tokens

        check_max_new_tokens(self.max_new_tokens)
