#!/usr/bin/python3
"""test-agent-protocol.py: drives a real `oc-agent --listen SOCK` over the
wire protocol of docs/protocol.md and reports TAP.

    test-agent-protocol.py PATH/TO/oc-agent

Standard library only; the protocol client is in test-agent-wire.py.
"""
import hashlib
import importlib.util
import os
import re
import signal
import stat
import struct
import subprocess
import sys
import time


def _load_wire():
    sys.dont_write_bytecode = True  # keep the source tree clean
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'test-agent-wire.py')
    spec = importlib.util.spec_from_file_location('oc_agent_wire', path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


wire = _load_wire()
globals().update({k: v for k, v in vars(wire).items() if not k.startswith('__')})

TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


@test
def handshake(ctx):
    """handshake: version, nonce echoed, agent name, boot id"""
    c = ctx.fresh(hello=False)
    f = c.hello(nonce=0xDEADBEEFCAFEF00D, vmin=1, vmax=7, extra=fld(0x0777, b'future'))
    assert f.int(F_VERSION) == 2, f.list
    assert f.int(F_NONCE) == 0xDEADBEEFCAFEF00D, f.list
    assert f.str(F_AGENT).startswith('oc-agent '), f.list
    assert f.get(F_BOOT_ID), f.list
    f = c.hello(vmin=2, vmax=3)
    assert f.int(F_VERSION) == 2, f.list
    f = c.hello(vmin=3, vmax=4)
    assert f.int(F_ERRCODE) == E_UNSUPPORTED, f.list
    f = c.hello()
    assert f.int(F_VERSION) == 1, f.list


@test
def ping(ctx):
    """PING is answered by PONG with the same payload"""
    data = os.urandom(1000)
    assert ctx.c.ping(data) == data
    assert ctx.c.ping(b'') == b''


@test
def exec_argv(ctx):
    """exec argv: stdout, both EOFs, exit 0, duration"""
    r = ctx.c.exec(['echo', 'hello', 'world'])
    assert r.result, r
    assert r.out == b'hello world\n' and r.err == b'' and r.code == 0, r
    assert r.eofs == {1, 2}, r.eofs
    assert r.result.int(F_EXIT_SIGNAL) == 0 and r.result.int(F_TIMED_OUT) == 0, r
    assert r.result.int(F_DURATION_US) > 0, r


@test
def exec_shell(ctx):
    """exec sh -c: stdout, stderr, exit code"""
    r = ctx.c.exec(command='echo out; echo err >&2; exit 3')
    assert r.out == b'out\n' and r.err == b'err\n' and r.code == 3, r


@test
def exec_simple_command(ctx):
    """a plain command line runs without sh; anything else keeps shell semantics"""
    pid = str(ctx.agent.proc.pid).encode()
    # the parent of a plain command is the agent itself, not a shell
    r = ctx.c.exec(command='cut -d " " -f 4 /proc/self/stat')
    assert r.code == 0 and r.out.strip() != pid, r  # quoted: via sh
    r = ctx.c.exec(command='awk {print} /proc/self/stat')
    assert r.code == 0, r
    r = ctx.c.exec(command='grep -m1 PPid: /proc/self/status')
    assert r.code == 0 and r.out.split()[-1] == pid, r
    r = ctx.c.exec(command='echo  a   b')
    assert r.out == b'a b\n', r
    r = ctx.c.exec(command='A=1 env', env=['PATH=/usr/bin:/bin'])
    assert b'A=1\n' in r.out, r
    r = ctx.c.exec(command='cd /')
    assert r.code == 0, r
    r = ctx.c.exec(command='no-such-program x')
    assert r.code == 127 and b'not found' in r.err, r


@test
def exec_env(ctx):
    """exec ENV is the whole environment"""
    r = ctx.c.exec(['env'], env=['A=1', 'B=two words'])
    assert r.code == 0 and r.out == b'A=1\nB=two words\n', r
    r = ctx.c.exec(['sh', '-c', 'echo $PATH'], env=['PATH=/usr/bin:/bin'])
    assert r.out == b'/usr/bin:/bin\n', r


@test
def exec_cwd(ctx):
    """exec CWD, and a missing CWD is ERROR NOENT"""
    r = ctx.c.exec(['pwd'], cwd=ctx.tmp)
    assert r.code == 0 and r.out.decode().strip() == os.path.realpath(ctx.tmp), r
    r = ctx.c.exec(['pwd'], cwd=os.path.join(ctx.tmp, 'no', 'such'))
    assert r.errcode() == E_NOENT, r
    assert 'no/such' in r.error.str(F_MESSAGE), r


F_USER = 0x1d


@test
def exec_user(ctx):
    """exec USER runs as that user from /etc/passwd, with its HOME; unknown is ERROR INVAL"""
    if os.geteuid() != 0:
        print('# skipped: USER needs the agent to run as root')
        return
    r = ctx.c.exec(['sh', '-c', 'id -u; id -g; echo $HOME $USER'], env=['HOME=/root', 'USER=root'],
                   extra=fld(F_USER, b'daemon'))
    want = subprocess.run(['sh', '-c', 'id -u daemon; id -g daemon; getent passwd daemon | '
                           'cut -d: -f6'], capture_output=True, text=True).stdout.split()
    got = r.out.decode().split()
    assert r.code == 0 and got[:3] == want and got[3] == 'daemon', (r, want)
    r = ctx.c.exec(['id', '-u'], extra=fld(F_USER, b'4321:4321'))
    assert r.code == 0 and r.out == b'4321\n', r
    r = ctx.c.exec(['id'], extra=fld(F_USER, b'oc-no-such-user'))
    assert r.errcode() == E_INVAL and 'oc-no-such-user' in r.error.str(F_MESSAGE), r
    r = ctx.c.exec(['id'], extra=fld(F_USER, b'daemon:oc-no-such-group'))
    assert r.errcode() == E_INVAL and 'oc-no-such-group' in r.error.str(F_MESSAGE), r


@test
def exec_not_found(ctx):
    """command not found is 127, not executable is 126"""
    r = ctx.c.exec(['oc-no-such-command-xyz'])
    assert r.code == 127 and b'oc-no-such-command-xyz: command not found' in r.err, r
    assert r.eofs == {1, 2}, r
    path = os.path.join(ctx.tmp, 'noexec.sh')
    with open(path, 'w') as f:
        f.write('#!/bin/sh\necho hi\n')
    os.chmod(path, 0o644)
    r = ctx.c.exec([path])
    assert r.code == 126, r


@test
def exec_signal_exit(ctx):
    """killed by a signal: EXIT_CODE 128+sig, EXIT_SIGNAL sig"""
    r = ctx.c.exec(command='kill -9 $$')
    assert r.code == 137 and r.result.int(F_EXIT_SIGNAL) == 9, r


@test
def exec_timeout(ctx):
    """timeout kills the process group; TIMED_OUT set"""
    t0 = time.monotonic()
    r = ctx.c.exec(['sleep', '30'], timeout_ms=300)
    dt = time.monotonic() - t0
    assert r.result.int(F_TIMED_OUT) == 1 and r.result.int(F_EXIT_SIGNAL) == 9, r
    assert dt < 15, dt


@test
def exec_stdin(ctx):
    """stdin DATA is echoed through cat, larger than one window"""
    data = os.urandom(6 * 1024 * 1024 + 123)
    r = ctx.c.exec(['cat'], stdin=data)
    assert r.code == 0 and hashlib.sha256(r.out).digest() == hashlib.sha256(data).digest(), \
        (r.code, len(r.out))


@test
def exec_flow_control(ctx):
    """20 MiB stdout stalls at the initial credit and completes when granted"""
    c = ctx.c
    total = 20 * 1024 * 1024
    sid = c.open(OP_EXEC, fld(F_ARG, 'head') + fld(F_ARG, '-c') + fld(F_ARG, str(total)) +
                 fld(F_ARG, '/dev/zero'))
    got = 0
    end = time.monotonic() + 2.0
    for f in c.quiet(2.0, sid):
        t, ch, st, p = f
        assert t == DATA and ch == 1, f[:3]
        got += len(p)
    assert got <= WINDOW, 'agent sent %d bytes on a %d credit' % (got, WINDOW)
    assert got == WINDOW, 'expected exactly the initial window, got %d' % got
    assert not c.quiet(0.5, sid), 'agent sent more without credit'
    c.window(sid, 1, got)  # return what we consumed; collect() does the rest
    r = c.collect(sid)
    assert r.result and r.code == 0, r
    assert got + len(r.out) == total, got + len(r.out)


@test
def file_roundtrip(ctx):
    """FILE_WRITE then FILE_READ of 10 MiB, sha256 equal, MODE applied"""
    data = os.urandom(10 * 1024 * 1024 + 7)
    path = os.path.join(ctx.tmp, 'big.bin')
    r = write_file(ctx.c, path, data, mode=0o600)
    assert r.result and r.result.int(F_SIZE) == len(data), r
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert not [n for n in os.listdir(ctx.tmp) if 'oc-tmp' in n], os.listdir(ctx.tmp)
    r = ctx.c.op(OP_READ, fld(F_PATH, path))
    assert r.result and r.result.int(F_SIZE) == len(data), r
    assert r.eofs == {1}
    assert hashlib.sha256(r.out).hexdigest() == hashlib.sha256(data).hexdigest()
    # overwrite with default mode
    r = write_file(ctx.c, path, b'small')
    assert r.result and open(path, 'rb').read() == b'small', r
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644


@test
def file_read_info(ctx):
    """version 2: FILE_READ announces the size in INFO before any DATA; version 1 does not"""
    path = os.path.join(ctx.tmp, 'info.bin')
    data = os.urandom(300 * 1024)
    open(path, 'wb').write(data)
    c = ctx.fresh(hello=False)
    assert c.hello(vmax=2).int(F_VERSION) == 2
    r = c.op(OP_READ, fld(F_PATH, path))
    assert r.first == INFO and r.info.int(F_SIZE) == len(data), r
    assert bytes(r.out) == data and r.result.int(F_SIZE) == len(data), r
    r = c.op(OP_READ, fld(F_PATH, os.path.join(ctx.tmp, 'missing')))
    assert r.errcode() == E_NOENT and r.info is None, r
    c = ctx.fresh()  # version 1
    r = c.op(OP_READ, fld(F_PATH, path))
    assert r.info is None and r.first == DATA and bytes(r.out) == data, r


@test
def file_errors(ctx):
    """write into a missing dir, read missing file, read a dir"""
    sid = ctx.c.open(OP_WRITE, fld(F_PATH, os.path.join(ctx.tmp, 'nodir', 'f')))
    ctx.c.send(DATA, 0, sid, b'x' * 1000)  # in flight after the error: ignored
    ctx.c.send(EOF, 0, sid)
    r = ctx.c.collect(sid)
    assert r.errcode() == E_NOENT and 'nodir' in r.error.str(F_MESSAGE), r
    r = ctx.c.op(OP_READ, fld(F_PATH, os.path.join(ctx.tmp, 'missing')))
    assert r.errcode() == E_NOENT and not r.out, r
    r = ctx.c.op(OP_READ, fld(F_PATH, ctx.tmp))
    assert r.errcode() == E_ISDIR, r
    assert ctx.c.ping() == b'ping'


@test
def file_ops(ctx):
    """mkdir -p, stat, list, rename, remove (recursive, not following symlinks)"""
    c = ctx.c
    base = os.path.join(ctx.tmp, 'tree')
    r = c.op(OP_MKDIR, fld(F_PATH, base + '/a/b/c') + u8(F_PARENTS, 1) + u32(F_MODE, 0o700))
    assert r.result, r
    assert os.path.isdir(base + '/a/b/c') and stat.S_IMODE(os.stat(base + '/a/b/c').st_mode) == 0o700
    r = c.op(OP_MKDIR, fld(F_PATH, base + '/a/b/c') + u8(F_PARENTS, 1))
    assert r.result, r
    r = c.op(OP_MKDIR, fld(F_PATH, base + '/a'))
    assert r.errcode() == E_EXIST, r
    r = c.op(OP_MKDIR, fld(F_PATH, base + '/x/y'))
    assert r.errcode() == E_NOENT, r

    with open(base + '/a/file.txt', 'w') as f:
        f.write('12345')
    os.symlink('file.txt', base + '/a/link')
    r = c.op(OP_STAT, fld(F_PATH, base + '/a/file.txt'))
    st = r.result
    assert st.str(F_NAME) == 'file.txt' and st.int(F_FTYPE) == FT_FILE and st.int(F_SIZE) == 5, r
    assert st.int(F_MODE) == 0o644 or st.int(F_MODE) == stat.S_IMODE(os.stat(base + '/a/file.txt').st_mode)
    assert st.int(F_MTIME_NS) == os.stat(base + '/a/file.txt').st_mtime_ns
    r = c.op(OP_STAT, fld(F_PATH, base + '/a/link'))
    assert r.result.int(F_FTYPE) == FT_SYMLINK and r.result.str(F_LINK_TARGET) == 'file.txt', r
    r = c.op(OP_STAT, fld(F_PATH, base + '/nope'))
    assert r.errcode() == E_NOENT, r

    r = c.op(OP_LIST, fld(F_PATH, base + '/a'))
    assert r.result and r.eofs == {1}, r
    recs = parse_records(r.out)
    assert set(recs) == {'b', 'file.txt', 'link'}, recs.keys()
    assert recs['b'].int(F_FTYPE) == FT_DIR and recs['file.txt'].int(F_SIZE) == 5
    assert recs['link'].str(F_LINK_TARGET) == 'file.txt'
    # a big directory spans DATA frames
    os.mkdir(base + '/many')
    for i in range(3000):
        open(base + '/many/f%05d-%s' % (i, 'x' * 100), 'w').close()
    r = c.op(OP_LIST, fld(F_PATH, base + '/many'))
    assert len(parse_records(r.out)) == 3000, len(r.out)
    r = c.op(OP_LIST, fld(F_PATH, base + '/none'))
    assert r.errcode() == E_NOENT, r

    r = c.op(OP_RENAME, fld(F_PATH, base + '/a/file.txt') + fld(F_NEW_PATH, base + '/a/renamed'))
    assert r.result and os.path.exists(base + '/a/renamed'), r
    r = c.op(OP_RENAME, fld(F_PATH, base + '/a/file.txt') + fld(F_NEW_PATH, base + '/a/z'))
    assert r.errcode() == E_NOENT, r

    outside = os.path.join(ctx.tmp, 'outside')
    os.mkdir(outside)
    open(outside + '/keep', 'w').close()
    os.symlink(outside, base + '/a/b/to-outside')
    r = c.op(OP_REMOVE, fld(F_PATH, base + '/a'))
    assert r.errcode() == E_NOTEMPTY, r
    r = c.op(OP_REMOVE, fld(F_PATH, base + '/a') + u8(F_RECURSIVE, 1))
    assert r.result and not os.path.lexists(base + '/a'), r
    assert os.path.exists(outside + '/keep'), 'remove followed a symlink'
    r = c.op(OP_REMOVE, fld(F_PATH, outside + '/keep'))
    assert r.result and not os.path.exists(outside + '/keep'), r
    r = c.op(OP_REMOVE, fld(F_PATH, outside + '/keep'))
    assert r.errcode() == E_NOENT, r


@test
def unknown_frame(ctx):
    """unknown frame type, op and field are ERROR UNSUPPORTED; connection lives"""
    c = ctx.c
    c.send(0x3F, 0, 0, b'whatever')
    t, ch, st, p = c.recv()
    assert t == ERROR and st == 0 and Fields(p).int(F_ERRCODE) == E_UNSUPPORTED, (t, p)
    r = c.op(99, b'')
    assert r.errcode() == E_UNSUPPORTED, r
    r = c.exec(['true'], extra=fld(0x07FF, b'x'))
    assert r.errcode() == E_UNSUPPORTED, r
    r = c.op(OP_STAT, fld(F_PATH, '/') + fld(F_ARG, 'x'))
    assert r.errcode() == E_UNSUPPORTED, r
    assert c.ping() == b'ping'


@test
def malformed_fields(ctx):
    """malformed field lists and bad requests are ERRORs, not crashes"""
    c = ctx.c
    sid = c.new_id()
    c.send(OPEN, 0, sid, u32(F_OP, OP_EXEC) + struct.pack('<HI', F_ARG, 1000) + b'ls')
    r = c.collect(sid)
    assert r.errcode() == E_PROTOCOL, r
    sid = c.new_id()
    c.send(OPEN, 0, sid, b'\x01\x02\x03')
    r = c.collect(sid)
    assert r.errcode() == E_PROTOCOL, r
    r = c.op(OP_EXEC, fld(F_ARG, 'a\0b'))
    assert r.errcode() == E_INVAL, r
    r = c.op(OP_EXEC, b'')
    assert r.errcode() == E_INVAL, r
    r = c.op(OP_EXEC, fld(F_ARG, 'true') + fld(F_TIMEOUT_MS, b'abc'))
    assert r.errcode() == E_INVAL, r
    r = c.op(OP_READ, b'')
    assert r.errcode() == E_INVAL, r
    r = c.op(OP_READ, fld(F_PATH, 'x' * 5000))
    assert r.errcode() == E_LIMIT, r
    c.send(OPEN, 0, 4, u32(F_OP, OP_STAT) + fld(F_PATH, '/'))  # even id
    t, ch, st, p = c.recv(stream=4)
    assert t == ERROR and Fields(p).int(F_ERRCODE) == E_PROTOCOL
    c.send(WINDOW_T, 1, 12345, b'\x01')  # unknown stream: ignored
    c.send(DATA, 0, 0, b'xx')  # DATA on stream 0
    t, ch, st, p = c.recv()
    assert t == ERROR and st == 0, (t, st)
    assert c.ping() == b'ping'


@test
def open_in_use(ctx):
    """OPEN on an id in use is ERROR PROTOCOL; the first stream goes on"""
    c = ctx.c
    sid = c.open(OP_EXEC, fld(F_ARG, 'cat') + u8(F_STDIN, 1))
    c.send(OPEN, 0, sid, u32(F_OP, OP_STAT) + fld(F_PATH, '/'))
    t, ch, st, p = c.recv(stream=sid)
    assert t == ERROR and Fields(p).int(F_ERRCODE) == E_PROTOCOL, (t, p)
    c.send(DATA, 0, sid, b'still here')
    c.send(EOF, 0, sid)
    r = c.collect(sid)
    assert r.out == b'still here' and r.code == 0, r


@test
def stream_limit(ctx):
    """the 257th stream is ERROR LIMIT, per connection; ids are reusable after the end"""
    c = ctx.c
    sids = [c.open(OP_EXEC, fld(F_ARG, 'cat') + u8(F_STDIN, 1)) for _ in range(256)]
    r = c.op(OP_STAT, fld(F_PATH, '/'))
    assert r.errcode() == E_LIMIT, r
    other = ctx.agent.connect()
    try:
        r = other.op(OP_STAT, fld(F_PATH, '/'))
        assert r.result, r
    finally:
        other.close()
    for sid in sids:
        c.send(EOF, 0, sid)
    for sid in sids:
        r = c.collect(sid)
        assert r.result and r.code == 0, r
    r = c.op(OP_STAT, fld(F_PATH, '/'))
    assert r.result, r


@test
def cancel_and_signal(ctx):
    """CANCEL kills the group; SIGNAL delivers the signal"""
    c = ctx.c
    sid = c.open(OP_EXEC, fld(F_ARG, 'sleep') + fld(F_ARG, '30'))
    time.sleep(0.2)
    c.send(CANCEL, 0, sid)
    r = c.collect(sid, timeout=10)
    assert r.result and r.result.int(F_EXIT_SIGNAL) == 9, r
    sid = c.open(OP_EXEC, fld(F_COMMAND, 'trap "echo got; exit 5" TERM; sleep 30 & wait'))
    time.sleep(0.3)
    c.send(SIGNAL, 0, sid, u32(F_SIGNAL, 15))
    r = c.collect(sid, timeout=10)
    assert r.result and r.code in (5, 143), r
    # file write cancel leaves no temp file
    path = os.path.join(ctx.tmp, 'cancelled')
    sid = c.open(OP_WRITE, fld(F_PATH, path))
    c.send(DATA, 0, sid, b'partial')
    c.send(CANCEL, 0, sid)
    r = c.collect(sid)
    assert r.error, r
    assert not os.path.exists(path) and not [n for n in os.listdir(ctx.tmp) if 'cancelled' in n]


@test
def background_holder(ctx):
    """a background child holding the pipes does not delay RESULT past ~1 s"""
    t0 = time.monotonic()
    r = ctx.c.exec(command='sleep 5 & echo started')
    dt = time.monotonic() - t0
    assert r.result and r.code == 0 and r.out == b'started\n', r
    assert dt < 4, dt


@test
def resync(ctx):
    """garbage, then HELLO: the agent resynchronises"""
    c = ctx.fresh()
    c.raw(b'\x00garbage\xff' * 50 + b'OC\x01\x00\x00')  # includes a partial HELLO prefix
    got = c.quiet(0.3)
    assert all(t == ERROR and st == 0 for t, ch, st, p in got), got
    f = c.hello(nonce=42)
    assert f.int(F_NONCE) == 42, f.list
    assert c.ping(b'after') == b'after'
    r = c.exec(['echo', 'ok'])
    assert r.out == b'ok\n', r
    # an over-long length is a malformed header too: one ERROR, then silence
    c.raw(HDR.pack(MAGIC, DATA, 0, 1, MAX_PAYLOAD + 1) + b'z' * 100)
    got = c.quiet(0.3)
    assert [(t, st, Fields(p).int(F_ERRCODE)) for t, ch, st, p in got] == [(ERROR, 0, E_PROTOCOL)], got
    f = c.hello(nonce=43)
    assert f.int(F_NONCE) == 43, f.list
    assert c.ping() == b'ping'


@test
def disconnect_kills(ctx):
    """hang-up and HELLO both kill the old connection's process groups"""
    for how in ('disconnect', 'hello'):
        marker = os.path.join(ctx.tmp, 'marker-' + how)
        c = ctx.fresh()
        c.open(OP_EXEC, fld(F_COMMAND, 'sleep 1; touch %s' % marker))
        c.open(OP_EXEC, fld(F_COMMAND, '(sleep 1; touch %s.bg) & sleep 30' % marker))
        time.sleep(0.3)
        if how == 'disconnect':
            c = ctx.fresh()
        else:
            c.hello()
        assert c.ping() == b'ping'
        time.sleep(1.5)
        assert not os.path.exists(marker), 'process survived the %s' % how
        assert not os.path.exists(marker + '.bg'), 'group member survived the %s' % how
        r = c.exec(['true'])
        assert r.code == 0, r


@test
def credit_overrun(ctx):
    """a host that ignores credit gets ERROR PROTOCOL, the agent survives"""
    c = ctx.fresh()
    # sleep never reads its stdin, so once its pipe (1 MiB) is full the
    # agent must hold what we send: twice the window is over the credit
    sid = c.open(OP_EXEC, fld(F_ARG, 'sleep') + fld(F_ARG, '30') + u8(F_STDIN, 1))
    chunk = b'y' * MAX_PAYLOAD
    for _ in range(2 * WINDOW // MAX_PAYLOAD + 4):
        c.send(DATA, 0, sid, chunk)
    while True:
        t, ch, st, p = c.recv(10, sid)
        if t in (ERROR, RESULT):
            break
    assert t == ERROR and Fields(p).int(F_ERRCODE) == E_PROTOCOL, (t, p)
    assert c.ping() == b'ping'
    r = c.exec(['true'])
    assert r.code == 0, r


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
    """the agent is still running, leaks no fds or zombies, exits on SIGTERM"""
    pid = ctx.agent.proc.pid
    assert ctx.agent.proc.poll() is None, 'agent exited'
    c = ctx.fresh()
    assert c.ping() == b'ping'
    time.sleep(0.3)
    # stdio, listening socket, signalfd, connection (+ slack)
    fds = os.listdir('/proc/%d/fd' % pid)
    assert len(fds) <= 8, 'agent holds %d fds: %s' % (
        len(fds), [os.readlink('/proc/%d/fd/%s' % (pid, f)) for f in fds])
    zombies = []
    for d in os.listdir('/proc'):
        if d.isdigit():
            try:
                st = open('/proc/%s/stat' % d).read().rsplit(')', 1)[1].split()
            except OSError:
                continue
            if st[0] == 'Z' and int(st[1]) == pid:
                zombies.append(d)
    assert not zombies, 'unreaped children: %s' % zombies


if __name__ == '__main__':
    sys.exit(tap_main(TESTS))
