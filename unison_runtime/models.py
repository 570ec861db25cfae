"""The model manager: one process-wide cache of loaded models.

Every loader in the runtime goes through `get_manager().get(...)`, so two callers asking for the
same files with the same options share one copy and a repeated request performs no load. The
manager also decides where weights live (execution device vs. CPU) under an offload policy,
evicts least-recently-used models when a memory budget is exceeded, and frees everything on
request (ComfyUI's "unload models" calls `free()`).

Policies: `keep` (on the device between uses), `offload` (parked on the CPU, moved in for each
`use` block), `sequential` (like offload, but a bundle's `cpu_modules_when_sequential` never leave
the CPU), and `auto` (the default): at load, from the device's free memory (plus what our own idle
models could give back) and the value's real size, the first of keep / offload / sequential that
fits. On a device whose free memory can be read (a GPU, or whatever `set_free_memory_provider`
answers for), the manager keeps an account of the bytes it placed there: before moving weights in
it asks the host (`set_free_request_hook`: ComfyUI's `free_memory`) for room, then parks its own
idle kept models if still short, and it refuses with a clear error a module that cannot fit at all.
Every such decision is written to `take_notes()`.

A host that manages memory itself (ComfyUI, through `set_placement_host`, installed by
`nodes.comfy_glue`) takes placement over: each cached torch module is registered with it once
(`PlacementHost.adopt`), every `use` block asks it to load the modules in use (`load`), and freeing
an entry tells it to forget them (`release`). The host then decides where weights live and when
they leave the device; the offload policies above are not applied (they are accepted and ignored).

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
from typing import Any, Callable, Iterator, Protocol

from .devices import validate_device
from .errors import ModelLoadError
from .facts import DEFAULT_OFFLOAD_POLICY, DTYPES, OFFLOAD_POLICIES  # noqa: F401  (the one list)

# What each policy costs with the real models (bf16; docs/PERFORMANCE.md, memory accounting): a
# loader's tooltip. Planner 7.6 GiB; generator: T5 10.6 + DiT 4.0 + VAE 0.5 GiB.
OFFLOAD_POLICY_HELP = (
    "auto (default): picks keep, offload or sequential per model from the free VRAM and the models' "
    "real sizes (keeps the generator from ~22 GB free, offloads from ~12 GB, sequential below). "
    "keep: weights stay on the GPU (planner 7.6 GB + generator 15.1 GB; fastest). "
    "offload: weights wait in RAM and visit the GPU one model at a time (peak ~11 GB: the T5 encoder). "
    "sequential: low VRAM, like offload but the T5 encoder runs on the CPU (peak ~7.6 GB, the planner; "
    "the generator needs ~4 GB + activations)."
)
GB = 1024**3
# Left free beyond the estimated working memory: allocator fragmentation, cuDNN/cuBLAS workspaces.
MARGIN_BYTES = 512 * 1024**2

# Injected by a host (the node layer: ComfyUI's memory manager); the runtime never imports it.
_free_memory_provider: Callable[[str], int | None] | None = None
_free_request_hook: Callable[[int, str], None] | None = None
_device_provider: Callable[[], str | None] | None = None
_placement_host: "PlacementHost | None" = None


class PlacementHost(Protocol):
    """Places the weights of cached models for a host with its own memory management."""

    name: str  # for notes, e.g. "ComfyUI's model management"

    def adopt(self, kind: str, name: str, module: Any, device: str) -> Any:
        """Register one module of a newly cached value (its weights are on the offload device);
        returns the host's handle for it. `device` is where the module runs."""

    def load(self, handles: list[Any], working_bytes: int) -> None:
        """Before a `use` block: place these modules (every one in use, the new ones included)
        where they run, making room for `working_bytes` of activations too."""

    def release(self, handles: list[Any]) -> None:
        """The manager dropped these modules: stop managing them (their weights leave the device)."""


def set_placement_host(host: PlacementHost | None) -> None:
    """Hand placement to `host` (None: the manager's own offload policies, as outside ComfyUI)."""
    global _placement_host
    _placement_host = host


def placement_host() -> PlacementHost | None:
    return _placement_host


def set_free_memory_provider(fn: Callable[[str], int | None] | None) -> None:
    """`fn(device) -> free bytes` (None: unknown) replaces torch's reading; None restores it."""
    global _free_memory_provider
    _free_memory_provider = fn


def set_free_request_hook(fn: Callable[[int, str], None] | None) -> None:
    """`fn(bytes, device)` is called before weights move onto `device`, so the host frees room."""
    global _free_request_hook
    _free_request_hook = fn


def set_default_device_provider(fn: Callable[[], str | None] | None) -> None:
    """`fn() -> device` chooses the device "auto" means (ComfyUI's torch device inside ComfyUI)."""
    global _device_provider
    _device_provider = fn


def free_device_memory(device: str) -> int | None:
    """Free bytes on `device` (the injected provider's answer, else torch's for CUDA), or None."""
    if _free_memory_provider is not None:
        return _free_memory_provider(device)
    if not device.startswith("cuda"):
        return None
    import torch

    if not torch.cuda.is_available():
        return None
    free, _ = torch.cuda.mem_get_info(torch.device(device))
    # Memory torch's caching allocator holds but does not use is free for our purposes.
    return int(free + torch.cuda.memory_reserved(device) - torch.cuda.memory_allocated(device))


def request_free(bytes_needed: int, device: str) -> None:
    if _free_request_hook is not None and bytes_needed > 0:
        _free_request_hook(int(bytes_needed), device)


def choose_placement(sizes: dict[str, int], work: dict[str, int], available: int,
                     cpu_names: tuple[str, ...] = ()) -> str:
    """The `auto` policy: the first of keep / offload / sequential whose peak fits `available`.

    `sizes` are the modules' weight bytes, `work` the working memory each needs while it runs.
    keep: all weights plus the largest working set; offload: the largest weights + working set of
    one module; sequential: the same, without the modules that can run on the CPU.
    """
    need_work = max(work.values(), default=0)
    if sum(sizes.values()) + need_work + MARGIN_BYTES <= available:
        return "keep"
    if max((sizes[n] + work.get(n, 0) for n in sizes), default=0) + MARGIN_BYTES <= available:
        return "offload"
    return "sequential"


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


HOSTED = "host"  # an entry's placement when a `PlacementHost` places its modules


@dataclass
class _Entry:
    key: ModelKey
    value: Any
    offload_policy: str  # as asked (may be "auto")
    load_seconds: float
    placement: str = "keep"  # as applied: keep, offload, sequential, or HOSTED
    last_used: float = field(default_factory=time.monotonic)
    files: tuple = ()  # size and mtime of the source files when loaded (see `ModelManager.get`)


def default_device() -> str:
    if _device_provider is not None:
        device = _device_provider()
        if device:
            return str(device)
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


def module_bytes(module: Any) -> int:
    """Weight bytes of one module (parameters and buffers; meta tensors count their size)."""
    seen: set[int] = set()
    total = 0
    for tensor in list(module.parameters()) + list(module.buffers()):
        key = id(tensor) if tensor.is_meta else tensor.data_ptr()
        if key not in seen:  # tied weights (one tensor, or two sharing memory) count once
            seen.add(key)
            total += tensor.numel() * tensor.element_size()
    return total


def bytes_of(value: Any) -> int:
    return sum(module_bytes(m) for m in modules_of(value).values())


def _move(module: Any, device: str) -> None:
    module.to(device)


class ModelManager:
    """Process-wide cache of loaded models; safe to call from any thread.

    `mover(module, device)` and `free_memory(device)` default to `module.to(device)` and
    `free_device_memory`; the memory accounting test replaces them to drive real architectures
    built on the `meta` device through a fake card. `host` defaults to the installed
    `set_placement_host` (none outside ComfyUI).
    """

    def __init__(self, budget_bytes: int | None = None, offload_device: str = "cpu",
                 mover: Callable[[Any, str], None] | None = None,
                 free_memory: Callable[[str], int | None] | None = None,
                 host: PlacementHost | None = None):
        self.budget_bytes = budget_bytes
        self.offload_device = offload_device
        self._mover = mover or _move
        self._free_memory = free_memory
        self._own_host = host
        self._handles: dict[int, Any] = {}  # module id -> the placement host's handle for it
        self._entries: OrderedDict[ModelKey, _Entry] = OrderedDict()
        self._lock = threading.RLock()
        # Placement: module id -> (module, number of open `use` blocks); moves happen under it.
        self._placement_lock = threading.RLock()
        self._in_use: dict[int, tuple[Any, int]] = {}
        # What we placed on an accounted execution device: module id -> (module, bytes, device).
        self._resident: dict[int, tuple[Any, int, str]] = {}
        self._kept: dict[int, _Entry] = {}  # module id -> the entry that keeps it on the device
        self._sizes: dict[int, int] = {}  # module id -> weight bytes (cached values never resize)
        self.peak_resident_bytes = 0
        self._notes: list[str] = []
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
        offload_policy: str = DEFAULT_OFFLOAD_POLICY,
        options: dict[str, Any] | None = None,
        files: Any = None,
    ) -> Any:
        """Return the cached model for this key, calling `loader(device, dtype)` on a miss.

        `loader` receives the resolved device ("cpu", "cuda", ...) and dtype name ("float32", ...)
        and must return the loaded value placed on that device. `files` (default: the sources that
        are absolute paths) are the files or folders the model was read from: when one changed on
        disk since it was loaded (size or mtime), the cached copy is dropped and loaded again. A
        cache hit asked for another offload policy re-places the cached value under the new one
        (no reload). With a placement host the value loads onto the offload device and the host
        places it from its first `use` on; `offload_policy` is then only validated.
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
                if entry.offload_policy != offload_policy:
                    entry.offload_policy = offload_policy
                    if entry.placement != HOSTED:
                        self._place(entry)
                return entry.value
            if entry is not None:  # its files changed on disk: the cached copy is stale
                self._forget(self._entries.pop(key))
            host = self._host()
            start = time.perf_counter()
            # Where free memory cannot be read (the CPU), keep and auto load straight onto the
            # device; elsewhere weights load parked and are placed once their real size is known
            # (by the policy, or by the host from the first use).
            direct = host is None and offload_policy in ("keep", "auto") and self._free(device) is None
            value = loader(device if direct else self.offload_device, key.dtype)
            seconds = time.perf_counter() - start
            entry = _Entry(key, value, offload_policy, seconds, placement="keep" if direct else "offload",
                           files=signature)
            self._entries[key] = entry
            self._load_counts[kind] = self._load_counts.get(kind, 0) + 1
            self.load_seconds_total += seconds
            self._evict_over_budget(keep=key)
            if host is not None:
                self._adopt(entry, host)
            elif direct:
                with self._placement_lock:
                    for module in modules_of(value).values():
                        self._kept[id(module)] = entry
                        if device != self.offload_device:
                            self._resident[id(module)] = (module, self._size(module), device)
            else:
                self._place(entry)
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

    def placement_of(self, value: Any) -> str | None:
        """The policy applied to a cached value (keep, offload or sequential), or None."""
        entry = self._entry_of(value)
        return entry.placement if entry is not None else None

    def cached_keys(self) -> list[ModelKey]:
        with self._lock:
            return list(self._entries)

    def take_notes(self) -> list[str]:
        """The memory decisions (policies chosen, models parked for room) since the last call."""
        with self._lock:
            notes, self._notes = self._notes, []
        return notes

    def note(self, text: str) -> None:
        with self._lock:
            self._notes.append(text)

    # -- placement -------------------------------------------------------------------------
    def _host(self) -> PlacementHost | None:
        return self._own_host if self._own_host is not None else _placement_host

    def _adopt(self, entry: _Entry, host: PlacementHost) -> None:
        """Register the entry's modules with the host, once; our own placement of them ends."""
        modules = modules_of(entry.value)
        with self._placement_lock:
            for name, module in modules.items():
                if id(module) not in self._handles:
                    self._kept.pop(id(module), None)
                    self._resident.pop(id(module), None)
                    self._handles[id(module)] = host.adopt(entry.key.kind, name, module, entry.key.device)
            entry.placement = HOSTED
        if modules:
            self.note(f"memory: {host.name} places {entry.key.kind} (offload policy "
                      f"{entry.offload_policy!r} applies outside it)")

    def device_free(self, device: str) -> int | None:
        """Free bytes on `device` now (None: not accounted, e.g. the CPU)."""
        return self._free(device)

    def _free(self, device: str) -> int | None:
        if device == self.offload_device:
            return None
        return (self._free_memory or free_device_memory)(device)

    def _place(self, entry: _Entry) -> None:
        """Apply the entry's policy (resolving `auto`) and move its modules accordingly."""
        value, device = entry.value, entry.key.device
        modules = modules_of(value)
        policy = entry.offload_policy
        free = self._free(device)
        if policy == "auto":
            if free is None:  # nothing to measure against (the CPU): as before, keep
                policy = "keep"
            else:
                sizes = {n: self._size(m) for n, m in modules.items()}
                available = free + self._idle_resident_bytes(device, exclude=set(map(id, modules.values())))
                policy = choose_placement(sizes, _work_of(value), available,
                                          tuple(getattr(value, "cpu_modules_when_sequential", ())))
                self.note(f"memory: {entry.key.kind} is {_gb(sum(sizes.values()))} GB, "
                          f"{_gb(available)} GB available on {device}: auto chose {policy}")
        entry.placement = policy
        with self._placement_lock:
            if policy == "keep":
                wanted = [m for m in modules.values() if id(m) not in self._resident]
                try:
                    self._make_room(wanted, device, _work_of(value), exclude=set(map(id, modules.values())))
                except ModelLoadError as err:  # keep is a preference: fall back to moving per use
                    entry.placement = "offload"
                    self.note(f"memory: {entry.key.kind} cannot stay on {device} ({err}); offloading between uses")
                    return self._park_idle(modules.values())
                for module in modules.values():
                    self._put(module, device)
                    self._kept[id(module)] = entry
            else:
                for module in modules.values():
                    self._kept.pop(id(module), None)
                self._park_idle(modules.values())

    def _park_idle(self, modules) -> None:
        for module in modules:
            if id(module) not in self._in_use and id(module) not in self._kept:
                self._park(module)

    def _put(self, module: Any, device: str) -> None:
        if id(module) in self._resident and self._resident[id(module)][2] == device:
            return
        try:
            self._mover(module, device)
        except BaseException:
            self._mover(module, self.offload_device)  # a failed move (OOM) can leave part of it moved
            self._resident.pop(id(module), None)
            raise
        if device != self.offload_device:
            self._resident[id(module)] = (module, self._size(module), device)
            self.peak_resident_bytes = max(self.peak_resident_bytes, self.resident_bytes(device))

    def _park(self, module: Any) -> None:
        if self._resident.pop(id(module), None) is not None:
            self._mover(module, self.offload_device)

    def _size(self, module: Any) -> int:
        size = self._sizes.get(id(module))
        if size is None:
            size = self._sizes[id(module)] = module_bytes(module)
        return size

    def resident_bytes(self, device: str | None = None) -> int:
        """Bytes of weights this manager placed on execution devices (or on one of them)."""
        return sum(b for _, b, d in self._resident.values() if device is None or d == device)

    def _idle_resident_bytes(self, device: str, exclude: set[int]) -> int:
        return sum(b for i, (_, b, d) in self._resident.items()
                   if d == device and i in self._kept and i not in self._in_use and i not in exclude)

    def _make_room(self, modules: list[Any], device: str, work: dict[str, int], exclude: set[int]) -> None:
        """Before `modules` move onto `device`: ask the host for room, then park our own idle
        kept models (least recently used first); refuse what cannot fit at all."""
        free = self._free(device)
        if free is None or not modules:
            return
        need = sum(self._size(m) for m in modules) + max(work.values(), default=0) + MARGIN_BYTES
        if free < need:
            request_free(need, device)
            free = self._free(device) or 0
        if free < need:
            for entry in list(self._entries.values()):  # least recently used first
                held = [m for m in modules_of(entry.value).values()
                        if id(m) in self._kept and id(m) not in self._in_use and id(m) not in exclude]
                if not held or free >= need:
                    continue
                entry.placement = "offload"
                for module in held:
                    self._kept.pop(id(module), None)
                    self._park(module)
                self.note(f"memory: parked {entry.key.kind} off {device} to make room")
                free = self._free(device) or 0
        if free < need - MARGIN_BYTES:
            raise ModelLoadError(
                f"{_gb(need - MARGIN_BYTES)} GB are needed on {device} but only {_gb(free)} GB are free; "
                "use the auto or sequential offload policy, or free the device"
            )

    @contextmanager
    def use(self, value: Any, *names: str) -> Iterator[Any]:
        """Place `value`'s modules (or only `names`) on the execution device for the block.

        Under "offload" they go back to the offload device afterwards, even when the block
        raises. "sequential" is the low-VRAM mode: like "offload", but the modules a bundle names
        in `cpu_modules_when_sequential` (the generator's 11 GB T5 encoder) never leave the CPU
        and run there. Blocks may nest or run in several threads: a module is parked only when
        the last block using it ends.
        """
        entry = self._entry_of(value)
        host = self._host()
        if entry is not None and host is not None:
            if entry.placement != HOSTED:  # cached before the host was installed
                self._adopt(entry, host)
            chosen = {n: m for n, m in modules_of(value).items() if not names or n in names}
            work = _work_of(value)
            self._acquire_hosted(host, list(chosen.values()), max((work.get(n, 0) for n in chosen), default=0))
            try:
                yield value
            finally:
                self._release(list(chosen.values()))
            return
        if entry is None or entry.placement in ("keep", HOSTED):
            yield value
            return
        stay = set(getattr(value, "cpu_modules_when_sequential", ())) if entry.placement == "sequential" else set()
        chosen = {n: m for n, m in modules_of(value).items() if (not names or n in names) and n not in stay}
        work = _work_of(value)
        self._acquire(list(chosen.values()), entry.key.device, {n: work.get(n, 0) for n in chosen})
        try:
            yield value
        finally:
            self._release(list(chosen.values()))

    def _entry_of(self, value: Any) -> _Entry | None:
        with self._lock:
            entry = next((e for e in self._entries.values() if e.value is value), None)
            if entry is not None:
                entry.last_used = time.monotonic()
                self._entries.move_to_end(entry.key)
            return entry

    def _acquire(self, modules: list[Any], device: str, work: dict[str, int]) -> None:
        with self._lock, self._placement_lock:
            counted: list[Any] = []
            try:
                incoming = [m for m in modules if self._in_use.get(id(m), (m, 0))[1] == 0]
                self._make_room([m for m in incoming if id(m) not in self._resident], device, work,
                                exclude=set(map(id, modules)))
                for module in modules:
                    _, count = self._in_use.get(id(module), (module, 0))
                    if count == 0:
                        self._put(module, device)
                    self._in_use[id(module)] = (module, count + 1)
                    counted.append(module)
            except BaseException:
                self._uncount(counted)  # leave nothing stranded on the execution device
                raise

    def _acquire_hosted(self, host: PlacementHost, modules: list[Any], working_bytes: int) -> None:
        if not modules:
            return
        with self._lock, self._placement_lock:
            for module in modules:
                _, count = self._in_use.get(id(module), (module, 0))
                self._in_use[id(module)] = (module, count + 1)
            try:
                # Every module in use, not only these: making room, the host may move any of its
                # models out, and one that a block is using must be back before that block goes on.
                host.load([self._handles[i] for i in self._in_use if i in self._handles], working_bytes)
            except BaseException:
                self._uncount(modules)
                raise

    def _release(self, modules: list[Any]) -> None:
        # No empty_cache() here: the caching allocator reuses the freed blocks for the next
        # module; emptying after every block only forces slow cudaMalloc calls (eviction and
        # errors still empty it).
        with self._placement_lock:
            self._uncount(modules)

    def _uncount(self, modules: list[Any]) -> None:
        """Drop one use of each module, parking those no block uses any more (lock held)."""
        for module in modules:
            _, count = self._in_use.pop(id(module))
            if count > 1:
                self._in_use[id(module)] = (module, count - 1)
            elif id(module) not in self._kept:
                self._park(module)

    def memory_bytes(self) -> int:
        with self._lock:
            return sum(bytes_of(e.value) for e in self._entries.values())

    # -- releasing -------------------------------------------------------------------------
    def free(self, kind: str | None = None) -> int:
        """Drop cached models (all, or one kind); returns how many were released."""
        with self._lock:
            doomed = [k for k in self._entries if kind is None or k.kind == kind]
            for key in doomed:
                self._forget(self._entries.pop(key))
        gc.collect()
        _empty_device_cache()
        return len(doomed)

    def _forget(self, entry: _Entry) -> None:
        with self._placement_lock:
            hosted = []
            for module in modules_of(entry.value).values():
                self._kept.pop(id(module), None)
                self._sizes.pop(id(module), None)
                if id(module) in self._handles:
                    hosted.append(self._handles.pop(id(module)))
                if id(module) not in self._in_use:
                    self._resident.pop(id(module), None)
            host = self._host()
            if hosted and host is not None:
                host.release(hosted)

    def _evict_over_budget(self, keep: ModelKey) -> None:
        if self.budget_bytes is None:
            return
        evicted = False
        while self.memory_bytes() > self.budget_bytes:
            victim = next((k for k in self._entries if k != keep), None)
            if victim is None:
                break
            self._forget(self._entries.pop(victim))
            evicted = True
        if evicted:  # collecting costs ~0.5 s; only worth it when something was let go
            gc.collect()
            _empty_device_cache()


def _work_of(value: Any) -> dict[str, int]:
    """Working memory each module needs while it runs (a bundle's `working_bytes()`), by name."""
    work = getattr(value, "working_bytes", None)
    return dict(work()) if callable(work) else {}


def _gb(n: int) -> str:
    return f"{n / GB:.1f}"


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
