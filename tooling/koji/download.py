"""Task output from the hub: the tail of the log that explains a failure, and the RPMs and
logs of a successful build placed in Forklift's result layout (build/results/<target>/<package>/).
"""

from __future__ import annotations

import functools
import json
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tooling.errors import ForkliftError
from tooling.fsutil import atomic_write_text
from tooling.koji.session import Hub, describe
from tooling.koji.watch import TaskState, TaskTree
from tooling.run import tail

CHUNK = 1 << 20
TAIL_BYTES = 64 * 1024
# which log explains a failure, most telling first (mock's conventions)
LOG_ORDER = ("build.log", "root.log", "mock_output.log", "state.log")
ROOT_LOG_SIGNS = ("No matching package to install", "Child return code was: 30", "Error: Problem")


@dataclass(frozen=True)
class Failure:
    task: TaskState
    reason: str
    log_name: str | None
    log_tail: str

    def text(self, lines: int = 30) -> str:
        out = f"task {self.task.id} {self.task.label} FAILED: {self.reason}"
        if self.log_name:
            quoted = "\n".join("  | " + line for line in tail(self.log_tail, lines).splitlines())
            out += f"\n  last lines of {self.log_name}:\n{quoted}"
        return out


def output_sizes(hub: Hub, task_id: int) -> dict[str, int]:
    listing = hub.call("listTaskOutput", task_id, stat=True)
    return {name: int(st.get("st_size", 0)) for name, st in listing.items()}


def read_output(hub: Hub, task_id: int, name: str, *, offset: int = 0, size: int | None = None) -> bytes:
    """downloadTaskOutput in chunks (it cannot be part of a multicall)."""
    data = bytearray()
    while size is None or len(data) < size:
        want = CHUNK if size is None else min(CHUNK, size - len(data))
        fetch = functools.partial(hub.session.downloadTaskOutput, task_id, name, offset + len(data), want)
        chunk: bytes = hub.guard(fetch, f"downloadTaskOutput({task_id}, {name!r})")
        if not chunk:
            break
        data += chunk
    return bytes(data)


def pick_log(names: dict[str, int], texts: dict[str, str] | None = None) -> str | None:
    """The log to quote: root.log when it shows a buildroot problem, else the first of LOG_ORDER present."""
    texts = texts or {}
    if "root.log" in texts and any(sign in texts["root.log"] for sign in ROOT_LOG_SIGNS):
        return "root.log"
    return next((n for n in LOG_ORDER if n in names), None)


def task_error(hub: Hub, task_id: int) -> str:
    """The fault getTaskResult raises for a failed task, as one line."""
    try:
        hub.session.getTaskResult(task_id)
    except Exception as exc:
        return describe(exc)
    return "no error reported"


def explain_failures(hub: Hub, tree: TaskTree) -> list[Failure]:
    """For each failed leaf task: the hub's error and the tail of its most telling log."""
    failed = [t for t in tree.tasks.values() if t.state == "FAILED"]
    leaves = [t for t in failed if not any(k.state == "FAILED" for k in tree.children(t.id))]
    out = []
    for task in sorted(leaves, key=lambda t: t.id):
        sizes = output_sizes(hub, task.id)
        reason = task_error(hub, task.id)
        texts = {}
        if "root.log" in sizes:
            start = max(0, sizes["root.log"] - TAIL_BYTES)
            texts["root.log"] = read_output(hub, task.id, "root.log", offset=start).decode("utf-8", "replace")
        # the log the hub's error points at ("see checkout.log for details") when there is one
        named = next((n for n in re.findall(r"\bsee ([\w.-]+\.log)\b", reason) if n in sizes and n != "build.log"),
                     None)
        name = named or pick_log(sizes, texts)
        text = ""
        if name:
            text = texts.get(name) or read_output(
                hub, task.id, name, offset=max(0, sizes[name] - TAIL_BYTES)).decode("utf-8", "replace")
        out.append(Failure(task, reason, name, text))
    return out


def download_results(hub: Hub, tree: TaskTree, root: int, dest: Path, *, meta: dict[str, Any]) -> list[Path]:
    """Download RPMs and logs of every buildArch under ``root`` into ``dest`` (replaced as a whole).

    Files land in a temporary sibling directory first; it is swapped in only when
    everything arrived, so ``dest`` never holds a half-downloaded build.
    """
    arch_tasks = [t for t in tree.descendants(root) if t.method == "buildArch" and t.state == "CLOSED"]
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".koji", dir=dest.parent))
    staging.chmod(0o755)  # mkdtemp makes 0700; results are for everyone to read, like local builds'
    try:
        files = []
        for task in arch_tasks:
            for name, size in sorted(output_sizes(hub, task.id).items()):
                if not (name.endswith(".rpm") or name.endswith(".log")):
                    continue
                data = read_output(hub, task.id, name)
                if len(data) != size:
                    raise ForkliftError(f"koji task {task.id}: downloaded {name} has {len(data)} bytes, "
                                        f"the hub listed {size}", hint="run koji-build again; nothing was replaced")
                local = name if name.endswith(".rpm") or len(arch_tasks) == 1 else f"{task.id}-{name}"
                (staging / local).write_bytes(data)
                (staging / local).chmod(0o644)
                files.append(local)
        atomic_write_text(staging / "result.json", json.dumps(
            meta | {"builder": "koji", "files": sorted(files),
                    "tasks": [{"id": t.id, "method": t.method, "state": t.state, "host": t.host}
                              for t in [tree.tasks[root], *tree.descendants(root)]]},
            indent=2, sort_keys=True) + "\n")
        old = dest.with_name(f".{dest.name}.old")
        if old.exists():
            shutil.rmtree(old)
        if dest.exists():
            dest.rename(old)
        staging.rename(dest)
        if old.exists():
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return sorted(dest.glob("*.rpm"))
