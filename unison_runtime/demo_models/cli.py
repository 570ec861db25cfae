"""`make-demo-models`: write the tiny models (no downloads)."""

from __future__ import annotations

import argparse
import time


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="folder to write the models into")
    parser.add_argument("--seed", type=int, default=0, help="seed for the random weights (default 0)")
    parser.add_argument("--force", action="store_true", help="rebuild even if a complete set is there")


def run(args: argparse.Namespace) -> int:
    from . import build_demo_models

    start = time.perf_counter()
    out = build_demo_models(args.out, seed=args.seed, force=args.force)
    print(f"tiny models written to {out} in {time.perf_counter() - start:.1f}s")
    return 0
