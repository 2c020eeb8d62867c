#!/usr/bin/python3
"""test-agent-forward.py: PORT_CONNECT (docs/protocol.md) against a real
`oc-agent --listen SOCK`, reporting TAP.

    test-agent-forward.py PATH/TO/oc-agent

In test mode the agent runs on this host, so "the guest's loopback" is this
host's: the servers it connects to are this script's threads.  The whole
path through a real guest is tests/integration/test-network.c.
"""
import hashlib
import os
import runpy
import socket
import sys
import threading
import time

sys.dont_write_bytecode = True  # keep the source tree clean
globals().update({k: v for k, v in runpy.run_path(os.path.join(
    os.path.dirname(os.path.abspath(__file__)), 'test-agent-wire.py')).items()
    if not k.startswith('__')})

F_PORT = 0x60
OP_PORT_CONNECT = 13
TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


class Server:
    """One connection accepted on a loopback port, handled by handler(conn)
    on a thread; what the handler returns is .result."""

    def __init__(self, handler, family=socket.AF_INET):
        self.s = socket.socket(family, socket.SOCK_STREAM)
        self.s.bind(('::1' if family == socket.AF_INET6 else '127.0.0.1', 0))
        self.s.listen(1)
        self.port = self.s.getsockname()[1]
        self.result = None
        self.t = threading.Thread(target=self._run, args=(handler,), daemon=True)
        self.t.start()

    def _run(self, handler):
        c, _ = self.s.accept()
        with c:
            self.result = handler(c)

    def join(self):
        self.t.join(10)
        self.s.close()
        assert not self.t.is_alive(), 'the server is still waiting'
        return self.result


def read_all(c):
    got = bytearray()
    while True:
        d = c.recv(1 << 16)
        if not d:
            return bytes(got)
        got += d


def free_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    s.close()
    return port


@test
def refused(ctx):
    """a port nothing listens on is ERROR NOENT naming the port"""
    port = free_port()
    r = ctx.c.op(OP_PORT_CONNECT, u32(F_PORT, port))
    assert r.errcode() == E_NOENT, r
    assert str(port).encode() in r.error.get(F_MESSAGE), r


@test
def bad_requests(ctx):
    """PORT missing, 0 or past 65535 is INVAL; an unknown field UNSUPPORTED"""
    for payload in (b'', u32(F_PORT, 0), u32(F_PORT, 70000)):
        r = ctx.c.op(OP_PORT_CONNECT, payload)
        assert r.errcode() == E_INVAL, (payload, r)
    r = ctx.c.op(OP_PORT_CONNECT, u32(F_PORT, 80) + fld(F_PATH, '/'))
    assert r.errcode() == E_UNSUPPORTED, r


@test
def half_close(ctx):
    """bytes both ways; the host's EOF is a half-close the server answers after"""
    srv = Server(lambda c: (lambda d: (c.sendall(b'got:' + d), d)[1])(read_all(c)))
    sent = os.urandom(300 * 1024)
    r = ctx.c.op(OP_PORT_CONNECT, u32(F_PORT, srv.port), stdin=sent)
    assert srv.join() == sent, 'the server got other bytes'
    assert r.first == INFO and r.info.int(F_PORT) == srv.port, r.first
    assert bytes(r.out) == b'got:' + sent and 1 in r.eofs, len(r.out)
    assert r.result is not None and r.code == 0, r


@test
def ipv6_only(ctx):
    """a server on ::1 only is reached too"""
    if not socket.has_ipv6:
        return
    srv = Server(lambda c: c.sendall(b'v6 here'), socket.AF_INET6)
    r = ctx.c.op(OP_PORT_CONNECT, u32(F_PORT, srv.port), stdin=b'')
    srv.join()
    assert bytes(r.out) == b'v6 here', r


@test
def big_download(ctx):
    """12 MiB from the server arrive whole, within the credit the host gives"""
    data = os.urandom(12 << 20)
    srv = Server(lambda c: c.sendall(data))
    r = ctx.c.op(OP_PORT_CONNECT, u32(F_PORT, srv.port), stdin=b'')
    srv.join()
    assert hashlib.sha256(r.out).digest() == hashlib.sha256(data).digest(), len(r.out)


@test
def cancel(ctx):
    """CANCEL closes the connection and ends the stream"""
    srv = Server(read_all)
    sid = ctx.c.open(OP_PORT_CONNECT, u32(F_PORT, srv.port))
    t, ch, st, p = ctx.c.recv(10, sid)
    assert t == INFO, t
    ctx.c.send(DATA, 0, sid, b'partial')
    ctx.c.send(CANCEL, 0, sid)
    end = time.monotonic() + 10
    types = []
    while RESULT not in types and time.monotonic() < end:
        types.append(ctx.c.recv(10, sid)[0])
    assert RESULT in types, types
    assert srv.join() == b'partial', 'the server did not see the close'
    behaves = ctx.c.exec(['echo', 'fine'])
    assert behaves.out == b'fine\n', behaves


@test
def full_listen_queue(ctx):
    """a server that accepts nothing, its queue full: the connect waits
    without holding the agent, and fails naming the port once cancelled or
    once the server goes"""
    lst = socket.socket()
    lst.bind(('127.0.0.1', 0))
    lst.listen(0)
    port = lst.getsockname()[1]
    # Fill the accept queue: these connect, then a SYN more is dropped.
    fillers = []
    for _ in range(4):
        f = socket.socket()
        f.setblocking(False)
        f.connect_ex(('127.0.0.1', port))
        fillers.append(f)
    time.sleep(0.2)
    sid = ctx.c.open(OP_PORT_CONNECT, u32(F_PORT, port))
    t0 = time.monotonic()
    assert ctx.c.ping(b'still here') == b'still here'
    behaves = ctx.c.exec(['echo', 'fine'])
    took = time.monotonic() - t0
    assert behaves.out == b'fine\n', behaves
    assert took < 2.5, 'the agent was held for %.1f s' % took
    ctx.c.send(CANCEL, 0, sid)
    t, ch, st, p = ctx.c.recv(10, sid)
    assert t == ERROR, t
    # Another one fails with the port's name once the server closes.
    sid = ctx.c.open(OP_PORT_CONNECT, u32(F_PORT, port))
    time.sleep(0.2)
    lst.close()
    for f in fillers:
        f.close()
    t, ch, st, p = ctx.c.recv(15, sid)
    assert t == ERROR and str(port).encode() in p, (t, p)
    assert ctx.c.exec(['echo', 'fine']).out == b'fine\n'


if __name__ == '__main__':
    sys.exit(tap_main(TESTS))
