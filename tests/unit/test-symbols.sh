#!/usr/bin/env bash
# test-symbols.sh: the shared library exports the public oc_* API and nothing
# else, and every symbol the header declares is exported (TAP).
set -u
lib=${1:?usage: test-symbols.sh LIBRARY HEADER}
header=${2:?usage: test-symbols.sh LIBRARY HEADER}
echo "1..2"
exported=$(nm -D --defined-only "$lib" | awk '$2 ~ /^[TDBR]$/ {sub(/@.*/, "", $3); print $3}' | sort -u)
stray=$(grep -v '^oc_' <<<"$exported" || true)
if [ -z "$stray" ]; then echo "ok 1 - only oc_* symbols are exported"; else
    echo "not ok 1 - symbols exported outside the API: $(echo "$stray" | tr '\n' ' ')"; fi
declared=$(grep -oE 'OC_API [^(]*\(' "$header" | sed -E 's/.*[ *]([a-z_0-9]+)\($/\1/' | grep '^oc_' | sort -u)
missing=$(comm -23 <(echo "$declared") <(echo "$exported"))
if [ -z "$missing" ]; then echo "ok 2 - every OC_API function in the header is exported"; else
    echo "not ok 2 - declared but not exported: $(echo "$missing" | tr '\n' ' ')"; fi
[ -z "$stray$missing" ]
