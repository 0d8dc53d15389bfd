"""Compile the policy module with the policy devel Makefile and compress it (bzip2 -9).

A compile error is turned into a ForkliftError that names the source file and
line in selinux/ (checkmodule reports them through m4's line markers).
"""

from __future__ import annotations

import bz2
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

from tooling import REPO_ROOT
from tooling.errors import ForkliftError
from tooling.fsutil import atomic_write_bytes
from tooling.run import run, tail

SELINUX_DIR = REPO_ROOT / "selinux"
MODULE = "moby_dm"
DEVEL_MAKEFILE = Path("/usr/share/selinux/devel/Makefile")
SUFFIXES = (".te", ".if", ".fc")

# checkmodule:  moby_dm.te:60:ERROR 'syntax error' at token ';' on line 5744:
_CHECKMODULE = re.compile(
    r"^(?P<file>[\w.+-]+\.(?:te|if|fc)):(?P<line>\d+):ERROR (?P<msg>.*?)(?: on line \d+:)?$"
)
# m4:moby_dm.te:12: ERROR: end of file in string   /   m4:tmp/moby_dm.mod.fc:3: ...
_M4 = re.compile(r"^m4:(?:.*/)?(?P<file>[\w.+-]+\.(?:te|if|fc)):(?P<line>\d+): (?P<msg>.*)$")


@dataclass(frozen=True)
class CompileError:
    file: Path
    line: int
    message: str
    source_line: str = ""

    def __str__(self) -> str:
        where = f"{_display(self.file)}:{self.line}: {self.message}"
        return where + (f"\n    {self.source_line.strip()}" if self.source_line.strip() else "")


def _display(path: Path) -> str:
    try:
        return str(path.relative_to(REPO_ROOT))
    except ValueError:
        return str(path)


def parse_compile_errors(output: str, source_dir: Path) -> list[CompileError]:
    """Errors with file and line found in the Makefile's output (pure)."""
    errors: list[CompileError] = []
    lines = output.splitlines()
    for i, text in enumerate(lines):
        text = text.strip()
        m = _CHECKMODULE.match(text) or _M4.match(text)
        if m is None:
            continue
        name = m.group("file")
        line = int(m.group("line"))
        source = source_dir / name
        source_line = ""
        if source.is_file():
            src_lines = source.read_text(encoding="utf-8", errors="replace").splitlines()
            if 0 < line <= len(src_lines):
                source_line = src_lines[line - 1]
        elif m.re is _CHECKMODULE and i + 1 < len(lines):
            source_line = lines[i + 1]
        errors.append(CompileError(file=source, line=line, message=m.group("msg").strip(), source_line=source_line))
    return errors


def _sources(source_dir: Path, module: str) -> list[Path]:
    paths = [source_dir / f"{module}{suffix}" for suffix in SUFFIXES]
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise ForkliftError(
            f"policy source {_display(missing[0])} is missing",
            hint=f"a policy module needs {', '.join(module + s for s in SUFFIXES)} in {_display(source_dir)}",
        )
    return paths


def build_policy(
    *,
    out_dir: Path,
    source_dir: Path = SELINUX_DIR,
    module: str = MODULE,
    makefile: Path = DEVEL_MAKEFILE,
) -> Path:
    """Compile ``source_dir/<module>.{te,if,fc}`` and write ``out_dir/<module>.pp.bz2``; return its path.

    The build runs in ``out_dir/work`` (a fresh copy of the sources: the devel
    Makefile writes tmp/ next to them); its output goes to ``out_dir/build.log``.
    """
    if not makefile.is_file():
        raise ForkliftError(
            f"the SELinux policy devel Makefile {makefile} is missing",
            hint="install selinux-policy-dev (Debian) or selinux-policy-devel (Fedora/EL)",
        )
    sources = _sources(source_dir, module)
    out_dir.mkdir(parents=True, exist_ok=True)
    work = out_dir / "work"
    if work.exists():
        shutil.rmtree(work)
    work.mkdir()
    for src in sources:
        shutil.copyfile(src, work / src.name)  # follows links; the build never writes into selinux/
    log = out_dir / "build.log"
    log.unlink(missing_ok=True)
    result = run(["make", "-f", makefile, f"{module}.pp"], cwd=work, log=log, check=False, timeout=600)
    output = result.stdout + result.stderr
    pp = work / f"{module}.pp"
    errors = parse_compile_errors(output, source_dir)
    # m4 errors in the .if do not stop the devel Makefile: treat them as failures too
    if not result.ok or not pp.is_file() or errors:
        if errors:
            listing = "\n".join(f"  {e}" for e in errors)
            raise ForkliftError(
                f"the SELinux module {module} does not compile:\n{listing}",
                hint=f"fix the line above; the full compiler output is in {log}",
            )
        raise ForkliftError(
            f"the SELinux module {module} does not compile (make -f {makefile} {module}.pp exited {result.returncode}):\n"
            + "\n".join("  | " + line for line in tail(output).splitlines()),
            hint=f"the full output is in {log}",
        )
    target = out_dir / f"{module}.pp.bz2"
    atomic_write_bytes(target, bz2.compress(pp.read_bytes(), compresslevel=9))
    return target
