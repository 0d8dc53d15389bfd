"""What a build run did: records per (target, package), the summary table,
the JSON report for CI pipelines, and the live progress display."""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from tooling.builds.builders import last_state
from tooling.errors import os_error
from tooling.fsutil import atomic_write_text
from tooling.redact import redact_obj

# exit codes of `invoke build`
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_PARTIAL = 3  # nothing failed, but packages were skipped for missing sources


@dataclass
class Record:
    target: str
    package: str
    nvr: str = ""
    status: str = "pending"  # built | cached | failed | skipped | missing-sources | interrupted
    seconds: float = 0.0
    message: str = ""
    rpms: list[str] = field(default_factory=list)
    resultdir: str = ""


@dataclass
class BuildReport:
    builder: str
    builder_reason: str
    jobs: int
    records: list[Record] = field(default_factory=list)
    missing_sources: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    dry_run: bool = False

    @property
    def exit_code(self) -> int:
        if any(r.status in ("failed", "interrupted") for r in self.records):
            return EXIT_FAILED
        if any(r.status in ("missing-sources", "skipped") for r in self.records):
            return EXIT_PARTIAL
        return EXIT_OK

    def to_json(self) -> dict[str, Any]:
        return {
            "builder": self.builder, "builder_reason": self.builder_reason, "jobs": self.jobs,
            "seconds": round(self.seconds, 3), "exit_code": self.exit_code, "dry_run": self.dry_run,
            "builds": [asdict(r) for r in self.records], "missing_sources": self.missing_sources,
        }

    def write_json(self, path: Path) -> None:
        """Write the report (every string redacted: no credential from a mirror URL or a log reaches it)."""
        try:
            atomic_write_text(path, json.dumps(redact_obj(self.to_json()), indent=2) + "\n")
        except OSError as exc:
            raise os_error(exc, f"--json {path}:") from None

    def table(self) -> Table:
        table = Table(title=f"build summary ({self.builder}, {self.seconds:.1f} s)", title_justify="left")
        for col in ("target", "package", "NVR", "status", "time", "RPMs"):
            table.add_column(col)
        styles = {"built": "green", "cached": "cyan", "failed": "red", "interrupted": "red"}
        for r in self.records:
            style = styles.get(r.status, "yellow")
            table.add_row(r.target, r.package, r.nvr, f"[{style}]{r.status}[/]", f"{r.seconds:.1f} s",
                          str(len(r.rpms)))
        return table


class Progress:
    """One line per running build with its elapsed time and mock's state (state.log)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.running: dict[tuple[str, str], tuple[float, Path]] = {}
        self.live: Any = None

    def __enter__(self) -> Progress:
        if self.console.is_terminal:
            from rich.live import Live

            self.live = Live(self._render(), console=self.console, refresh_per_second=2, transient=True)
            self.live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.live is not None:
            self.live.__exit__(None, None, None)

    def started(self, target: str, package: str, resultdir: Path) -> None:
        self.running[(target, package)] = (time.monotonic(), resultdir)
        if self.live is None:
            self.console.print(f"building {package} for {target} ...", highlight=False)
        self.refresh()

    def finished(self, record: Record) -> None:
        self.running.pop((record.target, record.package), None)
        self.console.print(f"{record.status}: {record.package} for {record.target} "
                           f"({record.nvr}, {record.seconds:.1f} s)", highlight=False, markup=False)
        if record.status == "failed":
            self.console.print(record.message, highlight=False, markup=False)
        self.refresh()

    def refresh(self) -> None:
        if self.live is not None:
            self.live.update(self._render())

    def _render(self) -> Table:
        table = Table(show_header=True, box=None)
        for col in ("running", "elapsed", "state"):
            table.add_column(col)
        now = time.monotonic()
        for (target, package), (start, resultdir) in sorted(self.running.items()):
            table.add_row(f"{target}/{package}", f"{now - start:.0f} s", last_state(resultdir))
        return table
