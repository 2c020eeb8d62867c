#!/usr/bin/python3
"""test-agent-sessions.py: background and PTY sessions of a real
`oc-agent --listen SOCK` over the wire protocol of docs/protocol.md, with
TAP: output, reattach, stdin, limits, slow readers, terminals, resize.

    test-agent-sessions.py PATH/TO/oc-agent

Standard library only; the protocol client is in test-agent-wire.py.
"""
import hashlib
import os
import re
import runpy
import signal
import sys
import time

sys.dont_write_bytecode = True  # keep the source tree clean
globals().update({k: v for k, v in runpy.run_path(os.path.join(
    os.path.dirname(os.path.abspath(__file__)), 'test-agent-wire.py')).items()
    if not k.startswith('__')})

TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


# ---- sessions ----

def session_start(c, command=None, argv=None, extra=b''):
    p = b''.join(fld(F_ARG, a) for a in argv or [])
    if command is not None:
        p += fld(F_COMMAND, command)
    r = c.op(OP_SESSION_START, p + extra)
    assert r.result and r.result.int(F_SESSION), r
    return r.result.int(F_SESSION)


def session_kill(c, sess, sig=None):
    return c.op(OP_SESSION_KILL, u32(F_SESSION, sess) + (u32(F_SIGNAL, sig) if sig else b''))


def session_list(c):
    r = c.op(OP_SESSION_LIST, b'')
    assert r.result and r.eofs == {1}, r
    return parse_records(r.out, key=F_SESSION)


def kill_attached(c, sess, a):
    """SESSION_KILL with SIGKILL, then attach stream a to its end."""
    assert session_kill(c, sess).result
    a.finish()
    assert a.result.int(F_EXIT_SIGNAL) == 9 and a.eofs == {1, 2}, (a.result.list, a.eofs)


class Attach:
    """One SESSION_ATTACH stream: scrollback before REPLAY_END, live after;
    returns credit like a good host and checks the agent keeps to it."""

    def __init__(self, c, sess):
        self.c = c
        self.sid = c.open(OP_SESSION_ATTACH, u32(F_SESSION, sess))
        self.replay, self.live, self.err = bytearray(), bytearray(), bytearray()
        self.replayed = False
        self.size = None  # (cols, rows) for a PTY session
        self.skipped = {1: 0, 2: 0}
        self.result = self.error = None
        self.eofs = set()
        self.got = {1: 0, 2: 0}
        self.granted = {1: WINDOW, 2: WINDOW}

    @property
    def out(self):
        return self.replay + self.live

    def done(self):
        return self.result is not None or self.error is not None

    def step(self, timeout=10.0):
        t, ch, st, p = self.c.recv(timeout, self.sid)
        if t == DATA:
            assert ch in (1, 2) and ch not in self.eofs, (ch, self.eofs)
            self.got[ch] += len(p)
            assert self.got[ch] <= self.granted[ch], 'agent exceeded credit'
            if ch == 2:
                self.err += p
            else:
                (self.live if self.replayed else self.replay).extend(p)
            if self.granted[ch] - self.got[ch] < WINDOW // 2:
                self.c.window(self.sid, ch, WINDOW // 2)
                self.granted[ch] += WINDOW // 2
        elif t == INFO and Fields(p).get(F_SKIPPED) is not None:
            assert ch in (1, 2), ch
            self.skipped[ch] += Fields(p).int(F_SKIPPED)
        elif t == INFO and Fields(p).get(F_COLS) is not None:
            # a PTY session's size, before anything else
            assert not self.got[1] and not self.got[2] and not self.replayed and self.size is None
            self.size = (Fields(p).int(F_COLS), Fields(p).int(F_ROWS))
        elif t == INFO:
            assert not self.replayed and Fields(p).int(F_REPLAY_END) == 1, Fields(p).list
            self.replayed = True
        elif t == EOF:
            self.eofs.add(ch)
        elif t == WINDOW_T:
            assert ch == 0 and len(p) == 4, (ch, p)  # stdin credit returned
        elif t == RESULT:
            self.result = Fields(p)
        elif t == ERROR:
            self.error = Fields(p)
        else:
            raise AssertionError('unexpected frame %#x' % t)
        return t

    def until(self, pred, timeout=10.0):
        end = time.monotonic() + timeout
        while not pred():
            assert not self.done(), (self.result and self.result.list, self.error and self.error.list)
            self.step(max(0.01, end - time.monotonic()))

    def finish(self, timeout=15.0):
        end = time.monotonic() + timeout
        while not self.done():
            self.step(max(0.01, end - time.monotonic()))
        return self


def lines(b):
    return [int(x) for x in bytes(b).split()]


def agent_rss_kib(ctx):
    for line in open('/proc/%d/status' % ctx.agent.proc.pid):
        if line.startswith('VmRSS:'):
            return int(line.split()[1])


@test
def session_output(ctx):
    """session: 1000 lines come through an attach in order, then exit 0"""
    c = ctx.c
    sess = session_start(c, 'for i in $(seq 1 1000); do echo $i; sleep 0.001; done')
    a = Attach(c, sess).finish(30)
    assert a.result and a.result.int(F_EXIT_CODE) == 0, a.result and a.result.list
    assert a.replayed and a.eofs == {1, 2}, (a.replayed, a.eofs)
    assert lines(a.out) == list(range(1, 1001)), bytes(a.out[-100:])


@test
def session_reattach(ctx):
    """session: detach, reattach replays the missed lines, no gap or duplicate at the seam"""
    c = ctx.c
    sess = session_start(c, 'i=0; while :; do i=$((i+1)); echo $i; sleep 0.1; done')
    a = Attach(c, sess)
    a.until(lambda: len(lines(a.out)) >= 3)
    c.send(CANCEL, 0, a.sid)
    a.finish()
    assert a.result is not None and a.result.get(F_EXIT_CODE) is None, 'detach is an empty RESULT'
    seen = len(lines(a.out))
    time.sleep(1.0)
    assert session_list(c)[sess].int(F_RUNNING) == 1, 'detaching stopped the session'
    b = Attach(c, sess)
    b.until(lambda: b.replayed and len(lines(b.live)) >= 3)
    replay = lines(b.replay)
    assert replay[:1] == [1] and len(replay) >= seen + 5, (seen, replay)
    r = session_kill(c, sess)
    assert r.result, r
    b.finish()
    assert b.result.int(F_EXIT_SIGNAL) == 9 and b.eofs == {1, 2}, b.result.list
    got = lines(b.out)
    assert got == list(range(1, len(got) + 1)), got
    assert bytes(b.out).endswith(b'\n'), bytes(b.out[-20:])
    assert session_list(c)[sess].int(F_RUNNING) == 0


@test
def session_stdin(ctx):
    """session: 1 MiB on chan 0 through cat comes back whole; host EOF ends it"""
    c = ctx.c
    sess = session_start(c, argv=['cat'])
    data = os.urandom(1 << 20)
    a = Attach(c, sess)
    for i in range(0, len(data), MAX_PAYLOAD):
        c.send(DATA, 0, a.sid, data[i:i + MAX_PAYLOAD])
    c.send(EOF, 0, a.sid)
    a.finish(30)
    assert a.result and a.result.int(F_EXIT_CODE) == 0, a.result and a.result.list
    assert hashlib.sha256(a.out).digest() == hashlib.sha256(data).digest(), len(a.out)


@test
def session_survives(ctx):
    """session: outlives a hang-up and a new HELLO; attach works after"""
    c = ctx.c
    sess = session_start(c, 'echo hi; exec sleep 30')
    a = Attach(c, sess)
    a.until(lambda: a.replayed and a.out == b'hi\n')
    c = ctx.fresh()  # hang-up with an attach stream open
    time.sleep(0.2)
    f = session_list(c)[sess]
    assert f.int(F_RUNNING) == 1 and f.str(F_COMMAND) == 'echo hi; exec sleep 30', f.list
    c.hello()
    a = Attach(c, sess)
    a.until(lambda: a.replayed)
    assert a.replay == b'hi\n' and not a.live, a.replay
    c.send(SIGNAL, 0, a.sid, u32(F_SIGNAL, 15))
    a.finish()
    assert a.result.int(F_EXIT_SIGNAL) == 15, a.result.list


@test
def two_connections(ctx):
    """two connections at once: both on stream 1, a session shared, a hang-up or HELLO ends only its own"""
    c1 = ctx.fresh()
    c2 = ctx.agent.connect()
    try:
        # stream 1 on both at once: each connection's frames are its own
        s1 = c1.open(OP_EXEC, fld(F_ARG, 'cat') + u8(F_STDIN, 1))
        s2 = c2.open(OP_EXEC, fld(F_ARG, 'cat') + u8(F_STDIN, 1))
        assert s1 == s2 == 1, (s1, s2)
        c1.send(DATA, 0, 1, b'one')
        c2.send(DATA, 0, 1, b'two')
        c2.send(EOF, 0, 1)
        r2 = c2.collect(1)
        c1.send(EOF, 0, 1)
        r1 = c1.collect(1)
        assert r1.out == b'one' and r1.code == 0, r1
        assert r2.out == b'two' and r2.code == 0, r2
        # a session started on one connection is the other's too
        sess = session_start(c1, 'echo hi; exec sleep 30')
        a = Attach(c2, sess)
        a.until(lambda: a.replayed and a.out == b'hi\n')
        assert session_list(c1)[sess].int(F_RUNNING) == 1
        # c1 hangs up with an EXEC running: it dies, c2's EXEC and attach go on
        marker = os.path.join(ctx.tmp, 'marker-two')
        c1.open(OP_EXEC, fld(F_COMMAND, 'sleep 1; touch %s' % marker))
        sid = c2.open(OP_EXEC, fld(F_COMMAND, 'sleep 1.5; echo survived'))
        time.sleep(0.3)
        c1 = ctx.fresh()
        r = c2.collect(sid)
        assert r.out == b'survived\n' and r.code == 0, r
        assert not os.path.exists(marker), 'the EXEC of the hung-up connection survived'
        # a HELLO on c1 does not touch c2 either
        c1.hello()
        assert not a.done() and c2.ping() == b'ping'
        assert session_list(c1)[sess].int(F_RUNNING) == 1
        c2.send(SIGNAL, 0, a.sid, u32(F_SIGNAL, 15))
        a.finish()
        assert a.result.int(F_EXIT_SIGNAL) == 15 and a.eofs == {1, 2}, a.result.list
    finally:
        c2.close()


@test
def connection_limit(ctx):
    """a client past the 4 served at once waits, and is served when one leaves"""
    others = [ctx.agent.connect() for _ in range(3)]
    waiting = ctx.agent.connect(hello=False)
    try:
        waiting.send(PING, 0, 0, b'wait')
        assert waiting.quiet(0.5) == [], 'a fifth client was served'
        others.pop().close()
        t, ch, st, p = waiting.recv(10)
        assert t == PONG and p == b'wait', (t, p)
        assert all(o.ping() == b'ping' for o in others)
    finally:
        waiting.close()
        for o in others:
            o.close()


@test
def session_flood(ctx):
    """session: unattended flood keeps the agent's RSS under rings + 16 MiB; EXEC stays prompt"""
    c = ctx.c
    rss0 = agent_rss_kib(ctx)
    sess = session_start(c, argv=['yes'])
    bound = (2 * 1024) + 16 * 1024  # KiB: two 1 MiB rings + 16 MiB
    worst = 0
    end = time.monotonic() + 2.0
    while time.monotonic() < end:
        t0 = time.monotonic()
        r = c.exec(['echo', 'ok'])
        dt = time.monotonic() - t0
        assert r.out == b'ok\n' and dt < 1.0, (r, dt)
        worst = max(worst, agent_rss_kib(ctx))
        time.sleep(0.1)
    print('# agent VmRSS during the flood: %d KiB at most (%d KiB before)' % (worst, rss0))
    assert worst < bound, 'agent RSS %d KiB (was %d before the flood)' % (worst, rss0)
    a = Attach(c, sess)
    a.until(lambda: a.replayed)
    assert len(a.replay) == 1 << 20 and set(bytes(a.replay)) <= {ord('y'), ord('\n')}, len(a.replay)
    kill_attached(c, sess, a)


@test
def session_attach_late(ctx):
    """session: an attach after the ring dropped the start is told how much came before its scrollback"""
    c = ctx.c
    sess = session_start(c, 'exec head -c 3145728 /dev/zero')
    time.sleep(0.5)  # all written, nobody attached: the ring kept the last 1 MiB
    a = Attach(c, sess).finish()
    assert a.result.int(F_EXIT_CODE) == 0, a.result.list
    assert a.skipped[1] == 2 << 20 and len(a.out) == 1 << 20, (a.skipped, len(a.out))


@test
def session_reader_holds_back(ctx):
    """session: an attacher that keeps granting credit, however slowly, gets every byte: the process waits"""
    c = ctx.c
    n = 8 << 20
    sess = session_start(c, 'sleep 0.3; exec head -c %d /dev/zero' % n)
    a = Attach(c, sess)
    while not a.done():
        before = len(a.out)
        a.step(15)
        if len(a.out) // (256 << 10) != before // (256 << 10):
            time.sleep(0.05)  # a slow reader: 8 MiB take >= 1.6 s, the process far less
    assert a.result.int(F_EXIT_CODE) == 0, a.result.list
    assert a.skipped == {1: 0, 2: 0} and len(a.out) == n, (a.skipped, len(a.out))
    assert bytes(a.out) == bytes(n)


@test
def session_held_at_exit(ctx):
    """session: output held for an attacher that is behind is all delivered after the process exits"""
    c = ctx.c
    # More than the agent's output queue and ring take while the host reads
    # nothing, less than that plus the pipe: the process exits with output
    # still in its pipe, held for the attacher (which has credit).
    n = 7 << 19
    # it starts writing once attached (a byte on stdin), whatever the load
    sess = session_start(c, 'head -c 1 >/dev/null; exec head -c %d /dev/zero' % n)
    a = Attach(c, sess)
    c.send(DATA, 0, a.sid, b'x')
    time.sleep(2.5)  # past the agent's 1 s drain after an exit
    a.finish(30)
    assert a.result.int(F_EXIT_CODE) == 0, a.result.list
    assert a.skipped == {1: 0, 2: 0} and len(a.out) == n, (a.skipped, len(a.out))


@test
def session_slow_attacher(ctx):
    """session: an attacher that stops granting credit skips what the ring dropped, nothing else"""
    c = ctx.c
    n = 3000000
    expected = ''.join('%d\n' % i for i in range(1, n + 1)).encode()
    # the pause lets the attach begin before the first byte
    sess = session_start(c, 'sleep 0.3; exec seq 1 %d' % n)
    sid = c.open(OP_SESSION_ATTACH, u32(F_SESSION, sess))
    data, granted, stall = bytearray(), WINDOW, None
    pos, skips = 0, 0  # where in the whole output the next byte belongs
    while True:
        t, ch, st, p = c.recv(15, sid)
        if t == INFO and Fields(p).get(F_SKIPPED) is not None:
            assert ch == 1, ch
            k = Fields(p).int(F_SKIPPED)
            assert k > 0
            pos += k
            skips += 1
        elif t == DATA:
            assert ch == 1, ch
            # every byte is where the process wrote it, skips counted
            assert expected[pos:pos + len(p)] == p, (pos, len(p))
            pos += len(p)
            data += p
            assert len(data) <= granted, 'agent exceeded credit'
            if len(data) == WINDOW:
                time.sleep(1.0)  # seq finishes meanwhile; the ring drops
                stall = len(data)
                c.window(sid, 1, 64 * 1024 * 1024)
                granted += 64 * 1024 * 1024
        elif t == RESULT:
            assert Fields(p).int(F_EXIT_CODE) == 0, Fields(p).list
            break
        else:
            assert t in (INFO, EOF), t
    assert len(data) < len(expected) and data.endswith(b'%d\n' % n), len(data)
    assert pos == len(expected) and skips >= 1, (pos, skips)
    if stall is not None:
        # after the stall, exactly the ring: the newest 1 MiB
        rest = bytes(data[stall:])
        assert len(rest) == 1 << 20 and expected.endswith(rest), len(rest)
    # A live attacher slower than the process may also skip (the process
    # never waits), so the whole is runs of consecutive lines, in order,
    # joined where bytes were skipped (the joins may cut lines).
    runs, prev = [], None
    for tok in bytes(data).split(b'\n')[:-1]:
        v = int(tok) if tok.isdigit() else None
        if v is not None and prev is not None and v == prev + 1:
            runs[-1][1] = v
        elif v is not None:
            runs.append([v, v])
        prev = v
    runs = [r for r in runs if r[1] > r[0]]
    assert runs and runs[-1][1] == n, runs[-3:]
    assert all(b[0] > a[1] for a, b in zip(runs, runs[1:])), runs


@test
def session_list_kill_limit(ctx):
    """session: list fields, NOENT, unrunnable program, 64 running is LIMIT"""
    c = ctx.c
    t0 = int(time.time() * 1000)
    sess = session_start(c, argv=['sleep', '1000'])
    f = session_list(c)[sess]
    assert f.int(F_RUNNING) == 1 and f.int(F_PID) > 0, f.list
    assert [v.decode() for t, v in f.list if t == F_ARG] == ['sleep', '1000'], f.list
    assert abs(f.int(F_STARTED_MS) - t0) < 5000 and f.get(F_EXIT_CODE) is None, f.list
    assert session_kill(c, sess, 15).result
    a = Attach(c, sess).finish()
    assert a.result.int(F_EXIT_SIGNAL) == 15
    f = session_list(c)[sess]
    assert f.int(F_RUNNING) == 0 and f.int(F_EXIT_CODE) == 143 and f.int(F_EXIT_SIGNAL) == 15, f.list
    assert session_kill(c, 999999).errcode() == E_NOENT
    assert c.op(OP_SESSION_ATTACH, u32(F_SESSION, 999999)).errcode() == E_NOENT
    assert c.op(OP_SESSION_KILL, b'').errcode() == E_INVAL
    assert c.op(OP_SESSION_LIST, fld(F_PATH, '/')).errcode() == E_UNSUPPORTED

    timed = session_start(c, argv=['sleep', '1000'], extra=u32(F_TIMEOUT_MS, 200))
    a = Attach(c, timed).finish()
    assert a.result.int(F_TIMED_OUT) == 1 and a.result.int(F_EXIT_SIGNAL) == 9, a.result.list

    bad = session_start(c, argv=['oc-no-such-command-xyz'])
    assert bad > sess
    a = Attach(c, bad).finish()
    assert a.result.int(F_EXIT_CODE) == 127 and b'command not found' in a.err, a.err

    ids = [session_start(c, argv=['sleep', '1000']) for _ in range(64)]
    assert len(set(ids)) == 64 and min(ids) > bad
    r = c.op(OP_SESSION_START, fld(F_ARG, 'true'))
    assert r.errcode() == E_LIMIT, r
    listed = session_list(c)
    assert set(listed) == set(ids), sorted(listed)  # the exited ones were evicted
    for i in ids:
        assert session_kill(c, i).result
    end = time.monotonic() + 10
    while any(f.int(F_RUNNING) for f in session_list(c).values()):
        assert time.monotonic() < end, 'sessions did not exit'
        time.sleep(0.05)
    assert session_start(c, argv=['true']) > max(ids)


# ---- PTY sessions ----

def pty(cols=80, rows=24):
    return u32(F_COLS, cols) + u32(F_ROWS, rows)


def agent_fds(ctx):
    return sorted(os.listdir('/proc/%d/fd' % ctx.agent.proc.pid))


def conn_error(c):
    """The next ERROR on stream 0 (RESIZE complaints come there)."""
    t, ch, st, p = c.recv(stream=0)
    assert t == ERROR, (t, p)
    return Fields(p)


@test
def pty_tty(ctx):
    """pty session: a controlling terminal on 0, 1 and 2, TERM set, chan 2 empty"""
    c = ctx.c
    sess = session_start(c, 'tty; echo via-ctty >/dev/tty; echo to-stderr >&2; echo "TERM=$TERM"',
                         extra=pty())
    a = Attach(c, sess).finish()
    out = bytes(a.out)
    assert a.result.int(F_EXIT_CODE) == 0, (a.result.list, out)
    assert re.match(rb'/dev/pts/\d+\r\nvia-ctty\r\nto-stderr\r\nTERM=xterm-256color\r\n$', out), out
    assert a.err == b'' and a.eofs == {1, 2}, (a.err, a.eofs)
    # ENV is the whole environment: TERM is added to it, unless it has one
    sess = session_start(c, argv=['env'], extra=pty() + fld(F_ENV, 'A=1'))
    a = Attach(c, sess).finish()
    assert bytes(a.out) == b'A=1\r\nTERM=xterm-256color\r\n', bytes(a.out)
    sess = session_start(c, argv=['env'], extra=pty() + fld(F_ENV, 'TERM=vt100') + fld(F_ENV, 'B=2'))
    a = Attach(c, sess).finish()
    assert bytes(a.out) == b'TERM=vt100\r\nB=2\r\n', bytes(a.out)
    # a program that cannot run says so on the terminal, not on chan 2
    sess = session_start(c, argv=['oc-no-such-command-xyz'], extra=pty())
    a = Attach(c, sess).finish()
    assert a.result.int(F_EXIT_CODE) == 127 and a.err == b'', (a.result.list, a.err)
    assert bytes(a.out).endswith(b'command not found\r\n'), bytes(a.out)


@test
def pty_size_resize(ctx):
    """pty session: stty size is the start size; RESIZE changes it, signals WINCH, shows in LIST"""
    c = ctx.c
    sess = session_start(c, 'stty size', extra=pty(120, 50))
    a = Attach(c, sess).finish()
    assert bytes(a.out) == b'50 120\r\n', bytes(a.out)
    sess = session_start(c, 'stty size', extra=pty(4096, 1))
    a = Attach(c, sess).finish()
    assert bytes(a.out) == b'1 4096\r\n', bytes(a.out)

    sess = session_start(c, argv=['sh'], extra=pty(80, 24))
    f = session_list(c)[sess]
    assert (f.int(F_COLS), f.int(F_ROWS)) == (80, 24), f.list
    a = Attach(c, sess)
    c.send(RESIZE, 0, a.sid, pty(100, 40))
    c.send(DATA, 0, a.sid, b'stty size\n')
    a.until(lambda: b'40 100\r\n' in a.out)  # after the echo, and the prompt maybe
    f = session_list(c)[sess]
    assert (f.int(F_COLS), f.int(F_ROWS)) == (100, 40), f.list
    c.send(DATA, 0, a.sid, b'exit 3\n')
    a.finish()
    assert a.result.int(F_EXIT_CODE) == 3, (a.result.list, bytes(a.out))
    assert a.err == b'' and a.eofs == {1, 2}, (a.err, a.eofs)
    f = session_list(c)[sess]
    assert f.int(F_RUNNING) == 0 and f.int(F_EXIT_CODE) == 3 and f.int(F_COLS) == 100, f.list

    # the kernel signals the terminal's foreground group
    sess = session_start(c, "trap 'stty size' WINCH; echo ready; while :; do sleep 0.05; done",
                         extra=pty())
    a = Attach(c, sess)
    a.until(lambda: b'ready' in a.out)
    c.send(RESIZE, 0, a.sid, pty(33, 11))
    a.until(lambda: b'11 33\r\n' in a.out)
    kill_attached(c, sess, a)


@test
def pty_stdin_eof(ctx):
    """pty session: host EOF is the terminal's EOF character; the terminal stays open for others"""
    c = ctx.c
    sess = session_start(c, argv=['cat'], extra=pty())
    a = Attach(c, sess)
    c.send(DATA, 0, a.sid, b'hello\n')
    c.send(EOF, 0, a.sid)
    a.finish()
    assert a.result.int(F_EXIT_CODE) == 0, a.result.list
    assert bytes(a.out) == b'hello\r\nhello\r\n', bytes(a.out)  # the echo, then cat's copy
    # one attacher's EOF ends the first cat; the second still reads another's input
    sess = session_start(c, 'cat; echo second; cat', extra=pty())
    a = Attach(c, sess)
    c.send(DATA, 0, a.sid, b'one\n')
    c.send(EOF, 0, a.sid)
    a.until(lambda: b'second\r\n' in a.out)
    b = Attach(c, sess)
    c.send(DATA, 0, b.sid, b'two\n')
    c.send(EOF, 0, b.sid)
    b.finish()
    a.finish()
    assert b.result.int(F_EXIT_CODE) == 0, b.result.list
    assert bytes(a.out) == b'one\r\none\r\nsecond\r\ntwo\r\ntwo\r\n', bytes(a.out)


@test
def pty_kill_signal(ctx):
    """pty session: SESSION_KILL and SIGNAL end a PTY shell and its foreground job"""
    c = ctx.c
    sess = session_start(c, argv=['sh'], extra=pty())
    a = Attach(c, sess)
    a.until(lambda: a.out)  # the prompt
    kill_attached(c, sess, a)
    # an interactive shell ignores TERM and INT, not HUP; its foreground job,
    # in a group of its own, gets the hang-up when the shell dies
    sess = session_start(c, argv=['sh'], extra=pty())
    a = Attach(c, sess)
    c.send(DATA, 0, a.sid, b'sleep 30; echo not-killed\n')
    time.sleep(0.5)
    t0 = time.monotonic()
    c.send(SIGNAL, 0, a.sid, u32(F_SIGNAL, signal.SIGHUP))
    a.finish()
    assert a.result.int(F_EXIT_SIGNAL) == signal.SIGHUP, a.result.list
    assert time.monotonic() - t0 < 5 and b'\nnot-killed' not in a.out, bytes(a.out)


@test
def pty_reattach(ctx):
    """pty session: a reattach replays the scrollback"""
    c = ctx.c
    sess = session_start(c, 'echo hello; exec sleep 30', extra=pty())
    a = Attach(c, sess)
    a.until(lambda: b'hello\r\n' in a.out)
    c.send(CANCEL, 0, a.sid)
    a.finish()
    assert a.result.get(F_EXIT_CODE) is None, a.result.list
    b = Attach(c, sess)
    b.until(lambda: b.replayed)
    assert b.replay == b'hello\r\n' and b.err == b'', (b.replay, b.err)
    assert b.size == (80, 24), b.size
    assert session_list(c)[sess].int(F_RUNNING) == 1
    kill_attached(c, sess, b)


@test
def pty_bad_sizes(ctx):
    """pty session: COLS/ROWS out of 1..4096, malformed or alone are ERROR INVAL; EXEC takes none"""
    c = ctx.c
    before = set(session_list(c))
    cases = [(u32(F_COLS, 0) + u32(F_ROWS, 24), 'COLS'),
             (u32(F_COLS, 80) + u32(F_ROWS, 4097), 'ROWS'),
             (u32(F_COLS, 0xFFFFFFFF) + u32(F_ROWS, 24), 'COLS'),
             (u64(F_COLS, 1 << 40) + u32(F_ROWS, 24), 'COLS'),
             (fld(F_COLS, b'\x50\x00') + u32(F_ROWS, 24), 'COLS'),
             (u32(F_COLS, 80), 'ROWS'),
             (u32(F_ROWS, 24), 'COLS')]
    for extra, name in cases:
        r = c.op(OP_SESSION_START, fld(F_ARG, 'true') + extra)
        assert r.errcode() == E_INVAL and name in r.error.str(F_MESSAGE), (extra, r)
    r = c.exec(['true'], extra=pty())
    assert r.errcode() == E_INVAL and 'COLS' in r.error.str(F_MESSAGE), r
    assert set(session_list(c)) == before
    assert c.ping() == b'ping'


@test
def pty_resize_errors(ctx):
    """RESIZE: bad ones (pipe session, other stream, out of range) are ERROR on stream 0; exited: ignored"""
    c = ctx.c
    ps = session_start(c, argv=['cat'])
    a = Attach(c, ps)
    c.send(RESIZE, 0, a.sid, pty(100, 40))
    f = conn_error(c)
    assert f.int(F_ERRCODE) == E_INVAL and 'terminal' in f.str(F_MESSAGE), f.list
    ts = session_start(c, argv=['cat'], extra=pty())
    b = Attach(c, ts)
    for payload, code in [(b'', E_INVAL), (u32(F_COLS, 100), E_INVAL), (pty(0, 40), E_INVAL),
                          (pty(100, 4097), E_INVAL), (pty(0xFFFFFFFF, 40), E_INVAL),
                          (u64(F_COLS, 1 << 33) + u32(F_ROWS, 5), E_INVAL),
                          (pty(10, 10) + fld(F_PATH, '/'), E_UNSUPPORTED),
                          (b'\x55\x00\xff', E_PROTOCOL)]:
        c.send(RESIZE, 0, b.sid, payload)
        f = conn_error(c)
        assert f.int(F_ERRCODE) == code, (payload, f.list)
    c.send(RESIZE, 0, 0, pty())
    assert conn_error(c).int(F_ERRCODE) == E_PROTOCOL
    sid = c.open(OP_EXEC, fld(F_ARG, 'cat') + u8(F_STDIN, 1))
    c.send(RESIZE, 0, sid, pty())
    assert conn_error(c).int(F_ERRCODE) == E_INVAL
    c.send(RESIZE, 0, 12345, pty())  # no such stream: ignored like any frame
    c.send(DATA, 0, sid, b'exec')
    c.send(EOF, 0, sid)
    r = c.collect(sid)
    assert r.out == b'exec' and r.code == 0, r
    # none of that ended the attach streams, nor changed the size
    f = session_list(c)[ts]
    assert (f.int(F_COLS), f.int(F_ROWS)) == (80, 24), f.list
    c.send(DATA, 0, a.sid, b'pipe\n')
    a.until(lambda: a.out == b'pipe\n')
    c.send(RESIZE, 0, b.sid, pty(4096, 4096))
    c.send(DATA, 0, b.sid, b'tty\n')
    b.until(lambda: b.out == b'tty\r\ntty\r\n')
    f = session_list(c)[ts]
    assert (f.int(F_COLS), f.int(F_ROWS)) == (4096, 4096), f.list
    kill_attached(c, ps, a)
    kill_attached(c, ts, b)
    # a resize of an exited session is no error
    c.send(RESIZE, 0, b.sid, pty(5, 5))  # the stream has ended: ignored
    b = Attach(c, ts)
    c.send(RESIZE, 0, b.sid, pty(5, 5))
    b.finish()
    assert b.result.int(F_EXIT_SIGNAL) == 9, b.result.list
    assert not c.quiet(0.3, stream=0)
    assert session_list(c)[ts].int(F_COLS) == 4096
    assert c.ping() == b'ping'


@test
def pty_no_fd_leak(ctx):
    """pty session: the agent's fds are the same after 20 PTY sessions, ended or killed"""
    c = ctx.c
    before = agent_fds(ctx)
    for i in range(20):
        if i % 2:
            sess = session_start(c, argv=['sh'], extra=pty())
            a = Attach(c, sess)
            a.until(lambda: a.out)
            assert session_kill(c, sess).result
        else:
            sess = session_start(c, 'tty; echo $((%d * 2))' % i, extra=pty())
            a = Attach(c, sess)
        a.finish()
        assert a.result.get(F_EXIT_CODE) is not None, a.result.list
    after = agent_fds(ctx)
    assert after == before, (before, after)


@test
def still_alive(ctx):
    """the agent is still running, leaks no fds or zombies"""
    check_still_alive(ctx)


if __name__ == '__main__':
    sys.exit(tap_main(TESTS))
