#!/usr/bin/env bash
# Sets up (apt packages, .venv) and runs one real test: seedkv in its seed mode on 3 nodes in
# network namespaces, 5 clients adding to a set for 30 s while nodes are killed and partitioned.
# The seed design loses acknowledged writes, so the expected verdict is INVALID (exit code 1);
# the script exits 0 once faultline has reached a verdict either way, and 3 if it could not.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh || exit 3
.venv/bin/faultline test --system seedkv --mode seed --workload set --nemesis kill,partition \
    --nodes 3 --concurrency 5 --time-limit 30 --seed 7 "$@"
code=$?
case $code in
    0|1) echo "faultline reached a verdict (exit code $code; 1 = invalid, as expected of the seed design)"; exit 0 ;;
    *) exit "$code" ;;
esac
