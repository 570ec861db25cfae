"""Shared `main` for the scripts that generate committed files (docs, workflows): write them, or
with --check only list the stale ones (exit 1), as the consistency tests do."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Callable


def write_or_check(render: Callable[[], dict[Path, str]], root: Path, description: str, argv=None) -> int:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--check", action="store_true", help="only compare with the files on disk")
    args = parser.parse_args(argv)
    files = render()
    stale = [p for p, text in files.items() if not p.is_file() or p.read_text(encoding="utf-8") != text]
    if args.check:
        for path in stale:
            print(f"out of date: {path.relative_to(root)}")
        return 1 if stale else 0
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    print(f"wrote {len(files)} files ({len(stale)} changed)")
    return 0
