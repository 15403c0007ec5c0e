"""The layers hold: the engine never imports QGIS, the QGIS side uses the engine's public
surface only, and the engine's modules import each other without a cycle."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: what algorithms/, provider/ and the plugin may import of the engine
PUBLIC = {"engine"}
#: packages whose __init__ re-exports their modules (not a cycle of the layering)
PACKAGES = {"engine", "engine.vector", "engine.ops.filters"}


def _imports(path, top_level_only=False):
    """(module imported, relative level) of every import in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    nodes = tree.body if top_level_only else ast.walk(tree)
    for node in nodes:
        if isinstance(node, ast.ImportFrom):
            yield node.module or "", node.level, [a.name for a in node.names]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, 0, []


def test_the_engine_never_imports_qgis():
    found = [(str(p.relative_to(ROOT)), m) for p in (ROOT / "engine").rglob("*.py")
             for m, level, _ in _imports(p)
             if level == 0 and m.split(".")[0] in ("qgis", "processing", "PyQt5")]
    assert not found


def test_the_engine_tests_never_import_qgis_nor_run_it():
    """tests/engine/ holds the tests that run without QGIS; those that need it (imported, or
    qgis_process, or the desktop) are in tests/qgis/."""
    qgis_names = {"start_qgis", "QGIS_PROCESS", "qgis_process_env", "make_qgis_profile"}
    found = []
    for path in sorted((ROOT / "tests" / "engine").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        found += [(path.name, m) for m, level, _ in _imports(path)
                  if level == 0 and m.split(".")[0] in ("qgis", "processing", "PyQt5")]
        found += [(path.name, node.attr) for node in ast.walk(tree)
                  if isinstance(node, ast.Attribute) and node.attr in qgis_names]
    assert not found


def test_the_qgis_side_uses_only_the_engine_s_public_surface():
    files = [*(ROOT / "algorithms").glob("*.py"), *(ROOT / "provider").glob("*.py"),
             ROOT / "plugin.py", ROOT / "deps.py"]
    private = []
    for path in files:
        if not path.exists():
            continue
        for module, level, names in _imports(path):
            if level == 2 and module.split(".")[0] == "engine" and module not in PUBLIC:
                private.append((path.name, module))
            if level == 2 and module == "" and any(n == "engine" for n in names):
                continue
    assert not private, private


def _module_name(path):
    return ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")


def _resolve(package, module, level):
    parts = package.split(".")
    base = parts[:len(parts) - level] if level else []
    return ".".join(base + ([module] if module else []))


def test_the_engine_has_no_import_cycle():
    graph = {}
    for path in (ROOT / "engine").rglob("*.py"):
        name = _module_name(path)
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        deps = set()
        for module, level, names in _imports(path):  # lazy imports inside functions too
            if not level:
                continue
            target = _resolve(package + ".x", module, level)  # relative to the package
            for candidate in [target] + [f"{target}.{n}" for n in names]:
                if (ROOT / (candidate.replace(".", "/") + ".py")).exists() or \
                        (ROOT / candidate.replace(".", "/") / "__init__.py").exists():
                    deps.add(candidate)
        graph[name] = deps - {name}
    # a package's __init__ importing its own modules is not a cycle of the layering
    cycles = []

    def visit(node, stack, seen):
        for dep in graph.get(node, ()):
            if dep in stack:
                cycle = stack[stack.index(dep):] + [dep]
                if not any(c.endswith("__init__") for c in cycle) and \
                        not all(n == cycle[0].split(".")[0] for n in cycle):
                    cycles.append(cycle)
                continue
            if dep not in seen:
                seen.add(dep)
                visit(dep, stack + [dep], seen)

    for start in graph:
        if start in PACKAGES:
            continue  # packages re-export their modules
        visit(start, [start], {start})
    real = [c for c in cycles if not (PACKAGES & set(c))]
    assert not real, real[:5]


def test_the_design_names_every_engine_module():
    """docs/design.md's table of the parts covers every module of engine/."""
    design = (ROOT / "docs" / "design.md").read_text(encoding="utf-8")
    table = design[design.index("## The parts"):design.index("## A streamed run")]
    missing = []
    for path in sorted((ROOT / "engine").rglob("*.py")):
        if path.name == "__init__.py" and path.parent != ROOT / "engine":
            continue
        rel = path.relative_to(ROOT / "engine")
        # a row may list siblings after the first: `execution/pool.py`, `worker.py`
        if f"`{rel.as_posix()}`" not in table and f"`{path.name}`" not in table:
            missing.append(rel.as_posix())
    assert not missing, missing
