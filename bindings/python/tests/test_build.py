"""test_build.py: template builds from Python (Templates.build), against real
build sandboxes (pytest).

Few VMs: the build's own sandbox, one sandbox from the built template, and
the failing build's sandbox.  Every template built here is deleted here;
the sandbox carries metadata oc-test, which scripts/check sweeps.
"""
import asyncio
import threading

import pytest

import opencomputer
from opencomputer import BuildStep, Sandbox, Templates, sync

META = {'oc-test': 'python-build'}
NAME = 'pytest-built'
STEPS_NAME = 'pytest-built-steps'
FAILED = 'pytest-failed'
DOCKERFILE = 'FROM base\nRUN echo hi > /f\nENV X=1\n'
PATIENCE = 1200  # seconds: builds boot VMs under TCG


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, PATIENCE))


def forget(name):
    try:
        sync.Templates.delete(name)
    except opencomputer.NotFoundError:
        pass


@pytest.fixture(scope='module')
def built():
    """NAME, built from DOCKERFILE, with the lines its build logged."""
    forget(NAME)
    log, threads = [], set()

    def on_log(line):
        threads.add(threading.get_ident())
        log.append(line)

    async def main():
        info = await Templates.build(NAME, DOCKERFILE, on_log=on_log)
        assert threads == {threading.get_ident()}  # on the loop
        return info
    info = run(main())
    yield info, log
    forget(STEPS_NAME)
    forget(NAME)


def test_a_dockerfile_builds_and_its_log_arrives(built):
    info, log = built
    assert info.name == NAME and info.parent == 'base'
    # the SDK's TemplateInfo fields
    assert (info.template_id, info.tag, info.status) == (NAME, 'latest', 'ready')
    assert info.steps == ['RUN echo hi > /f', 'ENV X=1'], info.steps
    assert info.env == {'X': '1'} and info.agent is None, info
    assert info.size_bytes > 0 and info.disk_bytes > 0
    assert any(line.startswith('[1/2] RUN echo hi > /f') for line in log), log
    assert any(line.startswith('[2/2] ENV X=1') for line in log), log
    assert sync.Templates.get(NAME).name == NAME
    assert NAME in [t.name for t in sync.Templates.list()]


def test_a_sandbox_from_it_sees_the_file_and_the_env(built):
    async def main():
        async with await Sandbox.create(template=NAME, memory_mb=256, metadata=META) as sb:
            r = await sb.exec.run('cat /f; echo "X=$X"')
            assert r.exit_code == 0 and r.stdout == 'hi\nX=1\n', r
            assert (await sb.get_info()).template == NAME
    run(main())


def test_an_unchanged_rebuild_is_cached(built):
    log = []
    info = sync.Templates.build(NAME, DOCKERFILE, on_log=log.append)
    assert info.name == NAME
    steps = [line for line in log if line.startswith('[')]
    assert len(steps) == 2 and all(line.endswith(' (cached)') for line in steps), log
    assert not any('build sandbox' in line for line in log), log


# an agent program: one event, saying who runs it and with what
AGENT = ['/bin/sh', '-c', 'echo "{\\"type\\":\\"ready\\",\\"x\\":\\"$X\\",\\"arg\\":\\"$0\\"}"',
         'from-template']


def test_steps_build_as_the_dockerfile_does_and_name_the_agent_program(built):
    # DOCKERFILE's steps, as objects and as a mapping, and an agent program
    log = []
    info = sync.Templates.build(STEPS_NAME, steps=[
        BuildStep.run('echo hi > /f'), {'kind': 'env', 'args': ['X', '1']},
        BuildStep.agent(*AGENT)], on_log=log.append)
    assert info.name == STEPS_NAME and info.parent == 'base'
    assert info.steps[:2] == ['RUN echo hi > /f', 'ENV X=1'], info.steps
    assert info.agent == AGENT and info.env == {'X': '1'}, info
    assert any(line.startswith('[2/3] ENV X=1') for line in log), log

    async def main():
        # agent.start() without a program runs the template's
        async with await Sandbox.create(template=STEPS_NAME, memory_mb=192,
                                        metadata=META) as sb:
            s = await sb.agent.start()
            events = [e async for e in s]
            assert events == [{'type': 'ready', 'x': '1', 'arg': 'from-template'}], events
            assert await s.wait() == 0
    run(main())
    sync.Templates.delete(STEPS_NAME)
    with pytest.raises(opencomputer.NotFoundError):
        sync.Templates.get(STEPS_NAME)


def test_a_failing_step_raises_naming_it_and_leaves_no_template():
    forget(FAILED)
    log = []

    async def main():
        await Templates.build(FAILED, 'FROM base\nRUN echo made > /g\n'
                              'RUN echo failing-output; exit 3\n', on_log=log.append)
    with pytest.raises(opencomputer.CommandError) as e:
        run(main())
    message = str(e.value)
    assert e.value.code == -15
    assert 'step 2/2' in message and 'Dockerfile line 3' in message, message
    assert 'failing-output' in message and '3' in message, message
    with pytest.raises(opencomputer.NotFoundError):
        sync.Templates.get(FAILED)
    assert FAILED not in [t.name for t in sync.Templates.list()]


def test_bad_input_raises_before_anything_starts():
    log = []
    with pytest.raises(opencomputer.InvalidArgumentError, match='Bad Name'):
        sync.Templates.build('Bad Name!', DOCKERFILE, on_log=log.append)
    with pytest.raises(opencomputer.InvalidArgumentError, match='not both'):
        sync.Templates.build('pytest-x', DOCKERFILE, steps=[BuildStep.run('true')])
    with pytest.raises(opencomputer.InvalidArgumentError, match='neither'):
        sync.Templates.build('pytest-x')
    with pytest.raises(opencomputer.InvalidArgumentError, match="no kind 'shell'"):
        sync.Templates.build('pytest-x', steps=[{'kind': 'shell', 'args': ['true']}])
    with pytest.raises(opencomputer.InvalidArgumentError, match='step 1'):
        sync.Templates.build('pytest-x', steps=[{'kind': 'run', 'argv': ['true']}])
    with pytest.raises(opencomputer.InvalidArgumentError, match='line 2'):
        sync.Templates.build('pytest-x', 'FROM base\nHEALTHCHECK NONE\n')
    assert not any('build sandbox' in line for line in log), log
    with pytest.raises(opencomputer.NotFoundError):
        sync.Templates.get('pytest-x')
