#!/usr/bin/python3
"""test-agent-protocol.py: drives a real `oc-agent --listen SOCK` over the
wire protocol of docs/protocol.md and reports TAP: the handshake, EXEC,
files, malformed and excess frames, cancel and credit.  Sessions and PTYs
are test-agent-sessions.py's.

    test-agent-protocol.py PATH/TO/oc-agent

Standard library only; the protocol client is in test-agent-wire.py.
"""
import hashlib
import importlib.util
import os
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
def remove_big_tree(ctx):
    """a recursive remove of many files does not hold the agent: a PING sent
    after it is answered before its RESULT"""
    c = ctx.c
    base = os.path.join(ctx.tmp, 'big-tree')
    for d in range(40):
        os.makedirs('%s/d%d/sub' % (base, d))
        for f in range(500):
            open('%s/d%d/sub/f%d' % (base, d, f), 'w').close()
    sid = c.open(OP_REMOVE, fld(F_PATH, base) + u8(F_RECURSIVE, 1))
    c.send(PING, 0, 0, b'meanwhile')
    order = []
    end = time.monotonic() + 60
    while len(order) < 2 and time.monotonic() < end:
        t, ch, st, p = c.recv(60)
        if t == PONG:
            order.append('pong')
        elif st == sid:
            assert t == RESULT, (t, p)
            order.append('removed')
    assert order == ['pong', 'removed'], order
    assert not os.path.lexists(base)


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


@test
def still_alive(ctx):
    """the agent is still running, leaks no fds or zombies"""
    check_still_alive(ctx)


if __name__ == '__main__':
    sys.exit(tap_main(TESTS))
