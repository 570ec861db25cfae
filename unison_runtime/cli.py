"""`python -m unison_runtime <command>`: each command lives in its own module, imported only when
that command runs (or its --help is asked for), so the CLI starts fast."""

from __future__ import annotations

import argparse
import importlib
import sys

from .errors import UnisonError

# name -> (module, one-line help). Each module defines add_arguments(parser) and run(args) -> int.
COMMANDS = {
    "make-demo-models": ("unison_runtime.demo_models.cli", "write tiny random models in every real on-disk format"),
    "plan": ("unison_runtime.planner.cli", "plan a request and print the plan as JSON"),
    "run": ("unison_runtime.pipeline.cli", "run a request end to end and write its outputs"),
    "demo": ("unison_runtime.pipeline.demo", "run one request per task on the tiny demo models"),
}


def build_parser(argv: list[str]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m unison_runtime",
        description="Unison: plan a request with Qwen2.5-VL and generate images/videos with Wan VACE.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    chosen = next((a for a in argv if a in COMMANDS), None)
    for name, (module_name, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            module = importlib.import_module(module_name)
            module.add_arguments(p)
            p.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return 0 if not argv else 2
    try:
        return int(args._run(args) or 0)
    except UnisonError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("cancelled", file=sys.stderr)
        return 130
