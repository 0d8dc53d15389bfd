"""check_policy: link the built module with the base policy and run the assertions."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import setools  # type: ignore[import-untyped]

from tooling.errors import ForkliftError
from tooling.selinux.assertions import (
    evaluate_file_contexts,
    evaluate_labels,
    evaluate_module,
    evaluate_rules,
    evaluate_types,
    load_assertions,
)
from tooling.selinux.build import SELINUX_DIR
from tooling.selinux.cil import facts, module_cil
from tooling.selinux.filecontexts import module_file_contexts
from tooling.selinux.link import link_policy

ASSERTIONS_FILE = SELINUX_DIR / "assertions.toml"


@dataclass(frozen=True)
class PolicyReport:
    policy: Path  # the linked kernel policy the checks ran on (sesearch it by hand)
    module_types: tuple[str, ...]
    passed: int
    labels: int  # label assertions that hold
    not_applicable: tuple[str, ...]  # assertions whose required types the base policy lacks

    def summary(self) -> str:
        text = (f"{self.passed} rule and {self.labels} label assertions hold in {self.policy}; "
                f"{len(self.module_types)} module types checked")
        if self.not_applicable:
            text += f"; {len(self.not_applicable)} not applicable here:\n" + "\n".join(f"  {n}" for n in self.not_applicable)
        return text


def check_policy(
    pp: Path,
    *,
    assertions: Path | None = None,
    policy_dir: Path | None = None,
    extra_modules: Sequence[Path] = (),
) -> PolicyReport:
    """Check the module ``pp`` (.pp or .pp.bz2); raise ForkliftError listing every failed assertion.

    The module is linked with the base policy (and ``extra_modules``, e.g. a
    container-selinux build) into ``<pp dir>/<module>.policy``.
    """
    path = assertions or ASSERTIONS_FILE
    aset = load_assertions(path)
    if not pp.is_file():
        raise ForkliftError(f"policy module {pp} does not exist", hint="build it first (invoke selinux)")
    name = pp.name.removesuffix(".bz2").removesuffix(".pp")
    out = pp.parent / f"{name}.policy"
    with tempfile.TemporaryDirectory(prefix="forklift-selinux-") as tmp:
        work = Path(tmp)
        module = facts(module_cil(pp, work / "cil"))
        contexts = module_file_contexts(pp, work / "fc")
        linked = link_policy([pp, *extra_modules], out=out, workdir=work)
    policy = setools.SELinuxPolicy(str(linked))
    problems = evaluate_module(module, aset.forbid)
    problems += evaluate_types(policy, module.types, aset.forbid)
    problems += evaluate_file_contexts(policy, contexts)
    problems += evaluate_labels(contexts, aset.labels, path)
    outcome = evaluate_rules(policy, aset.rules, path)
    problems += outcome.failed
    if problems:
        raise ForkliftError(
            f"SELinux policy checks failed for {pp.name} ({len(problems)}):\n" + "\n".join(f"  - {p}" for p in problems),
            hint=f"fix selinux/{name}.te or the assertion in {path}; inspect the policy with: sesearch -A -s TYPE {linked}",
        )
    return PolicyReport(policy=linked, module_types=module.types, passed=len(outcome.passed), labels=len(aset.labels),
                        not_applicable=tuple(outcome.not_applicable))
