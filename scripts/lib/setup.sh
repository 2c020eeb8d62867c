# shellcheck shell=bash
# Shared setup for scripts/quickstart and scripts/check (sourced, not run).
#
# Every step is idempotent and cheap when there is nothing to do, so running a script a
# second time rebuilds nothing:
#   oc_install_packages  Debian packages (apt-get only when one is missing)
#   oc_start_daemons     virtlogd + libvirtd (systemctl, or started by hand without systemd)
#   oc_build             meson setup/compile/install into /usr/local
#   oc_build_images      guest boot artifacts and templates in the state directory
#   oc_prepare           all four, in that order
#
# Environment: OC_STATE_DIR (default /var/lib/opencomputer), OC_BUILD_DIR (default build),
# OC_PREFIX (default /usr/local).

OC_PACKAGES=(
    libvirt-daemon-system libvirt-daemon-driver-qemu libvirt-clients libvirt-dev
    qemu-system-x86 qemu-utils qemu-guest-agent
    meson ninja-build pkg-config gcc libglib2.0-dev libjson-glib-dev libsoup-3.0-dev check
    musl-tools mmdebstrap e2fsprogs cpio python3 tini tmux busybox-static xz-utils
    python3-dev python3-cffi python3-pytest
)

# Repository root (this file is scripts/lib/setup.sh).
OC_ROOT=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd -P)
OC_STATE_DIR=${OC_STATE_DIR:-/var/lib/opencomputer}
OC_BUILD_DIR=${OC_BUILD_DIR:-build}
OC_PREFIX=${OC_PREFIX:-/usr/local}

oc_log() { printf '%s\n' "$*" >&2; }
oc_die() { printf 'error: %s\n' "$*" >&2; exit 1; }
oc_now_ms() { echo $(($(date +%s%N) / 1000000)); }

# oc_step TITLE COMMAND...: run COMMAND under a "==> TITLE" line and report its duration.
oc_step() {
    local title=$1 t0 rc=0
    shift
    oc_log "==> $title"
    t0=$(oc_now_ms)
    "$@" || rc=$?
    local ms=$(($(oc_now_ms) - t0))
    if [ "$rc" -ne 0 ]; then
        oc_log "==> $title FAILED (exit $rc) after $((ms / 1000)).$(printf '%03d' $((ms % 1000))) s"
        return "$rc"
    fi
    oc_log "    $title: $((ms / 1000)).$(printf '%03d' $((ms % 1000))) s"
}

oc_install_packages() {
    local missing=() p
    declare -A have=()
    while read -r p; do have[$p]=1; done < <(
        dpkg-query -W -f='${db:Status-Status} ${Package}\n' "${OC_PACKAGES[@]}" 2>/dev/null |
        sed -n 's/^installed //p')
    for p in "${OC_PACKAGES[@]}"; do
        [ -n "${have[$p]:-}" ] || missing+=("$p")
    done
    if [ ${#missing[@]} -eq 0 ]; then
        oc_log "    all ${#OC_PACKAGES[@]} packages are installed"
        return 0
    fi
    oc_log "    installing: ${missing[*]}"
    [ "$(id -u)" -eq 0 ] || oc_die "installing packages needs root"
    apt-get update -q >&2 || oc_die "apt-get update failed"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2 ||
        oc_die "apt-get install failed"
}

oc_libvirt_answers() { virsh -c qemu:///system version >/dev/null 2>&1; }
# The pid of a live (not zombie) process of that name, or nothing.
oc_live_pid() { ps -C "$1" -o pid=,stat= | awk '$2 !~ /^Z/ { print $1; exit }'; }

oc_start_daemons() {
    if [ -d /run/systemd/system ] && [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ]; then
        systemctl start virtlogd libvirtd >&2 || oc_die "systemctl start virtlogd libvirtd failed"
    else
        if [ -z "$(oc_live_pid virtlogd)" ]; then
            oc_log "    starting virtlogd"
            virtlogd -d || oc_die "virtlogd -d failed"
        fi
        if [ -z "$(oc_live_pid libvirtd)" ]; then
            # libvirt daemonizes QEMU, so a QEMU that exits is reaped by the
            # nearest subreaper or PID 1, and libvirt waits until it is: every
            # hibernate and kill.  Some container inits reap late (measured
            # 1.7-1.9 s here), so libvirtd runs under tini -s, which reaps at
            # once.  With systemd none of this is needed.
            oc_log "    starting libvirtd (under tini -s, a prompt reaper for QEMU)"
            mkdir -p /var/log/libvirt
            setsid tini -s -- libvirtd </dev/null >>/var/log/libvirt/libvirtd-oc.log 2>&1 &
        elif [ "$(ps -o ppid= -p "$(oc_live_pid libvirtd)" | tr -d ' ')" = 1 ]; then
            oc_log "    note: libvirtd runs under PID 1 ($(cat /proc/1/comm)); if PID 1 reaps late," \
                   "every hibernate and kill waits for it (stop libvirtd and run this again)"
        fi
    fi
    local i
    for i in $(seq 1 300); do
        if oc_libvirt_answers; then
            return 0
        fi
        if [ $((i % 50)) -eq 0 ]; then oc_log "    waiting for libvirtd ($((i / 10)) s)"; fi
        sleep 0.1
    done
    virsh -c qemu:///system version >&2 || true
    oc_die "libvirtd did not answer on qemu:///system within 30 s (is it running? see its log)"
}

oc_build() {
    local b=$OC_ROOT/$OC_BUILD_DIR
    if [ ! -f "$b/build.ninja" ] || [ ! -f "$b/meson-private/coredata.dat" ]; then
        # A build directory that is not configured (or is broken) is set up anew.
        local wipe=()
        [ ! -d "$b/meson-private" ] || wipe=(--wipe)
        meson setup "${wipe[@]}" "$b" "$OC_ROOT" --prefix="$OC_PREFIX" >&2 ||
            oc_die "meson setup failed"
    else
        # Configured: ninja re-runs meson by itself when a meson.build changed. Only fix
        # the prefix if it is not ours.
        local prefix
        prefix=$(meson introspect --buildoptions "$b" 2>/dev/null |
                 /usr/bin/python3 -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == "prefix"))' \
                 2>/dev/null) || prefix=''
        if [ "$prefix" != "$OC_PREFIX" ]; then
            meson setup --reconfigure "$b" "$OC_ROOT" --prefix="$OC_PREFIX" >&2 ||
                oc_die "meson setup --reconfigure failed"
        fi
    fi
    ninja -C "$b" >&2 || oc_die "build failed"
    meson install -C "$b" --quiet --only-changed >&2 || oc_die "meson install failed"
    ldconfig
}

oc_build_images() {
    local agent=$OC_ROOT/$OC_BUILD_DIR/guest/agent/oc-agent recipe name
    [ -x "$agent" ] || oc_die "agent not built: $agent"
    mkdir -p "$OC_STATE_DIR"
    "$OC_ROOT/guest/image/build-boot" --agent "$agent" --out "$OC_STATE_DIR/boot" ||
        oc_die "build-boot failed"
    for recipe in "$OC_ROOT"/guest/image/templates/*.recipe; do
        [ -f "$recipe" ] || continue
        name=$(basename -- "$recipe" .recipe)
        "$OC_ROOT/guest/image/build-template" --name "$name" --recipe "$recipe" \
            --out "$OC_STATE_DIR/templates" || oc_die "build-template $name failed"
        # Its ready snapshot, which create forks instead of booting: rebuilt
        # when the template, kernel, initramfs (agent), QEMU or libvirt changed.
        OC_STATE_DIR=$OC_STATE_DIR "$OC_ROOT/$OC_BUILD_DIR/bindings/cli/oc" template prepare "$name" ||
            oc_die "oc template prepare $name failed"
    done
}

# The library and its .pc file are installed under OC_PREFIX.
oc_pkg_config_env() {
    local d
    for d in "$OC_PREFIX/lib/pkgconfig" "$OC_PREFIX/lib/x86_64-linux-gnu/pkgconfig"; do
        case ":${PKG_CONFIG_PATH:-}:" in
            *":$d:"*) ;;
            *) PKG_CONFIG_PATH=$d${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH} ;;
        esac
    done
    export PKG_CONFIG_PATH
}

oc_prepare() {
    cd "$OC_ROOT" || oc_die "cannot cd to $OC_ROOT"
    oc_step "install packages" oc_install_packages
    oc_step "start libvirt" oc_start_daemons
    oc_step "build and install" oc_build
    oc_step "build guest images" oc_build_images
    oc_pkg_config_env
}
