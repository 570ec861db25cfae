"""End to end: `run(text, overrides, options) -> RunResult`, the stages it is made of
(`stages`, shared with the nodes), and the CLI's `run` and `demo`."""

from .options import ModelOptions, OutputOptions, RunHooks, RunOptions, SamplingOptions
from .run import RunResult, run

__all__ = ["ModelOptions", "OutputOptions", "RunHooks", "RunOptions", "RunResult", "SamplingOptions", "run"]
