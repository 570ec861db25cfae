"""Stage one: planners that turn a request into a Plan (or an answer).

Modes: `rules` (no model, `planner.rules`), `unison` and `instruct` (Qwen2.5-VL, `planner.qwen`
and `planner.instruct`). Importing this package imports no heavy library.
"""

from typing import Any

from ..errors import GenerationError

MAX_NEW_TOKENS = 8192  # far above any answer the planner gives; keeps a typo from running for hours


def check_max_new_tokens(tokens: Any) -> None:
    """How long an answer may be: 1 to MAX_NEW_TOKENS tokens (checked before any model loads)."""
    if isinstance(tokens, bool) or not isinstance(tokens, int) or not 1 <= tokens <= MAX_NEW_TOKENS:
        raise GenerationError(f"max_new_tokens {tokens!r} is not allowed: use 1 to {MAX_NEW_TOKENS} "
                              "(an answer needs at least one token)")


def load_planner(model_dir, adapter_dir=None, mode: str = "unison", dtype: str = "auto",
                 device: str = "auto", offload_policy: str = "auto", merge_adapter: bool = True,
                 cross_check: bool = False):
    """The Qwen2.5-VL planner of `mode` ("unison": plan tokens; "instruct": a stock model
    prompted to plan in JSON), loaded once through the model manager. `cross_check`: the rules
    planner reads the request too and warns where it disagrees (the model's plan stands)."""
    from .qwen import QwenPlanner, load_language_model

    loaded = load_language_model(model_dir, adapter_dir, mode=mode, dtype=dtype, device=device,
                                 offload_policy=offload_policy, merge_adapter=merge_adapter)
    if mode == "instruct":
        from .instruct import InstructPlanner

        return InstructPlanner(loaded, cross_check=cross_check)
    return QwenPlanner(loaded, cross_check=cross_check)


def choose_planner(plan_by: str, model):
    """Who decides the plan: the model planner when there is one, unless `plan_by` is "rules"
    (the model then still answers questions and feeds the projector)."""
    from .rules import RulesPlanner

    return RulesPlanner() if plan_by == "rules" or model is None else model
