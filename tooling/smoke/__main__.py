"""``python -m tooling.smoke --target T [--via vm] [--engine rpm|standin|debian|DIR] [--previous-repo DIR] [--build-dir build]``:
the same call `invoke smoke` makes, for use without invoke."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tooling import REPO_ROOT, model
from tooling.errors import ForkliftError
from tooling.smoke import VIAS, run_smoke


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tooling.smoke", description=__doc__)
    parser.add_argument("--target", default=None)
    parser.add_argument("--via", choices=VIAS, default="vm")
    parser.add_argument("--image", default=None)
    parser.add_argument("--engine", default="rpm", help="rpm (default: the repo's RPMs in the RPM-native guest), "
                        "standin (stand-in RPMs built here from the real specs, N-1 and N), "
                        "debian (known-good, Debian guest) or a directory with dockerd")
    parser.add_argument("--previous-repo", type=Path, default=None,
                        help="a repo of release N-1: the RPM-native guest installs it first and upgrades to N")
    parser.add_argument("--build-dir", type=Path, default=REPO_ROOT / "build")
    args = parser.parse_args(argv)
    matrix = model.load()
    target = args.target or matrix.default_target
    try:
        run_smoke(matrix, target, via=args.via, image=args.image, build_dir=args.build_dir, engine=args.engine,
                  previous_repo=args.previous_repo)
    except ForkliftError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    finally:
        summary = args.build_dir / "smoke" / target / "summary.txt"
        if summary.exists():
            print(summary.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
