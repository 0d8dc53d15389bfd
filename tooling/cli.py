"""Glue for tasks.py: error handling and the shared console. No logic here."""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from invoke.exceptions import Exit
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tooling import REPO_ROOT
from tooling.errors import ForkliftError, os_error
from tooling.model import Matrix
from tooling.redact import RedactingStream, redact

F = TypeVar("F", bound=Callable[..., Any])

BUILD_DIR = REPO_ROOT / "build"
# Output is read in terminals and in CI logs: no emoji codes (":100:" in a path:line stays text), no
# wrapped lines, and tables 200 columns wide when not on a terminal (rich's 80 cut names to "fedo…")
_WIDTH = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 200
console = Console(stderr=False, highlight=False, emoji=False, soft_wrap=True, width=_WIDTH)
err_console = Console(stderr=True, highlight=False, emoji=False, soft_wrap=True, width=_WIDTH)


@contextlib.contextmanager
def redacted_output() -> Iterator[None]:
    """Route everything written to stdout and stderr (print, the rich consoles, warnings,
    progress) through tooling.redact while a task runs."""
    saved = sys.stdout, sys.stderr
    if isinstance(sys.stdout, RedactingStream):  # nested: already redacted
        yield
        return
    sys.stdout = RedactingStream(lambda: saved[0])
    sys.stderr = RedactingStream(lambda: saved[1])
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


def print_error(message: str) -> None:
    err_console.print(f"[bold red]error:[/] {escape(redact(message))}", markup=True, highlight=False, soft_wrap=True)


def user_errors(func: F) -> F:
    """Turn a ForkliftError (or an operating-system error: full disk, permissions) into a message on
    stderr and exit code 1, no traceback; every output of the task goes through tooling.redact."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with redacted_output():
            try:
                return func(*args, **kwargs)
            except ForkliftError as exc:
                print_error(str(exc))
                code = getattr(exc, "exit_code", 1)
                raise Exit(code=code) from None
            except Exit:
                raise
            except KeyboardInterrupt:
                err_console.print("interrupted")
                raise Exit(code=130) from None
            except OSError as exc:
                if os.environ.get("FORKLIFT_DEBUG"):
                    raise
                print_error(str(os_error(exc)))
                raise Exit(code=1) from None
            except Exception:
                # a bug: keep its traceback, but redacted like every other output
                sys.stderr.write(redact(traceback.format_exc()))
                raise Exit(code=1) from None

    return wrapper  # type: ignore[return-value]


def targets_table(matrix: Matrix) -> Table:
    table = Table(title="Forklift targets", title_justify="left")
    for col in ("target", "family", "version", "arches", "mock chroot", "koji target", "dist", "eol", "features",
                "packages built"):
        table.add_column(col, overflow="fold")  # a narrow column wraps a name, never cuts it
    for t in matrix.targets.values():
        name = t.name + (" (default)" if t.name == matrix.default_target else "")
        feats = "\n".join(f for f, on in t.features.items() if on)  # one a line: nothing to cut
        built = "\n".join(p.name for p in matrix.packages.values() if p.enabled_for(t))
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


def ci_matrix_for(matrix: Matrix, arch: str | None) -> list[dict[str, str]]:
    """The CI matrix, only ``arch`` when given; an arch no target builds is an error, not an empty list."""
    entries = ci_matrix(matrix)
    if arch is None:
        return entries
    known = sorted({e["arch"] for e in entries})
    if arch not in known:
        raise ForkliftError(f"--arch {arch}: no target in {matrix.root / 'targets.toml'} builds for it",
                            hint=f"known architectures: {', '.join(known)}")
    return [e for e in entries if e["arch"] == arch]


def parse_jobs(value: str | int) -> int:
    """--jobs: a whole number >= 1 (invoke hands the option over as a string)."""
    try:
        jobs = int(str(value).strip())
    except ValueError:
        raise ForkliftError(f"--jobs {value}: not a whole number", hint="e.g. --jobs 2") from None
    if jobs < 1:
        raise ForkliftError(f"--jobs {value}: must be at least 1", hint="e.g. --jobs 2")
    return jobs


def check_build_options(builder: str, mock_config_dir: str | None) -> None:
    """Options that contradict each other are rejected, not ignored."""
    if mock_config_dir and builder not in ("auto", "mock"):
        raise ForkliftError(f"--mock-config-dir {mock_config_dir} applies to mock only, not to --builder {builder}",
                            hint="drop --mock-config-dir, or use --builder mock")
