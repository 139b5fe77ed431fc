"""What ``pip install .`` installs is enough to run the package: every third-party module that a
module of ``logistics`` imports when it loads comes from a declared dependency, or from one of
theirs. A dependency declared only for development (the test tools) would pass every test here,
where the dev extra is installed, and fail on a server or in the image."""

from __future__ import annotations

import ast
import importlib.metadata as metadata
import sys
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

PACKAGE = Path(__file__).resolve().parents[1] / "logistics"


def installed_by(distribution: str, extras: frozenset[str] = frozenset()) -> set[str]:
    """``distribution`` and everything its requirements (with ``extras``) pull in, by name."""
    seen: set[str] = set()
    todo = [(distribution, extras)]
    while todo:
        name, wanted = todo.pop()
        key = canonicalize_name(name)
        if key in seen and not wanted:
            continue
        seen.add(key)
        for line in metadata.requires(name) or []:
            requirement = Requirement(line)
            environments = [{"extra": extra} for extra in wanted] or [{"extra": ""}]
            if requirement.marker is None or any(requirement.marker.evaluate(env) for env in environments):
                todo.append((requirement.name, frozenset(requirement.extras)))
    return seen


def imported_at_load() -> dict[str, set[str]]:
    """Top-level names of the third-party modules imported by module bodies (an import inside a
    function is an optional extra's, loaded only when asked for), with who imports them."""
    found: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        for node in ast.parse(path.read_text()).body:
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top not in sys.stdlib_module_names and top != "logistics":
                    found.setdefault(top, set()).add(str(path.relative_to(PACKAGE.parent)))
    return found


def test_every_module_the_package_loads_is_installed_with_it() -> None:
    installed = installed_by("logistics")
    providers = metadata.packages_distributions()
    missing = {
        module: sorted(importers)
        for module, importers in imported_at_load().items()
        if not any(canonicalize_name(dist) in installed for dist in providers.get(module, []))
    }
    assert missing == {}, f"imported at load but not installed by `pip install .`: {missing}"
