"""The `auto` offload policy and the manager's device accounting, on a fake card: a policy
change on a cache hit, the host's free-memory request before moves, parking idle models for room,
refusing what cannot fit, and no allocator flush after every block."""

from __future__ import annotations

import pytest
from torch import nn

from unison_runtime import models as models_module
from unison_runtime.errors import ModelLoadError
from unison_runtime.models import MARGIN_BYTES, ModelManager, choose_placement, module_bytes

MB = 1024**2


class Card:
    """A fake GPU of `capacity` bytes: free = capacity - what the manager placed on it - `other`."""

    def __init__(self, capacity: int, other: int = 0):
        self.capacity, self.other, self.moves = capacity, other, []
        self.manager = ModelManager(mover=self.move, free_memory=self.free)

    def move(self, module, device):
        self.moves.append((type(module).__name__, device))

    def free(self, device):
        return self.capacity - self.other - self.manager.resident_bytes(device)


class Big(nn.Module):
    """`mb` MiB of float32 weights on the meta device (no RAM)."""

    def __init__(self, mb: int):
        super().__init__()
        self.weight = nn.Parameter(nn.Linear(1, 1).weight.new_empty(mb * MB // 4, device="meta"))


class Pair:
    """A bundle like the generator: a big `encoder` that may run on the CPU and a `net`."""

    cpu_modules_when_sequential = ("encoder",)

    def __init__(self, encoder_mb: int, net_mb: int, work_mb: int = 0):
        self.encoder, self.net, self.work = Big(encoder_mb), Big(net_mb), work_mb * MB

    def torch_modules(self):
        return {"encoder": self.encoder, "net": self.net}

    def working_bytes(self):
        return {"net": self.work}


def get(manager, value, policy="auto", source="/m", kind="m"):
    return manager.get(kind, source, lambda device, dtype: value, dtype="float32", device="cuda", offload_policy=policy)


@pytest.mark.parametrize("free_mb, expected", [(4000, "keep"), (2600, "offload"), (1500, "sequential")])
def test_auto_chooses_by_free_memory_and_real_size(free_mb, expected):
    card = Card(free_mb * MB)
    pair = get(card.manager, Pair(2000, 600, work_mb=300))
    assert card.manager.placement_of(pair) == expected
    notes = card.manager.take_notes()
    assert any(f"auto chose {expected}" in n and "2.5 GB" in n for n in notes), notes
    assert card.manager.take_notes() == []  # taken once


def test_choose_placement_counts_weights_work_and_margin():
    sizes, work = {"a": 1000 * MB, "b": 500 * MB}, {"b": 200 * MB}
    assert choose_placement(sizes, work, 1700 * MB + MARGIN_BYTES) == "keep"
    assert choose_placement(sizes, work, 1700 * MB + MARGIN_BYTES - 1) == "offload"
    assert choose_placement(sizes, work, 1000 * MB + MARGIN_BYTES - 1, ("a",)) == "sequential"


def test_a_cache_hit_with_another_policy_reapplies_it():
    card = Card(8000 * MB)
    pair = get(card.manager, Pair(100, 100), policy="keep")
    assert card.manager.resident_bytes("cuda") == 200 * MB
    assert get(card.manager, None, policy="sequential") is pair  # same key: no reload
    assert card.manager.placement_of(pair) == "sequential" and card.manager.resident_bytes() == 0
    with card.manager.use(pair):
        assert card.manager.resident_bytes() == 100 * MB  # the encoder stays on the CPU
    assert card.manager.resident_bytes() == 0
    get(card.manager, None, policy="keep")
    assert card.manager.placement_of(pair) == "keep" and card.manager.resident_bytes() == 200 * MB
    assert card.manager.load_count() == 1


def test_the_host_is_asked_for_room_before_weights_move_in():
    card = Card(1000 * MB, other=700 * MB)  # the host's own models hold 700 MB
    asked = []

    def host_frees(nbytes, device):
        asked.append((nbytes, device, list(card.moves)))
        card.other = 0

    models_module.set_free_request_hook(host_frees)
    try:
        pair = get(card.manager, Pair(100, 300), policy="offload")
        with card.manager.use(pair, "net"):
            pass
    finally:
        models_module.set_free_request_hook(None)
    assert len(asked) == 1
    nbytes, device, moves_before = asked[0]
    assert device == "cuda" and nbytes == 300 * MB + MARGIN_BYTES
    assert ("Big", "cuda") not in moves_before  # asked before anything moved in


def test_idle_kept_models_are_parked_to_make_room_and_the_peak_never_exceeds_the_card():
    card = Card(1500 * MB)
    first = get(card.manager, Pair(400, 400), policy="keep", source="/first")
    second = get(card.manager, Pair(300, 500), policy="offload", source="/second")
    with card.manager.use(second):
        assert card.manager.placement_of(first) == "offload"  # parked for room
    assert card.manager.peak_resident_bytes <= 1500 * MB
    assert any("parked m" in n for n in card.manager.take_notes())


def test_a_module_that_cannot_fit_is_refused_with_a_clear_error():
    card = Card(1000 * MB)
    pair = get(card.manager, Pair(2000, 100), policy="offload")
    with pytest.raises(ModelLoadError, match=r"2\.1 GB are needed on cuda but only 1\.0 GB are free.*sequential"):
        with card.manager.use(pair):
            pass
    assert card.manager.resident_bytes() == 0
    with card.manager.use(pair, "net"):  # nothing stranded: the small module still runs
        pass


def test_keep_that_does_not_fit_falls_back_to_offload_with_a_note():
    card = Card(1000 * MB)
    pair = get(card.manager, Pair(600, 600), policy="keep")
    assert card.manager.placement_of(pair) == "offload"
    assert any("cannot stay on cuda" in n for n in card.manager.take_notes())


def test_the_allocator_is_flushed_on_eviction_only(monkeypatch):
    flushes = []
    monkeypatch.setattr(models_module, "_empty_device_cache", lambda: flushes.append(1))
    card = Card(8000 * MB)
    pair = get(card.manager, Pair(100, 100), policy="offload")
    for _ in range(3):
        with card.manager.use(pair):
            pass
    assert flushes == []
    card.manager.free()
    assert flushes == [1]


def test_module_bytes_counts_tied_weights_once():
    tied = nn.Sequential(nn.Embedding(10, 4), nn.Linear(4, 10, bias=False))
    tied[1].weight = tied[0].weight
    assert module_bytes(tied) == 10 * 4 * 4


def test_auto_is_the_default_policy():
    assert models_module.DEFAULT_OFFLOAD_POLICY == "auto" == models_module.OFFLOAD_POLICIES[0]


def test_the_cli_defaults_to_auto_and_takes_vae_tiling():
    import argparse

    from unison_runtime.pipeline import cli

    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    args = parser.parse_args(["a cat", "--out", "o"])
    assert cli.model_options(args).load.offload_policy == "auto" and cli.sampling_options(args).vae_tiling == "auto"
    args = parser.parse_args(["a cat", "--out", "o", "--vae-tiling", "on", "--offload", "sequential"])
    assert cli.sampling_options(args).vae_tiling == "on" and cli.model_options(args).load.offload_policy == "sequential"
    with pytest.raises(SystemExit):
        parser.parse_args(["a cat", "--out", "o", "--vae-tiling", "maybe"])
