"""End to end: `run(text, overrides, options) -> RunResult`, and the CLI's `run` and `demo`."""

from .run import PLANNER_CHOICES, RunOptions, RunResult, run

__all__ = ["PLANNER_CHOICES", "RunOptions", "RunResult", "run"]
