"""`python -m benchmarks [--quick] [--out DIR] [--models DIR] [--only SECTION] [--doc PATH]`."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from benchmarks.suite import SECTIONS, run_suite, write_report  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repeats (under 3 minutes on 2 cores)")
    parser.add_argument("--out", type=Path, default=Path(tempfile.gettempdir()) / "unison-benchmarks",
                        help="folder for the reports (default: TMP/unison-benchmarks)")
    parser.add_argument("--models", type=Path, help="tiny demo models folder (built there if absent; "
                                                    "default: a cache folder under the temp dir)")
    parser.add_argument("--only", action="append", choices=SECTIONS, default=[], help="run only these sections")
    parser.add_argument("--doc", type=Path, help="also write the Markdown report here (e.g. docs/PERFORMANCE.md)")
    parser.add_argument("--gpu", action="store_true",
                        help="the full-size GPU measurements instead (writes the GPU section of --doc, "
                             "default docs/PERFORMANCE.md)")
    parser.add_argument("--dry-run", action="store_true", help="with --gpu: run the plan on the CPU, tiny, "
                                                                "to test its plumbing (writes only to --doc)")
    parser.add_argument("--comfyui-dir", default=os.environ.get("COMFYUI_DIR"),
                        help="with --gpu: a ComfyUI checkout to measure the native path in (default $COMFYUI_DIR)")
    parser.add_argument("--comfyui-python", default=os.environ.get("COMFYUI_PYTHON"),
                        help="with --gpu: that ComfyUI's Python (default $COMFYUI_PYTHON)")
    args = parser.parse_args(argv)
    if args.gpu:
        return gpu_main(args)
    report = run_suite(quick=args.quick, out=args.out, models=args.models, sections=tuple(args.only) or SECTIONS)
    paths = write_report(report, args.out, doc=args.doc)
    print(f"[benchmarks] {report['mode']} run in {report['total_seconds']}s; "
          + ", ".join(f"{k}: {v}" for k, v in paths.items()))
    return 0


def gpu_main(args) -> int:
    import json

    from benchmarks.gpu import render, run_gpu_benchmarks, write_section

    report = run_gpu_benchmarks(dry_run=args.dry_run, comfy_dir=args.comfyui_dir or "",
                                comfy_python=args.comfyui_python)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gpu.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    doc = args.doc or (None if args.dry_run else _ROOT / "docs" / "PERFORMANCE.md")
    if doc is not None:
        write_section(doc, render(report))
    print(f"[benchmarks --gpu] {'dry run ' if args.dry_run else ''}done in {report['total_seconds']}s; "
          f"{args.out / 'gpu.json'}" + (f", {doc}" if doc else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
