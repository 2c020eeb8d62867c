"""test_agent.py: agent sessions from Python (sandbox.agent), driving the
base template's reference runner (docs/agent-sessions.md), against one real
sandbox (pytest).

The sandbox carries metadata oc-test, which scripts/check sweeps, and is
killed at the end.  Waits are bounds against hangs, never measurements.
"""
import json
import os
import subprocess
import sys
import threading
import time

import pytest

import opencomputer
from opencomputer import Sandbox

from following import PATIENCE, run, shared_sandbox, until

shared = shared_sandbox({'oc-test': 'python-agent'})


def types(events):
    return [e['type'] for e in events]


async def next_turn(session):
    """The events of session's iterator up to the next turn_complete."""
    got = []
    async for event in session:
        got.append(event)
        if event['type'] == 'turn_complete':
            return got
    raise AssertionError('the session ended before turn_complete: %r' % got)


def test_start_then_prompt_gives_events_in_order(shared):
    async def main():
        sb = await Sandbox.connect(shared.sandbox_id)
        seen, threads = [], set()

        def on_event(event):
            threads.add(threading.get_ident())
            seen.append(event)
        s = await sb.agent.start(on_event=on_event)
        assert isinstance(s.session_id, int) and s.session_id > 0
        first = await s.__anext__()
        assert first['type'] == 'ready' and first['agent'] == 'oc-agent-runner', first
        await s.send_prompt('hello from python')  # a task: awaiting it shows failures
        turn = await next_turn(s)
        assert types(turn) == ['system', 'assistant', 'result', 'turn_complete'], turn
        assert turn[1]['text'] == 'You said: hello from python'
        assert turn[2]['subtype'] == 'success'
        # on_event saw the same events, in the same order, on the loop
        assert seen == [first] + turn
        assert threads == {threading.get_ident()}
        await s.kill()
        assert await s.wait() == 137
    run(main())


def test_a_prompt_that_runs_ls_gives_tool_use_summary_and_the_result(shared):
    async def main():
        sb = await Sandbox.connect(shared.sandbox_id)
        s = await sb.agent.start(prompt='list it\nrun: ls /')
        assert (await s.__anext__())['type'] == 'ready'
        turn = await next_turn(s)
        assert types(turn) == ['system', 'assistant', 'tool_use_summary', 'result',
                               'turn_complete'], turn
        tool = turn[2]
        assert tool['command'] == 'ls /' and tool['exit_code'] == 0
        assert {'usr', 'etc', 'root'} <= set(tool['output'].split()), tool
        assert turn[3]['tool_uses'] == 1
        await s.kill()
        await s.wait()
    run(main())


def test_interrupt_during_a_long_turn_gives_interrupted(shared):
    async def main():
        sb = await Sandbox.connect(shared.sandbox_id)
        s = await sb.agent.start(prompt='sleep: 120')
        events = []
        async for event in s:
            events.append(event)
            if event['type'] == 'assistant':
                break
        t = time.monotonic()
        await s.interrupt()
        turn = await next_turn(s)
        # the turn would have run for 120 s
        assert time.monotonic() - t < 100
        assert 'interrupted' in types(turn), turn
        result = [e for e in turn if e['type'] == 'result']
        assert result and result[0]['subtype'] == 'interrupted', turn
        # idle, an interrupt is answered too
        await s.interrupt()
        idle = await s.__anext__()
        assert idle['type'] == 'interrupted' and idle['turn'] is None, idle
        await s.kill()
        await s.wait()
    run(main())


ATTACH_SCRIPT = r'''
import json, sys, threading
from opencomputer import sync
sb = sync.Sandbox.connect(sys.argv[1])
seen, end = [], threading.Event()
s = sb.agent.attach(int(sys.argv[2]), on_event=seen.append, on_scrollback_end=end.set)
assert end.wait(120)
print(json.dumps(seen))
s.close()
'''


def test_attach_from_another_handle_replays_history_then_live(shared):
    async def main():
        sb = await Sandbox.connect(shared.sandbox_id)
        s = await sb.agent.start(prompt='first turn')
        history = [await s.__anext__()] + await next_turn(s)
        s.close()  # stops following: the program goes on
        with pytest.raises(opencomputer.SandboxError) as e:
            await s.done
        assert e.value.code == -12, e.value
        async for _ in s:  # and the iterator ends
            raise AssertionError('an event after close()')
        with pytest.raises(opencomputer.StateError):
            await s.send_prompt('too late')

        # a second handle on the sandbox, as another program would have
        other = await Sandbox.connect(shared.sandbox_id)
        marks = []
        a = await other.agent.attach(s.session_id, on_event=marks.append,
                                     on_scrollback_end=lambda: marks.append('end'),
                                     on_exit=lambda c: marks.append(('exit', c)))
        assert a.session_id == s.session_id
        await until(lambda: 'end' in marks, 'the end of the history')
        assert marks == history + ['end']
        await a.send_prompt('second turn')
        await until(lambda: marks[-1] != 'end' and marks[-1]['type'] == 'turn_complete',
                    'the live turn')
        live = marks[marks.index('end') + 1:]
        assert types(live) == ['system', 'assistant', 'result', 'turn_complete'], live
        assert live[1]['text'] == 'You said: second turn'
        # the iterator gave the history too, before the live events
        assert [await a.__anext__() for _ in history] == history

        # another process sees the same history: both turns
        out = subprocess.run([sys.executable, '-c', ATTACH_SCRIPT, shared.sandbox_id,
                              str(s.session_id)], capture_output=True, text=True,
                             timeout=PATIENCE, env=dict(os.environ))
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout) == history + live

        await other.agent.kill(s.session_id)
        assert await a.done == 137
        assert marks[-1] == ('exit', 137)
    run(main())


def test_a_garbage_line_gives_an_error_event_and_the_session_goes_on(shared):
    async def main():
        sb = await Sandbox.connect(shared.sandbox_id)
        errors = []
        s = await sb.agent.start(prompt='garbage: this is { not json\nrun: echo after',
                                 on_error=errors.append)
        assert (await s.__anext__())['type'] == 'ready'
        turn = await next_turn(s)
        assert types(turn) == ['system', 'assistant', 'error', 'tool_use_summary', 'result',
                               'turn_complete'], turn
        bad = turn[2]
        assert bad['source'] == 'host' and bad['raw'] == 'this is { not json', bad
        assert 'not JSON' in bad['message']
        assert turn[3]['output'] == 'after\n'
        assert errors == ['non-JSON stdout: this is { not json']
        # and it takes the next prompt
        await s.send_prompt('still here')
        again = await next_turn(s)
        assert again[1] == {'type': 'assistant', 'text': 'You said: still here'}
        await s.kill()
        await s.wait()
    run(main())


def test_settings_go_by_the_sdk_names(shared):
    async def main():
        sb = await Sandbox.connect(shared.sandbox_id)
        s = await sb.agent.start(model='m-1', system_prompt='be brief', max_turns=5, cwd='/tmp',
                                 allowed_tools=['Bash'], permission_mode='acceptEdits',
                                 mcp_servers={'fs': {'command': 'mcp-fs', 'args': ['/']}},
                                 resume='r-1', envs={'AGENT_VAR': 'v'})
        ready = await s.__anext__()
        assert ready['type'] == 'ready' and ready['cwd'] == '/tmp', ready
        configured = await s.__anext__()
        assert configured['type'] == 'configured', configured
        assert configured['config'] == {
            'model': 'm-1', 'systemPrompt': 'be brief', 'maxTurns': 5, 'cwd': '/tmp',
            'allowedTools': ['Bash'], 'permissionMode': 'acceptEdits',
            'mcpServers': {'fs': {'command': 'mcp-fs', 'args': ['/']}}, 'resume': 'r-1'}
        await s.configure(permission_mode='plan', max_turns=9)
        await s.configure({'systemPrompt': 'by the SDK name', 'custom': 1})
        c1, c2 = await s.__anext__(), await s.__anext__()
        assert c1['config']['permissionMode'] == 'plan' and c1['config']['maxTurns'] == 9
        assert c2['config']['systemPrompt'] == 'by the SDK name' and c2['config']['custom'] == 1
        await s.send_prompt('run: echo $AGENT_VAR; pwd')
        turn = await next_turn(s)
        assert turn[2]['output'] == 'v\n/tmp\n', turn
        await s.kill()
        await s.wait()
    run(main())


def test_list_and_kill(shared):
    async def main():
        sb = await Sandbox.connect(shared.sandbox_id)
        exits = []
        s = await sb.agent.start(on_exit=exits.append)
        plain = await sb.exec.start('sleep 60')
        listed = {i.session_id: i for i in await sb.agent.list()}
        assert s.session_id in listed and plain.session_id not in listed
        info = listed[s.session_id]
        assert info.running and info.pid > 0 and info.started_at.year >= 2024
        assert 'oc-agent-runner' in info.command
        await sb.agent.kill(s.session_id)
        assert await s.done == 137 and exits == [137]
        after = {i.session_id: i for i in await sb.agent.list()}
        assert not after[s.session_id].running and after[s.session_id].exit_code == 137
        await plain.kill()
        # a program that exits by itself ends the session with its code
        s2 = await sb.agent.start(prompt='exit: 7')
        assert await s2.wait() == 7
        assert types([e async for e in s2])[-1] == 'turn_complete'
    run(main())


def test_sync_twin_iterates_on_the_caller_and_calls_back_on_the_library_thread(shared):
    seen, threads = [], set()

    def on_event(event):
        threads.add(threading.get_ident())
        seen.append(event)
    with shared.agent.start(prompt='sync', on_event=on_event) as s:
        got = []
        for event in s:
            got.append(event)
            if event['type'] == 'turn_complete':
                break
        assert types(got) == ['ready', 'system', 'assistant', 'result', 'turn_complete']
        s.send_prompt('again')
        s.interrupt()
        s.configure(model='x')
        for event in s:
            if event['type'] == 'configured':
                break
        assert threading.get_ident() not in threads
        assert seen[:len(got)] == got
        sid = s.session_id
    with pytest.raises(opencomputer.SandboxError) as e:
        s.wait()
    assert e.value.code == -12
    # a close() during another thread's wait() ends that wait, cancelled
    waited = []

    def wait_a_second():
        try:
            waited.append(s2.wait(timeout=1))
        except opencomputer.SandboxError as e:
            waited.append(e)
    s2 = shared.agent.attach(sid)
    t = threading.Thread(target=wait_a_second)
    t.start()
    time.sleep(0.2)
    s2.close()
    t.join(PATIENCE)
    assert isinstance(waited[0], opencomputer.SandboxError) and waited[0].code == -12, waited
    with pytest.raises(opencomputer.SandboxError) as e:
        s2.wait()
    assert e.value.code == -12
    shared.agent.kill(sid)
    assert [i for i in shared.agent.list() if i.session_id == sid]


def test_bad_arguments(shared):
    before = {i.session_id for i in shared.agent.list()}
    with pytest.raises(opencomputer.InvalidArgumentError, match='absolute path'):
        shared.agent.start(program='oc-agent-runner')
    with pytest.raises(opencomputer.InvalidArgumentError, match='max_turns'):
        shared.agent.start(max_turns=0)
    with pytest.raises(opencomputer.InvalidArgumentError, match='JSON'):
        shared.agent.start(mcp_servers={'x': object()})
    with pytest.raises(opencomputer.NotFoundError):
        shared.agent.attach(999999)
    # the failed starts left no session behind
    assert {i.session_id for i in shared.agent.list()} == before


def test_a_session_survives_hibernate_and_wake(shared):
    async def main():
        sb = await Sandbox.connect(shared.sandbox_id)
        s = await sb.agent.start(prompt='before the sleep')
        history = [await s.__anext__()] + await next_turn(s)
        await sb.hibernate()
        # the following ends with the connection, not with the program
        with pytest.raises(opencomputer.SandboxError) as e:
            await s.done
        assert e.value.code != -12, e.value
        assert await sb.wake() in ('restored', 'cold-boot')
        a = await sb.agent.attach(s.session_id)
        assert [await a.__anext__() for _ in history] == history
        await a.send_prompt('after the wake')
        turn = await next_turn(a)
        assert turn[1]['text'] == 'You said: after the wake'
        await a.kill()
        assert await a.wait() == 137
    run(main())


def test_the_backlog_drops_the_oldest_and_says_how_many(monkeypatch):
    # no VM: the bound on events nobody iterates
    from opencomputer import _agent
    monkeypatch.setattr(_agent, 'BACKLOG_MAX', 3)
    backlog = _agent.Backlog()
    for i in range(5):
        backlog.put({'type': 'assistant', 'n': i})
    lost = backlog.take(False)
    assert lost['type'] == 'error' and lost['source'] == 'host' and lost['lost_events'] == 2
    assert [backlog.take(False)['n'] for _ in range(3)] == [2, 3, 4]
    assert backlog.take(False) is None
    backlog.end()
    assert backlog.take(True) is None  # ended: the iteration stops


def test_settings_take_python_or_sdk_names():
    from opencomputer import _agent
    assert _agent.config_json({}) is None and _agent.config_json({'model': None}) is None
    assert json.loads(_agent.config_json({'allowed_tools': ['Bash'], 'maxTurns': 2, 'x': 1})) == {
        'allowedTools': ['Bash'], 'maxTurns': 2, 'x': 1}
    with pytest.raises(opencomputer.InvalidArgumentError, match='twice'):
        _agent.config_json({'system_prompt': 'a', 'systemPrompt': 'b'})
