"""test_sandbox.py: the Python binding against a real sandbox (pytest).

One sandbox serves most tests (boots are slow under TCG); tests that need
their own create a small one.  Every sandbox carries metadata oc-test, which
scripts/check sweeps.
"""
import asyncio
import http.server
import os
import socket
import threading
import time
import urllib.request
from datetime import datetime, timezone

import pytest

import opencomputer
from opencomputer import Sandbox, Templates
from opencomputer import sync

META = {'oc-test': 'python'}


@pytest.fixture(scope='module')
def shared():
    sb = sync.Sandbox.create(memory_mb=256, metadata=META, envs={'SB_VAR': 'from-sandbox'})
    yield sb
    sb.kill()


def run(coro):
    return asyncio.run(coro)


def test_async_hello_and_with_kills_on_exit():
    async def main():
        async with await Sandbox.create(memory_mb=192, metadata=META) as sb:
            r = await sb.exec.run('echo Hello from $(uname -a)')
            assert r.exit_code == 0
            assert r.stdout.startswith('Hello from Linux ') and 'x86_64 GNU/Linux' in r.stdout
            assert sb.status == 'running' and await sb.is_running()
            return sb.sandbox_id
    sid = run(main())
    with pytest.raises(opencomputer.NotFoundError):
        sync.Sandbox.connect(sid)


def test_with_kills_when_the_body_raises(shared):
    ids = []

    async def main():
        async with await Sandbox.create(memory_mb=192, metadata=META) as sb:
            ids.append(sb.sandbox_id)
            raise RuntimeError('the body failed')
    with pytest.raises(RuntimeError, match='the body failed'):
        run(main())
    assert ids and ids[0] not in [i.sandbox_id for i in sync.Sandbox.list(META)]


def test_exec_env_cwd_args_stdin_exit_code(shared):
    async def main():
        sb = await Sandbox.connect(shared.sandbox_id)
        r = await sb.exec.run('echo $SB_VAR $X; pwd', env={'X': 'call'}, cwd='/tmp')
        assert r.stdout == 'from-sandbox call\n/tmp\n', r
        r = await sb.exec.run('printf', args=['%s|', 'a b', 'c'])
        assert r.stdout == 'a b|c|', r
        r = await sb.exec.run('cat', stdin=b'\x00\x01bytes')
        assert r.stdout_bytes == b'\x00\x01bytes'
        r = await sb.exec.run('echo oops >&2; exit 3')
        assert (r.exit_code, r.stderr) == (3, 'oops\n')
        r = await sb.exec.run('sleep 5', timeout=0.5)
        assert r.timed_out
    run(main())


def test_the_loop_keeps_running_during_a_call(shared):
    async def main():
        sb = await Sandbox.connect(shared.sandbox_id)
        ticks = 0

        async def ticker():
            nonlocal ticks
            while True:
                await asyncio.sleep(0.1)
                ticks += 1
        t = asyncio.create_task(ticker())
        start = time.monotonic()
        r = await sb.exec.run('sleep 2')
        elapsed = time.monotonic() - start
        t.cancel()
        assert r.exit_code == 0
        # about one tick per 100 ms of the call: the loop was not blocked
        assert ticks >= int(elapsed * 10 * 0.7), (ticks, elapsed)
    run(main())


def test_files_round_trip(shared):
    async def main():
        sb = await Sandbox.connect(shared.sandbox_id)
        data = bytes(range(256)) * 4096
        await sb.files.make_dir('/root/py/sub')
        await sb.files.write('/root/py/sub/blob', data)
        await sb.files.write('/root/py/text', 'héllo')
        assert await sb.files.read_bytes('/root/py/sub/blob') == data
        assert await sb.files.read('/root/py/text') == 'héllo'
        st = await sb.files.stat('/root/py/sub/blob')
        assert (st.type, st.size, st.name) == ('file', len(data), 'blob')
        names = sorted((f.name, f.type) for f in await sb.files.list('/root/py'))
        assert names == [('sub', 'dir'), ('text', 'file')], names
        await sb.files.rename('/root/py/text', '/root/py/moved')
        assert not await sb.files.exists('/root/py/text')
        assert await sb.files.exists('/root/py/moved')
        await sb.files.remove('/root/py')
        assert not await sb.files.exists('/root/py')
        with pytest.raises(opencomputer.NotFoundError, match='/root/missing'):
            await sb.files.read('/root/missing')
    run(main())


def _fetch(url: str, deadline_s: float = 60) -> bytes:
    """url's body, retrying while the guest's server is still starting (a
    connection to a guest port nothing listens on is closed at once)."""
    end = time.monotonic() + deadline_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=30) as resp:
                return resp.read()
        except (OSError, urllib.error.URLError):
            if time.monotonic() > end:
                raise
            time.sleep(0.5)


def test_get_host_reaches_a_guest_http_server(shared):
    data = os.urandom(1 << 20)
    shared.files.make_dir('/root/www')
    shared.files.write('/root/www/blob.bin', data)

    async def main():
        sb = await Sandbox.connect(shared.sandbox_id)
        server = await sb.exec.start('python3 -m http.server 3000 --bind 127.0.0.1',
                                     cwd='/root/www')
        try:
            host = await sb.get_host(3000)
            assert host.startswith('127.0.0.1:') and await sb.get_host(3000) == host
            body = await asyncio.to_thread(_fetch, 'http://%s/blob.bin' % host)
            assert body == data
            with pytest.raises(opencomputer.InvalidArgumentError, match='port 0'):
                await sb.get_host(0)
            with pytest.raises(opencomputer.InvalidArgumentError, match='port 70000'):
                await sb.expose_port(70000)
            await sb.unexpose_port(3000)
            with pytest.raises(opencomputer.NotFoundError):
                await sb.unexpose_port(3000)
            port = int(host.rsplit(':', 1)[1])
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection(('127.0.0.1', port), timeout=5).close()
        finally:
            await server.kill()
            server.close()
    run(main())


def test_sync_expose_port(shared):
    server = shared.exec.start('python3 -m http.server 3001 --bind 127.0.0.1', cwd='/root/www')
    try:
        host = shared.expose_port(3001)
        assert shared.get_host(3001) == host
        assert _fetch('http://%s/blob.bin' % host) == shared.files.read_bytes('/root/www/blob.bin')
        with pytest.raises(opencomputer.InvalidArgumentError, match='host_port -1'):
            shared.expose_port(3002, host_port=-1)
        shared.unexpose_port(3001)
    finally:
        server.kill()
        server.close()


def test_errors_map_to_exceptions(shared):
    with pytest.raises(opencomputer.InvalidArgumentError, match='cpuCount 9') as e:
        sync.Sandbox.create(cpu_count=9, metadata=META)
    assert isinstance(e.value, ValueError) and e.value.code == -1
    with pytest.raises(opencomputer.NotFoundError, match='sb-000000000000'):
        sync.Sandbox.connect('sb-000000000000')
    with pytest.raises(opencomputer.InvalidArgumentError, match='relative'):
        shared.files.read('relative/path')


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b'hello from the host')

    def log_message(self, *args):
        pass


def test_network_policy_blocks_allows_and_clears(shared):
    # a server on the host's loopback, which the guest reaches at 10.0.2.2
    server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), _Hello)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    curl = 'curl -sS -m 10 http://10.0.2.2:%d/' % port

    async def main():
        sb = await Sandbox.connect(shared.sandbox_id)
        assert (await sb.exec.run(curl)).stdout == 'hello from the host'
        try:
            await sb.set_network({'block_all': True})
            assert await sb.get_network() == opencomputer.NetworkPolicy(block_all=True)
            r = await sb.exec.run(curl)
            assert r.exit_code == 7, r  # curl: couldn't connect
            # the SDK's camelCase keys work too
            await sb.set_network({'allowOut': ['10.0.2.2:%d' % port], 'blockAll': True})
            assert (await sb.exec.run(curl)).stdout == 'hello from the host'
            assert (await sb.get_info()).network.allow_out == ['10.0.2.2:%d' % port]
            with pytest.raises(opencomputer.InvalidArgumentError, match='10.0.0.0/33'):
                await sb.set_network(opencomputer.NetworkPolicy(allow_out=['10.0.0.0/33']))
            # nothing changed
            assert (await sb.get_network()).allow_out == ['10.0.2.2:%d' % port]
            with pytest.raises(opencomputer.InvalidArgumentError, match="no key 'allowout'"):
                await sb.set_network({'allowout': ['10.0.2.2']})
            with pytest.raises(opencomputer.InvalidArgumentError, match='list of strings'):
                await sb.set_network({'deny_out': '10.0.2.2'})
        finally:
            await sb.set_network(None)
        assert await sb.get_network() == opencomputer.NetworkPolicy()
        assert (await sb.exec.run(curl)).stdout == 'hello from the host'
    try:
        run(main())
    finally:
        server.shutdown()
        server.server_close()
    # a bad entry fails create before anything boots
    with pytest.raises(opencomputer.InvalidArgumentError, match="'not a host!'"):
        sync.Sandbox.create(metadata=META, network={'deny_out': ['not a host!']})


def test_hibernate_wake_and_timeout(shared):
    async def main():
        sb = await Sandbox.connect(shared.sandbox_id)
        await sb.exec.run('echo kept > /root/kept')
        await sb.hibernate()
        assert sb.status == 'hibernated'
        assert await sb.wake(timeout=900) == 'restored'
        info = await sb.get_info()
        assert (info.status, info.timeout, info.last_wake) == ('running', 900, 'restored')
        assert info.reason is None  # a running sandbox needs no explaining
        assert info.metadata == META and info.envs == {'SB_VAR': 'from-sandbox'}
        assert (await sb.files.read('/root/kept')) == 'kept\n'
        await sb.set_timeout(0)
        assert (await sb.get_info()).end_at is None
        assert await sb.wake() == 'running'
    run(main())


def test_templates(shared):
    async def main():
        names = [t.name for t in await Templates.list()]
        assert 'base' in names and names == sorted(names)
        base = await Templates.get('base')
        assert isinstance(base, opencomputer.TemplateInfo) and base.name == 'base'
        assert base.parent is None and base.steps == []
        assert base.size_bytes > 0 and base.disk_bytes > 0
        assert base.created_at.tzinfo is not None
        assert base.created_at < datetime.now(timezone.utc)
        assert base == sync.Templates.get('base')
        with pytest.raises(opencomputer.NotFoundError, match='no-such-template') as e:
            await Templates.get('no-such-template')
        assert isinstance(e.value, LookupError) and e.value.code == -2
        with pytest.raises(opencomputer.InvalidArgumentError, match='invalid template name'):
            await Templates.delete('../x')
        # the shared sandbox builds on base: the refusal names the users (up
        # to 8, then "and N more"), and base stays
        with pytest.raises(opencomputer.StateError, match='template base is in use by ') as e:
            await Templates.delete('base')
        assert shared.sandbox_id in str(e.value) or ' more: ' in str(e.value), e.value
        assert e.value.code == -3
        assert (await Templates.get('base')) == base
    run(main())


def test_reboot_and_power_cycle(shared):
    """last: a reboot ends the shared sandbox's processes"""
    async def main():
        sb = await Sandbox.connect(shared.sandbox_id)
        boot_id = 'cat /proc/sys/kernel/random/boot_id'
        await sb.files.write('/root/kept', 'kept\n')
        before = (await sb.exec.run(boot_id)).stdout
        await sb.reboot()
        after = (await sb.exec.run(boot_id)).stdout
        assert after and after != before
        await sb.hibernate()
        with pytest.raises(opencomputer.StateError, match='wake it first'):
            await sb.reboot()
        sync.Sandbox.connect(shared.sandbox_id).power_cycle()  # boots it from its disk
        assert sb.status == 'running'
        assert (await sb.exec.run(boot_id)).stdout not in (before, after)
        assert (await sb.files.read('/root/kept')) == 'kept\n'
    run(main())
