"""Fixtures for the SELinux policy tests: real compiles with the policy devel
Makefile and real links against the distribution's base policy."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import require_tool
from tooling.errors import ForkliftError
from tooling.selinux import DEVEL_MAKEFILE, SELINUX_DIR, build_policy
from tooling.selinux.link import find_policy_dir


def _skip_or_fail(reason: str) -> None:
    if os.environ.get("FORKLIFT_REQUIRE_TOOLS"):
        pytest.fail(reason)
    pytest.skip(reason)


def require_devel() -> None:
    require_tool("make", "m4", "checkmodule", "semodule_package")
    if not DEVEL_MAKEFILE.is_file():
        _skip_or_fail(f"needs the policy devel Makefile {DEVEL_MAKEFILE} (Debian: selinux-policy-dev)")


def require_base_policy() -> Path:
    require_devel()
    require_tool("semodule_link", "semodule_expand")
    try:
        return find_policy_dir()
    except ForkliftError as exc:
        _skip_or_fail(f"needs a base policy to link against (Debian: selinux-policy-default): {exc.message}")
        raise


@pytest.fixture(scope="session")
def built_module(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The repository's module, built once for the session."""
    require_devel()
    return build_policy(out_dir=tmp_path_factory.mktemp("selinux-build"))


Edit = Callable[[str], str]


@pytest.fixture
def variant(tmp_path: Path) -> Callable[..., Path]:
    """A copy of selinux/ with edits applied to its .te/.if/.fc text: variant(te=fn, fc=fn)."""

    def make(**edits: Edit) -> Path:
        src = tmp_path / "src"
        shutil.copytree(SELINUX_DIR, src)
        for suffix, edit in edits.items():
            path = src / f"moby_dm.{suffix}"
            path.write_text(edit(path.read_text(encoding="utf-8")), encoding="utf-8")
        return src

    return make


def insert_after(marker: str, text: str) -> Edit:
    """An edit that inserts ``text`` (one line) after the first line containing ``marker``."""

    def edit(source: str) -> str:
        lines = source.splitlines(keepends=True)
        for i, line in enumerate(lines):
            if marker in line:
                lines.insert(i + 1, text + "\n")
                return "".join(lines)
        raise AssertionError(f"marker {marker!r} not found")

    return edit


def line_of(path: Path, text: str) -> int:
    for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if text in line:
            return i
    raise AssertionError(f"{text!r} not in {path}")
