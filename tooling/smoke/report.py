"""JUnit XML and a readable summary of one smoke run."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

from tooling.fsutil import atomic_write_bytes, atomic_write_text
from tooling.smoke.verdict import CheckResult


@dataclass(frozen=True)
class SmokeReport:
    target: str
    via: str
    engine: str  # where the engine under test came from
    results: tuple[CheckResult, ...]
    timings: dict[str, float] = field(default_factory=dict)  # phase -> seconds
    problems: tuple[str, ...] = ()  # harness-level failures (no verdict, timeout ...)

    @property
    def failed(self) -> list[CheckResult]:
        return [r for r in self.results if r.failed]

    @property
    def ok(self) -> bool:
        return not self.failed and not self.problems and bool(self.results)

    def count(self, status: str) -> int:
        return sum(1 for r in self.results if r.status == status)


def junit_xml(report: SmokeReport) -> bytes:
    suite = ET.Element(
        "testsuite",
        name=f"forklift-smoke.{report.target}.{report.via}",
        tests=str(len(report.results) + len(report.problems)),
        failures=str(report.count("FAIL") + len(report.problems)),
        skipped=str(report.count("SKIP")),
        errors="0",
        time=f"{sum(r.seconds for r in report.results):.1f}",
    )
    props = ET.SubElement(suite, "properties")
    for name, value in (("target", report.target), ("via", report.via), ("engine", report.engine)):
        ET.SubElement(props, "property", name=name, value=value)
    for phase, secs in report.timings.items():
        ET.SubElement(props, "property", name=f"time.{phase}", value=f"{secs:.1f}")
    classname = f"smoke.{report.target}.{report.via}"
    for r in report.results:
        case = ET.SubElement(suite, "testcase", classname=classname, name=r.name, time=f"{r.seconds:.1f}")
        if r.status == "FAIL":
            ET.SubElement(case, "failure", message=r.detail[:200]).text = r.detail
        elif r.status == "SKIP":
            ET.SubElement(case, "skipped", message=r.detail)
        else:
            ET.SubElement(case, "system-out").text = r.detail
    for i, problem in enumerate(report.problems):
        case = ET.SubElement(suite, "testcase", classname=classname, name=f"harness-{i}", time="0")
        ET.SubElement(case, "failure", message=problem.splitlines()[0][:200]).text = problem
    ET.indent(suite)
    return ET.tostring(suite, encoding="utf-8", xml_declaration=True) + b"\n"


def summary_text(report: SmokeReport) -> str:
    width = max([len(r.name) for r in report.results] + [10])
    lines = [
        f"smoke {report.target} via {report.via} (engine: {report.engine})",
        f"{report.count('PASS')} passed, {report.count('FAIL')} failed, {report.count('SKIP')} skipped",
    ]
    if report.timings:
        lines.append("timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in report.timings.items()))
    lines.append("")
    for r in report.results:
        lines.append(f"{r.status:4}  {r.name:<{width}}  {r.seconds:6.1f} s  {r.detail}")
    for problem in report.problems:
        lines.append(f"ERROR harness: {problem}")
    return "\n".join(lines) + "\n"


def write(report: SmokeReport, out_dir: Path) -> tuple[Path, Path]:
    """Write junit.xml and summary.txt atomically; returns their paths."""
    junit, summary = out_dir / "junit.xml", out_dir / "summary.txt"
    atomic_write_bytes(junit, junit_xml(report))
    atomic_write_text(summary, summary_text(report))
    return junit, summary
