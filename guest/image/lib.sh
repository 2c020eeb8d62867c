# shellcheck shell=bash
# Helpers shared by build-boot and build-template (sourced; part of both scripts' cache keys).

# oc_img_swap_dir NEW OUT: put directory NEW in place of OUT. With renameat2(RENAME_EXCHANGE)
# the two directories are swapped atomically and the old one (now at NEW) is removed; where
# that is not possible, fall back to two renames (a reader may see OUT missing for an instant).
oc_img_swap_dir() {
    local new=$1 out=$2 old
    if [ -d "$out" ]; then
        if /usr/bin/python3 - "$new" "$out" 2>/dev/null <<'EOF'
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD, RENAME_EXCHANGE = -100, 2
a, b = (os.fsencode(p) for p in sys.argv[1:3])
if libc.renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE) != 0:
    sys.exit(1)
EOF
        then
            rm -rf -- "$new"
        else
            old=$(dirname -- "$out")/.$(basename -- "$out").old.$$
            rm -rf -- "$old"
            mv -T -- "$out" "$old"
            mv -T -- "$new" "$out"
            rm -rf -- "$old"
        fi
    else
        mv -T -- "$new" "$out"
    fi
    sync "$(dirname -- "$out")" 2>/dev/null || sync
}

# oc_img_now_ms: milliseconds since the epoch.
oc_img_now_ms() { echo $(($(date +%s%N) / 1000000)); }

# oc_img_secs MS: "1.234" for a duration in milliseconds.
oc_img_secs() { printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)); }
