// network.test.mjs: egress policies through oc-server: `network` in the
// create body, GET and PUT /api/sandboxes/:id/network (this server's own)
// and the SDK's getAllowedHosts().  One sandbox, created with a policy;
// it carries metadata oc-test, which scripts/check sweeps, and is killed
// here.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';

import { rawRequest, removeTmpDirs, startServer, stopServerCleanly } from './server.mjs';

const { Sandbox } = await import(process.env.OC_SDK);

const KEY = 'test-key-' + Math.random().toString(36).slice(2).padEnd(12, '0');
const META = { 'oc-test': 'http' };
let server, serverLog = '', base, opts, hostServer, curl, sandboxId, forkId;

function raw(method, url, body) {
  return rawRequest(base, method, url,
                    { key: KEY, body: body === undefined ? undefined : JSON.stringify(body) });
}

before(async () => {
  ({ proc: server, base, opts } = await startServer(KEY, (d) => { serverLog += d; }));
  // a server on the host's loopback, which the guest reaches at 10.0.2.2
  hostServer = http.createServer((req, res) => res.end('hello from the host'));
  await new Promise((resolve) => hostServer.listen(0, '127.0.0.1', resolve));
  curl = `curl -sS -m 10 http://10.0.2.2:${hostServer.address().port}/`;
});

after(async () => {
  for (const id of [forkId, sandboxId]) if (id) await raw('DELETE', `/sandboxes/${id}`);
  hostServer.close();
  try {
    await stopServerCleanly(server, () => serverLog);
  } finally {
    removeTmpDirs();
  }
});

test('a bad network in the create body is 400 naming it, and nothing is made', async () => {
  const before = (await raw('GET', '/sandboxes')).json.length;
  const cases = [
    [{ network: { allowOut: ['10.0.0.0/33'] } }, /10\.0\.0\.0\/33/],
    [{ network: { denyOut: ['not a host!'] } }, /'not a host!'/],
    [{ network: { allowout: ['10.0.2.2'] } }, /no member 'allowout'/],
    [{ network: { allowOut: '10.0.2.2' } }, /'allowOut' must be an array of strings/],
    [{ network: { blockAll: 'yes' } }, /'blockAll' must be true or false/],
    [{ network: ['10.0.2.2'] }, /'network' must be an object/],
  ];
  for (const [body, re] of cases) {
    const r = await raw('POST', '/sandboxes', { ...body, metadata: META });
    assert.equal(r.status, 400, r.text);
    assert.match(r.json.error, re);
  }
  assert.equal((await raw('GET', '/sandboxes')).json.length, before);
});

test('create with blockAll; PUT allowOut lets the host server in; getAllowedHosts; PUT {} clears',
  async () => {
    const made = await raw('POST', '/sandboxes', { metadata: META, network: { blockAll: true } });
    assert.equal(made.status, 201, made.text);
    sandboxId = made.json.sandboxID;
    assert.deepEqual(made.json.network, { allowOut: [], denyOut: [], blockAll: true });
    const sb = await Sandbox.connect(sandboxId, opts);
    const blocked = await sb.exec.run(curl);
    assert.equal(blocked.exitCode, 7, blocked.stderr); // curl: couldn't connect

    const entry = `10.0.2.2:${hostServer.address().port}`;
    const put = await raw('PUT', `/sandboxes/${sandboxId}/network`,
                          { allowOut: [entry], denyOut: ['10.0.2.2:1'], blockAll: true });
    assert.equal(put.status, 200, put.text);
    assert.deepEqual(put.json, { allowOut: [entry], denyOut: ['10.0.2.2:1'], blockAll: true });
    assert.deepEqual((await raw('GET', `/sandboxes/${sandboxId}/network`)).json, put.json);
    assert.equal((await sb.exec.run(curl)).stdout, 'hello from the host');
    assert.deepEqual(await sb.getAllowedHosts(),
                     { sandboxID: sandboxId, egressAllowlist: [entry], perSecretAllowedHosts: {} });

    // a bad entry changes nothing
    const bad = await raw('PUT', `/sandboxes/${sandboxId}/network`, { allowOut: ['10.0.0.0/33'] });
    assert.equal(bad.status, 400, bad.text);
    assert.match(bad.json.error, /10\.0\.0\.0\/33/);
    assert.deepEqual((await raw('GET', `/sandboxes/${sandboxId}/network`)).json, put.json);

    const cleared = await raw('PUT', `/sandboxes/${sandboxId}/network`, {});
    assert.deepEqual(cleared.json, { allowOut: [], denyOut: [], blockAll: false });
    assert.equal((await sb.exec.run(curl)).stdout, 'hello from the host');
    assert.deepEqual((await sb.getAllowedHosts()).egressAllowlist, []);
    assert.equal((await raw('GET', '/sandboxes/sb-000000000000/network')).status, 404);
  });

test('from-checkpoint: a fork keeps the policy without network; a bad one is 400', async () => {
  const sb = await Sandbox.connect(sandboxId, opts);
  const policy = { allowOut: [], denyOut: ['10.0.2.2:1'], blockAll: true };
  await raw('PUT', `/sandboxes/${sandboxId}/network`, policy);
  const cp = await sb.createCheckpoint('net-test');
  try {
    const bad = await raw('POST', `/sandboxes/from-checkpoint/${cp.id}`,
                          { network: { allowOut: ['10.0.0.0/33'] } });
    assert.equal(bad.status, 400, bad.text);
    assert.match(bad.json.error, /10\.0\.0\.0\/33/);
    const made = await raw('POST', `/sandboxes/from-checkpoint/${cp.id}`, { timeout: 600 });
    assert.equal(made.status, 201, made.text);
    forkId = made.json.sandboxID;
    assert.deepEqual(made.json.network, policy);
    const blocked = await (await Sandbox.connect(forkId, opts)).exec.run(curl);
    assert.equal(blocked.exitCode, 7, blocked.stderr);
  } finally {
    await sb.deleteCheckpoint(cp.id);
    await raw('PUT', `/sandboxes/${sandboxId}/network`, {});
  }
});
