"""The storage tool (storage-setup/moby_dm_storage_setup) imported from the source tree."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from tooling import REPO_ROOT

TREE = REPO_ROOT / "storage-setup"
COMMAND = TREE / "moby-dm-storage-setup"
if str(TREE) not in sys.path:
    sys.path.insert(0, str(TREE))

from moby_dm_storage_setup.probe import DeviceState, LvInfo, SystemState  # noqa: E402
from moby_dm_storage_setup.state import State  # noqa: E402

TAG = "moby-dm-storage-setup"


def dev(path: str = "/dev/vdb", **kw: Any) -> DeviceState:
    base: dict[str, Any] = dict(path=path, real=path, exists=True, is_block=True, signatures=(), pv_vg=None,
                                size=10 << 30)
    base.update(kw)
    return DeviceState(**base)


def pool(name: str = "thinpool", *, ours: bool = True, **kw: Any) -> LvInfo:
    base: dict[str, Any] = dict(name=name, attr="twi-a-tz--", segtype="thin-pool", tags=(TAG,) if ours else (),
                                size=4 << 30, profile="docker-thinpool")
    base.update(kw)
    return LvInfo(**base)


def system(**kw: Any) -> SystemState:
    return SystemState(**kw)


def record(tmp: Path | None = None, claims: dict[str, str] | None = None, **info: Any) -> State:
    return State(path=str((tmp or Path("/nonexistent")) / "default.json"), claims=dict(claims or {}), info=dict(info))
