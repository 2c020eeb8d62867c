#!/usr/bin/python3
"""exec-p50.py SANDBOX_ID N: exec.run("true") latency through the Python
binding (sync and async), for tests/bench/bindings.  Prints one JSON line."""
import asyncio
import json
import statistics
import sys
import time

from opencomputer import Sandbox, sync


def p50(fn, n):
    for _ in range(3):
        fn()
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def main():
    sid, n = sys.argv[1], int(sys.argv[2])
    sb = sync.Sandbox.connect(sid)
    out = {'sync_p50_ms': p50(lambda: sb.exec.run('true', args=[]), n), 'n': n}

    async def run_async():
        a = await Sandbox.connect(sid)
        loop_times = []
        for i in range(n + 3):
            t0 = time.perf_counter()
            await a.exec.run('true', args=[])
            if i >= 3:
                loop_times.append((time.perf_counter() - t0) * 1e3)
        return statistics.median(loop_times)
    out['async_p50_ms'] = asyncio.run(run_async())
    print(json.dumps(out))


if __name__ == '__main__':
    main()
