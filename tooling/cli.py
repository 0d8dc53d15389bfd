"""Glue for tasks.py: error handling and the shared console. No logic here."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from invoke.exceptions import Exit
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tooling import REPO_ROOT
from tooling.errors import ForkliftError
from tooling.model import Matrix

F = TypeVar("F", bound=Callable[..., Any])

BUILD_DIR = REPO_ROOT / "build"
console = Console(stderr=False, highlight=False)
err_console = Console(stderr=True, highlight=False)


def user_errors(func: F) -> F:
    """Turn a ForkliftError into a message on stderr and exit code 1, no traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ForkliftError as exc:
            err_console.print(f"[bold red]error:[/] {escape(str(exc))}", markup=True, highlight=False, soft_wrap=True)
            code = getattr(exc, "exit_code", 1)
            raise Exit(code=code) from None
        except KeyboardInterrupt:
            err_console.print("interrupted")
            raise Exit(code=130) from None

    return wrapper  # type: ignore[return-value]


def targets_table(matrix: Matrix) -> Table:
    table = Table(title="Forklift targets", title_justify="left")
    for col in ("target", "family", "version", "arches", "mock chroot", "koji target", "dist", "eol", "features",
                "packages built"):
        table.add_column(col)
    for t in matrix.targets.values():
        name = t.name + (" (default)" if t.name == matrix.default_target else "")
        feats = " ".join(f for f, on in t.features.items() if on)
        built = " ".join(p.name for p in matrix.packages.values() if p.enabled_for(t))
        table.add_row(name, t.family, t.label, ",".join(t.arches), t.mock_chroot(), t.koji_target, t.dist,
                      str(t.eol or "-"), feats, built)
    return table


def resolve_build_dir(value: str | None) -> Path:
    return Path(value).resolve() if value else BUILD_DIR


def resolve_mock_config_dir(value: str | None) -> Path | None:
    """mock's --configdir from the option, else $FORKLIFT_MOCK_CONFIG_DIR, else None (mock's /etc/mock)."""
    chosen = value or os.environ.get("FORKLIFT_MOCK_CONFIG_DIR")
    if not chosen:
        return None
    path = Path(chosen).resolve()
    if not path.is_dir():
        source = "--mock-config-dir" if value else "$FORKLIFT_MOCK_CONFIG_DIR"
        raise ForkliftError(f"{source} {chosen}: no such directory",
                            hint="point it at a directory laid out like /etc/mock (site-defaults.cfg, chroot configs)")
    return path


def exit_with(code: int) -> None:
    if code:
        sys.stdout.flush()
        raise Exit(code=code)


def ci_matrix(matrix: Matrix) -> list[dict[str, str]]:
    """The CI matrix, one entry per (target, arch), from specs/targets.toml."""
    return [
        {"target": t.name, "arch": arch, "mock_chroot": t.mock_chroot(arch), "container": t.images.container}
        for t in matrix.targets.values()
        for arch in t.arches
    ]
