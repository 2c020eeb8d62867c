"""test_sandbox.py: the Python binding against a real sandbox (pytest).

One sandbox serves most tests (boots are slow under TCG); tests that need
their own create a small one.  Every sandbox carries metadata oc-test, which
scripts/check sweeps.
"""
import asyncio
import time
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


def test_errors_map_to_exceptions(shared):
    with pytest.raises(opencomputer.InvalidArgumentError, match='cpuCount 9') as e:
        sync.Sandbox.create(cpu_count=9, metadata=META)
    assert isinstance(e.value, ValueError) and e.value.code == -1
    with pytest.raises(opencomputer.NotFoundError, match='sb-000000000000'):
        sync.Sandbox.connect('sb-000000000000')
    with pytest.raises(opencomputer.InvalidArgumentError, match='relative'):
        shared.files.read('relative/path')


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
