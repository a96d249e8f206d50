#!/usr/bin/env bash
# Puts this machine back to what `.ci/run` meets on a new one, for a cold timing
# (docs/testing.md): no Docker daemon, engine or data, no bubblewrap, no pip/uv/harness
# caches, no CI tool venv, no pytest temp folders. Destructive: every Docker image and
# container on the machine goes. Root only; asks for --yes.
#
#   bash .ci/empty-caches.sh --yes && git clone <repo> /tmp/cold && bash /tmp/cold/.ci/run
set -euo pipefail

if [[ "${1:-}" != --yes ]]; then
    echo "usage: $0 --yes   (removes every Docker image and the caches .ci/run fills)" >&2
    exit 2
fi
[[ $(id -u) -eq 0 ]] || { echo "$0: needs root (apt-get, /var/lib/docker)" >&2; exit 2; }

pkill -x dockerd 2>/dev/null || true
pkill -x containerd 2>/dev/null || true
for _ in $(seq 30); do pgrep -x dockerd >/dev/null || break; sleep 1; done
DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq docker.io containerd runc bubblewrap \
    debootstrap >/dev/null 2>&1 || true
DEBIAN_FRONTEND=noninteractive apt-get autoremove -y -qq >/dev/null 2>&1 || true
apt-get clean
rm -rf /var/lib/docker /var/lib/containerd /var/run/docker.pid /var/run/docker.sock
rm -rf "${XDG_CACHE_HOME:-$HOME/.cache}" "${UAI_CACHE_DIR:-}"
rm -rf /tmp/uai-ci-tools /tmp/uai-ci-logs.* /tmp/pytest-of-*
echo "emptied: docker engine and data, bubblewrap, debootstrap, apt, pip, uv and harness caches, CI tools"
