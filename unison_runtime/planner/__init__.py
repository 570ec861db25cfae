"""Stage one: planners that turn a request into a Plan (or an answer).

Modes: `rules` (no model, `planner.rules`), `unison` and `instruct` (Qwen2.5-VL, `planner.qwen`).
"""
