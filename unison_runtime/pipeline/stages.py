"""The stages of a Unison run, each one call with one typed value, shared by `pipeline.run` (the
CLI) and every node:

    find_run_models → read_request → plan_request (→ answer_request) → route_request
    → prepare_request → condition → generate_video → (run.save_outputs)

`Planned` is what travels between them (and on the nodes' UNISON_PLAN link): the request, its
plan and who made it, the answer for understanding requests, and after routing the route and the
prepared stage-two inputs. Each rule lives in exactly one stage: which planner plans
(`sources.find_models` + `planner.choose_planner`), which item is the mask (the route, from the
plan and the roles media were given with), whether the projector runs (`condition`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from ..errors import GenerationError, ModelLoadError, PlanError, UnisonError
from ..plan import Plan
from ..request import GivenMedia, Request
from ..router import Overrides, Route
from .stage_two import StageTwoInputs

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from ..generator.backend import Generated
    from ..generator.loading import GeneratorModels
    from ..planner.qwen import QwenPlanner
    from ..generator.inputs import SamplerSettings
    from ..sources import AnnotatorSources, ModelSources, ProjectorSource
    from .options import ModelOptions, RunHooks

CancelCheck = Callable[[], None]


@dataclass(frozen=True)
class Planned:
    """One request on its way through the stages (see the module doc)."""

    request: Request
    plan: Plan
    planner_mode: str  # "rules", "unison" or "instruct": who decided the plan
    answer: str | None = None
    route: Route | None = None
    inputs: StageTwoInputs | None = None

    @property
    def prompt(self) -> str:
        """The text the generator's T5 encodes: the request with its pad tokens."""
        return self.request.prompt

    def summary(self) -> str:
        """The plan (and route) as readable lines, for the nodes' text outputs."""
        lines = [f"task: {self.plan.task}  (planner: {self.planner_mode})"]
        if self.plan.raw:
            lines.append(f"plan tokens: {self.plan.raw}")
        if self.route is not None:
            lines.append(f"route: {self.route.describe()}")
            lines.extend(f"note: {n}" for n in self.route.notes)
        elif not self.plan.is_understanding:
            w, h = self.plan.resolved_size()
            lines.append(f"size: {w}x{h}, frames: {self.plan.resolved_num_frames()}")
        for i, item in enumerate(self.request.media):
            lines.append(f"media #{i + 1}: {item.role} {item.name}")
        lines.extend(f"warning: {w}" for w in self.plan.warnings)
        return "\n".join(lines)


@dataclass(frozen=True)
class Conditioning:
    """What conditions the generator besides the VACE inputs: the text T5 encodes and the
    projector's tokens (`[1, 4, text_width]`, None when the projector does not run, `note` says why)."""

    prompt: str
    projector_tokens: "torch.Tensor | None" = None
    note: str = ""


# -- stages ------------------------------------------------------------------------------------
def read_request(text: str, media_roots: Sequence[Path] = (),
                 given: Mapping[str, GivenMedia] | None = None) -> Request:
    """Parse the request; files are confined to `media_roots` (default: the current folder)."""
    from ..request import parse_request

    return parse_request(text, tuple(media_roots) or (Path.cwd(),), given)


def plan_request(request: Request, model: "QwenPlanner | None", plan_by: str = "auto") -> Planned:
    """The plan: by the planner model when there is one, unless `plan_by` is "rules"."""
    from ..planner import choose_planner

    planner = choose_planner(plan_by, model)
    return Planned(request=request, plan=planner.plan(request), planner_mode=planner.mode)


def answer_request(planned: Planned, model: "QwenPlanner | None", max_new_tokens: int = 256,
                   seed: int = 0, check_cancel: CancelCheck | None = None) -> Planned:
    """Understanding: the planner model answers with the request's media attached."""
    if model is None:
        raise UnisonError(f"{planned.plan.task} needs a planner model to answer; none was found. Put "
                          "Qwen2.5-VL under models/unison/planner/ (or --models DIR/planner/), or connect "
                          "UnisonPlannerLoader; the rules planner only plans")
    text = model.answer(planned.request, max_new_tokens=max_new_tokens, seed=seed, check_cancel=check_cancel)
    return replace(planned, answer=text)


def route_request(planned: Planned, overrides: Overrides | None = None) -> Planned:
    """Decide stage two's inputs (overrides applied and validated). Reads media headers only."""
    from ..router import route
    from .checks import check_route
    from .stage_two import describe_media

    chosen = route(planned.plan, describe_media(planned.request), overrides)
    check_route(chosen)  # before annotators and the generator load
    return replace(planned, plan=chosen.plan, route=chosen)


def planned_shape(planned: Planned) -> tuple[int, int, int]:
    """(width, height, num_frames) as planned, before a router's overrides: the route's (an edit
    follows its source) when the plan routes with its media as it is, else the plan's own. The
    planner's outputs never fail for what a router may still change (the task, which media)."""
    try:
        route = route_request(planned).route
    except (PlanError, GenerationError):
        width, height = planned.plan.resolved_size()
        return width, height, planned.plan.resolved_num_frames()
    return route.width, route.height, route.num_frames


def prepare_request(planned: Planned, annotators: "AnnotatorSources | None" = None) -> Planned:
    """Decode what the route uses and run its annotator: the generator's VACE inputs. A mask
    that marks nothing, or had another size than its source, is noted on the route."""
    from .checks import mask_notes
    from .stage_two import load_route_media, prepare_stage_two

    from ..annotators.kinds import needed_by

    route = _routed(planned)
    models = None
    needed = needed_by(route.annotator) if route.annotator else ()
    missing = [k for k in needed if annotators is None or getattr(annotators, k.name) is None]
    if missing:
        raise ModelLoadError(f"{route.task} with the {route.annotator} annotator needs "
                             f"{' and '.join(k.label for k in missing)}: put "
                             f"{' and '.join(k.layout_path for k in missing)} under models/unison/ (or connect "
                             "UnisonAnnotatorLoader)" + (", or give a mask" if route.annotator == "salient" else ""))
    if needed:
        models = annotators.load()
    media = load_route_media(route, planned.request)
    inputs = prepare_stage_two(route, media, models)
    notes = tuple(mask_notes(route, media, inputs))
    return replace(planned, route=replace(route, notes=route.notes + notes) if notes else route, inputs=inputs)


def condition(planned: Planned, model: "QwenPlanner | None", projector: "ProjectorSource | None",
              use_projector: bool = True, text_width: int | None = None,
              check_cancel: CancelCheck | None = None) -> Conditioning:
    """The text and, when the projector runs, its 4 tokens from the planner's hidden states.

    The projector runs only for a Unison planner: it was trained on that model's hidden states,
    so a stock instruct model's would be off-distribution (its context is then T5 alone).
    """
    prompt = planned.prompt
    if not use_projector:
        return Conditioning(prompt, note="projector switched off: the text context is T5 alone")
    if model is None:
        return Conditioning(prompt, note="no planner model to feed the projector: the text context is T5 alone")
    if model.mode != "unison":
        return Conditioning(prompt, note=f"{model.mode} planner: the projector was trained on the Unison "
                                         "planner's hidden states, so the text context is T5 alone")
    if projector is None:
        return Conditioning(prompt, note="no projector found: the text context is T5 alone")
    from ..projector import project

    if check_cancel is not None:
        check_cancel()
    # hidden_states is one forward pass (nothing to stop inside): Cancel is checked around it.
    hidden = model.hidden_states(planned.request)
    if check_cancel is not None:
        check_cancel()
    module = projector.load(planner_hidden=int(hidden.shape[-1]), text_width=text_width)
    return Conditioning(prompt, projector_tokens=project(module, hidden))


def generate_video(generator: "GeneratorModels | Any", inputs: StageTwoInputs, conditioning: Conditioning,
                   sampling: "SamplerSettings", hooks: "RunHooks") -> "Generated":
    """Stage two on the backend that loaded `generator` (`generator.backend`: diffusers, or the host's
    own Wan VACE): frames `[3, T, H, W]` float32 in [-1, 1] and the latent; progress and cancel
    through `hooks`."""
    from ..generator.backend import backend_of

    return backend_of(generator).generate(generator, inputs, conditioning.prompt, conditioning.projector_tokens,
                                          sampling, callback=hooks.on_step, check_cancel=hooks.check_cancel)


def _routed(planned: Planned) -> Route:
    if planned.route is None:
        raise UnisonError("the plan has no route yet: route it first (UnisonTaskRouter)")
    if not planned.route.needs_generator:
        raise UnisonError(f"{planned.route.task} is answered by the planner; there is nothing to generate")
    return planned.route


def generation_inputs(planned: Planned) -> StageTwoInputs:
    """The prepared VACE inputs of a routed generation plan (a clear error otherwise)."""
    _routed(planned)
    if planned.inputs is None:
        raise UnisonError("the plan's stage-two inputs are not prepared yet (UnisonTaskRouter prepares them)")
    return planned.inputs


def find_run_models(options: "ModelOptions") -> "ModelSources":
    """The "find the models" stage: what `options` names or lets us discover, then the sources a
    caller connected (`options.given`) in their place."""
    from ..sources import find_models

    found = find_models(options.models_dir, folder_roots=options.folder_roots, planner=options.planner,
                        planner_model=options.planner_model, planner_adapter=options.planner_adapter,
                        projector=options.projector, generator=options.generator,
                        annotators_dir=options.annotators_dir, settings=options.load,
                        attention_backend=options.attention_backend)
    given = options.given
    return found.with_given(planner=given.planner, projector=given.projector, generator=given.generator,
                            annotators=given.annotators)
