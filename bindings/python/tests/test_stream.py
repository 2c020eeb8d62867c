"""test_stream.py: following sessions (exec.start/attach, pty, shell) from
Python, against one real sandbox (pytest).

The sandbox carries metadata oc-test, which scripts/check sweeps, and is
killed at the end.  Waits are generous and never asserted: other VMs share
this host.
"""
import asyncio
import gc
import os
import threading
import time

import pytest

import opencomputer
from opencomputer import Sandbox

from following import PATIENCE, run, shared_sandbox, until

shared = shared_sandbox({'oc-test': 'python-stream'})


def test_start_streams_lines_in_order_then_the_exit_code(shared):
    async def main():
        sb = await Sandbox.connect(shared.sandbox_id)
        out, err, exits = [], [], []
        loop_thread = threading.get_ident()
        threads = set()

        def on_stdout(data):
            threads.add(threading.get_ident())
            out.append(data)
        s = await sb.exec.start('for i in $(seq 1 50); do echo $i; done; echo oops >&2; exit 3',
                                on_stdout=on_stdout, on_stderr=err.append,
                                on_exit=exits.append)
        assert isinstance(s.session_id, int) and s.session_id > 0
        assert await s.done == 3
        assert b''.join(out).decode().split() == [str(i) for i in range(1, 51)]
        assert all(isinstance(d, bytes) for d in out)
        assert b''.join(err) == b'oops\n' and exits == [3]
        # callbacks came on the loop, not on the library's thread
        assert threads == {loop_thread}
        infos = {i.session_id: i for i in await sb.exec.list()}
        assert not infos[s.session_id].running and infos[s.session_id].exit_code == 3
        # the handle has ended: it takes no more input
        with pytest.raises(opencomputer.StateError):
            await s.send_stdin('late')
    run(main())


def test_sync_start_calls_back_on_the_library_thread_and_decodes(shared):
    out, threads = [], set()

    def on_stdout(text):
        threads.add(threading.get_ident())
        out.append(text)
    # 'é' is two bytes; printf writes them in separate writes, so they may
    # come in separate chunks: the decoder must still give it whole
    s = shared.exec.start(r"printf '\303'; sleep 0.2; printf '\251 %s\n' $X", env={'X': 'x'},
                          on_stdout=on_stdout, encoding='utf-8')
    assert s.wait(timeout=PATIENCE) == 0
    assert ''.join(out) == 'é x\n' and all(isinstance(t, str) for t in out)
    assert threading.get_ident() not in threads
    s2 = shared.exec.start('sleep 30')
    with pytest.raises(opencomputer.InvalidArgumentError, match='no terminal'):
        s2.resize(100, 40)
    s2.kill()
    assert s2.wait(timeout=PATIENCE) == 137


def test_stdin_round_trip_is_binary_safe(shared):
    data = os.urandom(256 * 1024)

    async def main():
        sb = await Sandbox.connect(shared.sandbox_id)
        out = []
        s = await sb.exec.start('cat', on_stdout=out.append)
        # in pieces, unawaited until the end: they must stay in order
        writes = [asyncio.ensure_future(s.send_stdin(data[i:i + 1024]))
                  for i in range(0, len(data), 1024)]
        await asyncio.gather(*writes)
        await s.close_stdin()
        assert await s.done == 0
        got = b''.join(out)
        assert len(got) == len(data) and got == data
    run(main())
    # and through the sync API, in one write
    out = []
    s = shared.exec.start('cat', on_stdout=out.append)
    s.send_stdin(data)
    s.close_stdin()
    assert s.wait(timeout=PATIENCE) == 0 and b''.join(out) == data


def test_attach_replays_the_scrollback_then_live_output(shared):
    async def main():
        sb = await Sandbox.connect(shared.sandbox_id)
        first = []
        s = await sb.exec.start(
            'echo early1; echo early2; while [ ! -e /tmp/py-go ]; do sleep 0.1; done; '
            'echo late1; echo late2', on_stdout=first.append)
        await until(lambda: b'early2\n' in b''.join(first), 'early output')
        s.close()  # detach: the process goes on
        with pytest.raises(opencomputer.SandboxError) as e:
            await s.done
        assert e.value.code == -12, e.value
        running = [i for i in await sb.exec.list() if i.session_id == s.session_id]
        assert running and running[0].running

        events = []
        a = await sb.exec.attach(s.session_id, on_stdout=lambda d: events.append(d),
                                 on_scrollback_end=lambda: events.append('end'),
                                 on_exit=lambda c: events.append(('exit', c)))
        assert a.session_id == s.session_id
        await until(lambda: 'end' in events, 'the end of the scrollback')
        await sb.exec.run('touch /tmp/py-go')
        assert await a.done == 0
        i = events.index('end')
        assert b''.join(events[:i]) == b'early1\nearly2\n', events
        assert b''.join(events[i + 1:-1]) == b'late1\nlate2\n', events
        assert events[-1] == ('exit', 0)
        with pytest.raises(opencomputer.NotFoundError):
            await sb.exec.attach(999999)
    run(main())


def test_attach_after_the_scrollback_dropped_the_start_gets_the_gap_first(shared):
    # 3 MiB while nobody follows: the 1 MiB scrollback keeps only the last
    s = shared.exec.start('head -c 3145728 /dev/zero; touch /tmp/py-gap-written; '
                          'while [ ! -e /tmp/py-gap-go ]; do sleep 0.1; done')
    assert s.is_pty is False
    s.close()
    deadline = time.monotonic() + PATIENCE
    while shared.exec.run('test -e /tmp/py-gap-written').exit_code != 0:
        assert time.monotonic() < deadline, 'the 3 MiB were never written'
        time.sleep(0.1)

    def follower():
        events, threads = [], set()

        def on_stdout(data):
            threads.add(threading.get_ident())
            if not events or events[-1][0] != 'out':
                events.append(['out', 0])
            events[-1][1] += len(data)

        def on_gap(stream, skipped):
            threads.add(threading.get_ident())
            events.append(('gap', stream, skipped))
        return events, threads, dict(on_stdout=on_stdout, on_gap=on_gap,
                                     on_scrollback_end=lambda: events.append('end'))

    async def main():
        sb = await Sandbox.connect(shared.sandbox_id)
        events, threads, cbs = follower()
        a = await sb.exec.attach(s.session_id, **cbs)
        assert a.is_pty is False
        await until(lambda: 'end' in events, 'the end of the scrollback')
        assert events == [('gap', 1, 2097152), ['out', 1048576], 'end'], events
        assert threads == {threading.get_ident()}  # on the loop
        a.close()
    run(main())

    # sync: on the library's thread, in the same order
    events, threads, cbs = follower()
    a = shared.exec.attach(s.session_id, **cbs)
    shared.exec.run('touch /tmp/py-gap-go')
    assert a.wait(timeout=PATIENCE) == 0
    assert events == [('gap', 1, 2097152), ['out', 1048576], 'end'], events
    assert threading.get_ident() not in threads

    p = shared.pty.create(shell='/bin/sh')
    assert p.is_pty is True
    p.send('exit 0\n')
    assert p.wait(timeout=PATIENCE) == 0


def test_kill_ends_a_session_with_137(shared):
    async def main():
        sb = await Sandbox.connect(shared.sandbox_id)
        s = await sb.exec.start('sleep 600')
        await s.kill()
        assert await s.done == 137
        # and by id, without following it
        s2 = await sb.exec.background('sleep 600')
        await sb.exec.kill(s2.session_id)
        assert await s2.done == 137
        info = [i for i in await sb.exec.list() if i.session_id == s2.session_id][0]
        assert (info.running, info.exit_code, info.signal) == (False, 137, 9)
    run(main())


def test_pty_size_and_exit_code(shared):
    async def main():
        sb = await Sandbox.connect(shared.sandbox_id)
        screen = []
        p = await sb.pty.create(on_output=screen.append, encoding='utf-8')
        await p.resize(100, 40)
        await p.send('stty size\n')
        await until(lambda: '40 100' in ''.join(screen), '"40 100" on the terminal')
        await p.send('tty; exit 3\n')
        assert await p.done == 3
        assert '/dev/pts/' in ''.join(screen)
    run(main())
    # sync, with a size from the start and another shell
    screen = []
    p = shared.pty.create(cols=120, rows=50, shell='/bin/sh', on_output=screen.append)
    p.send(b'stty size; exit 4\n')
    assert p.wait(timeout=PATIENCE) == 4
    assert b'50 120' in b''.join(screen)


def test_shell_keeps_state_between_runs(shared):
    async def main():
        sb = await Sandbox.connect(shared.sandbox_id)
        async with await sb.exec.shell(env={'FROM_OPEN': 'o'}, cwd='/root') as sh:
            assert sh.session_id > 0
            r = await sh.run('cd /tmp; export A=1')
            assert (r.exit_code, r.stdout, r.stderr) == (0, '', '')
            r = await sh.run('pwd; echo $A $FROM_OPEN; echo err >&2; false')
            assert (r.stdout, r.stderr, r.exit_code) == ('/tmp\n1 o\n', 'err\n', 1)
        # closed: no more runs
        with pytest.raises(opencomputer.StateError, match='closed'):
            await sh.run('true')
    run(main())


def test_shell_runs_one_command_at_a_time(shared):
    async def main():
        sb = await Sandbox.connect(shared.sandbox_id)
        sh = await sb.exec.shell()
        try:
            first = asyncio.ensure_future(sh.run(
                'touch /tmp/py-sh-started; while [ ! -e /tmp/py-sh-go ]; do sleep 0.1; done; '
                'echo first'))
            started = []

            async def poll():
                started.append((await sb.exec.run('test -e /tmp/py-sh-started')).exit_code == 0)
            while not (started and started[-1]):
                await poll()
            with pytest.raises(opencomputer.StateError, match='busy'):
                await sh.run('echo second')
            await sb.exec.run('touch /tmp/py-sh-go')
            assert (await first).stdout == 'first\n'
            assert (await sh.run('echo third')).stdout == 'third\n'
        finally:
            await sh.close()
    run(main())


def test_sync_shell_exit_and_timeout(shared):
    with shared.exec.shell() as sh:
        with pytest.raises(opencomputer.StateError, match='exited with code 3'):
            sh.run('exit 3')
        with pytest.raises(opencomputer.StateError):
            sh.run('echo after')
    with shared.exec.shell() as sh:
        with pytest.raises(opencomputer.TimeoutError):
            sh.run('sleep 30', timeout=0.5)
        with pytest.raises(opencomputer.StateError, match='timed out'):
            sh.run('echo after')


def test_shell_close_ends_a_run_and_a_dropped_shell_is_closed(shared):
    sh = shared.exec.shell()
    failed = []

    def runner():
        try:
            sh.run('touch /tmp/py-sh-long; sleep 600')
        except opencomputer.StateError as e:
            failed.append(e)
    t = threading.Thread(target=runner)
    t.start()
    deadline = time.monotonic() + PATIENCE
    while shared.exec.run('test -e /tmp/py-sh-long').exit_code != 0:
        assert time.monotonic() < deadline
    sh.close()
    t.join(PATIENCE)
    assert not t.is_alive() and failed and '137' in str(failed[0]), failed

    sid = shared.exec.shell().session_id
    gc.collect()
    deadline = time.monotonic() + PATIENCE
    while [i for i in shared.exec.list() if i.session_id == sid and i.running]:
        assert time.monotonic() < deadline, 'the dropped shell still runs'
        time.sleep(0.1)
