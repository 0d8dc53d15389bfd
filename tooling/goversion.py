"""Go module versions (semantic versions, pseudo-versions) as RPM versions, for the
``bundled(golang(...))`` Provides of the Go packages.

A semver pre-release sorts before its release; in RPM only ``~`` does that, so ``v1.1.0-rc3`` becomes
``1.1.0~rc3`` (``1.1.0.rc3`` would sort after 1.1.0). Pseudo-versions are pre-releases too:
``v0.0.0-20230811130428-ced1acdcaa24`` becomes ``0.0.0~20230811130428.ced1acdcaa24``, and
``v0.9.1-0.20221107090550-2e043c6bd626`` (a commit after v0.9.0) ``0.9.1~0.20221107090550.2e043c6bd626``.
Build metadata stays after ``+`` (``2.8.2+incompatible``). Dashes left inside a part become dots.
"""

from __future__ import annotations

import re

_SEMVER = re.compile(
    r"^v?(?P<core>\d+(?:\.\d+)*)(?:-(?P<pre>[0-9A-Za-z.-]+))?(?:\+(?P<build>[0-9A-Za-z.-]+))?$")


def rpm_version(go_version: str) -> str:
    """The RPM version of a Go module version; ValueError for something that is not one."""
    m = _SEMVER.match(go_version)
    if not m:
        raise ValueError(f"{go_version!r} is not a Go module version (vMAJOR.MINOR.PATCH[-pre][+build])")
    out = m["core"]
    if m["pre"]:
        out += "~" + m["pre"].replace("-", ".")
    if m["build"]:
        out += "+" + m["build"].replace("-", ".")
    return out
