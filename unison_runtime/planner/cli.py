"""`plan`: plan one request and print the plan as JSON (plus the answer for an understanding
task when a model planner can give one)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ..errors import UnisonError

PLANNERS = ("rules", "unison", "instruct")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("request", help='the request, media written ###path###, e.g. "animate ###cat.png###"')
    parser.add_argument("--planner", choices=PLANNERS, default="rules",
                        help="rules (no model, default), unison (Qwen2.5-VL + Unison LoRA) or instruct (plain Qwen2.5-VL)")
    parser.add_argument("--model", type=Path, help="Qwen2.5-VL folder (base or merged); needed by unison/instruct")
    parser.add_argument("--adapter", type=Path, help="Unison LoRA adapter folder, when --model is the base model")
    parser.add_argument("--media-root", type=Path, action="append", dest="media_roots", metavar="DIR",
                        help="folder media paths must lie in (repeatable; default: the current folder)")


def run(args: argparse.Namespace) -> int:
    from ..request import parse_request

    roots = args.media_roots or [Path.cwd()]
    request = parse_request(args.request, roots)
    planner = _load_planner(args)
    plan = planner.plan(request)
    output = plan.to_dict()
    if plan.is_understanding and args.planner != "rules":
        output["answer"] = planner.answer(request)
    print(json.dumps(output, indent=2, ensure_ascii=False))
    return 0


def _load_planner(args: argparse.Namespace):
    if args.planner == "rules":
        from .rules import RulesPlanner

        return RulesPlanner()
    if args.model is None:
        raise UnisonError(f"--planner {args.planner} needs --model DIR (a Qwen2.5-VL folder)")
    from . import load_planner

    try:  # heavy (torch, transformers): only for model planners
        return load_planner(args.model, adapter_dir=args.adapter, mode=args.planner)
    except ModuleNotFoundError as err:
        raise UnisonError(f"--planner {args.planner} needs the module {err.name!r}; install the "
                          "pack's requirements (torch, transformers)") from None
