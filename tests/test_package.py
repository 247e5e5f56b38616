"""The package's shape: imports go one way, the root is small.

- No import cycle among the library's modules (recipes aside, which are
  application code on top of it): a cycle makes the import order matter and
  hides a module that should be split or moved.
- The root module reads nothing of how Python was started and imports no
  module of the package at run time (its public names load on first use).
"""

import ast
import pathlib

import keras_rnnkit

PACKAGE = pathlib.Path(keras_rnnkit.__file__).parent


def _module_name(path):
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path, modules):
    """The package's modules that the module at `path` imports at run time
    (imports under `if TYPE_CHECKING:` are for static readers only)."""
    tree = ast.parse(path.read_text())
    skipped = {
        id(child)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
        for child in ast.walk(node)
    }
    found = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:  # `from pkg import module` or a name
                name = f"{node.module}.{alias.name}"
                found.add(name if name in modules else node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name in modules}


def test_the_library_has_no_import_cycle():
    paths = [p for p in PACKAGE.rglob("*.py") if "recipes" not in p.parts]
    modules = {_module_name(p): p for p in paths}
    graph = {name: _imports(path, modules) - {name} for name, path in modules.items()}
    assert graph["keras_rnnkit.tf1"]  # the record is not empty
    assert graph["keras_rnnkit"] == set()  # the root loads modules lazily
    cycles = []

    def visit(name, stack):
        if name in stack:
            cycles.append(stack[stack.index(name) :] + [name])
            return
        for imported in sorted(graph[name]):
            visit(imported, [*stack, name])

    for name in sorted(graph):
        visit(name, [])
    assert cycles == []


def test_the_root_does_not_read_how_python_was_started():
    tree = ast.parse((PACKAGE / "__init__.py").read_text())
    names = {
        node.attr for node in ast.walk(tree) if isinstance(node, ast.Attribute)
    } | {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
    assert not names & {"argv", "orig_argv", "environ", "getenv"}
