"""Fixtures for the package specs (engine, CLI, containerd):
render each for a target and query it with the real rpmspec."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import require_tool
from tooling import REPO_ROOT, lint, model, render

PACKAGES = ("moby-engine-dm", "docker-cli", "containerd")
GO_PACKAGES = ("moby-engine-dm", "docker-cli", "containerd")
UPSTREAM_CACHE = REPO_ROOT / ".cache" / "upstream"
MATRIX = model.load()
TARGETS = tuple(MATRIX.targets)


def rpmspec(args: list[str], spec: Path, target: model.Target, *extra: str) -> str:
    """rpmspec with the target's macros (and the host-compat macros where rpm lacks Fedora's)."""
    require_tool("rpmspec")
    argv = ["rpmspec", *args, *lint.macro_load_args(MATRIX.root), *target.macro_args(), *extra, str(spec)]
    res = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert res.returncode == 0, f"{' '.join(argv)}\n{res.stderr}"
    return res.stdout


class Rendered:
    """One package rendered for one target, written to disk for rpm's tools."""

    def __init__(self, target: model.Target, package: model.Package, path: Path) -> None:
        self.target = target
        self.package = package
        self.path = path
        self.text = path.read_text()

    def query(self, what: str) -> list[str]:
        """``rpmspec -q --<what>`` of the main package: requires, provides, conflicts, buildrequires."""
        out = rpmspec(["-q", f"--{what}"], self.path, self.target)
        return [line.strip() for line in out.splitlines() if line.strip()]

    def expanded(self) -> str:
        return rpmspec(["-P"], self.path, self.target)

    def section(self, name: str, *, expanded: bool = False) -> str:
        """The body of %<name>, up to the next section, in the rendered spec or in rpm's
        expansion of it (not for %build: rpm 4.18's ``rpmspec -P`` drops that header)."""
        text = self.expanded() if expanded else self.text
        sections = "prep|build|install|check|pre|post|preun|postun|files|changelog"
        m = re.search(rf"^%{name}(?:[ \t]+-[^\n]*)?[ \t]*\n(.*?)(?=^%(?:{sections})\b)", text, re.M | re.S)
        assert m, f"no %{name} in {self.path}"
        return m.group(1)

    def global_macro(self, name: str) -> str:
        """The value rpm gives a %global of the spec, under the target's macros."""
        m = re.search(rf"^%global {name} (.*)$", self.text, re.M)
        assert m, f"no %global {name} in {self.path}"
        return m.group(1)


@pytest.fixture(scope="session")
def render_pkg(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str, str], Rendered]:
    out = tmp_path_factory.mktemp("pkgspecs")
    cache: dict[tuple[str, str], Rendered] = {}

    def get(package: str, target: str) -> Rendered:
        key = (package, target)
        if key not in cache:
            t, p = MATRIX.targets[target], MATRIX.packages[package]
            path = out / target / f"{package}.spec"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(render.render_spec(MATRIX, t, p))
            cache[key] = Rendered(t, p, path)
        return cache[key]

    return get
