"""ARCHITECTURE.md kept true: every module of posekit is named there, and its rules hold in the code.

The rules checked (stated in ARCHITECTURE.md, section "Rules"):

* every module (each ``.py`` under ``posekit/``, and each package) is named on the page;
* imports follow the page's layer table: a module imports posekit modules of its own layer or of
  layers above it, never below (parsed with ``ast``, every import, also those inside functions);
* the library never imports ``posekit.cli``; the video wing never imports the network wing or the
  estimator (it is handed a ``PoseEstimator``); no import cycle between posekit's modules;
* one address per name: no module defines a module-level ``__getattr__`` (an importlib redirect);
* no module is over 600 lines.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "posekit"
ARCHITECTURE = ROOT / "ARCHITECTURE.md"
MAX_LINES = 600


def _modules() -> dict[str, Path]:
    """Dotted name -> file of every module of posekit (a package is its ``__init__.py``)."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()
#: compiled modules (no .py file): the C++ extension
COMPILED = {"posekit._pafprocess"}


def _resolve(name: str) -> str | None:
    """The posekit module that ``name`` (a module, or a module's attribute) lives in."""
    while name:
        if name in MODULES or name in COMPILED:
            return name
        name = name.rpartition(".")[0]
    return None


def _imports(module: str, path: Path) -> list[tuple[str, str, int]]:
    """(imported posekit module, the imported name or '', line) of every import in one file."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [
                (alias.name, "", node.lineno) for alias in node.names if alias.name.startswith("posekit")
            ]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            if source == "posekit" or source.startswith("posekit."):
                for alias in node.names:
                    target = _resolve(f"{source}.{alias.name}")
                    found.append(
                        (target, "" if target == f"{source}.{alias.name}" else alias.name, node.lineno)
                    )
    return [(_resolve(m), name, line) for m, name, line in found if _resolve(m)]


IMPORTS = {module: _imports(module, path) for module, path in MODULES.items()}


def _entry(module: str) -> str:
    """The layer table's entry of a module: ``x.py`` for posekit/x.py, ``x/`` for anything in posekit/x/."""
    parts = module.split(".")[1:]
    if not parts:
        return "__init__.py"
    if len(parts) == 1 and (PACKAGE / f"{parts[0]}.py").is_file():
        return f"{parts[0]}.py"
    if len(parts) == 1 and module in COMPILED:
        return parts[0]
    return f"{parts[0]}/"


def _layers() -> dict[str, int]:
    """ARCHITECTURE.md's layer table: entry (``x.py``, ``x/``, ``_pafprocess``) -> layer number."""
    text = ARCHITECTURE.read_text(encoding="utf-8")
    if "\n## Layers" not in text:
        pytest.fail("ARCHITECTURE.md has no '## Layers' section (the import rule's table)")
    table = text.split("\n## Layers", 1)[1].split("\n## ", 1)[0]
    layers = {}
    for line in table.splitlines():
        row = re.match(r"\|\s*(\d+)\s*\|(.*)\|\s*$", line)
        if row:
            for entry in re.findall(r"`(\w+\.py|\w+/|_pafprocess)`", row.group(2).split("|")[0]):
                assert entry not in layers, f"ARCHITECTURE.md's layer table lists {entry} twice"
                layers[entry] = int(row.group(1))
    assert layers, "ARCHITECTURE.md's '## Layers' section has no '| n | `x.py` `y/` ... |' rows"
    return layers


# --------------------------------------------------------------------------- the page names every module


def _named(module: str, text: str) -> bool:
    """Named as its path under posekit/ (``video/_sink.py``; a package as ``video/``), or by its file
    name on a line that names its package folder (``video/ ... _sink.py``), or by its file name alone
    when no other module of posekit has that name."""
    rel = MODULES[module].relative_to(PACKAGE).as_posix()
    if rel.endswith("/__init__.py"):
        return re.search(rf"(?<![\w/.]){re.escape(rel[: -len('__init__.py')])}", text) is not None
    if re.search(rf"(?<![\w/.]){re.escape(rel)}", text):
        return True
    folder, _, name = rel.rpartition("/")
    bare = re.compile(rf"(?<![\w/.]){re.escape(name)}")
    if sum(p.name == name for p in MODULES.values()) == 1 and bare.search(text):
        return True
    return bool(folder) and any(
        re.search(rf"(?<![\w/.]){re.escape(folder)}/", line) and bare.search(line)
        for line in text.splitlines()
    )


def test_every_module_is_named_in_architecture_md():
    text = ARCHITECTURE.read_text(encoding="utf-8")
    missing = [
        MODULES[m].relative_to(ROOT).as_posix() for m in MODULES if m != "posekit" and not _named(m, text)
    ]
    assert not missing, f"modules of posekit that ARCHITECTURE.md does not name: {missing}"


def test_every_module_architecture_md_names_exists():
    """The other direction: a module removed or renamed leaves no stale name on the page."""
    text = ARCHITECTURE.read_text(encoding="utf-8")
    names = {p.name for p in MODULES.values()} | {p.relative_to(PACKAGE).as_posix() for p in MODULES.values()}
    stale = sorted(
        token
        for token in set(re.findall(r"(?<![\w/.])([\w/]+\.py)\b", text))
        if token not in names and not (ROOT / token).is_file()
    )
    assert not stale, f"ARCHITECTURE.md names modules that posekit does not have: {stale}"


def test_the_layer_table_lists_every_top_level_module_and_package():
    layers = _layers()
    entries = {_entry(m) for m in MODULES} | {_entry(m) for m in COMPILED}
    assert not entries - set(layers), f"not in ARCHITECTURE.md's layer table: {sorted(entries - set(layers))}"
    assert not set(layers) - entries, (
        f"in the layer table but not in posekit: {sorted(set(layers) - entries)}"
    )


# --------------------------------------------------------------------------- the import rules


def test_imports_go_to_the_same_or_an_earlier_layer():
    layers = _layers()
    wrong = []
    for module, imports in IMPORTS.items():
        for target, name, line in imports:
            if target == "posekit" and name == "__version__":
                continue  # the version string, set before the package's own imports
            if _entry(target) == _entry(module):
                continue  # inside one module or package
            mine, theirs = layers.get(_entry(module)), layers.get(_entry(target))
            if mine is None or theirs is None:
                continue  # not in the table: test_the_layer_table_lists_every_top_level_module_and_package
            if theirs > mine:
                wrong.append(
                    f"{MODULES[module].relative_to(ROOT)}:{line} imports {target} (layer {theirs} > {mine})"
                )
    assert not wrong, "imports against ARCHITECTURE.md's layers:\n" + "\n".join(wrong)


def test_the_library_never_imports_the_cli():
    wrong = [
        f"{MODULES[m].relative_to(ROOT)}:{line}"
        for m, imports in IMPORTS.items()
        if not (m == "posekit.cli" or m.startswith("posekit.cli.") or m == "posekit.__main__")
        for target, _, line in imports
        if target == "posekit.cli" or target.startswith("posekit.cli.")
    ]
    assert not wrong, f"library modules importing posekit.cli: {wrong}"


def test_the_video_wing_never_imports_the_network_wing_or_the_estimator():
    wrong = [
        f"{MODULES[m].relative_to(ROOT)}:{line} imports {target}"
        for m, imports in IMPORTS.items()
        if m == "posekit.video" or m.startswith("posekit.video.")
        for target, _, line in imports
        if target in ("posekit.estimator", "posekit.network") or target.startswith("posekit.network.")
    ]
    assert not wrong, wrong


def test_no_import_cycle():
    """Between posekit's modules, counting every import (the version string aside)."""
    graph = {
        m: {
            t
            for t, name, _ in imports
            if t != m and t in MODULES and not (t == "posekit" and name == "__version__")
        }
        for m, imports in IMPORTS.items()
    }
    state: dict[str, int] = {}

    def visit(node, stack):
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                pytest.fail("import cycle: " + " -> ".join([*stack[stack.index(nxt) :], nxt]))
            if nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])


# --------------------------------------------------------------------------- one address, one job


def test_no_module_level_getattr():
    found = [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for path in MODULES.values()
        for node in ast.parse(path.read_text(encoding="utf-8")).body
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name == "__getattr__"
    ]
    assert not found, f"module-level __getattr__ (a redirect: one address per name): {found}"


def test_no_module_over_600_lines():
    long = {
        str(p.relative_to(ROOT)): n
        for p in MODULES.values()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, (
        f"modules over {MAX_LINES} lines (two jobs: split along the seam, move the callers): {long}"
    )


# --------------------------------------------------------------------------- benchmarks stand alone


def test_benchmarks_import_nothing_from_tests():
    """A benchmark runs without the test suite: no import of tests/ or conftest, no file of tests/ loaded
    by path (shared scenes live in posekit.synthetic)."""
    wrong = []
    for path in sorted((ROOT / "benchmarks").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            elif (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and (node.value == "tests" or re.search(r"(?<![\w.])tests/\w+\.py", node.value))
            ):
                wrong.append(f"{path.relative_to(ROOT)}:{node.lineno} names {node.value!r}")
            for name in names:
                if name.split(".")[0] in ("tests", "conftest") or name.split(".")[0].startswith("test_"):
                    wrong.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {name}")
    assert not wrong, wrong
