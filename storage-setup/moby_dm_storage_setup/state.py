"""The ownership record: what the tool created, kept in <STATE_DIR>/<name>.json.

Each thing the tool makes is a *claim* ``kind:identity``:

    loop:/var/lib/x/pool.img    the backing file it created
    pv:/dev/vdb                 a device it labelled as a physical volume
    vg:docker                   the volume group, when it created it
    lv:docker/thinpool          the thin pool (and the container root LV)
    file:/etc/lvm/profile/...   a file it wrote
    daemon-json:storage-opts    the engine options it set (``keys`` lists them)

A claim is written as ``pending`` *before* the step that makes it and turned
``done`` after, so a run killed between the two leaves a record of what may be
half-made; the next run checks it against the system. The VG and LVs also carry
the LVM tag ``moby-dm-storage-setup``, so ownership of those survives a lost
state file. Writes are atomic (temp file, fsync, rename).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from typing import Any

from moby_dm_storage_setup import PROG, STATE_DIR, SetupError

PENDING, DONE = "pending", "done"


@dataclass
class State:
    path: str
    claims: dict[str, str] = field(default_factory=dict)  # claim -> pending|done
    pending: str | None = None  # the step in progress when the run stopped
    info: dict[str, Any] = field(default_factory=dict)  # vg, pool, config, daemon-json keys, ...

    @property
    def empty(self) -> bool:
        return not self.claims and not self.pending

    def has(self, claim: str) -> bool:
        return claim in self.claims

    def of_kind(self, kind: str) -> list[str]:
        return sorted(c.split(":", 1)[1] for c in self.claims if c.startswith(kind + ":"))

    def half_made(self) -> list[str]:
        return sorted(c for c, s in self.claims.items() if s == PENDING)

    def to_json(self) -> str:
        data = {"tool": PROG, "version": 1, "claims": dict(sorted(self.claims.items())),
                "pending": self.pending, "info": self.info}
        return json.dumps(data, indent=2, sort_keys=True) + "\n"


def state_path(name: str, state_dir: str = STATE_DIR) -> str:
    return os.path.join(state_dir, f"{name}.json")


def parse(text: str, path: str) -> State:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SetupError(f"{path}: the state file is not valid JSON ({exc}); it records what {PROG} created. "
                         "Restore it, or move it away to make the tool treat everything as not its own") from None
    ok = (isinstance(data, dict) and data.get("version") == 1 and isinstance(data.get("claims"), dict)
          and all(isinstance(k, str) and v in (PENDING, DONE) for k, v in data["claims"].items())
          and isinstance(data.get("info", {}), dict) and isinstance(data.get("pending"), (str, type(None))))
    if not ok:
        raise SetupError(f"{path}: not a {PROG} state file (version 1); move it away to make the tool treat "
                         "everything as not its own")
    return State(path=path, claims=dict(data["claims"]), pending=data.get("pending"), info=dict(data.get("info", {})))


def load(path: str) -> State:
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except FileNotFoundError:
        return State(path=path)
    except OSError as exc:
        raise SetupError(f"{path}: cannot read the state file: {exc}") from None
    return parse(text, path)


def save(state: State) -> None:
    """Write atomically; an empty record removes the file (so a torn-down system leaves none)."""
    if state.empty:
        if os.path.exists(state.path):
            os.unlink(state.path)
        return
    atomic_write(state.path, state.to_json(), mode=0o600)


def atomic_write(path: str, text: str, mode: int = 0o644) -> None:
    directory = os.path.dirname(path) or "."
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
