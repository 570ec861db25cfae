"""The model manager: caching by key, LRU eviction under a budget, freeing, placement under the
offload policies, and thread safety. Each test uses its own `ModelManager` with small real
nn.Modules, so nothing here depends on or disturbs the process-wide cache."""

from __future__ import annotations

import gc
import threading
import time
import weakref

import pytest
import torch
from torch import nn

from unison_runtime.errors import ModelLoadError
from unison_runtime.models import ModelManager, get_manager, resolve_dtype, torch_dtype

LINEAR_BYTES = (16 * 16 + 16) * 4  # nn.Linear(16, 16) in float32


class Loader:
    """A loader that builds a fresh nn.Linear(16, 16) and records how it was called."""

    def __init__(self, make=lambda: nn.Linear(16, 16), delay: float = 0.0):
        self.make, self.delay, self.calls = make, delay, []

    def __call__(self, device: str, dtype: str):
        self.calls.append((device, dtype))
        time.sleep(self.delay)
        value = self.make()
        modules = value.torch_modules().values() if hasattr(value, "torch_modules") else [value]
        for module in modules:
            module.to(device=device, dtype=torch_dtype(dtype))
        return value


class RecordingLinear(nn.Linear):
    """Records every `.to(device)`; really moves only to the CPU, so a GPU-only execution device
    can be exercised on a CPU machine (the manager's calls are what is under test)."""

    def __init__(self):
        super().__init__(4, 4)
        self.placements: list[str] = []
        self.fail_on: str | None = None  # a device whose move raises, like a CUDA OOM

    def to(self, *args, **kwargs):
        device = torch._C._nn._parse_to(*args, **kwargs)[0]
        if device is not None:
            self.placements.append(str(device))
            if str(device) == self.fail_on:
                raise RuntimeError("CUDA out of memory")
            if device.type != "cpu":
                return self
        return super().to(*args, **kwargs)


class Bundle:
    """A cached value holding several modules, like the generator."""

    def __init__(self):
        self.transformer, self.vae = RecordingLinear(), RecordingLinear()

    def torch_modules(self):
        return {"transformer": self.transformer, "vae": self.vae}


# -- caching ---------------------------------------------------------------------------------
def test_second_get_for_the_same_key_performs_no_load():
    manager, loader = ModelManager(), Loader()
    first = manager.get("planner", "/m/a", loader, dtype="float32", device="cpu")
    second = manager.get("planner", "/m/a", loader, dtype="float32", device="cpu")
    assert second is first
    assert len(loader.calls) == 1 and manager.load_count("planner") == 1 and manager.load_count() == 1
    assert manager.key_of(first).describe() == "planner from /m/a (float32 on cpu)"


def test_auto_dtype_resolves_before_keying():
    manager, loader = ModelManager(), Loader()
    a = manager.get("p", "/m/a", loader, dtype="auto", device="cpu")
    b = manager.get("p", "/m/a", loader, dtype="float32", device="cpu")
    assert a is b and loader.calls == [("cpu", "float32")]


@pytest.mark.parametrize(
    "change",
    [
        {"dtype": "bfloat16"},
        {"options": {"attention": "sdpa"}},
        {"source": "/m/b"},
        {"kind": "projector"},
    ],
)
def test_different_options_dtype_source_or_kind_are_distinct_entries(change):
    manager, loader = ModelManager(), Loader()
    base = {"kind": "planner", "source": "/m/a", "dtype": "float32", "options": {"attention": "eager"}}

    def get(kind, source, dtype, options):
        return manager.get(kind, source, loader, dtype=dtype, device="cpu", options=options)

    first = get(**base)
    other = get(**{**base, **change})
    assert other is not first
    assert manager.load_count() == 2 and len(manager.cached_keys()) == 2
    if "dtype" in change:
        assert other.weight.dtype == torch.bfloat16 and first.weight.dtype == torch.float32


def test_option_order_does_not_matter_and_list_values_are_allowed():
    manager, loader = ModelManager(), Loader()
    a = manager.get("g", "/m", loader, device="cpu", options={"x": 1, "loras": ["a", "b"]})
    b = manager.get("g", "/m", loader, device="cpu", options={"loras": ["a", "b"], "x": 1})
    c = manager.get("g", "/m", loader, device="cpu", options={"loras": ["b", "a"], "x": 1})
    assert a is b and c is not a and manager.load_count() == 2


def test_a_failing_loader_caches_nothing_and_can_be_retried():
    manager = ModelManager()

    def broken(device, dtype):
        raise ModelLoadError("corrupt file")

    with pytest.raises(ModelLoadError, match="corrupt file"):
        manager.get("planner", "/m/a", broken, device="cpu")
    assert manager.cached_keys() == [] and manager.load_count() == 0
    assert isinstance(manager.get("planner", "/m/a", Loader(), device="cpu"), nn.Linear)


def test_memory_bytes_counts_parameters_and_buffers():
    manager = ModelManager()
    manager.get("a", "/a", Loader(), dtype="float32", device="cpu")
    manager.get("b", "/b", Loader(lambda: nn.BatchNorm1d(8)), dtype="float32", device="cpu")
    batchnorm = (8 + 8 + 8 + 8) * 4 + 8  # weight, bias, running mean/var (fp32), num_batches (int64)
    assert manager.memory_bytes() == LINEAR_BYTES + batchnorm


# -- eviction and freeing --------------------------------------------------------------------
def load_weakly(manager: ModelManager, kind: str, source: str) -> weakref.ref:
    """Load and keep only a weak reference, so the cache holds the sole strong one."""
    return weakref.ref(manager.get(kind, source, Loader(), dtype="float32", device="cpu"))


def test_least_recently_used_model_is_evicted_over_budget():
    manager = ModelManager(budget_bytes=2 * LINEAR_BYTES)
    a, b = load_weakly(manager, "m", "/a"), load_weakly(manager, "m", "/b")
    manager.get("m", "/a", Loader(), dtype="float32", device="cpu")  # a is now more recent than b
    c = load_weakly(manager, "m", "/c")
    assert [k.source for k in manager.cached_keys()] == [("/a",), ("/c",)]
    assert b() is None and a() is not None and c() is not None
    assert manager.memory_bytes() <= manager.budget_bytes
    assert manager.load_count() == 3


def test_use_counts_as_a_use_for_eviction_order():
    manager = ModelManager(budget_bytes=2 * LINEAR_BYTES)
    a = manager.get("m", "/a", Loader(), dtype="float32", device="cpu")
    load_weakly(manager, "m", "/b")
    with manager.use(a):
        pass
    load_weakly(manager, "m", "/c")
    assert [k.source for k in manager.cached_keys()] == [("/a",), ("/c",)]


def test_a_model_larger_than_the_budget_is_kept_alone():
    manager = ModelManager(budget_bytes=LINEAR_BYTES // 2)
    first = load_weakly(manager, "m", "/a")
    second = load_weakly(manager, "m", "/b")
    assert first() is None and second() is not None
    assert [k.source for k in manager.cached_keys()] == [("/b",)]


def test_free_releases_every_model():
    manager = ModelManager()
    refs = [load_weakly(manager, "planner", "/p"), load_weakly(manager, "projector", "/q")]
    assert manager.free() == 2
    assert all(ref() is None for ref in refs)
    assert manager.cached_keys() == [] and manager.memory_bytes() == 0
    assert manager.load_count() == 2  # a count of loads performed, not of models held


def test_free_kind_releases_only_that_kind():
    manager = ModelManager()
    planner, projector = load_weakly(manager, "planner", "/p"), load_weakly(manager, "projector", "/q")
    assert manager.free("projector") == 1
    gc.collect()
    assert projector() is None and planner() is not None
    assert [k.kind for k in manager.cached_keys()] == ["planner"]
    assert manager.free("projector") == 0


def test_get_after_free_loads_again():
    manager, loader = ModelManager(), Loader()
    manager.get("p", "/p", loader, device="cpu")
    manager.free()
    manager.get("p", "/p", loader, device="cpu")
    assert len(loader.calls) == 2 and manager.load_count("p") == 2


# -- placement -------------------------------------------------------------------------------
def get_offloaded(manager: ModelManager, make=RecordingLinear, policy: str = "offload"):
    """Load under `policy` for execution device "cuda:1"; placements recorded from here on."""
    loader = Loader(make)
    value = manager.get("generator", "/g", loader, dtype="float32", device="cuda:1", offload_policy=policy)
    for module in (value.torch_modules().values() if isinstance(value, Bundle) else [value]):
        module.placements.clear()
    return value, loader


def test_offload_loads_on_the_offload_device_and_moves_inside_use():
    manager = ModelManager()
    module, loader = get_offloaded(manager)
    assert loader.calls == [("cpu", "float32")]  # parked, not on the execution device
    with manager.use(module) as inside:
        assert inside is module
        assert module.placements == ["cuda:1"]
    assert module.placements == ["cuda:1", "cpu"]


def test_offload_restores_placement_when_the_block_raises():
    manager = ModelManager()
    module, _ = get_offloaded(manager)
    with pytest.raises(RuntimeError, match="sampler failed"):
        with manager.use(module):
            raise RuntimeError("sampler failed")
    assert module.placements == ["cuda:1", "cpu"]


def test_use_with_names_moves_only_those_modules():
    manager = ModelManager()
    bundle, _ = get_offloaded(manager, make=Bundle)
    with manager.use(bundle, "vae"):
        assert bundle.vae.placements == ["cuda:1"] and bundle.transformer.placements == []
    assert bundle.vae.placements == ["cuda:1", "cpu"] and bundle.transformer.placements == []


def test_nested_use_keeps_the_module_on_device_until_the_outer_block_ends():
    manager = ModelManager()
    bundle, _ = get_offloaded(manager, make=Bundle)
    with manager.use(bundle):
        with manager.use(bundle, "transformer"):
            pass
        # the inner block must not park the transformer while the outer one still runs
        assert bundle.transformer.placements[-1] == "cuda:1"
    assert bundle.transformer.placements[-1] == "cpu" and bundle.vae.placements[-1] == "cpu"


def test_concurrent_use_parks_only_after_the_last_user():
    manager = ModelManager()
    module, _ = get_offloaded(manager)
    inside, release = threading.Barrier(2), threading.Event()
    seen_by_late_exit: list[str] = []

    def early():
        with manager.use(module):
            inside.wait(5)
        release.set()

    def late():
        with manager.use(module):
            inside.wait(5)
            release.wait(5)
            seen_by_late_exit.append(module.placements[-1])

    threads = [threading.Thread(target=early), threading.Thread(target=late)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert seen_by_late_exit == ["cuda:1"]
    assert module.placements[-1] == "cpu"


def test_a_failed_move_leaves_nothing_on_the_device():
    manager = ModelManager()
    bundle, _ = get_offloaded(manager, make=Bundle)
    bundle.vae.fail_on = "cuda:1"  # the transformer moves first, then the VAE does not fit
    with pytest.raises(RuntimeError, match="out of memory"):
        with manager.use(bundle):
            pytest.fail("the block must not run")
    assert bundle.transformer.placements == ["cuda:1", "cpu"]
    assert bundle.vae.placements == ["cuda:1", "cpu"]
    bundle.vae.fail_on = None
    with manager.use(bundle):  # no stale use count keeps it from moving next time
        assert bundle.vae.placements[-1] == "cuda:1" and bundle.transformer.placements[-1] == "cuda:1"
    assert bundle.vae.placements[-1] == "cpu" and bundle.transformer.placements[-1] == "cpu"


def test_keep_policy_never_moves():
    manager = ModelManager()
    module, loader = get_offloaded(manager, policy="keep")
    assert loader.calls[0][0] == "cuda:1"  # "keep" loads straight onto the execution device
    with manager.use(module):
        pass
    assert module.placements == []


def test_sequential_policy_keeps_the_named_modules_on_the_cpu():
    class LowVramBundle(Bundle):
        cpu_modules_when_sequential = ("vae",)

    manager = ModelManager()
    bundle, loader = get_offloaded(manager, make=LowVramBundle, policy="sequential")
    assert loader.calls[0][0] == "cpu"  # parked like "offload"
    with manager.use(bundle):
        assert bundle.transformer.placements == ["cuda:1"]
        assert bundle.vae.placements == []  # runs where it is: on the CPU
    assert bundle.transformer.placements == ["cuda:1", "cpu"]
    assert bundle.vae.placements == []


def test_use_of_an_uncached_value_is_a_no_op():
    module = RecordingLinear()
    with ModelManager().use(module) as inside:
        assert inside is module
    assert module.placements == []


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device to check real placement")
def test_offload_really_moves_weights_to_the_gpu_and_back():
    manager = ModelManager()
    module = manager.get("g", "/real", Loader(), dtype="float32", device="cuda", offload_policy="offload")
    assert module.weight.device.type == "cpu"
    with manager.use(module):
        assert module.weight.device.type == "cuda"
    assert module.weight.device.type == "cpu"


# -- threads and errors ----------------------------------------------------------------------
def test_concurrent_gets_load_once():
    manager, loader = ModelManager(), Loader(delay=0.05)
    start, results = threading.Barrier(8), []

    def worker():
        start.wait(5)
        results.append(manager.get("planner", "/m", loader, dtype="float32", device="cpu"))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(results) == 8 and all(r is results[0] for r in results)
    assert len(loader.calls) == 1 and manager.load_count("planner") == 1


def test_get_manager_is_one_process_wide_instance():
    seen = []
    threads = [threading.Thread(target=lambda: seen.append(get_manager())) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(m is get_manager() for m in seen)


def test_bad_offload_policy_is_refused_before_loading():
    manager, loader = ModelManager(), Loader()
    with pytest.raises(ModelLoadError, match=r"unknown offload policy 'lazy'.*keep, offload, sequential"):
        manager.get("p", "/p", loader, device="cpu", offload_policy="lazy")
    assert loader.calls == []


def test_bad_dtype_is_refused_before_loading():
    manager, loader = ModelManager(), Loader()
    with pytest.raises(ModelLoadError, match=r"unknown dtype 'fp8'.*auto, bfloat16, float16, float32"):
        manager.get("p", "/p", loader, device="cpu", dtype="fp8")
    assert loader.calls == []


def test_resolve_dtype():
    assert resolve_dtype("auto", "cpu") == "float32"
    assert resolve_dtype("float16", "cpu") == "float16"
    if torch.cuda.is_available():
        assert resolve_dtype("auto", "cuda") in ("bfloat16", "float16")
    assert torch_dtype("bfloat16") is torch.bfloat16
