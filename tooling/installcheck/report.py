"""The verdicts of the installability check as a table (rich)."""

from __future__ import annotations

from rich.markup import escape
from rich.table import Table

from tooling.installcheck import Verdict


def table(verdicts: list[Verdict]) -> Table:
    t = Table(title="dnf installability", title_justify="left")
    for col in ("target", "scenario", "result", "detail"):
        t.add_column(col, overflow="fold")
    for v in verdicts:
        t.add_row(v.target, v.scenario, "[green]ok[/]" if v.ok else "[bold red]FAIL[/]", escape(v.detail))
    return t
