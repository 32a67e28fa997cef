#!/usr/bin/env bash
# Installs what faultline needs on a fresh Debian machine, as root; safe to run again.
#   scripts/setup.sh         what `faultline test` needs
#   scripts/setup.sh --test  plus what the test suite needs (pytest, a headless browser)
set -euo pipefail
cd "$(dirname "$0")/.."

want_tests=0
[ "${1:-}" = "--test" ] && want_tests=1

apt_packages=(iproute2 iptables procps)
[ "$want_tests" = 1 ] && apt_packages+=(chromium)

missing=()
for pkg in "${apt_packages[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "faultline setup: installing ${missing[*]} needs root; run this script as root" >&2
        exit 3
    fi
    echo "faultline setup: installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
extras=""
[ "$want_tests" = 1 ] && extras="[test]"
# Reinstall only when the project metadata changed, so a second run is quick.
stamp=".venv/.faultline-installed$extras"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    .venv/bin/pip install -q --disable-pip-version-check -e ".$extras"
    touch "$stamp"
fi
