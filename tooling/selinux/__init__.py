"""Compile and check the SELinux policy module in selinux/ (see docs/selinux.md).

tasks.py calls:
    build_policy(out_dir=...)  -> Path of <module>.pp.bz2
    check_policy(pp, assertions=...) -> PolicyReport (raises ForkliftError when a check fails)
"""

from tooling.selinux.build import DEVEL_MAKEFILE, MODULE, SELINUX_DIR, CompileError, build_policy, parse_compile_errors
from tooling.selinux.check import ASSERTIONS_FILE, PolicyReport, check_policy

__all__ = [
    "ASSERTIONS_FILE",
    "DEVEL_MAKEFILE",
    "MODULE",
    "SELINUX_DIR",
    "CompileError",
    "PolicyReport",
    "build_policy",
    "check_policy",
    "parse_compile_errors",
]
