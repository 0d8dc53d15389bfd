#!/usr/bin/env python3
"""Write GitLab CI jobs, one per target, from specs/targets.toml (see ci/gitlab-ci.yml)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tooling import model
from tooling.cli import ci_matrix


def main() -> None:
    jobs = {}
    matrix = model.load()
    for entry in ci_matrix(matrix):
        if entry["arch"] != "x86_64":
            continue
        jobs[f"build:{entry['target']}"] = {
            "image": "registry.fedoraproject.org/fedora:latest",
            # the Go build caches (one per toolchain) and the source cache, kept between pipelines
            # (docs/build.md, Caches); no cache key holds a path, so another target's cache is a
            # good start
            "variables": {"FORKLIFT_BUILD_CACHE": "$CI_PROJECT_DIR/.cache/forklift",
                          "FORKLIFT_CACHE": "$CI_PROJECT_DIR/.cache/forklift/sources"},
            "cache": {"key": f"forklift-{entry['target']}", "fallback_keys": [f"forklift-{matrix.default_target}"],
                      "paths": [".cache/forklift"], "when": "always"},
            "script": [
                "bash ci/setup.sh",
                ".venv/bin/invoke sources",
                f".venv/bin/invoke build --target {entry['target']} --builder mock --json build/report.json",
                ".venv/bin/invoke cache --prune --max-size 4G",
            ],
            "artifacts": {"paths": [f"build/repos/{entry['target']}", "build/report.json"]},
        }
    # JSON is valid YAML
    print(json.dumps(jobs, indent=2))


if __name__ == "__main__":
    main()
