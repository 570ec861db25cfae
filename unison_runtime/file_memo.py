"""Memoise checks that read model files (headers, tokenizer JSON) on the files' identity, so a
cached model's second request costs a few `stat` calls, not a re-read of a 7 MB tokenizer.json."""

from __future__ import annotations

import functools
import os
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable, TypeVar

F = TypeVar("F", bound=Callable[..., Any])
MAX_ENTRIES = 64


def file_signature(path: str | os.PathLike) -> tuple:
    """(path, size, mtime) of a file, or of every entry of a folder (one level), or None if absent."""
    path = Path(path)
    try:
        if path.is_dir():
            return (str(path), tuple(sorted((e.name, e.stat().st_size, e.stat().st_mtime_ns)
                                            for e in os.scandir(path))))
        stat = path.stat()
        return (str(path), stat.st_size, stat.st_mtime_ns)
    except OSError:
        return (str(path), None)


def memo_on_files(function: F) -> F:
    """Cache `function`'s result per argument, keying path arguments by `file_signature`.

    A changed or replaced file gives a new key; failures are not cached (they raise every time).
    """
    results: OrderedDict[tuple, Any] = OrderedDict()  # bounded: replaced files leave stale keys
    lock = threading.Lock()

    def key_part(value: Any) -> Any:
        return file_signature(value) if isinstance(value, (str, os.PathLike)) else value

    @functools.wraps(function)
    def wrapper(*args: Any) -> Any:
        key = tuple(key_part(a) for a in args)
        with lock:
            if key in results:
                results.move_to_end(key)
                return results[key]
        value = function(*args)
        with lock:
            results[key] = value
            while len(results) > MAX_ENTRIES:
                results.popitem(last=False)
        return value

    return wrapper  # type: ignore[return-value]
