"""The values that travel on the pack's custom links (UNISON_PLANNER, UNISON_PLAN, ...).

Model links carry *handles*: how to load the model, not the model. The model itself lives in the
runtime's model manager, so two loader nodes naming the same files share one copy, ComfyUI's
output cache (which keeps loader outputs alive) never pins weights in memory, and "Unload
models" really releases them (the next use reloads through the same handle).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

PLANNER = "UNISON_PLANNER"
GENERATOR = "UNISON_GENERATOR"
PROJECTOR = "UNISON_PROJECTOR"
ANNOTATORS = "UNISON_ANNOTATORS"
PLAN = "UNISON_PLAN"
CONDITIONING = "UNISON_CONDITIONING"


@dataclass(frozen=True)
class PlannerHandle:
    model_dir: str
    adapter_dir: str | None = None
    mode: str = "unison"
    dtype: str = "auto"
    offload_policy: str = "keep"

    def get(self):
        from unison_runtime.planner.qwen import load_planner

        return load_planner(self.model_dir, adapter_dir=self.adapter_dir, mode=self.mode,
                            dtype=self.dtype, offload_policy=self.offload_policy)

    def describe(self) -> str:
        adapter = f" + {self.adapter_dir}" if self.adapter_dir else ""
        return f"planner {self.model_dir}{adapter} ({self.mode})"


@dataclass(frozen=True)
class GeneratorHandle:
    diffusers_dir: str | None = None
    native_dir: str | None = None
    transformer_file: str | None = None
    text_encoder_file: str | None = None
    vae_file: str | None = None
    dtype: str = "auto"
    attention_backend: str = "native"
    offload_policy: str = "keep"

    def get(self):
        from unison_runtime.generator.loading import load_generator

        return load_generator(self.diffusers_dir, native_dir=self.native_dir, transformer_file=self.transformer_file,
                              text_encoder_file=self.text_encoder_file, vae_file=self.vae_file,
                              dtype=self.dtype, offload_policy=self.offload_policy,
                              attention_backend=self.attention_backend)


@dataclass
class Conditioning:
    """UNISON_CONDITIONING: the text the generator's T5 encodes and the projector's tokens
    (`[1, 4, text_width]`, None when the projector is switched off)."""

    prompt: str
    projector_tokens: Any = None


@dataclass(frozen=True)
class ProjectorHandle:
    path: str

    def get(self, planner_hidden: int | None = None, text_width: int | None = None):
        from unison_runtime.projector import load_projector

        return load_projector(self.path, planner_hidden=planner_hidden, text_width=text_width)


@dataclass(frozen=True)
class AnnotatorHandle:
    """Paths of the annotator weights (None where not given); the runtime loads them on use."""

    grounding_dino: str | None = None
    sam2: str | None = None
    u2net: str | None = None

    def paths(self) -> dict[str, str | None]:
        return {"grounding_dino": self.grounding_dino, "sam2": self.sam2, "u2net": self.u2net}

    def load(self):
        """The runtime's `AnnotatorModels` for these paths (each loads through the model manager
        when an annotator first needs it)."""
        from pathlib import Path

        from unison_runtime.annotators import AnnotatorModels

        return AnnotatorModels(**{k: Path(v) if v else None for k, v in self.paths().items()})


@dataclass
class MediaRef:
    """One media item of a request, in request order: where it is, and the connected tensor if
    it came from a link (so the router uses the exact pixels, not a re-read of the file)."""

    path: str
    kind: str  # "image" | "video"
    name: str  # "image1", "video1", "mask1", or the file name for ###file### items
    tensor: Any = None  # ComfyUI IMAGE [B,H,W,3] or MASK [B,H,W]; None for files
    is_mask: bool = False


@dataclass
class PlanBundle:
    """Everything downstream nodes need from one request: the plan, the request and its media,
    the planner's answer (understanding tasks) and, after the router, the route."""

    plan: Any  # unison_runtime.plan.Plan
    request: Any  # unison_runtime.request.Request
    media: list[MediaRef] = field(default_factory=list)
    answer: str | None = None
    route: Any = None  # unison_runtime.router.Route, set by UnisonTaskRouter
    stage_two: Any = None  # the runtime's prepared stage-two inputs, set by UnisonTaskRouter
    arrays: Any = None  # the media as [T, H, W, 3] uint8, read once by the router
    planner_mode: str = "rules"

    @property
    def prompt(self) -> str:
        return self.request.prompt

    def with_route(self, route) -> "PlanBundle":
        return replace(self, plan=route.plan, route=route)

    def summary(self) -> str:
        lines = [f"task: {self.plan.task}  (planner: {self.planner_mode})"]
        raw = getattr(self.plan, "raw", None)
        if raw:
            lines.append(f"plan tokens: {raw}")
        if self.route is not None:
            lines.append(f"route: {self.route.describe()}")
            lines.extend(f"note: {n}" for n in self.route.notes)
        elif not self.plan.is_understanding:
            w, h = self.plan.resolved_size()
            lines.append(f"size: {w}x{h}, frames: {self.plan.resolved_num_frames()}")
        for i, item in enumerate(self.media):
            lines.append(f"media #{i + 1}: {item.kind} {item.name}")
        lines.extend(f"warning: {w}" for w in (getattr(self.plan, "warnings", None) or ()))
        return "\n".join(lines)
