"""test_checkpoint.py: checkpoints, forks and restores from Python against
real sandboxes (pytest).

Three sandboxes in all (a parent and two forks); each carries metadata
oc-test, which scripts/check sweeps, and is killed here.
"""
import asyncio
import os
import subprocess
import sys
from datetime import datetime

import pytest

import opencomputer
from opencomputer import Sandbox, sync

META = {'oc-test': 'python-checkpoint'}
MARK = '/root/mark'


def test_context_options_and_pool_status():
    ready = sync.template_snapshot_ready('base')
    assert isinstance(ready, bool)
    status = sync.pool_status('base')
    assert status.target == 0 and status.ready >= 0  # no pool configured here
    # the context is open now: its options can no longer change
    with pytest.raises(opencomputer.StateError, match='configure'):
        opencomputer.configure(pool_size=1)
    with pytest.raises(opencomputer.NotFoundError):
        sync.Sandbox.get_checkpoint('cp-000000000000')


def test_require_kvm():
    # a fresh process: this one's context is open already
    code = ('import opencomputer\n'
            'from opencomputer import sync\n'
            'opencomputer.configure(require_kvm=True)\n'
            'try:\n'
            '    sync.pool_status("base")\n'
            'except opencomputer.UnsupportedError as e:\n'
            '    print("refused:", e)\n'
            'else:\n'
            '    print("opened")\n')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                         check=True).stdout
    if os.access('/dev/kvm', os.R_OK | os.W_OK):
        assert out == 'opened\n'
    else:
        assert out.startswith('refused:') and '/dev/kvm' in out, out


async def _random_bytes(sb: Sandbox) -> str:
    r = await sb.exec.run('head -c 16 /dev/urandom | od -An -tx1')
    assert r.exit_code == 0, r
    return r.stdout


async def _check_fork(f: Sandbox, cp: opencomputer.Checkpoint) -> None:
    assert await f.files.read(MARK) == 'before the checkpoint'
    assert (await f.exec.run('hostname')).stdout.strip() == f.sandbox_id
    info = await f.get_info()
    assert (info.origin, info.checkpoint, info.metadata) == ('checkpoint', cp.id, META)
    assert (info.cpu_count, info.memory_mb) == (cp.cpu_count, cp.memory_mb)


def test_checkpoint_fork_restore_delete():
    async def main():
        made = []
        cp = None
        try:
            sb = await Sandbox.create(metadata=META)
            made.append(sb)
            await sb.files.write(MARK, 'before the checkpoint')
            cp = await sb.create_checkpoint('py-test')
            info = await sb.get_info()
            assert cp.id.startswith('cp-') and cp.name == 'py-test'
            assert (cp.sandbox_id, cp.template) == (sb.sandbox_id, info.template)
            assert (cp.cpu_count, cp.memory_mb) == (info.cpu_count, info.memory_mb)
            assert cp.size_bytes > 0 and isinstance(cp.created_at, datetime)
            assert [c.id for c in await sb.list_checkpoints()] == [cp.id]
            assert (await Sandbox.get_checkpoint(cp.id)) == cp

            # the forks get a policy of their own; the sandbox keeps having none
            forks = await Sandbox.create_from_checkpoint(cp.id, metadata=META, count=2,
                                                         network={'deny_out': ['10.0.2.2:1']})
            made.extend(forks)
            assert isinstance(forks, list) and len(forks) == 2
            assert len({f.sandbox_id for f in made}) == 3
            for f in forks:
                await _check_fork(f, cp)
                assert (await f.get_network()).deny_out == ['10.0.2.2:1']
            assert await sb.get_network() == opencomputer.NetworkPolicy()
            assert len({await _random_bytes(f) for f in forks}) == 2

            await sb.files.remove(MARK)
            assert not await sb.files.exists(MARK)
            await sb.restore_checkpoint(cp.id)
            assert await sb.files.read(MARK) == 'before the checkpoint'
            assert (await sb.get_info()).checkpoint == cp.id

            await sb.delete_checkpoint(cp.id)
            assert await sb.list_checkpoints() == []
            with pytest.raises(opencomputer.NotFoundError, match=cp.id):
                await Sandbox.create_from_checkpoint(cp.id, metadata=META, count=2)
            cp = None
        finally:
            for s in made:
                try:
                    await s.kill()
                except opencomputer.SandboxError:
                    pass
            if cp is not None:
                # a checkpoint outlives its sandbox: delete it too
                await made[0].delete_checkpoint(cp.id)
    asyncio.run(main())
