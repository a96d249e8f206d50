#!/usr/bin/env bash
# Fill a wheelhouse with every wheel the training image needs, so that Dockerfile.cpu /
# Dockerfile.gpu can `pip install --no-index --find-links` without network.
#
#   .ci/wheelhouse.sh [--force] [--stage DIR] [cpu|gpu|all ...]     (default: cpu)
#
#   cpu, gpu      which docker/requirements-<variant>.txt to resolve (several allowed; all = cpu gpu)
#   --force       download again even when the wheelhouse is complete
#   --stage DIR   afterwards make DIR hold exactly that variant's wheels (hard links when
#                 possible, copies otherwise); use DIR=.wheelhouse in the repo root so the
#                 docker build context carries them (one variant only)
#
# Environment (optional):
#   UAI_CACHE_DIR       cache root       (default ${XDG_CACHE_HOME:-$HOME/.cache}/uai-harness)
#   WHEELHOUSE_DIR      wheelhouse root  (default $UAI_CACHE_DIR/wheelhouse; one subfolder per variant)
#   PYTHON              interpreter whose pip is used (default /opt/venv/bin/python, else python3)
#   WHEEL_PYTHON        target Python version (default 3.11: Debian bookworm's and python:3.11-slim's)
#   WHEEL_GLIBC_MAX     newest manylinux_2_X accepted (default 36: bookworm's glibc 2.36)
#
# Idempotent: a variant whose stamp matches (requirements + target) and whose manifest
# files are all present is skipped without touching the network.
set -euo pipefail

say() { printf '[wheelhouse] %s\n' "$*" >&2; }
die() { printf '[wheelhouse] ERROR: %s\n' "$*" >&2; exit 1; }

repo_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache_dir="${UAI_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/uai-harness}"
wh_root="${WHEELHOUSE_DIR:-$cache_dir/wheelhouse}"
py_ver="${WHEEL_PYTHON:-3.11}"
glibc_max="${WHEEL_GLIBC_MAX:-36}"

force=0 stage=""
variants=()
while (($#)); do
    case "$1" in
        --force) force=1 ;;
        --stage) [[ $# -ge 2 ]] || die "--stage needs a directory"; stage="$2"; shift ;;
        --stage=*) stage="${1#--stage=}" ;;
        all) variants+=(cpu gpu) ;;
        cpu | gpu) variants+=("$1") ;;
        -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
    shift
done
((${#variants[@]})) || variants=(cpu)
mapfile -t variants < <(printf '%s\n' "${variants[@]}" | awk '!seen[$0]++')
if [[ -n "$stage" && ${#variants[@]} -ne 1 ]]; then
    die "--stage takes exactly one variant (got: ${variants[*]})"
fi

if [[ -n "${PYTHON:-}" ]]; then
    py="$PYTHON"
elif [[ -x /opt/venv/bin/python ]]; then
    py=/opt/venv/bin/python
else
    py=python3
fi
"$py" -m pip --version >/dev/null 2>&1 || die "'$py -m pip' does not work; set PYTHON to an interpreter with pip"

abi="cp${py_ver/./}"
target_args=(--only-binary=:all: --implementation cp --python-version "$py_ver" --abi "$abi")
for ((g = glibc_max; g >= 17; g--)); do target_args+=(--platform "manylinux_2_${g}_x86_64"); done
target_args+=(--platform manylinux2014_x86_64)

human() { du -sh "$1" 2>/dev/null | cut -f1; }

ensure_variant() {
    local variant="$1"
    local req="$repo_root/docker/requirements-$variant.txt"
    local dir="$wh_root/$variant"
    [[ -f "$req" ]] || die "missing $req"
    mkdir -p "$dir"

    # The key covers what decides the resolution (minus the index's newest releases).
    local key
    key=$( { cat "$req"; printf '%s\n' "${target_args[@]}" "pip"; } | sha256sum | cut -c1-16)

    if ((!force)) && [[ -f "$dir/.stamp" && "$(cat "$dir/.stamp")" == "$key" && -f "$dir/.manifest" ]]; then
        local complete=1 f
        while IFS= read -r f; do
            [[ -s "$dir/$f" ]] || { complete=0; break; }
        done <"$dir/.manifest"
        if ((complete)); then
            say "$variant: complete ($(wc -l <"$dir/.manifest") wheels, $(human "$dir")) in $dir; skipping."
            return 0
        fi
    fi

    say "$variant: resolving $req for CPython $py_ver ($abi, manylinux <= 2.$glibc_max) into $dir ..."
    local t0=$SECONDS tmp
    tmp=$(mktemp -d "$wh_root/.download-$variant.XXXXXX")
    # shellcheck disable=SC2064
    trap "rm -rf '$tmp'" EXIT
    # --find-links on the old folder lets pip reuse wheels it already has; the fresh
    # folder then holds exactly the wheels of this resolution (plus pip itself, so
    # that a base image without pip can run pip from its wheel).
    "$py" -m pip download --disable-pip-version-check --progress-bar off \
        "${target_args[@]}" --find-links "$dir" -d "$tmp" -r "$req" pip \
        >"$tmp.log" 2>&1 || {
        tail -n 30 "$tmp.log" >&2
        die "$variant: pip download failed (full log: $tmp.log)"
    }
    rm -f "$tmp.log"

    # Offline check: the folder alone must satisfy the requirements for the target.
    "$py" -m pip install --disable-pip-version-check --dry-run --ignore-installed -q \
        --no-index --find-links "$tmp" --target "$tmp/.dry-run" "${target_args[@]}" -r "$req" pip \
        >/dev/null || die "$variant: the downloaded wheels do not resolve offline"
    rm -rf "$tmp/.dry-run"

    # Swap the content in: drop wheels from older resolutions, keep the rest.
    find "$dir" -maxdepth 1 -type f -name '*.whl' -print0 |
        while IFS= read -r -d '' f; do [[ -e "$tmp/${f##*/}" ]] || rm -f "$f"; done
    (cd "$tmp" && find . -maxdepth 1 -type f -name '*.whl' -printf '%f\n' | LC_ALL=C sort) >"$dir/.manifest.new"
    find "$tmp" -maxdepth 1 -type f -name '*.whl' -exec mv -f {} "$dir/" \;
    mv -f "$dir/.manifest.new" "$dir/.manifest"
    printf '%s\n' "$key" >"$dir/.stamp"
    rm -rf "$tmp"
    trap - EXIT
    say "$variant: $(wc -l <"$dir/.manifest") wheels, $(human "$dir"), in $((SECONDS - t0))s."
}

stage_variant() {
    local variant="$1" dest="$2"
    local dir="$wh_root/$variant"
    mkdir -p "$dest"
    dest=$(cd "$dest" && pwd)
    [[ "$dest" != "$dir" ]] || return 0
    # Remove what does not belong to this variant, then link/copy what is missing.
    find "$dest" -mindepth 1 -maxdepth 1 -print0 |
        while IFS= read -r -d '' f; do
            n="${f##*/}"
            grep -qxF -- "$n" "$dir/.manifest" || rm -rf -- "$f"
        done
    local n linked=0 copied=0
    while IFS= read -r n; do
        if [[ "$dest/$n" -ef "$dir/$n" ]]; then continue; fi
        if [[ -e "$dest/$n" && "$(stat -c %s.%Y "$dest/$n")" == "$(stat -c %s.%Y "$dir/$n")" ]]; then
            continue
        fi
        rm -f "$dest/$n"
        if ln "$dir/$n" "$dest/$n" 2>/dev/null; then
            linked=$((linked + 1))
        else
            cp -p "$dir/$n" "$dest/$n"
            copied=$((copied + 1))
        fi
    done <"$dir/.manifest"
    say "$variant: staged in $dest ($linked linked, $copied copied, $(wc -l <"$dir/.manifest") wheels)."
}

mkdir -p "$wh_root"
for v in "${variants[@]}"; do ensure_variant "$v"; done
if [[ -n "$stage" ]]; then
    [[ "$stage" = /* ]] || stage="$PWD/$stage"
    stage_variant "${variants[0]}" "$stage"
fi
