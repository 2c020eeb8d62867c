#!/usr/bin/env bash
# test-cli.sh: the `oc` verbs against a real sandbox, with TAP output.
# $OC is the oc binary to test.
set -u
oc=${OC:?set OC to the oc binary}
n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else not_ok "$what"; fi; }

echo "1..38"
tmp=$(mktemp -d)
id=""
cleanup() { [ -n "$id" ] && "$oc" kill "$id" >/dev/null 2>&1; rm -rf "$tmp"; }
trap cleanup EXIT

"$oc" create --memory 192 --meta oc-test=cli --json >"$tmp/create.json" 2>"$tmp/create.err"
id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["sandboxId"])' "$tmp/create.json" 2>/dev/null)
check "oc create --json prints the new sandbox" test -n "$id"
check "oc create warns once about TCG when there is no KVM" \
    bash -c "[ -e /dev/kvm ] || grep -q 'TCG' '$tmp/create.err'"

"$oc" ls >"$tmp/ls.txt"
check "oc ls shows it in the table" grep -q "^$id .*running" "$tmp/ls.txt"
"$oc" ls --json --meta oc-test=cli >"$tmp/ls.json"
check "oc ls --json --meta filters" python3 -c '
import json,sys; l=json.load(open(sys.argv[1])); assert [s["sandboxId"] for s in l] == [sys.argv[2]], l' "$tmp/ls.json" "$id"

out=$("$oc" exec "$id" -- echo hello world)
check "oc exec runs argv" test "$out" = "hello world"
"$oc" exec "$id" -- 'exit 7'
check "oc exec passes the exit code through" test $? -eq 7
# shellcheck disable=SC2016 # $X expands in the guest
out=$(printf 'abc' | "$oc" exec -i -e X=1 "$id" -- 'cat; echo -n :$X' 2>&1)
check "oc exec -i sends stdin; -e sets env" test "$out" = "abc:1"
"$oc" exec "$id" -- no-such-command 2>/dev/null
check "a missing command exits 127" test $? -eq 127

head -c 3000000 /dev/urandom >"$tmp/blob"
"$oc" files put "$id" "$tmp/blob" /root/blob
"$oc" files cat "$id" /root/blob >"$tmp/back"
check "oc files put then cat round-trips 3 MB" cmp -s "$tmp/blob" "$tmp/back"
check "oc files ls lists it" bash -c "'$oc' files ls '$id' /root | grep -q ' 3000000 blob$'"
"$oc" files cat "$id" /root/missing 2>"$tmp/err"
rc=$?
check "oc files cat of a missing file fails and names it" \
    bash -c "[ $rc -eq 1 ] && grep -q '/root/missing' '$tmp/err'"
"$oc" exec "$id" 2>/dev/null
check "oc exec without -- is a usage error" test $? -eq 2

session=$("$oc" exec --detach "$id" -- sleep 1000)
check "oc exec --detach prints the new session's id" bash -c "[[ '$session' =~ ^[0-9]+$ ]]"
check "oc exec list shows it running" bash -c "'$oc' exec list '$id' | grep -q '^$session .*running.*sleep 1000'"
"$oc" exec kill "$id" "$session" && sleep 0.5
check "oc exec kill ends it (SIGKILL: exit 137)" bash -c \
    "'$oc' exec list --json '$id' | python3 -c 'import json,sys; l=json.load(sys.stdin); assert any(s[\"sessionId\"] == $session and not s[\"running\"] and s[\"exitCode\"] == 137 for s in l), l'"

session=$("$oc" exec --detach "$id" -- 'for i in 1 2 3; do echo $i; sleep 0.3; done; echo bye >&2; exit 4')
"$oc" exec attach "$id" "$session" >"$tmp/attach.out" 2>"$tmp/attach.err"
rc=$?
check "oc exec attach follows the output and passes the exit code through" \
    bash -c "[ $rc -eq 4 ] && [ \"\$(cat '$tmp/attach.out')\" = \"\$(printf '1\n2\n3')\" ] && grep -qx bye '$tmp/attach.err'"
session=$("$oc" exec --detach "$id" -- cat)
out=$(printf 'to cat' | "$oc" exec attach -i "$id" "$session")
check "oc exec attach -i sends stdin, and its end closes the session's stdin" test "$out" = "to cat"
"$oc" exec attach "$id" 999999 2>"$tmp/err"
rc=$?
check "oc exec attach of an unknown session fails and says so" \
    bash -c "[ $rc -eq 1 ] && grep -q 'no such session' '$tmp/err'"

# Other processes are served while one holds its agent connection to follow
# a session (QEMU takes one client per port).  The 20 s bounds only turn a
# hang into a failure; without free ports each call would wait for 30 s.
session=$("$oc" exec --detach "$id" -- 'echo ready; exec sleep 1000')
"$oc" exec attach "$id" "$session" >"$tmp/follow.out" 2>/dev/null &
follow=$!
for _ in $(seq 1 600); do grep -q ready "$tmp/follow.out" && break; sleep 0.1; done
timeout 20 "$oc" exec "$id" -- echo hi >"$tmp/hi.out" 2>&1 &
hi=$!
timeout 20 "$oc" exec list "$id" >"$tmp/list.out" 2>&1
list_rc=$?
wait $hi
hi_rc=$?
check "oc exec answers while another process follows a session" \
    bash -c "[ $hi_rc -eq 0 ] && [ \"\$(cat '$tmp/hi.out')\" = hi ]"
check "so does oc exec list, at the same time" \
    bash -c "[ $list_rc -eq 0 ] && grep -q '^$session .*running' '$tmp/list.out'"
check "the follower is still attached meanwhile" kill -0 $follow
"$oc" exec kill "$id" "$session"
timeout 20 tail --pid=$follow -f /dev/null || kill $follow 2>/dev/null
wait $follow
rc=$?
check "and ends with the session it follows (exit 137)" test $rc -eq 137

# oc shell in a real terminal (tmux): the prompt, typed commands, window
# size, the exit code, and the local terminal restored afterwards.
tmux_wait() { # PATTERN: waits up to 60 s for the pane to show it
    local i
    for i in $(seq 1 600); do
        tmux capture-pane -t oc-test-shell -p -S -50 | grep -q -- "$1" && return 0
        sleep 0.1
    done
    tmux capture-pane -t oc-test-shell -p -S -50 | sed 's/^/# pane: /'
    return 1
}
tmux kill-session -t oc-test-shell 2>/dev/null
tmux new-session -d -s oc-test-shell -x 120 -y 30 \
    "stty -g >'$tmp/tty.before'; '$oc' shell '$id'; echo \$? >'$tmp/shell.rc'; stty -g >'$tmp/tty.after'; sleep 600"
check "oc shell shows the sandbox's prompt" tmux_wait "root@.*[#] *\$"
# shellcheck disable=SC2016 # expands in the guest
tmux send-keys -t oc-test-shell 'tty; stty size; echo hi-$((6*7))' Enter
check "oc shell runs typed commands on a terminal of the window's size" \
    bash -c "$(declare -f tmux_wait); tmux_wait '^hi-42' && tmux_wait '^30 120' && tmux_wait '^/dev/pts/'"
tmux resize-window -t oc-test-shell -x 100 -y 40
sleep 1
tmux send-keys -t oc-test-shell 'stty size' Enter
check "oc shell passes window size changes on (SIGWINCH)" tmux_wait '^40 100'
tmux send-keys -t oc-test-shell 'sleep 100' Enter
sleep 1
tmux send-keys -t oc-test-shell C-c
tmux send-keys -t oc-test-shell 'echo after-$((1+2))' Enter
check "Ctrl-C interrupts the program in the sandbox, not oc shell" tmux_wait '^after-3'
tmux send-keys -t oc-test-shell 'top -d 0.5' Enter
check "a full-screen program draws (top)" tmux_wait '^top - .*load average'
tmux send-keys -t oc-test-shell q
tmux send-keys -t oc-test-shell 'clear; echo back-$((2+2))' Enter
check "and gives the terminal back when it quits" tmux_wait '^back-4'
tmux send-keys -t oc-test-shell 'exit 3' Enter
for _ in $(seq 1 300); do [ -s "$tmp/tty.after" ] && break; sleep 0.1; done
check "oc shell exits with the shell's exit code" test "$(cat "$tmp/shell.rc" 2>/dev/null)" = 3
check "oc shell restores the local terminal" cmp -s "$tmp/tty.before" "$tmp/tty.after"
tmux kill-session -t oc-test-shell 2>/dev/null

out=$("$oc" hibernate "$id")
check "oc hibernate says so" test "$out" = "$id hibernated"
check "oc ls shows it hibernated" bash -c "'$oc' ls | grep -q '^$id .*hibernated'"
"$oc" wake --json --timeout 900 "$id" >"$tmp/wake.json"
check "oc wake --json --timeout restores it with the new timeout" python3 -c '
import json,sys; w=json.load(open(sys.argv[1]))
assert (w["status"], w["wake"], w["timeout"], w["lastWake"]) == ("running", "restored", 900, "restored"), w
' "$tmp/wake.json"
"$oc" set-timeout "$id" soon 2>"$tmp/err"
rc=$?
check "oc set-timeout with a bad number is a usage error that names it" \
    bash -c "[ $rc -eq 2 ] && grep -q \"'soon' is not a number of seconds\" '$tmp/err'"
"$oc" set-timeout "$id" 0 && "$oc" info --json "$id" >"$tmp/info.json"
check "oc set-timeout 0 disables the idle timeout" python3 -c '
import json,sys; i=json.load(open(sys.argv[1])); assert i["timeout"] == 0 and "endAt" not in i, i' "$tmp/info.json"
"$oc" hibernate sb-000000000000 2>"$tmp/err"
rc=$?
check "oc hibernate of an unknown id fails and names it" \
    bash -c "[ $rc -eq 1 ] && grep -q 'sb-000000000000' '$tmp/err'"

"$oc" kill "$id" >/dev/null
check "oc kill removes it" bash -c "! '$oc' ls | grep -q '^$id '"
"$oc" exec "$id" -- true 2>"$tmp/err"
rc=$?
id=""
check "exec on a killed sandbox fails and names it" bash -c "[ $rc -ne 0 ] && grep -q 'sb-' '$tmp/err'"

echo "# $((n - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
