#!/usr/bin/env bash
# Sets up (apt packages, .venv with test extras) and runs the test suite in two pytest-xdist
# workers (most of a test's time is a cluster's wall-clock run; tests/conftest.py says how the
# docker and ssh tests are grouped). Arguments go to pytest:
#   scripts/test.sh                 the full suite (what CI runs)
#   scripts/test.sh -m "not slow"   the quick subset
#   scripts/test.sh -n 0 -x         one process, stop at the first failure
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
exec .venv/bin/pytest -p no:cacheprovider -ra -n 2 --dist loadgroup "$@"
