#!/usr/bin/env python3
"""Write the nodes' translations for ComfyUI from their declarations: `locales/<lang>/nodeDefs.json`
and `locales/<lang>/main.json` (ComfyUI serves them at /i18n; the frontend shows them in the language
of its Language setting). Run after changing a node's text (the nodes are V3: COMFYUI_DIR names a
ComfyUI for its comfy_api):  COMFYUI_DIR=... python scripts/make_locales.py [--check]

English is the declarations themselves. Every other language has a catalogue,
`translations/<lang>.json`, mapping each English string to its translation: a changed English string
is then a missing key (and its old entry a stale one), and the script stops naming both. Choice
lists are not translated (their values are saved in workflows), nor are the model-folder dropdowns.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

PACK = Path(__file__).resolve().parents[1]
LOCALES = PACK / "locales"
CATALOGUES = PACK / "translations"  # not under locales/: ComfyUI reads every folder there as a language
LANGUAGES = ("zh", "zh-TW", "ja", "ko", "ru", "fr", "es", "pt-BR")
sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling helpers, however we were loaded
from generated_files import write_or_check  # noqa: E402
from pack_nodes import pack_nodes, v1_spec  # noqa: E402


def declarations() -> dict[str, dict]:
    """What each node tells the frontend, {node_id: {"display_name", "description", "category",
    "inputs": {name: tooltip}, "outputs": [(name, tooltip), ...]}}: the one place that reads the
    node API (ComfyUI's V1 view of the V3 schemas); everything below reads only this."""
    pack = pack_nodes()
    display_names = pack.display_names()
    nodes = {}
    for node_id, cls in pack.NODE_CLASS_MAPPINGS.items():
        declared = cls.INPUT_TYPES()
        inputs = {name: v1_spec(spec)[1].get("tooltip", "")
                  for section in ("required", "optional") for name, spec in declared.get(section, {}).items()}
        tips = list(cls.OUTPUT_TOOLTIPS or ()) + [""] * len(cls.RETURN_NAMES)
        nodes[node_id] = {"display_name": display_names[node_id], "description": cls.DESCRIPTION or "",
                          "category": cls.CATEGORY, "inputs": inputs, "outputs": list(zip(cls.RETURN_NAMES, tips))}
    return nodes


def english(nodes: dict[str, dict]) -> dict[str, dict]:
    """The English files' contents, in ComfyUI's format ({file stem: JSON object})."""
    def named(name: str, tooltip: str) -> dict:
        return {"name": name, "tooltip": tooltip} if tooltip else {"name": name}

    node_defs = {}
    for node_id, node in nodes.items():
        entry = {"display_name": node["display_name"]}
        if node["description"]:
            entry["description"] = node["description"]
        if node["inputs"]:
            entry["inputs"] = {name: named(name, tip) for name, tip in node["inputs"].items()}
        if node["outputs"]:
            entry["outputs"] = {str(i): named(name, tip) for i, (name, tip) in enumerate(node["outputs"])}
        node_defs[node_id] = entry
    # The frontend translates each segment of a category path ("Unison/loaders") on its own.
    segments = dict.fromkeys(seg for node in nodes.values() for seg in node["category"].split("/"))
    return {"nodeDefs": node_defs, "main": {"nodeCategories": {seg: seg for seg in segments}}}


def strings(tree) -> list[str]:
    """Every text in a file's contents, in order, once (dictionary keys are identifiers, not text)."""
    if isinstance(tree, dict):
        return list(dict.fromkeys(s for value in tree.values() for s in strings(value)))
    return [tree] if tree else []


def translated(tree, catalogue: dict[str, str]):
    if isinstance(tree, dict):
        return {key: translated(value, catalogue) for key, value in tree.items()}
    return catalogue[tree]


def load_catalogue(lang: str, needed: list[str]) -> dict[str, str]:
    """The language's catalogue, or SystemExit naming each missing and stale key."""
    path = CATALOGUES / f"{lang}.json"
    if not path.is_file():
        raise SystemExit(f"{lang}: no catalogue translations/{path.name}")
    catalogue = json.loads(path.read_text(encoding="utf-8"))
    wanted = set(needed)
    problems = [f"{lang}: missing translation of {key!r}" for key in needed if key not in catalogue]
    problems += [f"{lang}: stale key {key!r} (no declaration has this English text)"
                 for key in catalogue if key not in wanted]
    problems += [f"{lang}: empty translation of {key!r}" for key, text in catalogue.items()
                 if key in wanted and not (isinstance(text, str) and text.strip())]
    if problems:
        raise SystemExit(f"translations/{path.name} does not match the declarations:\n  " + "\n  ".join(problems))
    return catalogue


def dump(obj) -> str:
    return json.dumps(obj, ensure_ascii=False, indent=2) + "\n"


def render() -> dict[Path, str]:
    source = english(declarations())
    needed = strings(source)
    files = {LOCALES / "en" / f"{stem}.json": dump(tree) for stem, tree in source.items()}
    for lang in LANGUAGES:
        catalogue = load_catalogue(lang, needed)
        files.update({LOCALES / lang / f"{stem}.json": dump(translated(tree, catalogue)) for stem, tree in source.items()})
    return files


def main(argv=None) -> int:
    return write_or_check(render, PACK, __doc__.splitlines()[0], argv)


if __name__ == "__main__":
    sys.exit(main())
