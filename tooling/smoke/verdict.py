"""Parse the checks' machine-readable verdict lines from a console or log.

The guest script (guest/checks.sh) prints one line per check::

    FORKLIFT-CHECK <name> <PASS|FAIL|SKIP> <seconds> <detail>

and ``FORKLIFT-END ...`` when it is done. Anything else on the console is noise.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

STATUSES = ("PASS", "FAIL", "SKIP")
_LINE = re.compile(r"FORKLIFT-CHECK (?P<name>[a-z0-9-]+) (?P<status>PASS|FAIL|SKIP) (?P<secs>[0-9.]+) ?(?P<detail>.*)$")
END_MARK = "FORKLIFT-END"
BOOT_MARK = "FORKLIFT-BOOTED"


@dataclass(frozen=True)
class CheckResult:
    name: str
    status: str  # PASS, FAIL or SKIP
    seconds: float
    detail: str

    @property
    def failed(self) -> bool:
        return self.status == "FAIL"


def parse(console: str) -> list[CheckResult]:
    """Every verdict line in ``console`` (serial noise such as \\r and kernel lines ignored)."""
    results = []
    for raw in console.splitlines():
        line = raw.replace("\r", "").strip()
        idx = line.find("FORKLIFT-CHECK ")
        if idx < 0:
            continue
        m = _LINE.match(line[idx:])
        if m:
            detail = m.group("detail").strip()
            results.append(CheckResult(m.group("name"), m.group("status"), float(m.group("secs")), detail))
    return results


def finished(console: str) -> bool:
    return any(line.replace("\r", "").strip().startswith(END_MARK) for line in console.splitlines())
