"""Stage one: planners that turn a request into a Plan (or an answer).

Modes: `rules` (no model, `planner.rules`), `unison` and `instruct` (Qwen2.5-VL, `planner.qwen`).
"""


def choose_planner(plan_by: str, model):
    """Who decides the plan: the model planner when there is one, unless `plan_by` is "rules"
    (the model then still answers questions and feeds the projector)."""
    from .rules import RulesPlanner

    return RulesPlanner() if plan_by == "rules" or model is None else model
