#!/usr/bin/env bash
# Installs what faultline needs on a fresh Debian machine, as root; safe to run again.
#   scripts/setup.sh         what `faultline test` needs
#   scripts/setup.sh --test  plus what the test suite needs (pytest, a headless browser)
set -euo pipefail
cd "$(dirname "$0")/.."

want_tests=0
[ "${1:-}" = "--test" ] && want_tests=1

apt_packages=(iproute2 iptables procps)
# redis-server: the Redis example under examples/redis, which the suite installs and runs.
[ "$want_tests" = 1 ] && apt_packages+=(chromium redis-server)
# docker.io, debootstrap: the docker runtime's tests (a private dockerd, a node image built from
# Debian packages); openssh-server: the ssh runtime's tests (ssh-lab). Their services are not
# started here either: the tests start and stop their own.
[ "$want_tests" = 1 ] && apt_packages+=(docker.io debootstrap openssh-server)

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
    # Packages with a daemon (redis-server) must not leave one running: the tests start their
    # own servers inside namespaces. A policy-rc.d answering 101 tells the package scripts not
    # to start services; one already present (Docker images ship one) is left as it is.
    temporary_policy=""
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        temporary_policy=/usr/sbin/policy-rc.d
        printf '#!/bin/sh\n# faultline setup: start no services while installing\nexit 101\n' > "$temporary_policy"
        chmod 755 "$temporary_policy"
        trap 'rm -f "$temporary_policy"' EXIT
    fi
    # Another apt may hold the dpkg lock on a shared machine: wait for it rather than fail.
    apt-get update -qq -o DPkg::Lock::Timeout=300
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=300 \
        "${missing[@]}" >/dev/null
    if [ -n "$temporary_policy" ]; then
        rm -f "$temporary_policy"
        trap - EXIT
    fi
fi

if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
fi
extras=""
[ "$want_tests" = 1 ] && extras="[test]"
# Reinstall only when the project metadata or the C accelerator's source changed (an editable
# install builds the extension once), so a second run is quick.
stamp=".venv/.faultline-installed$extras"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ checkers/linearizable/_wglc.c -nt "$stamp" ]; then
    .venv/bin/pip install -q --disable-pip-version-check -e ".$extras"
    touch "$stamp"
fi

# The Redis example is an outside plug-in package; the suite installs it like a user would.
if [ "$want_tests" = 1 ]; then
    redis_stamp=".venv/.faultline-redis-installed"
    if [ ! -f "$redis_stamp" ] || [ examples/redis/pyproject.toml -nt "$redis_stamp" ]; then
        .venv/bin/pip install -q --disable-pip-version-check -e examples/redis
        touch "$redis_stamp"
    fi
fi
