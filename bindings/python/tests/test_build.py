"""test_build.py: template builds from Python (Templates.build), against real
build sandboxes (pytest); imports of a root filesystem tarball
(Templates.import_rootfs, without its boot) and prunes of the layer cache.

Few VMs: the build's own sandbox, one sandbox from the built template, and
the failing build's sandbox.  Every template built here is deleted here;
the sandbox carries metadata oc-test, which scripts/check sweeps.
"""
import asyncio
import os
import subprocess
import threading

import pytest

import opencomputer
from opencomputer import BuildStep, Sandbox, Templates, sync

META = {'oc-test': 'python-build'}
NAME = 'pytest-built'
STEPS_NAME = 'pytest-built-steps'
FAILED = 'pytest-failed'
IMPORTED = 'pytest-imported'
# makes a tiny busybox root filesystem tarball (Debian's busybox-static)
MAKE_ROOTFS = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', '..',
                           'tests', 'integration', 'make-busybox-rootfs')
DOCKERFILE = 'FROM base\nRUN echo hi > /f\nENV X=1\n'
PATIENCE = 1200  # seconds: builds boot VMs under TCG


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, PATIENCE))


def forget(name):
    try:
        sync.Templates.delete(name)
    except opencomputer.NotFoundError:
        pass


def run_logged(call):
    """Runs call(on_log) (a coroutine) on a loop; its result and the lines
    on_log got, which must all arrive on the loop's thread."""
    log, threads = [], set()

    def on_log(line):
        threads.add(threading.get_ident())
        log.append(line)

    async def main():
        info = await call(on_log)
        assert threads == {threading.get_ident()}  # on the loop
        return info
    return run(main()), log


@pytest.fixture(scope='module')
def built():
    """NAME, built from DOCKERFILE, with the lines its build logged."""
    forget(NAME)
    info, log = run_logged(lambda on_log: Templates.build(NAME, DOCKERFILE, on_log=on_log))
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


@pytest.fixture(scope='module')
def rootfs_tar(tmp_path_factory):
    tar = str(tmp_path_factory.mktemp('rootfs') / 'busybox-rootfs.tar.gz')
    subprocess.run([MAKE_ROOTFS, tar], check=True)
    return tar


def test_a_rootfs_tarball_imports_without_a_boot(rootfs_tar):
    forget(IMPORTED)
    try:
        info, log = run_logged(lambda on_log: Templates.import_rootfs(
            IMPORTED, rootfs_tar, prepare=False, on_log=on_log))
        assert info.name == IMPORTED and info.parent is None, info
        assert info.imported_from == os.path.abspath(rootfs_tar), info
        assert info.size_bytes > 0 and info.steps == [], info
        assert any(rootfs_tar in line for line in log), log
        got = sync.Templates.get(IMPORTED)
        assert got.imported_from == info.imported_from, got
        # the name is taken now
        with pytest.raises(opencomputer.AlreadyExistsError):
            sync.Templates.import_rootfs(IMPORTED, rootfs_tar, prepare=False)
    finally:
        forget(IMPORTED)
    with pytest.raises(opencomputer.NotFoundError):
        sync.Templates.get(IMPORTED)
    # a built or base template was not imported
    assert sync.Templates.get('base').imported_from is None


def test_a_bad_import_raises_and_leaves_nothing(rootfs_tar, tmp_path):
    with pytest.raises(opencomputer.InvalidArgumentError):
        sync.Templates.import_rootfs('../x', rootfs_tar, prepare=False)
    with pytest.raises(opencomputer.NotFoundError):
        sync.Templates.import_rootfs(IMPORTED, str(tmp_path / 'missing.tar'), prepare=False)
    not_tar = tmp_path / 'not.tar'
    not_tar.write_bytes(b'not a tarball\n' * 64)
    with pytest.raises(opencomputer.InvalidArgumentError):
        run(Templates.import_rootfs(IMPORTED, str(not_tar), prepare=False))
    assert IMPORTED not in [t.name for t in sync.Templates.list()]


def test_prune_reports_what_it_did():
    r = run(Templates.prune(keep_days=0))
    assert isinstance(r, opencomputer.PruneResult), r
    assert all(type(v) is int and v >= 0 for v in (r.removed, r.bytes_freed, r.kept)), r
    assert r.removed > 0 or r.bytes_freed == 0, r
    # a second prune finds nothing more to remove
    again = sync.Templates.prune()
    assert again.removed == 0 and again.bytes_freed == 0, again
    with pytest.raises(opencomputer.InvalidArgumentError, match='keep_days'):
        sync.Templates.prune(keep_days=-1)
