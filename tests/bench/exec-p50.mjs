// exec-p50.mjs SANDBOX_ID N: exec.run("true") latency through the Node
// binding, for tests/bench/bindings.  Prints one JSON line.
import { Sandbox } from '../../bindings/node/index.mjs';

const [id, nArg] = process.argv.slice(2);
const n = Number(nArg);
const sb = await Sandbox.connect(id);
const times = [];
for (let i = -3; i < n; i++) {
  const t0 = process.hrtime.bigint();
  await sb.exec.run('true', { args: [] });
  if (i >= 0)
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
}
times.sort((a, b) => a - b);
console.log(JSON.stringify({ p50_ms: times[Math.floor(n / 2)], n }));
