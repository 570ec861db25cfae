"""End to end: `run(text, overrides, options) -> RunResult`, the stages it is made of
(`stages`, shared with the nodes), and the CLI's `run` and `demo`."""

from ..generator.inputs import SamplerSettings
from .options import ModelOptions, OutputOptions, RunHooks, RunOptions
from .run import RunResult, run

__all__ = ["ModelOptions", "OutputOptions", "RunHooks", "RunOptions", "RunResult", "SamplerSettings", "run"]
