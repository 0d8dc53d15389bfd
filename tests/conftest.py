"""Shared test helpers. Each area keeps its own fixtures in tests/<area>/conftest.py."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tooling import REPO_ROOT

SPECS = REPO_ROOT / "specs"

# The venv's bin first, as the rpmbuild builder does (tooling/builds/builders/rpmbuild.py): the Go
# toolchain from PyPI lives there, and ci/test.sh runs .venv/bin/pytest without activating the venv
_VENV_BIN = str(Path(sys.prefix) / "bin")
if _VENV_BIN not in os.environ.get("PATH", "").split(os.pathsep):
    os.environ["PATH"] = os.pathsep.join([_VENV_BIN, os.environ.get("PATH", "")])


def require_tool(*names: str) -> None:
    """Skip the calling test, with a reason, when a tool is not on PATH."""
    missing = [n for n in names if shutil.which(n) is None]
    if missing:
        reason = f"needs {', '.join(missing)} on PATH (install with: bash ci/setup.sh --test)"
        if os.environ.get("FORKLIFT_REQUIRE_TOOLS"):
            # CI sets this: there every tool the suite drives must be installed
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.fixture
def spec_tree(tmp_path: Path) -> Path:
    """A private copy of specs/ (links resolved) that a test may break at will."""
    dest = tmp_path / "specs"
    shutil.copytree(SPECS, dest, symlinks=False)
    return dest


@pytest.fixture(autouse=True, scope="session")
def _tmpfs_trees_of_test_builds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Builds in tests keep their trees on tmpfs like any other (tooling/builds/scratch.py); the trees of
    the builds that failed on purpose would stay in memory: remove those whose build directory is a test's."""
    yield
    from tooling.builds import scratch

    base = tmp_path_factory.getbasetemp().resolve()
    for d in (scratch.TMPFS / f"forklift-{os.getuid()}").glob("*"):
        owner = scratch.owner(d)
        if owner is not None and owner.is_relative_to(base):
            shutil.rmtree(d, ignore_errors=True)
