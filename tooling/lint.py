"""Check rendered specs with the real tools: ``rpmspec -P`` under each
target's macros, and rpmlint with the repo's config (specs/rpmlint.toml).

Problems are collected as ``Finding`` records (file, line, tool, message);
``raise_for`` raises one ForkliftError listing every finding: warnings fail too.
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tooling.errors import ForkliftError
from tooling.fsutil import atomic_write_text
from tooling.model import Target
from tooling.run import run

RPMLINT_CONFIG = "rpmlint.toml"  # in specs/
RPMLINT_HOST_CONFIG = "rpmlint-host.toml"  # in specs/: stand-ins for Fedora's rpmlint config on other hosts
HOST_COMPAT_MACROS = "host-compat.macros"  # in specs/: Fedora macros missing from a non-Fedora rpm

_RPMSPEC_LINE = re.compile(r"line (\d+):")
_RPMLINT_LINE = re.compile(r"^(?P<file>[^:\s]+?)(?::(?P<line>\d+))?: (?P<level>[EW]): (?P<msg>.*)$")


@dataclass(frozen=True)
class Finding:
    path: Path
    line: int | None
    tool: str
    level: str  # "error" or "warning"
    message: str

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else str(self.path)
        return f"{where}: {self.tool}: {self.level}: {self.message}"


def host_compat_macros(specs_root: Path) -> Path | None:
    """specs/host-compat.macros where the host's rpm lacks Fedora's macros (e.g. Debian), else None."""
    compat = specs_root / HOST_COMPAT_MACROS
    if compat.is_file() and not _host_has_fedora_macros():
        return compat
    return None


def macro_load_args(specs_root: Path) -> list[str]:
    """``--load`` of the host-compat macros where the host needs them."""
    compat = host_compat_macros(specs_root)
    return ["--load", str(compat)] if compat else []


def _host_has_fedora_macros() -> bool:
    return Path("/usr/lib/rpm/macros.d/macros.systemd").exists()


def rpmspec_parse(spec: Path, target: Target, specs_root: Path) -> tuple[str, list[Finding]]:
    """``rpmspec -P`` the spec under the target's macros: the expanded text and any findings."""
    argv = ["rpmspec", "-P", *macro_load_args(specs_root), *target.macro_args(), str(spec)]
    res = run(argv, check=False, hint="install rpm (rpmspec)")
    findings: list[Finding] = []
    for line in res.stderr.splitlines():
        level = "error" if line.startswith("error:") else "warning" if line.startswith("warning:") else None
        if level is None:
            continue
        m = _RPMSPEC_LINE.search(line)
        findings.append(Finding(spec, int(m.group(1)) if m else None, "rpmspec", level,
                                line.split(":", 1)[1].strip()))
    if res.returncode != 0 and not any(f.level == "error" for f in findings):
        findings.append(Finding(spec, None, "rpmspec", "error", f"exit code {res.returncode}: {res.stderr.strip()}"))
    return res.stdout, findings


def rpmlint(paths: Iterable[Path], config: Path) -> list[Finding]:
    """Run rpmlint once over the given specs or RPMs with ``config``."""
    files = [str(p) for p in paths]
    if not files:
        return []
    if shutil.which("rpmlint") is None:
        raise ForkliftError("rpmlint is not installed", hint="run ci/setup.sh (README.md) to install it")
    res = run(["rpmlint", "-c", str(config), *files], check=False)
    by_name = {Path(f).name: Path(f) for f in files}
    findings: list[Finding] = []
    for line in res.stdout.splitlines():
        m = _RPMLINT_LINE.match(line.strip())
        if not m:
            continue
        name = m["file"]
        path = by_name.get(Path(name).name, Path(name))
        findings.append(Finding(path, int(m["line"]) if m["line"] else None, "rpmlint",
                                "error" if m["level"] == "E" else "warning", m["msg"]))
    if res.returncode not in (0, 64, 65, 66):
        findings.append(Finding(Path(files[0]), None, "rpmlint", "error",
                                f"rpmlint failed with exit code {res.returncode}: {res.stderr.strip()[-500:]}"))
    elif res.returncode == 66:
        findings.append(Finding(Path(files[0]), None, "rpmlint", "error", "badness over the configured threshold"))
    return findings


def rpmlint_config(specs_root: Path, dest_dir: Path) -> Path:
    """The one rpmlint config to pass with ``-c``: specs/rpmlint.toml on a Fedora host; elsewhere
    that file merged with specs/rpmlint-host.toml into ``dest_dir`` (rpmlint 2.4 reads only the last
    of several ``-c`` files, so passing both would silently drop the project's filters)."""
    project_path = specs_root / RPMLINT_CONFIG
    host_path = specs_root / RPMLINT_HOST_CONFIG
    if _host_has_fedora_macros() or not host_path.is_file():
        return project_path
    project, host = _read_rpmlint_toml(project_path), _read_rpmlint_toml(host_path)
    merged = {**project, **{k: v for k, v in host.items() if k != "Filters"}}
    merged["Filters"] = [*project.get("Filters", []), *host.get("Filters", [])]
    lines = [f"{key} = {json.dumps(value)}" for key, value in merged.items()]  # JSON strings are TOML strings
    dest = dest_dir / "rpmlint-merged.toml"
    atomic_write_text(dest, "\n".join(lines) + "\n")
    return dest


def _read_rpmlint_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ForkliftError(f"{path}: not a readable rpmlint config: {exc}") from None


def lint_specs(specs: Iterable[tuple[Target, Path]], specs_root: Path) -> list[Finding]:
    """rpmspec-parse each (target, spec) and rpmlint all of them."""
    pairs = list(specs)
    findings: list[Finding] = []
    for target, spec in pairs:
        findings += rpmspec_parse(spec, target, specs_root)[1]
    # one rpmlint run per target: rpmlint names files by base name, which repeat across targets
    by_target: dict[str, list[Path]] = {}
    for target, spec in pairs:
        by_target.setdefault(target.name, []).append(spec)
    with tempfile.TemporaryDirectory(prefix="forklift-rpmlint-") as tmp:
        config = rpmlint_config(specs_root, Path(tmp))
        for specs_of_target in by_target.values():
            findings += rpmlint(specs_of_target, config)
    return findings


def raise_for(findings: list[Finding]) -> None:
    """Clean means no finding at all: an rpmlint warning fails as an error does (a justified one gets
    a filter with its reason in specs/rpmlint.toml)."""
    if findings:
        errors = sum(f.level == "error" for f in findings)
        listing = "\n".join(f"  {f}" for f in findings)
        raise ForkliftError(
            f"{errors} lint error(s), {len(findings) - errors} warning(s):\n{listing}",
            hint="fix the template (specs/<package>/<package>.spec.j2) or, if justified, add an rpmlint filter "
            "with a comment in specs/rpmlint.toml",
        )
