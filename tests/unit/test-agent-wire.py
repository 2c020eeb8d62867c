#!/usr/bin/python3
"""test-agent-wire.py: a minimal host side of the agent protocol
(docs/protocol.md) for the agent's tests, standard library only.

Not a test itself: the test-agent-*.py scripts load it.  It is deliberately
independent of the C host library, so that a bug shared by both ends of
lib/proto cannot hide.
"""
import os
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import traceback

MAGIC = 0x434F
HDR = struct.Struct('<HBBII')
MAX_PAYLOAD = 256 * 1024
WINDOW = 4 * 1024 * 1024

HELLO, HELLO_ACK, PING, PONG = 0x01, 0x02, 0x03, 0x04
OPEN, DATA, EOF, WINDOW_T, RESULT, ERROR, CANCEL, SIGNAL, INFO, RESIZE = range(0x10, 0x1A)

F_VERSION_MIN, F_VERSION_MAX, F_VERSION, F_TIME_NS = 1, 2, 3, 4
F_AGENT, F_BOOT_ID, F_ENTROPY, F_NONCE = 5, 6, 7, 8
F_OP, F_ARG, F_COMMAND, F_ENV, F_CWD, F_TIMEOUT_MS, F_STDIN = 0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16
F_PATH, F_NEW_PATH, F_MODE, F_PARENTS, F_RECURSIVE, F_SIGNAL = 0x17, 0x18, 0x19, 0x1A, 0x1B, 0x1C
F_EXIT_CODE, F_EXIT_SIGNAL, F_TIMED_OUT, F_SIZE, F_DURATION_US = 0x20, 0x21, 0x22, 0x23, 0x24
F_NAME, F_FTYPE, F_MTIME_NS, F_LINK_TARGET = 0x30, 0x31, 0x32, 0x33
F_ERRCODE, F_MESSAGE = 0x40, 0x41
F_SESSION, F_PID, F_RUNNING, F_STARTED_MS, F_REPLAY_END = 0x50, 0x51, 0x52, 0x53, 0x54
F_COLS, F_ROWS, F_SKIPPED = 0x55, 0x56, 0x57

OP_EXEC, OP_READ, OP_WRITE, OP_LIST, OP_STAT, OP_MKDIR, OP_REMOVE, OP_RENAME = range(1, 9)
OP_SESSION_START, OP_SESSION_ATTACH, OP_SESSION_LIST, OP_SESSION_KILL = range(9, 13)
E_PROTOCOL, E_UNSUPPORTED, E_NOENT, E_EXIST, E_NOTDIR, E_ISDIR, E_ACCES = 1, 2, 3, 4, 5, 6, 7
E_INVAL, E_NOTEMPTY, E_LIMIT = 9, 10, 12
FT_FILE, FT_DIR, FT_SYMLINK = 1, 2, 3


def fld(tag, data):
    if isinstance(data, str):
        data = data.encode()
    return struct.pack('<HI', tag, len(data)) + data


def u8(tag, v): return fld(tag, struct.pack('<B', v))
def u32(tag, v): return fld(tag, struct.pack('<I', v))
def u64(tag, v): return fld(tag, struct.pack('<Q', v))


def parse_fields(p):
    out, pos = [], 0
    while pos < len(p):
        tag, ln = struct.unpack_from('<HI', p, pos)
        pos += 6
        assert pos + ln <= len(p), 'field runs past the payload'
        out.append((tag, bytes(p[pos:pos + ln])))
        pos += ln
    return out


def fint(b):
    return {1: lambda: b[0], 4: lambda: struct.unpack('<I', b)[0],
            8: lambda: struct.unpack('<Q', b)[0]}[len(b)]()


class Fields:
    """Field list with convenient access; repeated tags via .all()."""
    def __init__(self, payload):
        self.list = parse_fields(payload)

    def get(self, tag, default=None):
        for t, v in self.list:
            if t == tag:
                return v
        return default

    def int(self, tag, default=None):
        v = self.get(tag)
        return default if v is None else fint(v)

    def str(self, tag, default=None):
        v = self.get(tag)
        return default if v is None else v.decode()

    def tags(self):
        return [t for t, _ in self.list]


class Reply:
    def __init__(self):
        self.out, self.err = bytearray(), bytearray()
        self.result = self.error = self.info = None
        self.replay_end = None  # (stdout, stderr) lengths at INFO REPLAY_END
        self.eofs = set()
        self.first = None  # type of the first frame on the stream

    @property
    def code(self):
        return self.result.int(F_EXIT_CODE)

    def errcode(self):
        return self.error.int(F_ERRCODE) if self.error else None

    def __repr__(self):
        if self.error:
            return 'ERROR %s %r' % (self.errcode(), self.error.str(F_MESSAGE))
        return 'RESULT %r out=%r err=%r' % (self.result and self.result.list, bytes(self.out[:200]),
                                            bytes(self.err[:200]))


class Conn:
    def __init__(self, path, hello=True):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.connect(path)
        self.s.setblocking(False)
        self.rbuf, self.wbuf = bytearray(), bytearray()
        self.stash = []
        self.next_id = 1
        if hello:
            self.hello()

    def close(self):
        self.s.close()

    def raw(self, b):
        self.wbuf += b
        self._flush()

    def send(self, t, chan, stream, payload=b''):
        self.raw(HDR.pack(MAGIC, t, chan, stream, len(payload)) + payload)

    def _flush(self):
        while self.wbuf:
            try:
                n = self.s.send(self.wbuf)
            except BlockingIOError:
                return
            del self.wbuf[:n]

    def _parse(self):
        if len(self.rbuf) < HDR.size:
            return None
        magic, t, c, st, ln = HDR.unpack_from(self.rbuf)
        assert magic == MAGIC, 'agent sent a bad magic %#x' % magic
        assert ln <= MAX_PAYLOAD, 'agent sent a frame over the bound: %d' % ln
        if len(self.rbuf) < HDR.size + ln:
            return None
        p = bytes(self.rbuf[HDR.size:HDR.size + ln])
        del self.rbuf[:HDR.size + ln]
        return (t, c, st, p)

    def recv(self, timeout=10.0, stream=None):
        """Next frame (of `stream` if given; others are stashed)."""
        for i, f in enumerate(self.stash):
            if stream is None or f[2] == stream:
                return self.stash.pop(i)
        end = time.monotonic() + timeout
        while True:
            f = self._parse()
            while f is not None:
                if stream is None or f[2] == stream:
                    return f
                self.stash.append(f)
                f = self._parse()
            left = end - time.monotonic()
            if left <= 0:
                raise TimeoutError('no frame within %.1f s' % timeout)
            r, w, _ = select.select([self.s], [self.s] if self.wbuf else [], [], left)
            if w:
                self._flush()
            if r:
                d = self.s.recv(1 << 20)
                if not d:
                    raise EOFError('agent closed the connection')
                self.rbuf += d

    def quiet(self, secs, stream=None):
        """Frames that arrive within secs (none expected usually)."""
        got = []
        end = time.monotonic() + secs
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return got
            try:
                got.append(self.recv(left, stream))
            except TimeoutError:
                return got

    def hello(self, nonce=0x1122334455667788, vmin=1, vmax=1, extra=b''):
        p = u32(F_VERSION_MIN, vmin) + u32(F_VERSION_MAX, vmax) + u64(F_NONCE, nonce) + \
            u64(F_TIME_NS, time.time_ns()) + fld(F_ENTROPY, os.urandom(32)) + extra
        self.send(HELLO, 0, 0, p)
        while True:
            t, c, st, pl = self.recv()
            if t == HELLO_ACK:
                return Fields(pl)
            if t == ERROR and st == 0:
                return Fields(pl)

    def new_id(self):
        i = self.next_id
        self.next_id += 2
        return i

    def open(self, op, payload):
        sid = self.new_id()
        self.send(OPEN, 0, sid, u32(F_OP, op) + payload)
        return sid

    def window(self, sid, chan, n):
        self.send(WINDOW_T, chan, sid, struct.pack('<I', n))

    def collect(self, sid, grant=True, timeout=30.0, stdin=None):
        """Reads a stream to its end, returning credit like a good host and
        checking that the agent never exceeds the credit it was given."""
        r = Reply()
        granted = {1: WINDOW, 2: WINDOW}
        got = {1: 0, 2: 0}
        unacked = {1: 0, 2: 0}
        credit_in = WINDOW
        pos = 0
        while True:
            if stdin is not None:
                while pos < len(stdin) and credit_in > 0:
                    n = min(MAX_PAYLOAD, credit_in, len(stdin) - pos)
                    self.send(DATA, 0, sid, stdin[pos:pos + n])
                    pos += n
                    credit_in -= n
                if pos == len(stdin):
                    self.send(EOF, 0, sid)
                    stdin = None
            t, c, st, p = self.recv(timeout, sid)
            if r.first is None:
                r.first = t
            if t == INFO and Fields(p).get(F_REPLAY_END) is not None:
                # a session attach: the scrollback ends here
                assert r.replay_end is None, 'REPLAY_END twice'
                r.replay_end = (len(r.out), len(r.err))
            elif t == INFO:
                assert r.info is None and not r.out, 'INFO twice, or after DATA'
                r.info = Fields(p)
            elif t == DATA:
                assert c in (1, 2), 'DATA on chan %d' % c
                assert c not in r.eofs, 'DATA after EOF'
                got[c] += len(p)
                assert got[c] <= granted[c], 'agent exceeded credit on chan %d' % c
                (r.out if c == 1 else r.err).extend(p)
                unacked[c] += len(p)
                if grant and unacked[c] >= 1 << 20:
                    self.window(sid, c, unacked[c])
                    granted[c] += unacked[c]
                    unacked[c] = 0
            elif t == EOF:
                r.eofs.add(c)
            elif t == WINDOW_T:
                assert c == 0 and len(p) == 4
                credit_in += struct.unpack('<I', p)[0]
            elif t == RESULT:
                r.result = Fields(p)
                return r
            elif t == ERROR:
                r.error = Fields(p)
                return r
            else:
                raise AssertionError('unexpected frame type %#x on stream %d' % (t, sid))

    def exec(self, argv=None, command=None, env=None, cwd=None, timeout_ms=None, stdin=None,
             extra=b'', **kw):
        p = b''
        for a in argv or []:
            p += fld(F_ARG, a)
        if command is not None:
            p += fld(F_COMMAND, command)
        for e in env or []:
            p += fld(F_ENV, e)
        if cwd is not None:
            p += fld(F_CWD, cwd)
        if timeout_ms is not None:
            p += u32(F_TIMEOUT_MS, timeout_ms)
        if stdin is not None:
            p += u8(F_STDIN, 1)
        sid = self.open(OP_EXEC, p + extra)
        return self.collect(sid, stdin=stdin, **kw)

    def op(self, op, payload, **kw):
        return self.collect(self.open(op, payload), **kw)

    def ping(self, data=b'ping'):
        self.send(PING, 0, 0, data)
        while True:
            t, c, st, p = self.recv(10)
            if t == PONG:
                return p


class Agent:
    def __init__(self, binary, workdir):
        self.sock = os.path.join(workdir, 'agent.sock')
        # stdout is TAP's: the agent must not hold it (nor write to it)
        self.proc = subprocess.Popen([binary, '--listen', self.sock], stdout=subprocess.DEVNULL)
        end = time.monotonic() + 10
        while not os.path.exists(self.sock):
            if time.monotonic() > end or self.proc.poll() is not None:
                raise RuntimeError('oc-agent did not start')
            time.sleep(0.01)

    def connect(self, hello=True):
        # the socket exists from bind(), a moment before listen()
        end = time.monotonic() + 10
        while True:
            try:
                return Conn(self.sock, hello)
            except ConnectionRefusedError:
                if time.monotonic() > end:
                    raise
                time.sleep(0.01)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(10)


def write_file(c, path, data, mode=None, chunk=MAX_PAYLOAD):
    p = fld(F_PATH, path)
    if mode is not None:
        p += u32(F_MODE, mode)
    sid = c.open(OP_WRITE, p)
    credit, pos = WINDOW, 0
    while pos < len(data):
        while credit == 0:
            t, ch, st, pl = c.recv(10, sid)
            if t == WINDOW_T:
                credit += struct.unpack('<I', pl)[0]
            else:
                r = Reply()
                r.error = Fields(pl) if t == ERROR else None
                return r
        n = min(chunk, credit, len(data) - pos)
        c.send(DATA, 0, sid, data[pos:pos + n])
        pos += n
        credit -= n
    c.send(EOF, 0, sid)
    return c.collect(sid)


def entry(fields_list):
    f = Fields(b'')
    f.list = fields_list
    return f


def parse_records(b, key=F_NAME):
    out, pos = {}, 0
    while pos < len(b):
        (ln,) = struct.unpack_from('<I', b, pos)
        pos += 4
        f = entry(parse_fields(b[pos:pos + ln]))
        pos += ln
        out[f.str(key) if key == F_NAME else f.int(key)] = f
    return out


if __name__ == '__main__':
    print('1..0 # SKIP helper module, run test-agent-protocol.py or test-agent-sessions.py')


def run_tap(tests, ctx):
    """Runs each test(ctx) in order, printing TAP (a test's docstring is
    its name); after a failure ctx.fresh() gives the next test a new
    connection.  Returns how many failed."""
    print('1..%d' % len(tests))
    failed = 0
    for i, fn in enumerate(tests, 1):
        t0 = time.monotonic()
        try:
            fn(ctx)
            print('ok %d - %s (%.2fs)' % (i, fn.__doc__, time.monotonic() - t0))
        except Exception:
            failed += 1
            print('not ok %d - %s' % (i, fn.__doc__))
            for line in traceback.format_exc().splitlines():
                print('# ' + line)
            # a broken connection must not fail every later test
            try:
                ctx.fresh()
            except Exception:
                pass
        sys.stdout.flush()
    return failed


class Ctx:
    """What the tests share: the agent (binary, its process), a scratch
    directory (tmp) and a connection (c).  A test that wants a new
    connection replaces it (closing it first); tests of several connections
    open the others themselves."""
    c = None

    def fresh(self, hello=True):
        if self.c:
            self.c.close()
            self.c = None
        self.c = self.agent.connect(hello)
        return self.c


def check_still_alive(ctx):
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


def tap_main(tests):
    """main() of a test script: `SCRIPT PATH/TO/oc-agent` runs tests against
    a new `oc-agent --listen` and checks that SIGTERM ends it cleanly."""
    if len(sys.argv) != 2:
        print('usage: %s PATH/TO/oc-agent' % os.path.basename(sys.argv[0]), file=sys.stderr)
        return 2
    # a harness timeout (SIGTERM) still runs the cleanup below
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(1))
    ctx = Ctx()
    ctx.binary = os.path.abspath(sys.argv[1])
    ctx.tmp = tempfile.mkdtemp(prefix='oc-agent-test-')
    ctx.agent = None
    try:
        ctx.agent = Agent(ctx.binary, ctx.tmp)
        ctx.fresh()
        failed = run_tap(tests, ctx)
        ctx.c.close()
        rc = ctx.agent.stop()
        if rc != 0:
            print('# agent exited with %d on SIGTERM' % rc)
            failed += 1
        return 1 if failed else 0
    finally:
        if ctx.agent and ctx.agent.proc.poll() is None:
            ctx.agent.proc.kill()
            ctx.agent.proc.wait()
        shutil.rmtree(ctx.tmp, ignore_errors=True)
