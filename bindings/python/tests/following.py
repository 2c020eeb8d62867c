"""following.py: helpers of the tests that follow sessions (test_stream.py,
test_agent.py): their callbacks land on the event loop, so the tests poll
there, with a bound against hangs that is never a measurement."""
import asyncio
import time

import pytest

from opencomputer import sync

PATIENCE = 180  # seconds


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, PATIENCE))


async def until(pred, what):
    """Polls pred on the loop (callbacks land there) until it holds."""
    deadline = time.monotonic() + PATIENCE
    while not pred():
        assert time.monotonic() < deadline, 'gave up waiting for ' + what
        await asyncio.sleep(0.05)


def shared_sandbox(metadata):
    """A module's fixture `shared`: one small sandbox for all its tests,
    carrying metadata (which scripts/check sweeps), killed at the end."""
    @pytest.fixture(scope='module')
    def shared():
        sb = sync.Sandbox.create(memory_mb=256, metadata=metadata)
        yield sb
        sb.kill()
    return shared
