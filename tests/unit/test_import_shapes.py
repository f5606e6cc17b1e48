"""Import shapes: pyrkt.linux.cgroups is a facade that imports nothing over submodules without a
circle; oci/control, lifecycle and quick do not import their way back to operations.

The facade's `__getattr__` loads each name from its submodule on first use; the
submodules import `base` (the shared leaf) and each other, never the facade,
and no chain of imports (lazy ones inside functions included) comes back to
where it started.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys

import pyrkt.linux.cgroups as cgroups

PKG = os.path.dirname(cgroups.__file__)
PREFIX = "pyrkt.linux.cgroups"


def _imports(module: str) -> set[str]:
    """Modules of the package that `module` imports anywhere in its body (TYPE_CHECKING blocks excluded)."""
    with open(os.path.join(PKG, module + ".py")) as f:
        tree = ast.parse(f.read())
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            return
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(PREFIX):
            rest = node.module[len(PREFIX):].lstrip(".")
            if rest:
                found.add(rest)
            else:  # `from pyrkt.linux.cgroups import x`: the facade, or a submodule by name
                found.update(a.name if os.path.exists(os.path.join(PKG, a.name + ".py")) else "__init__" for a in node.names)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def _modules() -> list[str]:
    return sorted(n[:-3] for n in os.listdir(PKG) if n.endswith(".py"))


def test_no_submodule_imports_the_facade_and_base_is_a_leaf() -> None:
    graph = {m: _imports(m) for m in _modules() if m != "__init__"}
    assert graph["base"] == set()
    for module, deps in graph.items():
        assert "__init__" not in deps, f"{module} imports the package facade"


def test_no_import_circle() -> None:
    graph = {m: _imports(m) for m in _modules() if m != "__init__"}
    assert graph["plan"] >= {"base", "manager"}  # the walk sees real edges

    def reach(start: str, node: str, seen: set[str]) -> bool:
        for dep in graph.get(node, ()):
            if dep == start:
                return True
            if dep not in seen:
                seen.add(dep)
                if reach(start, dep, seen):
                    return True
        return False

    circles = [m for m in graph if reach(m, m, set())]
    assert circles == [], f"import circle through {circles}"


def test_the_facade_loads_nothing_until_a_name_is_used() -> None:
    code = (
        "import sys, pyrkt.linux.cgroups as c\n"
        "before = sorted(m for m in sys.modules if m.startswith('pyrkt.linux.cgroups.'))\n"
        "c.CgroupManager\n"
        "after = sorted(m for m in sys.modules if m.startswith('pyrkt.linux.cgroups.'))\n"
        "print(before, after)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == "[] ['pyrkt.linux.cgroups.base', 'pyrkt.linux.cgroups.manager']"


def test_every_public_name_resolves() -> None:
    for name in cgroups.__all__:
        assert getattr(cgroups, name) is not None
    assert cgroups._SUBMODULES == set(_modules()) - {"__init__"}  # each is imported, not looked up
    assert cgroups.CgroupError is __import__(f"{PREFIX}.base", fromlist=["x"]).CgroupError


def _oci_imports(module: str) -> set[str]:
    import pyrkt.oci

    with open(os.path.join(os.path.dirname(pyrkt.oci.__file__), module + ".py")) as f:
        tree = ast.parse(f.read())
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            if node.module == "pyrkt.oci":
                out.update(a.name for a in node.names)
            elif node.module.startswith("pyrkt.oci."):
                out.add(node.module.split(".")[2])
        elif isinstance(node, ast.Import):
            out.update(a.name.split(".")[2] for a in node.names if a.name.startswith("pyrkt.oci."))
    return out


def test_control_and_lifecycle_do_not_come_back_to_operations() -> None:
    # operations re-exports control's verbs (lazily); control checks statuses with lifecycle
    assert "lifecycle" in _oci_imports("control")
    assert "operations" not in _oci_imports("control")
    assert _oci_imports("lifecycle") == {"errors", "statuses"}
    assert _oci_imports("statuses") == set()


def test_quick_stays_on_builtins_and_leaves() -> None:
    assert _oci_imports("quick") <= {"procstat", "statuses", "errors"}
