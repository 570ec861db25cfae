"""The model manager: one process-wide cache of loaded models.

Every loader in the runtime goes through `get_manager().get(...)`, so two callers asking for the
same files with the same options share one copy and a repeated request performs no load. The
manager also decides where weights live (execution device vs. CPU) under an offload policy,
evicts least-recently-used models when a memory budget is exceeded, and frees everything on
request (ComfyUI's "unload models" calls `free()`).

A cached value is either a `torch.nn.Module`, an object with a `torch_modules()` method returning
`{name: nn.Module}` (bundles such as the generator), or anything else (kept, never moved).
torch is imported lazily so that importing this module stays cheap.
"""

from __future__ import annotations

import gc
import threading
import time
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator

from .devices import validate_device
from .errors import ModelLoadError

OFFLOAD_POLICIES = ("keep", "offload", "sequential")
DTYPES = ("auto", "float32", "float16", "bfloat16")


@dataclass(frozen=True)
class ModelKey:
    """What was loaded and how; two equal keys share one cached model."""

    kind: str
    source: tuple[str, ...]
    dtype: str
    device: str
    options: tuple[tuple[str, Any], ...] = ()

    def describe(self) -> str:
        return f"{self.kind} from {', '.join(self.source)} ({self.dtype} on {self.device})"


@dataclass
class _Entry:
    key: ModelKey
    value: Any
    offload_policy: str
    load_seconds: float
    last_used: float = field(default_factory=time.monotonic)
    files: tuple = ()  # size and mtime of the source files when loaded (see `ModelManager.get`)


def default_device() -> str:
    import torch

    if torch.cuda.is_available():
        return "cuda"
    return "cpu"


def resolve_dtype(dtype: str, device: str) -> str:
    """"auto" is bf16 on a GPU that supports it, fp16 on other GPUs, fp32 on CPU."""
    if dtype not in DTYPES:
        raise ModelLoadError(f"unknown dtype {dtype!r}; allowed: {', '.join(DTYPES)}")
    if dtype != "auto":
        return dtype
    if not device.startswith("cuda"):
        return "float32"
    import torch

    return "bfloat16" if torch.cuda.is_bf16_supported() else "float16"


def torch_dtype(name: str):
    import torch

    return {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}[name]


def modules_of(value: Any) -> dict[str, Any]:
    """The torch modules a cached value holds, by name."""
    import torch

    if isinstance(value, torch.nn.Module):
        return {"model": value}
    if hasattr(value, "torch_modules"):
        return dict(value.torch_modules())
    return {}


def bytes_of(value: Any) -> int:
    total = 0
    for module in modules_of(value).values():
        for tensor in list(module.parameters()) + list(module.buffers()):
            total += tensor.numel() * tensor.element_size()
    return total


class ModelManager:
    """Process-wide cache of loaded models; safe to call from any thread."""

    def __init__(self, budget_bytes: int | None = None, offload_device: str = "cpu"):
        self.budget_bytes = budget_bytes
        self.offload_device = offload_device
        self._entries: OrderedDict[ModelKey, _Entry] = OrderedDict()
        self._lock = threading.RLock()
        # Placement: module id -> (module, number of open `use` blocks); moves happen under it.
        self._placement_lock = threading.Lock()
        self._in_use: dict[int, tuple[Any, int]] = {}
        self._load_counts: dict[str, int] = {}
        self.load_seconds_total = 0.0

    # -- loading ---------------------------------------------------------------------------
    def get(
        self,
        kind: str,
        source: str | tuple[str, ...] | list[str],
        loader: Callable[[str, str], Any],
        *,
        dtype: str = "auto",
        device: str = "auto",
        offload_policy: str = "keep",
        options: dict[str, Any] | None = None,
        files: Any = None,
    ) -> Any:
        """Return the cached model for this key, calling `loader(device, dtype)` on a miss.

        `loader` receives the resolved device ("cpu", "cuda", ...) and dtype name ("float32", ...)
        and must return the loaded value placed on that device. `files` (default: the sources that
        are absolute paths) are the files or folders the model was read from: when one changed on
        disk since it was loaded (size or mtime), the cached copy is dropped and loaded again.
        """
        if offload_policy not in OFFLOAD_POLICIES:
            raise ModelLoadError(
                f"unknown offload policy {offload_policy!r}; allowed: {', '.join(OFFLOAD_POLICIES)}"
            )
        device = validate_device(device, check_present=False)  # "tpu": one clear line, nothing loaded
        device = default_device() if device == "auto" else device
        key = ModelKey(
            kind=kind,
            source=(source,) if isinstance(source, str) else tuple(source),
            dtype=resolve_dtype(dtype, device),
            device=device,
            options=_freeze(options or {}),
        )
        signature = _signature(key.source if files is None else files)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and entry.files == signature:
                entry.last_used = time.monotonic()
                self._entries.move_to_end(key)
                return entry.value
            if entry is not None:  # its files changed on disk: the cached copy is stale
                del self._entries[key]
            start = time.perf_counter()
            # Non-keep policies park weights off the execution device between uses.
            load_device = device if offload_policy == "keep" else self.offload_device
            value = loader(load_device, key.dtype)
            seconds = time.perf_counter() - start
            self._entries[key] = _Entry(key, value, offload_policy, seconds, files=signature)
            self._load_counts[kind] = self._load_counts.get(kind, 0) + 1
            self.load_seconds_total += seconds
            self._evict_over_budget(keep=key)
            return value

    def load_count(self, kind: str | None = None) -> int:
        """How many loads were performed (all kinds, or one kind) since the process started."""
        with self._lock:
            if kind is None:
                return sum(self._load_counts.values())
            return self._load_counts.get(kind, 0)

    def key_of(self, value: Any) -> ModelKey | None:
        with self._lock:
            for key, entry in self._entries.items():
                if entry.value is value:
                    return key
        return None

    def cached_keys(self) -> list[ModelKey]:
        with self._lock:
            return list(self._entries)

    # -- placement -------------------------------------------------------------------------
    @contextmanager
    def use(self, value: Any, *names: str) -> Iterator[Any]:
        """Place `value`'s modules (or only `names`) on the execution device for the block.

        Under the "offload" policy they go back to the offload device afterwards, even when the
        block raises. "sequential" is the low-VRAM mode: like "offload", but the modules a bundle
        names in `cpu_modules_when_sequential` (the generator's 11 GB T5 encoder) never leave the
        CPU and run there. Blocks may nest or run in several threads: a module is parked only when
        the last block using it ends.
        """
        with self._lock:
            entry = next((e for e in self._entries.values() if e.value is value), None)
            if entry is not None:
                entry.last_used = time.monotonic()
                self._entries.move_to_end(entry.key)
        if entry is None or entry.offload_policy == "keep":
            yield value
            return
        stay = set(getattr(value, "cpu_modules_when_sequential", ())) if entry.offload_policy == "sequential" else set()
        chosen = [m for n, m in modules_of(value).items() if (not names or n in names) and n not in stay]
        self._acquire(chosen, entry.key.device)
        try:
            yield value
        finally:
            self._release(chosen)

    def _acquire(self, modules: list[Any], device: str) -> None:
        with self._placement_lock:
            counted: list[Any] = []
            try:
                for module in modules:
                    _, count = self._in_use.get(id(module), (module, 0))
                    if count == 0:
                        _move_or_park(module, device, self.offload_device)
                    self._in_use[id(module)] = (module, count + 1)
                    counted.append(module)
            except BaseException:
                self._uncount(counted)  # leave nothing stranded on the execution device
                raise

    def _release(self, modules: list[Any]) -> None:
        with self._placement_lock:
            self._uncount(modules)
        _empty_device_cache()

    def _uncount(self, modules: list[Any]) -> None:
        """Drop one use of each module, parking those no block uses any more (lock held)."""
        for module in modules:
            _, count = self._in_use.pop(id(module))
            if count > 1:
                self._in_use[id(module)] = (module, count - 1)
            else:
                module.to(self.offload_device)

    def memory_bytes(self) -> int:
        with self._lock:
            return sum(bytes_of(e.value) for e in self._entries.values())

    # -- releasing -------------------------------------------------------------------------
    def free(self, kind: str | None = None) -> int:
        """Drop cached models (all, or one kind); returns how many were released."""
        with self._lock:
            doomed = [k for k in self._entries if kind is None or k.kind == kind]
            for key in doomed:
                del self._entries[key]
        gc.collect()
        _empty_device_cache()
        return len(doomed)

    def _evict_over_budget(self, keep: ModelKey) -> None:
        if self.budget_bytes is None:
            return
        evicted = False
        while self.memory_bytes() > self.budget_bytes:
            victim = next((k for k in self._entries if k != keep), None)
            if victim is None:
                break
            del self._entries[victim]
            evicted = True
        if evicted:  # collecting costs ~0.5 s; only worth it when something was let go
            gc.collect()
            _empty_device_cache()


def _move_or_park(module: Any, device: str, offload_device: str) -> None:
    try:
        module.to(device)
    except BaseException:
        module.to(offload_device)  # a failed move (out of memory) can leave part of it moved
        raise


def _signature(paths: Any) -> tuple:
    """Size and mtime of each path (a folder: of each entry in it), for spotting changed files."""
    import os

    from .file_memo import file_signature

    return tuple(file_signature(p) for p in paths if isinstance(p, os.PathLike) or
                 (isinstance(p, str) and os.path.isabs(p)))


def _freeze(options: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    """Options as a hashable, order-independent key part (lists and dicts allowed as values)."""

    def frozen(value: Any) -> Any:
        if isinstance(value, dict):
            return tuple(sorted((k, frozen(v)) for k, v in value.items()))
        if isinstance(value, (list, tuple)):
            return tuple(frozen(v) for v in value)
        if isinstance(value, (set, frozenset)):
            return frozenset(frozen(v) for v in value)
        return value

    return frozen(options)


def _empty_device_cache() -> None:
    import sys

    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


_MANAGER: ModelManager | None = None
_MANAGER_LOCK = threading.Lock()


def get_manager() -> ModelManager:
    """The process-wide model manager."""
    global _MANAGER
    with _MANAGER_LOCK:
        if _MANAGER is None:
            _MANAGER = ModelManager()
        return _MANAGER
