"""The generator seam (`generator.backend`): which backend loads a source and runs a generator, the
layout a found models folder gives first, and the one-line message when diffusers is missing."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from unison_runtime.errors import GenerationError, ModelLoadError
from unison_runtime.generator import backend
from unison_runtime.sources import GeneratorSource, find_models


class HostBackend:
    """A host's backend as ComfyUI's glue registers one: it owns what it loaded."""

    name = "host"

    def __init__(self):
        self.loaded = []

    def load(self, source):
        self.loaded.append(source)
        return ("host-generator", source)

    def adopt(self, model, vae, clip):
        return ("host-generator", (model, vae, clip))

    def owns(self, generator):
        return isinstance(generator, tuple) and generator[:1] == ("host-generator",)

    def generate(self, *args, **kwargs):  # pragma: no cover - not called here
        raise AssertionError


@pytest.fixture
def host(monkeypatch):
    registered = HostBackend()
    monkeypatch.setattr(backend, "_host", registered)
    return registered


def test_without_a_host_every_layout_goes_to_diffusers():
    for source in (GeneratorSource(diffusers_dir=Path("d")), GeneratorSource(native_dir=Path("n")),
                   GeneratorSource(transformer_file=Path("t.safetensors"))):
        assert backend.backend_for(source) is backend.DIFFUSERS
    assert backend.layout_order()[0] == "diffusers"


def test_a_host_loads_what_it_can_and_diffusers_keeps_its_own_layout(host):
    assert backend.backend_for(GeneratorSource(native_dir=Path("n"))) is host
    assert backend.backend_for(GeneratorSource(transformer_file=Path("t.safetensors"))) is host
    assert backend.backend_for(GeneratorSource(diffusers_dir=Path("d"))) is backend.DIFFUSERS
    loaded = GeneratorSource(native_dir=Path("n")).load()
    assert host.loaded and backend.backend_of(loaded) is host
    assert backend.backend_of(backend.adopt("model", "vae", "clip")) is host


def test_under_a_host_a_found_folder_gives_the_layouts_it_loads_first(all_models, host):
    """A models folder with all three layouts: outside ComfyUI the diffusers folder, inside it Wan's
    native folder, which ComfyUI loads itself (a ComfyUI install never needs diffusers for it)."""
    found = find_models(all_models).generator
    assert found.native_dir is not None and found.diffusers_dir is None


def test_outside_a_host_a_found_folder_gives_the_diffusers_layout(all_models):
    found = find_models(all_models).generator
    assert found.diffusers_dir is not None


def test_an_unknown_generator_is_named():
    with pytest.raises(GenerationError, match="must be a loaded Wan VACE generator, got str"):
        backend.backend_of("not a generator")


def test_outside_comfyui_core_models_cannot_be_adopted():
    with pytest.raises(GenerationError, match="only inside ComfyUI"):
        backend.adopt("model", "vae", "clip")


@pytest.mark.parametrize("with_host", [False, True])
def test_missing_diffusers_is_one_line_naming_what_to_install(monkeypatch, request, with_host):
    if with_host:
        request.getfixturevalue("host")
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "diffusers" else real(name, *a))
    with pytest.raises(ModelLoadError) as caught:
        backend.DIFFUSERS.load(GeneratorSource(diffusers_dir=Path("Wan2.1-VACE-1.3B-diffusers")))
    message = str(caught.value)
    assert "\n" not in message and 'pip install "diffusers>=0.37"' in message and "Wan2.1-VACE-1.3B-diffusers" in message
    assert ("ComfyUI's single files" in message) == with_host
