"""Benchmark of the RPM-native VM smoke run (on demand, not asserted), against issue 12's goals:

    .venv/bin/python tests/bench/bench_smoke.py image   # image build from a cold cache (fresh cache dir)
    .venv/bin/python tests/bench/bench_smoke.py run     # whole run with the cached image, boot to verdict
    .venv/bin/python tests/bench/bench_smoke.py         # both

``run`` is `smoke --via vm --engine standin` (release N-1, upgrade to N, removal): the first run
also builds the image and the stand-in repos into .cache/smoke; the figures printed are those of
a second run, from the cache. Each line names the accelerator qemu used (TCG where KVM cannot
run a guest) and the host's load average, which these figures depend on.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tooling import model
from tooling.smoke import rpmimage, smoke

GOALS = {"boot-to-verdict": 60.0, "whole-run": 90.0, "image-cold": 120.0}


def _line(name: str, seconds: float, extra: str = "") -> None:
    goal = GOALS[name]
    verdict = "within" if seconds <= goal else "OVER"
    print(f"{name:16} {seconds:7.1f} s  (goal <= {goal:.0f} s: {verdict}){extra}  load {os.getloadavg()[0]:.1f}",
          flush=True)


def bench_image() -> None:
    matrix = model.load()
    target = matrix.targets[matrix.default_target]
    cache = Path(tempfile.mkdtemp(prefix="forklift-bench-smoke-"))
    try:
        t0 = time.monotonic()
        rpmimage.build(matrix, target, cache)
        _line("image-cold", time.monotonic() - t0, " (mmdebstrap from deb.debian.org, stubs, mkfs)")
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def bench_run() -> None:
    matrix = model.load()
    target = matrix.default_target
    with tempfile.TemporaryDirectory(prefix="forklift-bench-run-") as tmp:
        build_dir = Path(tmp)
        (build_dir / "repos" / target).mkdir(parents=True)
        for attempt in ("warm-up", "measured"):
            t0 = time.monotonic()
            rep = smoke(matrix, target, via="vm", image=None, build_dir=build_dir, engine="standin", timeout=1800)
            whole = time.monotonic() - t0
            if attempt == "warm-up":
                print(f"warm-up run (fills the cache): {whole:.1f} s; {rep.count('PASS')} passed, "
                      f"{rep.count('FAIL')} failed", flush=True)
                continue
        boot = {k: v for k, v in rep.timings.items() if k.startswith("boot-to-verdict")}
        label = next(iter(boot), "boot-to-verdict (?)")
        used = label[label.find("(") + 1: label.find(")")]
        _line("boot-to-verdict", boot.get(label, float("nan")), f" [{used}]")
        _line("whole-run", whole, f" [{used}]; {rep.count('PASS')} passed, {rep.count('FAIL')} failed, "
              f"{rep.count('SKIP')} skipped; " + ", ".join(f"{k} {v:.1f}" for k, v in rep.timings.items()))


def main(argv: list[str]) -> int:
    what = argv[1:] or ["image", "run"]
    for w in what:
        {"image": bench_image, "run": bench_run}[w]()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
