"""A small executor for API-format graphs, behaving like ComfyUI's for what the tests need.

- Validation first (as ComfyUI's `validate_inputs`): known class types, required inputs present,
  links pointing at an existing node's output of a matching type, combo values in their list,
  numbers within min/max.
- Only output nodes (OUTPUT_NODE) and what they depend on run, in topological order.
- Links `[node_id, output_index]` are resolved to the producer's output; widget values are passed
  as keyword arguments under their names; a V3 node's `execute` is called (a V1 stand-in's FUNCTION
  on a fresh instance).
- A node that receives an ExecutionBlocker on any input does not run: all its outputs become that
  blocker (so everything downstream is skipped too), and it produces no UI output.
- A node may return a NodeOutput (ui=...), a tuple, or {"ui": {...}, "result": (...)}; UI outputs are
  collected by node id.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

v1_spec = sys.modules["unison_pack_nodes"].v1_spec  # scripts/pack_nodes.py, loaded by tests/conftest.py

WIDGET_TYPES = ("INT", "FLOAT", "STRING", "BOOLEAN")


class GraphValidationError(Exception):
    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors))
        self.errors = errors


@dataclass
class GraphResult:
    outputs: dict[str, tuple] = field(default_factory=dict)
    ui: dict[str, dict] = field(default_factory=dict)
    executed: list[str] = field(default_factory=list)
    blocked: list[str] = field(default_factory=list)


def is_link(value: Any) -> bool:
    return isinstance(value, list) and len(value) == 2 and isinstance(value[0], str) and isinstance(value[1], int)


def input_specs(cls) -> dict[str, tuple[Any, dict, bool]]:
    """name -> (type, options, required) from INPUT_TYPES (hidden inputs ignored)."""
    declared = cls.INPUT_TYPES()
    specs = {}
    for section, required in (("required", True), ("optional", False)):
        for name, spec in declared.get(section, {}).items():
            specs[name] = (*v1_spec(spec), required)
    return specs


def call_node(cls, kwargs: dict) -> tuple[tuple, dict | None]:
    """(outputs, ui) of one node run: a V3 node's execute (its NodeOutput), or a V1 node's FUNCTION
    (a tuple, or {"ui", "result"})."""
    if hasattr(cls, "define_schema"):
        returned = cls.execute(**kwargs)
        if isinstance(returned, dict):
            return tuple(returned.get("result", ())), returned.get("ui")
        if isinstance(returned, tuple):
            return returned, None
        return tuple(returned.args), returned.ui
    returned = getattr(cls(), cls.FUNCTION)(**kwargs)
    if isinstance(returned, dict):
        return tuple(returned.get("result", ())), returned.get("ui")
    return tuple(returned), None


def validate(graph: dict, classes: dict) -> None:
    errors = []
    for node_id, node in graph.items():
        cls = classes.get(node.get("class_type"))
        if cls is None:
            errors.append(f"{node_id}: unknown class_type {node.get('class_type')!r}")
            continue
        specs = input_specs(cls)
        inputs = node.get("inputs", {})
        for name, (kind, options, required) in specs.items():
            if name not in inputs:
                if required:
                    errors.append(f"{node_id} ({node['class_type']}): required input {name!r} missing")
                continue
            value = inputs[name]
            if is_link(value):
                source = graph.get(value[0])
                if source is None or source.get("class_type") not in classes:
                    errors.append(f"{node_id}.{name}: link to unknown node {value[0]}")
                    continue
                out_types = classes[source["class_type"]].RETURN_TYPES
                if not 0 <= value[1] < len(out_types):
                    errors.append(f"{node_id}.{name}: output index {value[1]} out of range")
                    continue
                out_type = out_types[value[1]]
                in_type = "COMBO" if isinstance(kind, list) else kind
                if in_type != "*" and out_type != "*" and out_type != in_type:
                    errors.append(f"{node_id}.{name}: {out_type} linked into a {in_type} input")
                continue
            if isinstance(kind, list):
                if value not in kind:
                    errors.append(f"{node_id}.{name}: {value!r} not in the list {kind[:8]}")
            elif kind in ("INT", "FLOAT"):
                if isinstance(value, bool) or not isinstance(value, (int, float)) or (kind == "INT" and not isinstance(value, int)):
                    errors.append(f"{node_id}.{name}: {value!r} is not a {kind}")
                elif "min" in options and value < options["min"]:
                    errors.append(f"{node_id}.{name}: {value} < min {options['min']}")
                elif "max" in options and value > options["max"]:
                    errors.append(f"{node_id}.{name}: {value} > max {options['max']}")
            elif kind == "STRING" and not isinstance(value, str):
                errors.append(f"{node_id}.{name}: {value!r} is not a STRING")
            elif kind == "BOOLEAN" and not isinstance(value, bool):
                errors.append(f"{node_id}.{name}: {value!r} is not a BOOLEAN")
            elif kind not in WIDGET_TYPES and not isinstance(kind, list):
                errors.append(f"{node_id}.{name}: {kind} input needs a link, got the value {value!r}")
        unknown = set(inputs) - set(specs)
        if unknown:
            errors.append(f"{node_id}: unknown input(s) {sorted(unknown)}")
    if not any(getattr(classes.get(n.get("class_type")), "OUTPUT_NODE", False) for n in graph.values()):
        errors.append("the graph has no output node")
    if errors:
        raise GraphValidationError(errors)


def _needed(graph: dict, classes: dict) -> list[str]:
    """Output nodes and their ancestors, in a deterministic topological order."""
    wanted: set[str] = set()
    stack = [i for i, n in graph.items() if getattr(classes[n["class_type"]], "OUTPUT_NODE", False)]
    while stack:
        node_id = stack.pop()
        if node_id in wanted:
            continue
        wanted.add(node_id)
        stack.extend(v[0] for v in graph[node_id].get("inputs", {}).values() if is_link(v))
    order: list[str] = []
    done: set[str] = set()
    visiting: set[str] = set()

    def visit(node_id: str) -> None:
        if node_id in done:
            return
        if node_id in visiting:
            raise GraphValidationError([f"cycle through node {node_id}"])
        visiting.add(node_id)
        for value in graph[node_id].get("inputs", {}).values():
            if is_link(value):
                visit(value[0])
        visiting.discard(node_id)
        done.add(node_id)
        order.append(node_id)

    for node_id in sorted(wanted, key=lambda s: (len(s), s)):
        visit(node_id)
    return order


def run_graph(graph: dict, classes: dict, blocker_types: tuple[type, ...] = ()) -> GraphResult:
    """Validate and execute `graph` (API format); returns outputs and UI data by node id."""
    from nodes import comfy_glue

    validate(graph, classes)
    result = GraphResult()
    for node_id in _needed(graph, classes):
        node = graph[node_id]
        cls = classes[node["class_type"]]
        kwargs = {}
        block = None
        for name, value in node.get("inputs", {}).items():
            if is_link(value):
                value = result.outputs[value[0]][value[1]]
                if comfy_glue.is_blocked(value) or isinstance(value, blocker_types):
                    block = value
                    break
            kwargs[name] = value
        if block is not None:
            result.outputs[node_id] = tuple(block for _ in cls.RETURN_TYPES)
            result.blocked.append(node_id)
            continue
        outputs, ui = call_node(cls, kwargs)
        if ui is not None:
            result.ui[node_id] = ui
        if len(outputs) != len(cls.RETURN_TYPES):
            raise AssertionError(f"{node_id} ({node['class_type']}) returned {len(outputs)} outputs; "
                                 f"it declares {len(cls.RETURN_TYPES)}")
        result.outputs[node_id] = outputs
        result.executed.append(node_id)
    return result
