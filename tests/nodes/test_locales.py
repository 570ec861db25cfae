"""The nodes' translations for ComfyUI (`locales/`, written by scripts/make_locales.py from the
declarations and `translations/<lang>.json`): current, complete, no stale entries, no English left
in a sentence, and every placeholder, identifier and number carried over. Offline and fast."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

PACK = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(PACK / "scripts"))
import make_locales  # noqa: E402

LANGUAGES = make_locales.LANGUAGES

# What a translation must carry over unchanged: placeholders ({image1}, ###name.png###, <IMGPAD>),
# command-line flags, file names, folders, snake_case names (inputs, folders, choices such as
# image_to_video), CamelCase names (nodes, classes, ComfyUI), model names with digits, and numbers.
KEPT = re.compile(
    r"\{\w+\}|###[^#\s]*###|<[A-Za-z_|]+>|--[a-z][\w-]*"
    r"|[\w./*-]+\.(?:pth|pt|safetensors|json|yaml|png)\b|\bmodels/[\w/.-]*|\b\w+/(?!\w)"
    r"|\b[a-z][a-z0-9]*(?:_[a-z0-9*]+)+(?![\w*])"
    r"|\b[A-Z]\w*?[a-z]\w*?[A-Z]\w*|\b[A-Z]{2,}[a-z]\w*"
    r"|\b[A-Za-z]+\d[\w.²-]*"
    r"|\d+(?:\.\d+)?")


def kept_tokens(english: str) -> list[str]:
    """The parts of an English text that its translation must contain as they are (none in a
    one-word name: input and output names are translated whole)."""
    if " " not in english.strip():
        return []
    tokens = (t.rstrip(".-") for t in KEPT.findall(english))
    return [re.sub(r"(?<=[A-Z])s$", "", t) for t in tokens if t]  # GPUs, LoRAs: the plural is the language's


def is_sentence(english: str) -> bool:
    return len(re.findall(r"[A-Za-z]{2,}", english)) >= 3 and english.rstrip().endswith(".")


@pytest.fixture(scope="module")
def source():
    return make_locales.english(make_locales.declarations())


@pytest.fixture(scope="module")
def catalogues():
    return {lang: json.loads((make_locales.CATALOGUES / f"{lang}.json").read_text(encoding="utf-8"))
            for lang in LANGUAGES}


def key_paths(tree, prefix=()) -> set[tuple]:
    if not isinstance(tree, dict):
        return {prefix}
    return set().union(*(key_paths(v, prefix + (k,)) for k, v in tree.items())) if tree else {prefix}


def leaves(tree, prefix=()):
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from leaves(value, prefix + (key,))
    else:
        yield prefix, tree


def lookup(tree, path):
    for key in path:
        tree = tree[key]
    return tree


def test_the_locale_files_are_current():
    """locales/ is generated: python scripts/make_locales.py"""
    result = subprocess.run([sys.executable, str(PACK / "scripts" / "make_locales.py"), "--check"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_comfyui_finds_one_folder_per_language_and_nothing_else():
    # ComfyUI's server reads every folder under locales/ as a language (app/custom_node_manager.py).
    folders = {p.name for p in (PACK / "locales").iterdir() if p.is_dir()}
    assert folders == {"en", *LANGUAGES}
    for lang in folders:
        assert {p.name for p in (PACK / "locales" / lang).iterdir()} == {"nodeDefs.json", "main.json"}


def test_every_file_is_valid_utf8_json_with_the_characters_written_out():
    files = [*(PACK / "locales").glob("*/*.json"), *make_locales.CATALOGUES.glob("*.json")]
    assert len(files) == 2 * (len(LANGUAGES) + 1) + len(LANGUAGES)
    for path in files:
        raw = path.read_bytes()
        assert not raw.startswith(b"\xef\xbb\xbf"), f"{path}: a byte-order mark"
        text = raw.decode("utf-8")  # strict: raises on anything that is not UTF-8
        assert "\\u" not in text, f"{path}: escaped characters"
        json.loads(text)


def test_english_is_the_declarations(source):
    nodes = make_locales.declarations()
    en = json.loads((PACK / "locales/en/nodeDefs.json").read_text(encoding="utf-8"))
    assert list(en) == list(nodes)
    planner = nodes["UnisonPlanner"]
    assert en["UnisonPlanner"]["display_name"] == planner["display_name"]
    assert en["UnisonPlanner"]["inputs"]["request"] == {"name": "request", "tooltip": planner["inputs"]["request"]}
    assert [o["name"] for o in en["UnisonPlanner"]["outputs"].values()] == [n for n, _ in planner["outputs"]]
    categories = json.loads((PACK / "locales/en/main.json").read_text(encoding="utf-8"))["nodeCategories"]
    assert {seg for node in nodes.values() for seg in node["category"].split("/")} == set(categories)


def test_choice_lists_are_not_translated(source):
    """Combo values are saved in workflows: the files hold names and tooltips, never choices."""
    from nodes import NODE_CLASS_MAPPINGS

    for node_id, cls in NODE_CLASS_MAPPINGS.items():
        declared = {name for section in ("required", "optional") for name in cls.INPUT_TYPES().get(section, {})}
        inputs = source["nodeDefs"][node_id].get("inputs", {})
        assert set(inputs) == declared, node_id
        assert all(set(entry) <= {"name", "tooltip"} for entry in inputs.values()), node_id


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_language_has_exactly_the_english_keys(lang, source):
    for stem, tree in source.items():
        translated = json.loads((PACK / "locales" / lang / f"{stem}.json").read_text(encoding="utf-8"))
        assert key_paths(translated) == key_paths(tree), f"{lang}/{stem}.json"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_no_catalogue_misses_a_string_or_keeps_a_stale_one(lang, source, catalogues):
    needed = set(make_locales.strings(source))
    assert sorted(needed - set(catalogues[lang])) == [], "missing"
    assert sorted(set(catalogues[lang]) - needed) == [], "stale"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_sentence_is_translated(lang, catalogues):
    assert [en for en, text in catalogues[lang].items() if is_sentence(en) and text == en] == []


@pytest.mark.parametrize("lang", LANGUAGES)
def test_placeholders_names_and_numbers_survive_translation(lang, catalogues):
    lost = {en: [t for t in kept_tokens(en) if t not in text] for en, text in catalogues[lang].items()}
    assert {en: tokens for en, tokens in lost.items() if tokens} == {}


def test_the_placeholder_check_sees_what_it_must_keep():
    planner = "Connected media are referred to as {image1}..{image4} in the text; ###name.png### refers to a file."
    assert kept_tokens(planner)[:3] == ["{image1}", "{image4}", "###name.png###"]
    assert kept_tokens("Keeps the generator from ~22 GB (--lowvram) for UnisonTaskRouter's GPUs.") == \
        ["22", "--lowvram", "UnisonTaskRouter", "GPU"]
    assert kept_tokens("A folder under models/unison/planner: a .pt/.pth file named u2net* or wan_2.1_vae.safetensors.") \
        == ["models/unison/planner", ".pt/.pth", "u2net", "wan_2.1_vae.safetensors"]


@pytest.mark.parametrize("lang", LANGUAGES)
def test_translated_files_are_the_catalogue_applied_to_the_declarations(lang, source, catalogues):
    node_defs = json.loads((PACK / "locales" / lang / "nodeDefs.json").read_text(encoding="utf-8"))
    for path, english in leaves(source["nodeDefs"]):
        assert lookup(node_defs, path) == catalogues[lang][english], (lang, path)


def _catalogue_copy(tmp_path, monkeypatch, edit):
    """The catalogues copied to tmp_path, one of them changed by edit(lang -> dict), and the script pointed there."""
    for lang in LANGUAGES:
        catalogue = json.loads((make_locales.CATALOGUES / f"{lang}.json").read_text(encoding="utf-8"))
        edit(lang, catalogue)
        (tmp_path / f"{lang}.json").write_text(json.dumps(catalogue, ensure_ascii=False), encoding="utf-8")
    monkeypatch.setattr(make_locales, "CATALOGUES", tmp_path)


def test_a_missing_translation_fails_naming_the_key_and_the_language(tmp_path, monkeypatch, catalogues):
    key = next(en for en in catalogues["ja"] if en.startswith("Connected image2"))
    _catalogue_copy(tmp_path, monkeypatch, lambda lang, c: c.pop(key) if lang == "ja" else None)
    with pytest.raises(SystemExit) as failure:
        make_locales.render()
    message = str(failure.value)
    assert f"ja: missing translation of {key!r}" in message
    assert "ko:" not in message and "stale" not in message


def test_a_stale_entry_fails_naming_the_key_and_the_language(tmp_path, monkeypatch):
    _catalogue_copy(tmp_path, monkeypatch, lambda lang, c: c.update({"A tooltip no node has.": "x"}) if lang == "pt-BR" else None)
    with pytest.raises(SystemExit) as failure:
        make_locales.render()
    assert "pt-BR: stale key 'A tooltip no node has.'" in str(failure.value)


def test_a_changed_english_string_makes_its_translations_stale(monkeypatch):
    real = make_locales.declarations()
    old = real["UnisonVACESampler"]["inputs"]["seed"]
    real["UnisonVACESampler"]["inputs"]["seed"] = "The noise seed."
    monkeypatch.setattr(make_locales, "declarations", lambda: real)
    with pytest.raises(SystemExit) as failure:
        make_locales.render()
    message = str(failure.value)
    # The first catalogue checked stops the run: its new key is missing and the old one stale.
    assert f"{LANGUAGES[0]}: missing translation of 'The noise seed.'" in message
    assert f"{LANGUAGES[0]}: stale key {old!r}" in message


def test_check_lists_a_file_that_is_out_of_date(tmp_path, monkeypatch, capsys):
    stale = tmp_path / "locales"
    monkeypatch.setattr(make_locales, "LOCALES", stale)
    monkeypatch.setattr(make_locales, "PACK", tmp_path)
    assert make_locales.main([]) == 0 and make_locales.main(["--check"]) == 0
    (stale / "fr" / "nodeDefs.json").write_text("{}", encoding="utf-8")
    capsys.readouterr()
    assert make_locales.main(["--check"]) == 1
    assert capsys.readouterr().out.strip() == f"out of date: {Path('locales', 'fr', 'nodeDefs.json')}"
