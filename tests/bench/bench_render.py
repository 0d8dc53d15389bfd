#!/usr/bin/env python3
"""Benchmark: render every (target, package) spec and parse each with `rpmspec -P`.

Run on demand:  .venv/bin/python tests/bench/bench_render.py [--runs 5]
Goal: the whole matrix in under 2 s. Prints each run and the median.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tooling import lint, model, render


def once(out: Path, jobs: int) -> tuple[float, int]:
    start = time.perf_counter()
    matrix = model.load()
    specs = render.render_all(matrix)
    paths = render.write_specs(specs, out)
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        results = list(pool.map(lambda sp: lint.rpmspec_parse(sp[1], sp[0].target, matrix.root),
                                zip(specs, paths, strict=True)))
    errors = [f for _, findings in results for f in findings if f.level == "error"]
    if errors:
        raise SystemExit("\n".join(map(str, errors)))
    return time.perf_counter() - start, len(paths)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--jobs", type=int, default=2, help="rpmspec processes in parallel")
    args = ap.parse_args()
    times = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.runs):
            model._cache.clear()
            t, n = once(Path(tmp), args.jobs)
            times.append(t)
            print(f"run {i + 1}: {t:.3f} s for {n} specs (render + rpmspec -P)")
    print(f"median: {statistics.median(times):.3f} s (goal < 2 s)")


if __name__ == "__main__":
    main()
