"""The shape of the code (docs/ARCHITECTURE.md): no import circles, nodes that only declare and
delegate, no code repeated between the nodes and the runtime, one home for shared facts."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

PACK = Path(__file__).resolve().parents[1]
PACKAGES = ("unison_runtime", "nodes")
MAX_NODE_METHOD_LINES = 30  # a node's FUNCTION converts types and calls the runtime


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (PACK / package).rglob("*.py"):
            parts = path.relative_to(PACK).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def _imports(name: str, path: Path, modules: dict[str, Path], type_hints: bool = True) -> set[str]:
    """Every module of the pack that `name` imports, at the top or inside functions, and (unless
    `type_hints` is off) under `if TYPE_CHECKING:`: a type-only import is still a dependency of the
    design, and a circle through one is the first step to a circle at run time."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    type_only = set() if type_hints else {id(n) for block in ast.walk(tree) if isinstance(block, ast.If)
                                          and getattr(block.test, "id", "") == "TYPE_CHECKING" for n in ast.walk(block)}
    out = set()
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        targets = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            targets = [base] + [f"{base}.{a.name}" for a in node.names]
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
    return out


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import circles of any length (strongly connected groups of two or more modules). A
    package importing its own submodules (and they the package) is not a circle of logic."""
    edges = {a: {b for b in deps if not b.startswith(a + ".") and not a.startswith(b + ".")}
             for a, deps in graph.items()}
    order, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(module: str) -> None:  # Tarjan's algorithm
        order[module] = low[module] = len(order)
        stack.append(module)
        on_stack.add(module)
        for dep in edges.get(module, ()):
            if dep not in order:
                visit(dep)
                low[module] = min(low[module], low[dep])
            elif dep in on_stack:
                low[module] = min(low[module], order[dep])
        if low[module] == order[module]:
            group = []
            while not group or group[-1] != module:
                group.append(stack.pop())
                on_stack.discard(group[-1])
            if len(group) > 1:
                found.append(sorted(group))

    for module in sorted(edges):
        if module not in order:
            visit(module)
    return sorted(found)


def test_no_module_imports_one_that_imports_it_back():
    modules = _modules()
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    assert _circles(graph) == []


def test_the_import_walker_sees_circles(tmp_path):
    """The check above would catch a circle through a function-level import, and a longer one
    through an import made for type hints only."""
    code = {
        "a": "def f():\n    from .b import g\n",
        "b": "from . import a\n",
        "c": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .d import D\n",
        "d": "from .e import E\n",
        "e": "def f():\n    from .c import C\n",
        "f": "from . import a\n",  # imports into a circle but is not part of it
    }
    modules = {f"unison_runtime.{short}": tmp_path / f"{short}.py" for short in code}
    for short, text in code.items():
        (tmp_path / f"{short}.py").write_text(text)
    graph = {name: _imports(name, path, modules) for name, path in modules.items()}
    assert graph["unison_runtime.a"] == {"unison_runtime.b"} and graph["unison_runtime.b"] == {"unison_runtime.a"}
    assert _circles(graph) == [["unison_runtime.a", "unison_runtime.b"],
                               ["unison_runtime.c", "unison_runtime.d", "unison_runtime.e"]]
    assert _imports("unison_runtime.c", modules["unison_runtime.c"], modules, type_hints=False) == set()


def _node_methods():
    try:
        from nodes import NODE_CLASS_MAPPINGS
    except ImportError:  # no ComfyUI source for comfy_api (tests/conftest.py): nothing to check
        return []
    return [(node_id, cls, cls.execute) for node_id, cls in sorted(NODE_CLASS_MAPPINGS.items())]


@pytest.mark.parametrize("node_id,cls,method", _node_methods(), ids=[n for n, _, _ in _node_methods()])
def test_every_node_method_only_declares_and_delegates(node_id, cls, method):
    lines = [line for line in inspect.getsource(method).splitlines()[1:] if line.strip()]
    assert len(lines) <= MAX_NODE_METHOD_LINES, f"{node_id}.execute has {len(lines)} lines"
    source = inspect.getsource(inspect.getmodule(cls))
    # No model logic in nodes: no torch maths, no direct model loading, no planner/router internals.
    for banned in ("torch.nn", "from_pretrained", "choose_planner(", "import router", "load_planner("):
        assert banned not in inspect.getsource(method), f"{node_id} does {banned} itself"
    assert "run_pipeline" not in source or node_id == "UnisonAuto"


# -- the nodes reach the runtime through one face (issue 23 item 6) --------------------------------------
FACE = "unison_runtime.api"


def test_the_nodes_import_the_runtime_only_through_its_face():
    """As ComfyUI's core nodes call comfy.sample / comfy.sd: nodes/ names no runtime module but the face."""
    reached = set()
    for rel, text in _sources("nodes"):
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("unison_runtime"):
                names = [a.name for a in node.names]
                reached.add(node.module if node.module != "unison_runtime" else f"unison_runtime.{'+'.join(names)}")
            elif isinstance(node, ast.Import):
                reached |= {a.name for a in node.names if a.name.startswith("unison_runtime")}
    assert reached == {FACE}, sorted(reached - {FACE})


def test_the_face_is_cheap_to_import_and_each_name_is_its_homes_object():
    import importlib
    import subprocess
    import sys

    code = f"import sys, {FACE}; print(sorted(m for m in ('torch', 'numpy', 'transformers', 'diffusers') if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PACK, check=True)
    assert loaded.stdout.strip() == "[]", loaded.stdout + loaded.stderr
    face = importlib.import_module(FACE)
    for name in face.__all__:
        value = getattr(face, name)
        home = getattr(value, "__module__", None)
        if home and home.startswith("unison_runtime") and not isinstance(value, (str, int, tuple, dict)):
            original = getattr(importlib.import_module(home), getattr(value, "__name__", name), value)
            assert original is value, f"{name} is not {home}'s own"
    with pytest.raises(AttributeError, match="has no 'plan_internals'"):
        getattr(face, "plan_internals")


def _windows(path: Path, size: int = 6) -> set[tuple[str, ...]]:
    lines = [re.sub(r"\s+", " ", line.strip()) for line in path.read_text(encoding="utf-8").splitlines()]
    code = [line for line in lines if line and not line.startswith(("#", '"""', "from ", "import ", ")", "]", "}"))]
    return {tuple(code[i:i + size]) for i in range(len(code) - size + 1)}


def test_no_block_of_code_is_repeated_between_nodes_and_the_runtime():
    runtime = set().union(*(_windows(p) for p in (PACK / "unison_runtime").rglob("*.py")))
    repeated = {str(p.relative_to(PACK)): w[0] for p in (PACK / "nodes").rglob("*.py") for w in _windows(p) & runtime}
    assert repeated == {}


def test_shared_limits_and_choices_have_one_home():
    """The limits (2048 pixels, 241 frames) and the choice lists are written in facts.py only."""
    import io
    import tokenize

    allowed = {"unison_runtime/facts.py"}
    offenders = []
    for package in PACKAGES:
        for path in (PACK / package).rglob("*.py"):
            rel = str(path.relative_to(PACK))
            text = path.read_text(encoding="utf-8")
            other_meaning = {n for n, line in enumerate(text.splitlines(), 1) if "not a limit" in line}
            tokens = tokenize.generate_tokens(io.StringIO(text).readline)
            offenders += [f"{rel}:{t.start[0]}" for t in tokens
                          if t.type == tokenize.NUMBER and t.string in ("2048", "241") and rel not in allowed
                          and t.start[0] not in other_meaning]
    assert offenders == []
    lists = re.compile(r"\[\s*\"(auto|keep|mask|text_understanding)\",\s*\"")  # a literal list of choices
    duplicated = [str(p.relative_to(PACK)) for package in PACKAGES for p in (PACK / package).rglob("*.py")
                  if lists.search(p.read_text(encoding="utf-8"))]
    assert duplicated == []


# -- shared facts reached by one name (issue 22 item 3) -------------------------------------------------
SOURCE_TREES = ("unison_runtime", "nodes", "scripts", "benchmarks")


def _sources(*trees: str):
    for tree in trees:
        for path in sorted((PACK / tree).rglob("*.py")):
            yield str(path.relative_to(PACK)), path.read_text(encoding="utf-8")


def _fact_names() -> set[str]:
    from unison_runtime import facts

    return {name for name in vars(facts) if name.isupper()}


def test_facts_are_defined_in_facts_and_imported_from_it_alone():
    """No module defines a fact again, and none reaches one through another module (plan.py
    re-exported them), so `facts.FPS`, `REFERENCE_TASKS`... each have one name. The nodes reach
    them, as everything of the runtime, through its face."""
    names = _fact_names()
    redefined, passed_on = [], []
    for rel, text in _sources(*SOURCE_TREES, "tests"):
        tree = ast.parse(text)
        if rel != "unison_runtime/facts.py":
            redefined += [f"{rel}:{node.lineno} {target.id}" for node in tree.body if isinstance(node, ast.Assign)
                          for target in node.targets if isinstance(target, ast.Name) and target.id in names]
        for node in ast.walk(tree):
            through_face = rel.startswith("nodes/") and node.__class__ is ast.ImportFrom and node.module == FACE
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[-1] != "facts" and not through_face:
                passed_on += [f"{rel}:{node.lineno} {a.name} from {node.module}" for a in node.names if a.name in names]
    assert redefined == [] and passed_on == []


def test_the_frame_rate_is_facts_fps_and_the_wide_grey_modes_are_written_once():
    import io
    import tokenize

    literal_fps, grey_modes = [], []
    for rel, text in _sources(*SOURCE_TREES):
        if rel == "unison_runtime/facts.py":
            continue
        line_tokens: dict[int, list] = {}
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            line_tokens.setdefault(token.start[0], []).append(token)
        for number, tokens in line_tokens.items():
            seen_fps = False
            for token in tokens:
                if token.type in (tokenize.NAME, tokenize.STRING) and "fps" in token.string.lower():
                    seen_fps = True
                elif token.type == tokenize.NUMBER and seen_fps and float(token.string) == 24:
                    literal_fps.append(f"{rel}:{number}")
                elif token.type == tokenize.STRING and "I;16" in token.string:
                    grey_modes.append(f"{rel}:{number}")
    assert literal_fps == [] and grey_modes == []


def test_the_annotator_models_are_declared_once():
    """Their names are fields of `annotators.kinds.AnnotatorPaths` alone: no other class declares
    them and no other module lists them (everything iterates `ANNOTATOR_KINDS`)."""
    from unison_runtime.annotators.kinds import ANNOTATOR_KINDS

    names = {kind.name for kind in ANNOTATOR_KINDS}
    assert names == {"grounding_dino", "sam2", "u2net"}
    fields_elsewhere, lists_elsewhere = [], []
    for rel, text in _sources("unison_runtime", "nodes"):  # scripts may name the loader's frozen inputs
        if rel == "unison_runtime/annotators/kinds.py":
            continue
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef):
                fields_elsewhere += [f"{rel}:{item.lineno}" for item in node.body if isinstance(item, ast.AnnAssign)
                                     and isinstance(item.target, ast.Name) and item.target.id in names]
            if isinstance(node, (ast.Tuple, ast.List, ast.Set, ast.Dict)):
                items = node.keys if isinstance(node, ast.Dict) else node.elts
                listed = {i.value for i in items if isinstance(i, ast.Constant) and i.value in names}
                if len(listed) >= 2:
                    lists_elsewhere.append(f"{rel}:{node.lineno}")
    assert fields_elsewhere == [] and lists_elsewhere == []


def _how_to_lists(title: str) -> list[list[str]]:
    """The numbered lists of docs/ARCHITECTURE.md's section `title`, one list of items each."""
    text = (PACK / "docs" / "ARCHITECTURE.md").read_text(encoding="utf-8")
    section = text.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]
    lists, current = [], []
    for line in section.splitlines():
        if re.match(r"\d+\. ", line):
            current.append(line)
        elif current and not line.strip():
            lists.append(current)
            current = []
    return lists + ([current] if current else [])


def _file_of(written: str) -> Path | None:
    for base in (PACK, PACK / "unison_runtime"):
        if (base / written).is_file():
            return base / written
    return None


@pytest.mark.parametrize("title", ["How to add a task", "How to add an annotator"])
def test_the_how_to_file_lists_are_true(title):
    """Each item names a file that exists and names that the files it names really declare."""
    lists = _how_to_lists(title)
    assert lists and all(lists)
    for item in (item for items in lists for item in items):
        quoted = re.findall(r"`([^`]+)`", item)
        files = [_file_of(q) for q in quoted if q.endswith((".py", ".json"))]
        assert files and all(files), f"a file named in {item!r} does not exist"
        texts = "".join(f.read_text(encoding="utf-8") for f in files)
        names = [q for q in quoted if re.fullmatch(r"[A-Za-z_]\w*", q)]
        missing = [n for n in names if not re.search(rf"\b{n}\b", texts)]
        assert missing == [], f"{item[:60]!r}: {missing} not in the files it names"
    if title == "How to add an annotator":
        assert len(lists[0]) <= 3  # a weights-free mode: three files at most
