#!/usr/bin/env bash
# Make sure a Docker daemon answers on this machine.
#
#   bash .ci/docker-up.sh          # or:  source .ci/docker-up.sh
#
# - No-op when `docker info` already answers.
# - Otherwise installs Debian's docker.io (+ debootstrap, iptables) with apt-get when
#   they are missing (root only), starts dockerd in the background (own session, log
#   to a file) with the overlay2 storage driver, falling back to vfs only when an
#   overlay mount probe fails or dockerd dies with overlay2, and waits until
#   `docker info` answers.
#
# Environment (all optional):
#   DOCKERD_LOG             daemon log file           (default /var/log/uai-harness-dockerd.log)
#   DOCKERD_DATA_ROOT       dockerd --data-root       (default /var/lib/docker)
#   DOCKER_STORAGE_DRIVER   force a driver (overlay2|vfs|...); default: probe overlay2, else vfs
#   DOCKER_UP_TIMEOUT       seconds to wait for the daemon (default 90)
#   DOCKERD_EXTRA_ARGS      extra dockerd arguments, word-split
#   DOCKER_UP_SKIP_INSTALL  1: never call apt-get
#
# Works both executed and sourced: the work happens in a subshell function, so
# sourcing it does not change the caller's shell options.

_uai_docker_up() (
    set -euo pipefail

    local log_file="${DOCKERD_LOG:-/var/log/uai-harness-dockerd.log}"
    local data_root="${DOCKERD_DATA_ROOT:-/var/lib/docker}"
    local timeout_s="${DOCKER_UP_TIMEOUT:-90}"

    say() { printf '[docker-up] %s\n' "$*" >&2; }
    die() { printf '[docker-up] ERROR: %s\n' "$*" >&2; exit 1; }

    answers() {
        command -v docker >/dev/null 2>&1 && timeout 15 docker info >/dev/null 2>&1
    }

    if answers; then
        say "Docker daemon already answers ($(docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?'))."
        return 0
    fi

    # ---- install what is missing -------------------------------------------------
    local missing=()
    command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
    command -v docker >/dev/null 2>&1 || missing+=(docker.io)
    command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
    command -v iptables >/dev/null 2>&1 || missing+=(iptables)
    if ((${#missing[@]})); then
        [[ "${DOCKER_UP_SKIP_INSTALL:-0}" == 1 ]] && die "missing ${missing[*]} and DOCKER_UP_SKIP_INSTALL=1"
        [[ $(id -u) -eq 0 ]] || die "missing ${missing[*]}; run as root (apt-get) or install them"
        command -v apt-get >/dev/null 2>&1 || die "missing ${missing[*]} and no apt-get on this machine"
        # unique list
        mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
        say "Installing ${missing[*]} with apt-get ..."
        local t0=$SECONDS created_policy=0
        # Keep the package's init script from starting a daemon we do not control.
        if [[ ! -e /usr/sbin/policy-rc.d ]]; then
            printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
            chmod 755 /usr/sbin/policy-rc.d
            created_policy=1
        fi
        local rc=0
        {
            DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
                DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
                    "${missing[@]}" ca-certificates >/dev/null
        } || rc=$?
        ((created_policy)) && rm -f /usr/sbin/policy-rc.d
        ((rc == 0)) || die "apt-get install ${missing[*]} failed (rc=$rc)"
        say "Installed in $((SECONDS - t0))s."
        hash -r
        if answers; then
            say "Docker daemon answers."
            return 0
        fi
    fi

    [[ $(id -u) -eq 0 ]] || die "no Docker daemon answers and we are not root: start dockerd or join the docker group"
    command -v dockerd >/dev/null 2>&1 || die "dockerd not found after install"

    mkdir -p "$(dirname "$log_file")" "$data_root"

    # A dockerd that is still starting: wait for it instead of starting a second one.
    local pid=""
    if [[ -s /var/run/docker.pid ]]; then
        pid=$(cat /var/run/docker.pid)
        if kill -0 "$pid" 2>/dev/null && [[ "$(cat "/proc/$pid/comm" 2>/dev/null)" == dockerd ]]; then
            say "dockerd (pid $pid) is running but not answering yet; waiting for it."
        else
            pid=""
            rm -f /var/run/docker.pid
        fi
    fi

    # ---- choose the storage driver -----------------------------------------------
    probe_overlay() {
        local d
        d=$(mktemp -d "$data_root/.overlay-probe.XXXXXX") || return 1
        mkdir -p "$d/l" "$d/u" "$d/w" "$d/m"
        local ok=1
        if mount -t overlay overlay -o "lowerdir=$d/l,upperdir=$d/u,workdir=$d/w" "$d/m" 2>/dev/null; then
            ok=0
            umount "$d/m" || true
        fi
        rm -rf "$d"
        return $ok
    }

    # iptables: dockerd needs it for its bridge; try the legacy backend when nft fails.
    iptables_ok() { iptables -t nat -L -n >/dev/null 2>&1; }
    local iptables_args=()
    if ! iptables_ok; then
        if command -v iptables-legacy >/dev/null 2>&1 && command -v update-alternatives >/dev/null 2>&1 &&
            iptables-legacy -t nat -L -n >/dev/null 2>&1; then
            say "iptables (nft) does not work here; switching to iptables-legacy."
            update-alternatives --set iptables /usr/sbin/iptables-legacy >/dev/null
            update-alternatives --set ip6tables /usr/sbin/ip6tables-legacy >/dev/null 2>&1 || true
        fi
        if ! iptables_ok; then
            say "WARNING: iptables does not work; starting dockerd with --iptables=false" \
                "(containers get no outbound NAT: online builds will not reach the network)."
            iptables_args=(--iptables=false --ip-masq=false)
        fi
    fi

    start_dockerd() { # $1 = storage driver
        local extra=()
        # shellcheck disable=SC2206
        [[ -n "${DOCKERD_EXTRA_ARGS:-}" ]] && extra=(${DOCKERD_EXTRA_ARGS})
        say "Starting dockerd (storage driver $1, data root $data_root, log $log_file) ..."
        printf '\n==== %s docker-up: dockerd --storage-driver=%s ====\n' "$(date -Is)" "$1" >>"$log_file"
        setsid nohup dockerd \
            --host=unix:///var/run/docker.sock \
            --data-root="$data_root" \
            --storage-driver="$1" \
            "${iptables_args[@]}" "${extra[@]}" \
            </dev/null >>"$log_file" 2>&1 &
        pid=$!
        disown "$pid" 2>/dev/null || true
    }

    wait_for() { # returns 0 when it answers, 1 when dockerd died, 2 on timeout
        local deadline=$((SECONDS + timeout_s))
        while ((SECONDS < deadline)); do
            if answers; then return 0; fi
            if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then return 1; fi
            sleep 1
        done
        return 2
    }

    fail_with_log() {
        say "---- last 40 lines of $log_file ----"
        tail -n 40 "$log_file" >&2 || true
        die "$1"
    }

    local t0=$SECONDS driver rc=0
    if [[ -z "$pid" ]]; then
        driver="${DOCKER_STORAGE_DRIVER:-}"
        if [[ -z "$driver" ]]; then
            if probe_overlay; then
                driver=overlay2
            else
                say "overlay mount probe failed on $data_root; falling back to the vfs driver (slow, large)."
                driver=vfs
            fi
        fi
        start_dockerd "$driver"
        wait_for || rc=$?
        if ((rc == 1)) && [[ "$driver" == overlay2 && -z "${DOCKER_STORAGE_DRIVER:-}" ]] &&
            grep -qiE 'overlay|storage.driver|graphdriver' <(tail -n 60 "$log_file"); then
            say "dockerd died with overlay2 (see $log_file); retrying with vfs."
            driver=vfs rc=0
            start_dockerd vfs
            wait_for || rc=$?
        fi
    else
        wait_for || rc=$?
    fi
    case $rc in
        0) ;;
        1) fail_with_log "dockerd exited before answering" ;;
        *) fail_with_log "dockerd did not answer within ${timeout_s}s (pid ${pid:-?})" ;;
    esac
    say "Docker daemon answers after $((SECONDS - t0))s" \
        "(server $(docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?')," \
        "driver $(docker info --format '{{.Driver}}' 2>/dev/null || echo '?'))."
)

# Executed: its status is the script's. Sourced: its status is the `source` status.
_uai_docker_up "$@"
