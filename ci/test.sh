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
# a whole-run deadline well inside CI's 90 minutes: SIGINT makes pytest print where it was and its summary
deadline=${FORKLIFT_TEST_DEADLINE:-4500}
rc=0
timeout --signal=INT --kill-after=120 "$deadline" .venv/bin/pytest --durations=15 "$@" || rc=$?
if [ "$rc" = 124 ]; then
    echo "ci/test.sh: the tests did not finish within ${deadline} s (FORKLIFT_TEST_DEADLINE); see the stacks above" >&2
fi
exit "$rc"
