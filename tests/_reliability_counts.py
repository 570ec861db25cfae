"""Counts of hostile inputs tried, faults injected and files lost, gathered while the reliability
tests run. With UNISON_RELIABILITY_COUNTS=path set, each test module adds its counts to that JSON
file at its end (docs/RELIABILITY.md quotes such a file)."""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest

COUNTS: Counter = Counter()


def count(kind: str, n: int = 1) -> None:
    """kind: "inputs_tried", "faults_injected", "files_checked" or "files_lost"."""
    COUNTS[kind] += n


def flush(module: str) -> None:
    target = os.environ.get("UNISON_RELIABILITY_COUNTS")
    if not target:
        return
    path = Path(target)
    data = json.loads(path.read_text()) if path.is_file() else {}
    data[module] = dict(COUNTS)
    path.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    COUNTS.clear()


@pytest.fixture(scope="module", autouse=True)
def counted_module(request):
    """Autouse in the modules that import it: their counts are written when the module ends."""
    yield
    flush(Path(request.module.__file__).stem)
