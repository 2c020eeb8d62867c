#!/usr/bin/python3
"""test-agent-misbehave.py: the agent's hostile test mode (guest/agent/misbehave.c)
against a real `oc-agent --listen SOCK`, reporting TAP.

    test-agent-misbehave.py PATH/TO/oc-agent

What each mode puts on the wire, that the trigger itself is answered
honestly, and that the next host gets a well-behaved agent again.  The host
library's side of the same attacks is tests/integration/test-hostile.c.
"""
import os
import runpy
import select
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


def trigger(ctx, mode):
    """Runs the trigger as an exec of the agent itself; returns its stream."""
    r = ctx.c.exec([ctx.binary, '--misbehave', mode])
    assert r.code == 0 and b'misbehaves (%s)' % mode.encode() in r.out, r
    return ctx.c.next_id - 2


def raw(c, n, timeout=5.0):
    """At least n raw bytes from the agent (fewer if it goes quiet)."""
    end = time.monotonic() + timeout
    while len(c.rbuf) < n:
        left = end - time.monotonic()
        if left <= 0:
            break
        r, _, _ = select.select([c.s], [], [], left)
        if r:
            d = c.s.recv(1 << 20)
            if not d:
                break
            c.rbuf += d
    return bytes(c.rbuf)


def behaves(ctx):
    """A new host finds the agent well-behaved."""
    c = ctx.fresh()
    assert c.ping() == b'ping'
    r = c.exec(['echo', 'fine'])
    assert r.out == b'fine\n' and r.code == 0, r


@test
def bad_trigger(ctx):
    """an unknown mode, or a trigger whose parent is not the agent, is refused"""
    r = ctx.c.exec([ctx.binary, '--misbehave', 'politely'])
    assert r.code == 2 and b'unknown misbehaviour' in r.err, r
    r = ctx.c.exec(['sh', '-c', '"$0" --misbehave garbage; exit $?', ctx.binary])
    assert r.code == 1 and b'not the agent' in r.err, r
    r = ctx.c.exec(['echo', 'still fine'])
    assert r.out == b'still fine\n', r


@test
def garbage(ctx):
    """garbage: the next request is answered with bytes that are no frame"""
    trigger(ctx, 'garbage')
    ctx.c.open(OP_EXEC, fld(F_ARG, 'true'))
    b = raw(ctx.c, 64 * 1024)
    assert len(b) >= 64 * 1024 and b[:2] != b'\x4f\x43', b[:16]
    behaves(ctx)


@test
def huge(ctx):
    """huge: a DATA header on the request's stream announcing 4 GiB"""
    trigger(ctx, 'huge')
    sid = ctx.c.open(OP_READ, fld(F_PATH, '/etc/hostname'))
    b = raw(ctx.c, HDR.size)
    magic, t, ch, st, ln = HDR.unpack_from(b)
    assert (magic, t, ch, st, ln) == (MAGIC, DATA, 1, sid, 0xFFFFFFFF), (t, ch, st, ln)
    behaves(ctx)


@test
def unknown(ctx):
    """unknown: valid frames without end for the trigger's ended stream, none for the request"""
    old = trigger(ctx, 'unknown')
    sid = ctx.c.open(OP_EXEC, fld(F_ARG, 'true'))
    types, n = set(), 0
    while n < 200:
        t, ch, st, p = ctx.c.recv(5)
        assert st == old and st != sid, (t, st)
        types.add(t)
        n += 1
    assert types == {DATA, EOF, INFO, WINDOW_T, RESULT, ERROR}, types
    behaves(ctx)


@test
def flood(ctx):
    """flood: skips requests without output, then DATA far beyond the credit"""
    trigger(ctx, 'flood')
    r = ctx.c.op(OP_STAT, fld(F_PATH, '/'))
    assert r.result is not None, r
    sid = ctx.c.open(OP_EXEC, fld(F_ARG, 'true'))
    got = 0
    while got <= 3 * WINDOW:  # no WINDOW was ever sent
        t, ch, st, p = ctx.c.recv(5)
        assert (t, ch, st) == (DATA, 1, sid), (t, ch, st)
        got += len(p)
    behaves(ctx)


@test
def silent(ctx):
    """silent: nothing more, not even a PONG"""
    trigger(ctx, 'silent')
    ctx.c.open(OP_EXEC, fld(F_ARG, 'true'))
    ctx.c.send(PING, 0, 0, b'anyone?')
    assert ctx.c.quiet(1.5) == []
    behaves(ctx)


@test
def half(ctx):
    """half: the first half of a RESULT, then nothing"""
    trigger(ctx, 'half')
    sid = ctx.c.open(OP_EXEC, fld(F_ARG, 'true'))
    b = raw(ctx.c, 1 << 20, timeout=1.5)
    magic, t, ch, st, ln = HDR.unpack_from(b)
    assert (magic, t, st) == (MAGIC, RESULT, sid), (t, st)
    assert len(b) == HDR.size + ln // 2 and ln > 8, (len(b), ln)
    behaves(ctx)


@test
def from_a_session(ctx):
    """a trigger that is no exec's program turns every connection hostile at once"""
    other = ctx.agent.connect()
    r = ctx.c.op(OP_SESSION_START, fld(F_ARG, ctx.binary) + fld(F_ARG, '--misbehave') +
                 fld(F_ARG, 'silent'))
    assert r.result is not None, r
    time.sleep(0.5)
    for c in (ctx.c, other):
        c.send(PING, 0, 0, b'anyone?')
        assert c.quiet(1.0) == [], 'a connection still answers'
    other.close()
    behaves(ctx)


if __name__ == '__main__':
    sys.exit(tap_main(TESTS))
