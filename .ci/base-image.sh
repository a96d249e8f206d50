#!/usr/bin/env bash
# Make sure the base image of the training images exists locally.
#
#   .ci/base-image.sh [--force] [--name NAME]
#
# Order: (1) NAME already present -> done;
#        (2) BASE_IMAGE_PULL set (e.g. python:3.11-slim-bookworm) and pullable -> pull + tag as NAME;
#        (3) offline: debootstrap a minimal Debian bookworm with python3 (3.11, the host's
#            version, which the wheelhouse is built for) from the apt mirror this machine
#            already uses, /usr/bin/python -> python3, trimmed, `docker import`ed as NAME.
#            The rootfs tarball is cached, so a rerun (or a fresh daemon) only imports it.
#
# Environment (optional):
#   BASE_IMAGE_NAME      image name            (default uai-harness/base:bookworm-py311)
#   BASE_IMAGE_PULL      public image to pull and tag instead of debootstrap (needs a registry)
#   UAI_CACHE_DIR        cache root            (default ${XDG_CACHE_HOME:-$HOME/.cache}/uai-harness)
#   DEBIAN_MIRROR        Debian mirror URL     (default: read from /etc/apt/sources.list(.d))
#   DEBIAN_SUITE         suite                 (default bookworm)
#   BASE_EXTRA_PACKAGES  extra packages, comma-separated, for the debootstrap rootfs
#   --force              rebuild the rootfs (ignore the cached tarball) and re-import
#
# Needs a Docker daemon: runs .ci/docker-up.sh when none answers.
set -euo pipefail

say() { printf '[base-image] %s\n' "$*" >&2; }
die() { printf '[base-image] ERROR: %s\n' "$*" >&2; exit 1; }

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
name="${BASE_IMAGE_NAME:-uai-harness/base:bookworm-py311}"
cache_dir="${UAI_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/uai-harness}"
suite="${DEBIAN_SUITE:-bookworm}"
force=0

while (($#)); do
    case "$1" in
        --force) force=1 ;;
        --name) [[ $# -ge 2 ]] || die "--name needs a value"; name="$2"; shift ;;
        --name=*) name="${1#--name=}" ;;
        -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) die "unknown argument '$1' (see --help)" ;;
    esac
    shift
done

# Packages of the offline base. python-is-python3 provides /usr/bin/python -> python3;
# libgomp1 is the OpenMP runtime some wheels expect from the system; ca-certificates
# for HTTPS from inside the job (e.g. nltk downloads).
packages="python3,python-is-python3,ca-certificates,libgomp1${BASE_EXTRA_PACKAGES:+,$BASE_EXTRA_PACKAGES}"
recipe_version=1

if ! timeout 15 docker info >/dev/null 2>&1; then
    say "No Docker daemon answers; running docker-up.sh."
    bash "$here/docker-up.sh"
fi

t_start=$SECONDS
verify() { # 0 when /usr/bin/python runs in the image
    local out
    if ! out=$(docker run --rm --network none "$name" /usr/bin/python -c \
        'import sys; print("%d.%d.%d" % sys.version_info[:3])' 2>&1); then
        say "$name: /usr/bin/python does not run: $out"
        return 1
    fi
    say "$name: /usr/bin/python is Python $out."
    [[ "$out" == 3.11.* ]] || say "WARNING: $name has Python $out, not 3.11: the cp311 wheelhouse will not fit."
}

if ((!force)) && docker image inspect "$name" >/dev/null 2>&1; then
    say "$name is present; nothing to do."
    exit 0
fi

if [[ -n "${BASE_IMAGE_PULL:-}" ]]; then
    say "Pulling $BASE_IMAGE_PULL ..."
    if timeout 600 docker pull "$BASE_IMAGE_PULL"; then
        docker tag "$BASE_IMAGE_PULL" "$name"
        say "Tagged $BASE_IMAGE_PULL as $name in $((SECONDS - t_start))s."
        verify || say "note: the Dockerfiles add /usr/bin/python when the base only has python3."
        exit 0
    fi
    say "WARNING: cannot pull $BASE_IMAGE_PULL; building $name offline with debootstrap instead."
fi

# ---- offline: debootstrap ------------------------------------------------------------
debian_mirror() {
    # First `deb` source of $suite in main, from deb822 .sources or one-line .list files.
    local f
    for f in /etc/apt/sources.list.d/*.sources; do
        [[ -f "$f" ]] || continue
        awk -v suite="$suite" '
            function flush() {
                if (types ~ /(^| )deb( |$)/ && (" " suites " ") ~ (" " suite " ") && uris != "" && comps ~ /(^| )main( |$)/) {
                    split(uris, u, " "); print u[1]; found = 1; exit
                }
                types = suites = uris = comps = ""
            }
            /^[ \t]*#/ { next }
            /^[ \t]*$/ { flush(); next }
            { key = tolower($1); sub(/:$/, "", key); $1 = ""; sub(/^ +/, "") }
            key == "types" { types = $0 } key == "suites" { suites = $0 }
            key == "uris" { uris = $0 } key == "components" { comps = $0 }
            END { if (!found) flush() }' "$f"
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [[ -f "$f" ]] || continue
        awk -v suite="$suite" '
            $1 == "deb" { i = 2; if ($2 ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
                          if ($(i + 1) == suite) { print $i; exit } }' "$f"
    done
}

mirror="${DEBIAN_MIRROR:-}"
if [[ -z "$mirror" ]]; then
    mirror=$(debian_mirror | head -n 1)
    [[ -n "$mirror" ]] || mirror=http://deb.debian.org/debian
fi

key=$(printf '%s\n' "$recipe_version" "$suite" "$packages" | sha256sum | cut -c1-12)
rootfs_dir="$cache_dir/rootfs"
tarball="$rootfs_dir/$suite-py311-$key.tar"
mkdir -p "$rootfs_dir"

if ((force)) || [[ ! -s "$tarball" ]]; then
    if ! command -v debootstrap >/dev/null 2>&1; then
        [[ $(id -u) -eq 0 ]] || die "debootstrap is missing; install it (apt-get install debootstrap)"
        say "Installing debootstrap ..."
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
    fi
    [[ $(id -u) -eq 0 ]] || die "debootstrap needs root"

    work=$(mktemp -d "$rootfs_dir/.build.XXXXXX")
    target="$work/rootfs"
    cleanup() {
        # Unmount anything debootstrap left mounted inside the target, deepest first.
        awk -v t="$target" 'index($2, t) == 1 { print $2 }' /proc/mounts | sort -r |
            while IFS= read -r m; do umount -l "$m" 2>/dev/null || true; done
        rm -rf "$work"
    }
    trap cleanup EXIT

    say "debootstrap --variant=minbase $suite from $mirror (packages: $packages) ..."
    t0=$SECONDS
    if ! debootstrap --variant=minbase --components=main --include="$packages" \
        "$suite" "$target" "$mirror" >"$work/debootstrap.log" 2>&1; then
        tail -n 30 "$work/debootstrap.log" >&2
        [[ -f "$target/debootstrap/debootstrap.log" ]] && tail -n 30 "$target/debootstrap/debootstrap.log" >&2
        die "debootstrap failed (mirror $mirror; set DEBIAN_MIRROR to override)"
    fi
    t_debootstrap=$((SECONDS - t0))
    say "debootstrap took ${t_debootstrap}s."

    # /usr/bin/python: python-is-python3 provides it; make sure anyway.
    [[ -e "$target/usr/bin/python" ]] || ln -s python3 "$target/usr/bin/python"
    # Keep later apt-get installs in the image lean, like the official Debian images.
    mkdir -p "$target/etc/dpkg/dpkg.cfg.d" "$target/etc/apt/apt.conf.d"
    cat >"$target/etc/dpkg/dpkg.cfg.d/uai-minimal" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
    printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' \
        >"$target/etc/apt/apt.conf.d/90uai-no-recommends"
    # Trim caches, docs and logs.
    rm -rf "$target"/var/cache/apt/*.bin "$target"/var/cache/apt/archives/*.deb \
        "$target"/var/cache/apt/archives/partial/* "$target"/var/lib/apt/lists/* \
        "$target"/var/cache/debconf/*-old "$target"/var/lib/dpkg/*-old \
        "$target"/usr/share/man/* "$target"/usr/share/info/* "$target"/tmp/* "$target"/debootstrap
    find "$target/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete 2>/dev/null || true
    find "$target/usr/share/doc" -mindepth 1 -type d -empty -delete 2>/dev/null || true
    find "$target/usr/share/locale" -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} + 2>/dev/null || true
    find "$target/var/log" -type f -exec truncate -s 0 {} + 2>/dev/null || true
    # Docker provides these at run time.
    rm -f "$target/etc/resolv.conf" "$target/etc/hostname"
    : >"$target/etc/hosts"

    say "Packing the rootfs ($(du -sh "$target" | cut -f1)) ..."
    tar --numeric-owner -C "$target" -cf "$work/rootfs.tar" .
    mv -f "$work/rootfs.tar" "$tarball"
    # Drop tarballs of older recipes.
    find "$rootfs_dir" -maxdepth 1 -name "$suite-py311-*.tar" -not -name "${tarball##*/}" -delete
    cleanup
    trap - EXIT
else
    say "Using the cached rootfs $tarball."
fi

say "Importing $tarball ($(du -h "$tarball" | cut -f1)) as $name ..."
t0=$SECONDS
docker import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'CMD ["/bin/bash"]' \
    --message "uai-harness offline base: debootstrap $suite minbase + $packages" \
    "$tarball" "$name" >/dev/null
say "Imported in $((SECONDS - t0))s; $(docker image inspect --format '{{.Size}}' "$name" | awk '{printf "%.0f MB", $1/1e6}')."
verify || die "the imported $name does not run /usr/bin/python"
say "Done in $((SECONDS - t_start))s."
