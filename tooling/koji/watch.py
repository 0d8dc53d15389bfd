"""Watch koji tasks and their children until they finish, with live progress (rich).

Each poll asks for every known task and its children in one multiCall
(getTaskInfo + getTaskChildren), resolves host names once (getHost), prints a
line for every state change and keeps a live table on a terminal.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import koji
from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from tooling.koji.session import Hub

TERMINAL = ("CLOSED", "FAILED", "CANCELED")
STYLE = {"FREE": "dim", "OPEN": "cyan", "ASSIGNED": "cyan", "CLOSED": "green", "FAILED": "bold red",
         "CANCELED": "yellow"}


@dataclass(frozen=True)
class TaskState:
    id: int
    parent: int | None
    method: str
    label: str
    state: str
    host: str | None

    @property
    def done(self) -> bool:
        return self.state in TERMINAL


def task_state(info: dict[str, Any], host: str | None) -> TaskState:
    """A TaskState from a getTaskInfo(request=True) struct."""
    try:
        label = koji.taskLabel(info)
    except Exception:  # taskLabel knows only the methods it knows
        label = f"{info['method']} ({info.get('arch')})"
    return TaskState(int(info["id"]), info.get("parent"), str(info["method"]), label,
                     koji.TASK_STATES[info["state"]], host)


class TaskTree:
    """The last known state of some root tasks and all their descendants."""

    def __init__(self, roots: Iterable[int]) -> None:
        self.roots = list(roots)
        self.tasks: dict[int, TaskState] = {}
        self.expanded: set[int] = set()  # finished tasks whose children were listed after they finished

    def children(self, task_id: int) -> list[TaskState]:
        return sorted((t for t in self.tasks.values() if t.parent == task_id), key=lambda t: t.id)

    def descendants(self, task_id: int) -> list[TaskState]:
        out = []
        for kid in self.children(task_id):
            out.append(kid)
            out.extend(self.descendants(kid.id))
        return out

    @property
    def done(self) -> bool:
        return all(r in self.tasks and self.tasks[r].done for r in self.roots)

    def table(self, title: str = "koji tasks") -> Table:
        table = Table(title=title, title_justify="left")
        for col in ("task", "method", "state", "host"):
            table.add_column(col)

        def add(t: TaskState, depth: int) -> None:
            table.add_row("  " * depth + str(t.id), escape(t.label), f"[{STYLE.get(t.state, '')}]{t.state}[/]", t.host or "-")
            for kid in self.children(t.id):
                add(kid, depth + 1)

        for r in self.roots:
            if r in self.tasks:
                add(self.tasks[r], 0)
        return table


class Watcher:
    def __init__(self, hub: Hub, console: Console, *, poll_interval: float,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.hub = hub
        self.console = console
        self.poll_interval = poll_interval
        self.sleep = sleep
        self._hosts: dict[int, str] = {}

    def _host(self, host_id: int | None) -> str | None:
        if host_id is None:
            return None
        if host_id not in self._hosts:
            info = self.hub.call("getHost", host_id)
            self._hosts[host_id] = info["name"] if info else f"host {host_id}"
        return self._hosts[host_id]

    def refresh(self, tree: TaskTree) -> list[TaskState]:
        """Fetch every task of ``tree``; return the tasks whose state or host changed."""
        ids = sorted(set(tree.roots) | {t.id for t in tree.tasks.values() if not t.done or t.id not in tree.expanded})

        def fetch() -> list[Any]:
            with self.hub.session.multicall(strict=True) as m:
                calls = [(m.getTaskInfo(i, request=True), m.getTaskChildren(i, request=True)) for i in ids]
            return [(info.result, kids.result) for info, kids in calls]

        results = self.hub.guard(fetch, f"getTaskInfo/getTaskChildren({ids})")
        infos: dict[int, dict[str, Any]] = {}
        for info, kids in results:
            if info:
                infos[int(info["id"])] = info
            for kid in kids:
                infos[int(kid["id"])] = kid
        tree.expanded |= {int(info["id"]) for info, _ in results if info and koji.TASK_STATES[info["state"]] in TERMINAL}
        changed = []
        for task_id, info in sorted(infos.items()):
            new = task_state(info, self._host(info.get("host_id")))
            if tree.tasks.get(task_id) != new:
                changed.append(new)
            tree.tasks[task_id] = new
        return changed

    def report(self, changes: list[TaskState]) -> None:
        for t in changes:
            where = f" on {t.host}" if t.host else ""
            self.console.print(f"task {t.id} {escape(t.label)}: [{STYLE.get(t.state, '')}]{t.state}[/]{where}")

    def watch(self, roots: Iterable[int]) -> TaskTree:
        """Poll until every root task is CLOSED, FAILED or CANCELED; return the final tree."""
        tree = TaskTree(roots)
        with Live(tree.table(), console=self.console, transient=True, auto_refresh=False,
                  redirect_stdout=False, redirect_stderr=False) as live:
            while True:
                changes = self.refresh(tree)
                self.report(changes)
                live.update(tree.table(), refresh=True)
                if tree.done:
                    break
                self.sleep(self.poll_interval)
        # one more round: children may close just after their parent
        self.report(self.refresh(tree))
        return tree
