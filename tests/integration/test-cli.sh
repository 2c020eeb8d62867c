#!/usr/bin/env bash
# test-cli.sh: the `oc` verbs against a real sandbox, with TAP output.
# $OC is the oc binary to test.
set -u
oc=${OC:?set OC to the oc binary}
n=0 failed=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else not_ok "$what"; fi; }

echo "1..83"
tmp=$(mktemp -d)
id="" forks="" cp="" daemon="" tmux_session=oc-test-shell-$$
cleanup() {
    tmux kill-session -t "$tmux_session" 2>/dev/null
    [ -n "$daemon" ] && kill "$daemon" 2>/dev/null && wait "$daemon"
    # shellcheck disable=SC2086 # one word a fork
    [ -n "$forks" ] && "$oc" kill $forks >/dev/null 2>&1
    [ -n "$cp" ] && "$oc" checkpoint delete "$cp" >/dev/null 2>&1
    [ -n "$id" ] && "$oc" kill "$id" >/dev/null 2>&1
    rm -rf "$tmp"
}
trap cleanup EXIT

"$oc" create --memory 192 --meta oc-test=cli --json >"$tmp/create.json" 2>"$tmp/create.err"
id=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["sandboxId"])' "$tmp/create.json" 2>/dev/null)
check "oc create --json prints the new sandbox" test -n "$id"
check "oc create warns once about TCG when there is no KVM" \
    bash -c "[ -e /dev/kvm ] || [ \"\$(grep -c 'TCG.*not a security boundary' '$tmp/create.err')\" = 1 ]"

"$oc" template list >"$tmp/templates.txt"
check "oc template list shows base" grep -q '^base  ' "$tmp/templates.txt"
check "oc template get --json describes it" python3 -c '
import json, sys; t = json.load(sys.stdin)[0]
assert t["template"] == "base" and t["parent"] is None and t["sizeBytes"] > 0 and t["steps"] == [], t
' < <("$oc" template get --json base)
"$oc" template delete base 2>"$tmp/tdel.err"
check "oc template delete of a template in use fails" test $? -eq 1
check "and names what uses it" grep -Eq 'template base is in use by (checkpoint cp-|sandbox sb-)' "$tmp/tdel.err"

# template build: settings only, so no build sandbox boots
tb=cli-build-$$
printf 'FROM base\nARG V=1\nENV A=$V\nUSER nobody\n' >"$tmp/Dockerfile"
"$oc" template build "$tb" -f "$tmp/Dockerfile" --build-arg V=2 >"$tmp/build1.out" 2>&1
check "oc template build prints each step and builds the template" bash -c \
    "grep -qx '\[1/2\] ENV A=2' '$tmp/build1.out' && grep -qx '\[2/2\] USER nobody' '$tmp/build1.out' && grep -q '^template $tb built in' '$tmp/build1.out'"
"$oc" template build "$tb" -f "$tmp/Dockerfile" --build-arg V=2 >"$tmp/build2.out" 2>&1
check "an unchanged rebuild says cached for every step" \
    test "$(grep -c '^\[[12]/2\] .* (cached)$' "$tmp/build2.out")" = 2
check "oc template get shows the env and user its sandboxes get" bash -c \
    "'$oc' template get '$tb' | grep -qx '  env A=2' && '$oc' template get '$tb' | grep -qx '  user nobody'"
"$oc" template build ../x -f "$tmp/Dockerfile" 2>"$tmp/build3.err"
check "a template name that leaves the templates directory is refused" bash -c \
    "[ $? -eq 1 ] && grep -q \"'../x' is not valid\" '$tmp/build3.err'"
printf 'FROM base\nEXPOSE 80\n' >"$tmp/Dockerfile.bad"
"$oc" template build "$tb-bad" -f "$tmp/Dockerfile.bad" 2>"$tmp/build4.err"
check "an unsupported instruction is refused, naming its line" bash -c \
    "[ $? -eq 1 ] && grep -q 'line 2: EXPOSE is not supported' '$tmp/build4.err'"
"$oc" template delete "$tb" >/dev/null

# template import and prune: the refusals need no VM
ti=cli-import-$$
"$oc" template import "$ti" "$tmp/missing.tar" >/dev/null 2>"$tmp/imp1.err"
check "oc template import of a missing file fails, naming it" bash -c \
    "[ $? -eq 1 ] && grep -q 'missing.tar: no such file' '$tmp/imp1.err'"
"$oc" template import "$ti" "$tmp/Dockerfile" >"$tmp/imp2.out" 2>"$tmp/imp2.err"
check "oc template import of a file that is no tar fails" bash -c \
    "[ $? -eq 1 ] && grep -q 'is not a tar archive' '$tmp/imp2.err'"
check "and leaves no template" bash -c "! '$oc' template list | grep -q '^$ti '"
check "oc template prune --json reports what it removed and kept" python3 -c '
import json, sys; r = json.load(sys.stdin)
assert r["removed"] >= 0 and r["bytesFreed"] >= 0 and r["kept"] >= 0, r
' < <("$oc" template prune --json)

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

# Agent sessions, driven by the base template's reference runner.
agent=$("$oc" agent start --prompt 'run: echo cli-agent-ok' "$id")
check "oc agent start prints the new session's id" bash -c "[[ '$agent' =~ ^[0-9]+$ ]]"
# Waits until `oc agent attach --no-follow` (the history) holds $1.
agent_history_has() {
    for _ in $(seq 1 600); do
        "$oc" agent attach --no-follow "$id" "$agent" 2>/dev/null | grep -qF "$1" && return 0
        sleep 0.2
    done
    return 1
}
check "oc agent attach prints its events, the tool use among them" \
    agent_history_has '"type":"tool_use_summary","tool":"shell","command":"echo cli-agent-ok","exit_code":0,"output":"cli-agent-ok\n"'
"$oc" agent prompt "$id" "$agent" 'second prompt'
check "oc agent prompt sends a prompt it answers" agent_history_has '"text":"You said: second prompt"'
check "oc agent list shows it, and not plain sessions" bash -c \
    "'$oc' agent list '$id' | grep -q '^$agent .*running.*/usr/local/bin/oc-agent-runner' && ! '$oc' agent list '$id' | grep -q 'sleep 1000'"
"$oc" agent kill "$id" "$agent" && sleep 0.5
check "oc agent kill ends it" bash -c \
    "'$oc' agent list --json '$id' | python3 -c 'import json,sys; l=json.load(sys.stdin); assert any(s[\"sessionID\"] == \"$agent\" and not s[\"running\"] for s in l), l'"
"$oc" agent start --follow --prompt 'exit: 5' "$id" >"$tmp/agent.out"
rc=$?
check "oc agent start --follow prints the events and passes the exit code through" \
    bash -c "[ $rc -eq 5 ] && grep -q '\"type\":\"ready\"' '$tmp/agent.out' && grep -q '\"type\":\"turn_complete\"' '$tmp/agent.out'"

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
# size, the exit code, and the local terminal restored afterwards.  The
# session's name is this run's own: tmux has one server per user, and two
# runs at once (two checkouts) must not drive each other's terminal.
tmux_wait() { # PATTERN: waits up to 60 s for the pane to show it
    local i
    for i in $(seq 1 600); do
        tmux capture-pane -t "$tmux_session" -p -S -50 | grep -q -- "$1" && return 0
        sleep 0.1
    done
    tmux capture-pane -t "$tmux_session" -p -S -50 | sed 's/^/# pane: /'
    return 1
}
tmux kill-session -t "$tmux_session" 2>/dev/null
tmux new-session -d -s "$tmux_session" -x 120 -y 30 \
    "stty -g >'$tmp/tty.before'; '$oc' shell '$id'; echo \$? >'$tmp/shell.rc'; stty -g >'$tmp/tty.after'; sleep 600"
check "oc shell shows the sandbox's prompt" tmux_wait "root@.*[#] *\$"
# shellcheck disable=SC2016 # expands in the guest
tmux send-keys -t "$tmux_session" 'tty; stty size; echo hi-$((6*7))' Enter
check "oc shell runs typed commands on a terminal of the window's size" \
    bash -c "tmux_session=$tmux_session; $(declare -f tmux_wait); tmux_wait '^hi-42' && tmux_wait '^30 120' && tmux_wait '^/dev/pts/'"
tmux resize-window -t "$tmux_session" -x 100 -y 40
sleep 1
tmux send-keys -t "$tmux_session" 'stty size' Enter
check "oc shell passes window size changes on (SIGWINCH)" tmux_wait '^40 100'
tmux send-keys -t "$tmux_session" 'sleep 100' Enter
sleep 1
tmux send-keys -t "$tmux_session" C-c
tmux send-keys -t "$tmux_session" 'echo after-$((1+2))' Enter
check "Ctrl-C interrupts the program in the sandbox, not oc shell" tmux_wait '^after-3'
tmux send-keys -t "$tmux_session" 'top -d 0.5' Enter
check "a full-screen program draws (top)" tmux_wait '^top - .*load average'
tmux send-keys -t "$tmux_session" q
tmux send-keys -t "$tmux_session" 'clear; echo back-$((2+2))' Enter
check "and gives the terminal back when it quits" tmux_wait '^back-4'
tmux send-keys -t "$tmux_session" 'exit 3' Enter
for _ in $(seq 1 300); do [ -s "$tmp/tty.after" ] && break; sleep 0.1; done
check "oc shell exits with the shell's exit code" test "$(cat "$tmp/shell.rc" 2>/dev/null)" = 3
check "oc shell restores the local terminal" cmp -s "$tmp/tty.before" "$tmp/tty.after"
tmux kill-session -t "$tmux_session" 2>/dev/null

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
check "oc set-timeout 0 disables the idle timeout; info gives no reason for a running sandbox" python3 -c '
import json,sys; i=json.load(open(sys.argv[1])); assert i["timeout"] == 0 and "endAt" not in i, i
assert i["reason"] is None, i' "$tmp/info.json"
"$oc" hibernate sb-000000000000 2>"$tmp/err"
rc=$?
check "oc hibernate of an unknown id fails and names it" \
    bash -c "[ $rc -eq 1 ] && grep -q 'sb-000000000000' '$tmp/err'"
"$oc" exec "$id" -- sh -c 'cat /proc/sys/kernel/random/boot_id' >"$tmp/boot.before"
out=$("$oc" reboot "$id")
check "oc reboot restarts the guest from its disk" bash -c "[ '$out' = '$id rebooted' ] &&
    ! '$oc' exec '$id' -- cat /proc/sys/kernel/random/boot_id | cmp -s - '$tmp/boot.before'"
"$oc" reboot --hard sb-000000000000 2>"$tmp/err"
rc=$?
check "oc reboot --hard of an unknown id fails and names it" \
    bash -c "[ $rc -eq 1 ] && grep -q 'sb-000000000000' '$tmp/err'"

# Egress policy (docs/network.md): set on a running sandbox, read back.
"$oc" network set --json "$id" --allow-out 10.0.2.2:8080 --deny-out 10.0.0.0/8 >"$tmp/net.json"
check "oc network set --json replaces the egress policy and shows it" python3 -c '
import json,sys; n=json.load(open(sys.argv[1]))["network"]
assert n == {"allowOut": ["10.0.2.2:8080"], "denyOut": ["10.0.0.0/8"], "blockAll": False}, n' "$tmp/net.json"
"$oc" network set "$id" --allow-out 10.0.0.0/33 2>"$tmp/err"
rc=$?
check "a bad entry fails, names it, and changes nothing" bash -c "[ $rc -eq 1 ] && \
    grep -q \"'10.0.0.0/33'\" '$tmp/err' && '$oc' network get '$id' | grep -q '^allowOut: 10.0.2.2:8080\$'"
"$oc" network clear "$id" >/dev/null && "$oc" info --json "$id" >"$tmp/info.json"
check "oc network clear removes it; oc info --json shows none" python3 -c '
import json,sys; n=json.load(open(sys.argv[1]))["network"]
assert n == {"allowOut": [], "denyOut": [], "blockAll": False}, n' "$tmp/info.json"

# Checkpoints: forks resume with the disk as it was, under their own
# hostnames; restore reverts in place.
"$oc" exec "$id" -- 'echo before >/root/cp-file'
"$oc" checkpoint create --json "$id" cli-test >"$tmp/cp.json"
cp=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["id"])' "$tmp/cp.json" 2>/dev/null)
check "oc checkpoint create --json describes the new checkpoint" python3 -c '
import json,sys; c=json.load(open(sys.argv[1]))
assert c["id"].startswith("cp-") and (c["name"], c["sandboxId"], c["template"], c["memoryMB"]) == ("cli-test", sys.argv[2], "base", 192), c
assert c["sizeBytes"] > 0 and c["createdAt"].endswith("Z"), c' "$tmp/cp.json" "$id"
"$oc" checkpoint list --json --sandbox "$id" >"$tmp/cps.json"
check "oc checkpoint list --json --sandbox lists it" python3 -c '
import json,sys; l=json.load(open(sys.argv[1])); assert [c["id"] for c in l] == [sys.argv[2]], l' "$tmp/cps.json" "$cp"
check "oc checkpoint list shows it in the table" \
    bash -c "'$oc' checkpoint list | grep -q '^$cp  *cli-test  *$id  *20.*M\$'"

forks=$("$oc" checkpoint spawn --count 2 --metadata oc-test=cli-fork "$cp" | tr '\n' ' ')
read -r fork1 fork2 extra <<<"$forks"
check "oc checkpoint spawn --count 2 prints two new ids" \
    bash -c "[[ '$fork1' == sb-* && '$fork2' == sb-* && '$fork1' != '$fork2' && -z '$extra' ]]"
check "both forks see the file written before the checkpoint" bash -c \
    "[ \"\$('$oc' exec '$fork1' -- cat /root/cp-file)\" = before ] && [ \"\$('$oc' exec '$fork2' -- cat /root/cp-file)\" = before ]"
check "each fork's hostname is its own id" bash -c \
    "[ \"\$('$oc' exec '$fork1' -- hostname)\" = '$fork1' ] && [ \"\$('$oc' exec '$fork2' -- hostname)\" = '$fork2' ]"
"$oc" ls --json --meta oc-test=cli-fork >"$tmp/forks.json"
check "oc ls --json shows the forks' origin and checkpoint" python3 -c '
import json,sys; l=json.load(open(sys.argv[1]))
assert sorted((s["sandboxId"], s["origin"], s["checkpoint"]) for s in l) == sorted((f, "checkpoint", sys.argv[2]) for f in sys.argv[3:]), l
' "$tmp/forks.json" "$cp" "$fork1" "$fork2"
"$oc" checkpoint spawn --json --timeout 600 -e CP_ENV=1 "$cp" >"$tmp/spawn.json" 2>/dev/null
one=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[0]["sandboxId"])' "$tmp/spawn.json" 2>/dev/null)
forks="$forks $one"
check "oc checkpoint spawn --json prints the fork's info, with its timeout and env" python3 -c '
import json,sys; l=json.load(open(sys.argv[1])); s=l[0]
assert len(l) == 1 and (s["origin"], s["checkpoint"], s["timeout"], s["envs"]) == ("checkpoint", sys.argv[2], 600, {"CP_ENV": "1"}), l
' "$tmp/spawn.json" "$cp"

"$oc" exec "$id" -- rm /root/cp-file
out=$("$oc" checkpoint restore "$id" "$cp")
check "oc checkpoint restore says so" test "$out" = "$id restored to $cp"
check "and brings back a file deleted after the checkpoint" \
    test "$("$oc" exec "$id" -- cat /root/cp-file 2>&1)" = before
check "oc info names the checkpoint it was restored from" \
    bash -c "'$oc' info '$id' | grep -qx 'checkpoint: $cp'"
# shellcheck disable=SC2086 # one word a fork
"$oc" kill $forks >/dev/null
check "oc kill removes the forks" bash -c "[ \"\$('$oc' ls --meta oc-test=cli-fork | wc -l)\" -eq 1 ]"
forks=""
"$oc" checkpoint delete "$cp" >"$tmp/out"
check "oc checkpoint delete says so" test "$(cat "$tmp/out")" = "deleted $cp"
check "and it is gone from the list" bash -c "! '$oc' checkpoint list | grep -q '^$cp '"
"$oc" checkpoint spawn "$cp" >/dev/null 2>"$tmp/err"
rc=$?
check "oc checkpoint spawn of a deleted checkpoint fails and says so" \
    bash -c "[ $rc -eq 1 ] && grep -q 'no checkpoint' '$tmp/err'"
cp=""
usage_errors=0
for args in "checkpoint" "checkpoint nosuch" "checkpoint create $id" "checkpoint restore $id" \
    "checkpoint delete" "checkpoint spawn" "checkpoint spawn --count 0 cp-0" "template status" \
    "pool" "daemon --pool -1"; do
    # shellcheck disable=SC2086 # split into words
    "$oc" $args >/dev/null 2>&1
    rc=$?
    [ $rc -eq 2 ] || { echo "# oc $args: exit $rc, not 2"; usage_errors=$((usage_errors + 1)); }
done
check "missing or wrong arguments of the new verbs are usage errors (exit 2)" test $usage_errors -eq 0

# The ready snapshot of base and the warm pool.
check "oc template status base says whether the snapshot is fresh" \
    bash -c "'$oc' template status base | grep -Eqx 'base: (fresh|stale)'"
"$oc" template prepare base >"$tmp/out"
check "oc template prepare base leaves it fresh" bash -c \
    "grep -Eqx 'base: (built|fresh)' '$tmp/out' && '$oc' template status --json base | grep -q '\"ready\" : true'"
"$oc" pool status >"$tmp/pool.out"
check "oc pool status prints a header and a row for base" \
    bash -c "head -1 '$tmp/pool.out' | grep -q '^TEMPLATE  *READY  *TARGET\$' && sed -n 2p '$tmp/pool.out' | grep -Eq '^base  *[0-9]+  *0\$'"
"$oc" daemon --pool 1 2>"$tmp/daemon.err" &
daemon=$!
ready=0
for _ in $(seq 1 180); do
    ready=$("$oc" pool status --json base | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["ready"])')
    [ "${ready:-0}" -ge 1 ] && break
    sleep 1
done
check "oc daemon --pool 1 fills the warm pool" test "${ready:-0}" -ge 1
kill "$daemon"
wait "$daemon"
rc=$?
daemon=""
check "and exits 0 on SIGTERM, having said what it keeps" \
    bash -c "[ $rc -eq 0 ] && grep -q 'keeping 1 ready sandbox per pooled template' '$tmp/daemon.err'"

"$oc" kill "$id" >/dev/null
check "oc kill removes it" bash -c "! '$oc' ls | grep -q '^$id '"
"$oc" exec "$id" -- true 2>"$tmp/err"
rc=$?
id=""
check "exec on a killed sandbox fails and names it" bash -c "[ $rc -ne 0 ] && grep -q 'sb-' '$tmp/err'"

echo "# $((n - failed)) passed, $failed failed"
[ "$failed" -eq 0 ]
