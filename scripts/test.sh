#!/usr/bin/env bash
# Sets up (apt packages, .venv with test extras) and runs the test suite. Arguments go to pytest:
#   scripts/test.sh                 the full suite (what CI runs)
#   scripts/test.sh -m "not slow"   the quick subset
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --test
exec .venv/bin/pytest -p no:cacheprovider -ra "$@"
