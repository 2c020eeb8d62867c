// http-p50.mjs API_URL API_KEY SANDBOX_ID N SDK_INDEX: through oc-server,
// exec.run("true") with @opencomputer/sdk and a bare HTTP round trip (a
// request that is routed, authenticated and logged, then answered 404
// without touching a sandbox), for tests/bench/http.  Prints one JSON line.
const [apiUrl, apiKey, id, nArg, sdk] = process.argv.slice(2);
const { Sandbox } = await import(sdk);
const n = Number(nArg);

async function p50(fn) {
  const times = [];
  for (let i = -3; i < n; i++) {
    const t0 = process.hrtime.bigint();
    await fn();
    if (i >= 0)
      times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(n / 2)];
}

const sb = await Sandbox.connect(id, { apiUrl, apiKey });
const exec = await p50(async () => {
  const r = await sb.exec.run('true');
  if (r.exitCode !== 0) throw new Error(`exit ${r.exitCode}`);
});
const rtt = await p50(async () => {
  const resp = await fetch(`${apiUrl}/api/no-such-route`, { headers: { 'X-API-Key': apiKey } });
  await resp.text();
});
console.log(JSON.stringify({ sdk_p50_ms: exec, rtt_p50_ms: rtt, n }));
