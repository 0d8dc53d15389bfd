#!/usr/bin/env bash
# The README's test command: set up (idempotent), then lint, type-check and test.
# Extra arguments go to pytest (e.g. ci/test.sh -m 'not slow').
set -euo pipefail
cd "$(dirname "$(readlink -f "$0")")/.."
bash ci/setup.sh --test
.venv/bin/ruff check tooling tests tasks.py
.venv/bin/mypy
# every tool the tests drive must be here: in CI a skip for a missing tool is a failure
if [ "${CI:-}" = "true" ]; then
    export FORKLIFT_REQUIRE_TOOLS=1
fi
exec .venv/bin/pytest "$@"
