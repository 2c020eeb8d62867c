// template.test.mjs: template builds through oc-server with the real SDK:
// Templates.build from a Dockerfile, Sandbox.create({image}) with its build
// log and its content-hash cache, Snapshots, and the errors of each.
// Builds boot VMs (minutes under TCG), so the cases share what they build;
// sandboxes carry metadata oc-test, and everything made here is deleted.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';

import { rawRequest, removeTmpDirs, startServer, stopServerCleanly } from './server.mjs';

const { Sandbox, Templates } = await import(process.env.OC_SDK);
const { Image, Snapshots } = await import(path.join(path.dirname(process.env.OC_SDK), 'node.js'));

const KEY = 'test-key-' + Math.random().toString(36).slice(2).padEnd(12, '0');
const META = { 'oc-test': 'http' };
const SUFFIX = Math.random().toString(36).slice(2, 8);
const NAME = `t-http-${SUFFIX}`;
const SNAP = `s-http-${SUFFIX}`;
let server, serverLog = '', base, opts, templates;
const sandboxes = [], made = new Set();

function raw(method, url, body, headers) {
  return rawRequest(base, method, url, { key: KEY, headers,
                                         body: body === undefined ? undefined : JSON.stringify(body) });
}

async function create(o) {
  const sb = await Sandbox.create({ ...opts, metadata: META, ...o });
  sandboxes.push(sb);
  return sb;
}

async function kill(sb) {
  await sb.kill();
  sandboxes.splice(sandboxes.indexOf(sb), 1);
}

// The image-built templates: named for their content hash.
async function imageTemplates() {
  return (await templates.list()).filter((t) => t.name.startsWith('img-'));
}

before(async () => {
  ({ proc: server, base, opts } = await startServer(KEY, (d) => { serverLog += d; }));
  templates = new Templates(base, KEY);
});

after(async () => {
  for (const sb of sandboxes.splice(0)) await sb.kill().catch(() => {});
  for (const name of made) await raw('DELETE', `/templates/${name}`);
  try {
    await stopServerCleanly(server, () => serverLog);
  } finally {
    removeTmpDirs();
  }
});

test('bad builds are 400 with a message and build nothing', async () => {
  const cases = [
    [{ name: 'bad-instr', dockerfile: 'FROM base\nEXPOSE 80\n' }, /EXPOSE/],
    [{ name: '../x', dockerfile: 'FROM base\nRUN true\n' }, /\.\.\/x/],
    [{ name: 'Upper', dockerfile: 'FROM base\nRUN true\n' }, /Upper/],
    [{ name: 'with-copy', dockerfile: 'FROM base\nCOPY a /a\n' }, /no build context/],
    [{ name: 'no-file' }, /'dockerfile' are required/],
    [{ dockerfile: 'FROM base\n' }, /'name' and 'dockerfile' are required/],
  ];
  for (const [body, re] of cases) {
    const r = await raw('POST', '/templates', body);
    assert.equal(r.status, 400, r.text);
    assert.match(r.json.error, re);
  }
  await assert.rejects(templates.build('bad-instr', 'FROM base\nHEALTHCHECK NONE\n'), /400/);
  assert.equal((await raw('GET', '/templates/bad-instr')).status, 404);
  // an image step the server has no mapping for names the step, before any build
  const img = { base: 'base', steps: [{ type: 'run', args: { commands: ['true'] } },
                                      { type: 'add_secret', args: {} }] };
  const r = await raw('POST', '/sandboxes', { image: img, metadata: META });
  assert.equal(r.status, 400, r.text);
  assert.match(r.json.error, /image step 2 \(add_secret\)/);
  const traversal = { base: 'base', steps: [{ type: 'add_dir', args: { path: '/d', files: [
    { relativePath: '../../etc/x', content: 'eA==' }] } }] };
  assert.equal((await raw('POST', '/sandboxes', { image: traversal })).status, 400);
  assert.equal((await raw('POST', '/snapshots', { name: SNAP })).status, 400);
  const escape = await raw('POST', '/snapshots', { name: '../../x', image: { base: 'base', steps: [] } });
  assert.equal(escape.status, 400, escape.text);
});

test('Templates.build from a Dockerfile; list, get, create from it, 409 again, delete', async () => {
  const info = await templates.build(NAME, 'FROM base\nRUN echo hi > /f\nENV X=1\n' +
                                     'LABEL opencomputer.agent=/usr/local/bin/oc-agent-runner\n');
  made.add(NAME);
  assert.equal(info.templateID, NAME);
  assert.equal(info.name, NAME);
  assert.equal(info.status, 'ready');
  assert.equal(typeof info.tag, 'string');
  assert.equal(info.parent, 'base');
  assert.deepEqual(info.env, ['X=1']);
  assert.deepEqual(info.agent, ['/usr/local/bin/oc-agent-runner']);
  assert.equal(info.snapshotReady, true, 'the build prepares the ready snapshot');
  const listed = (await templates.list()).find((t) => t.name === NAME);
  assert.equal(listed?.templateID, NAME);
  assert.equal(listed.status, 'ready');
  const got = await templates.get(NAME);
  assert.equal(got.templateID, NAME);
  assert.equal(got.steps.length, 3, JSON.stringify(got.steps));

  const sb = await create({ template: NAME });
  const r = await sb.exec.run('cat /f; echo "X=$X"');
  assert.equal(r.stdout, 'hi\nX=1\n', r.stderr);
  // in use: refused, naming the sandbox
  const busy = await raw('DELETE', `/templates/${NAME}`);
  assert.equal(busy.status, 409, busy.text);
  await kill(sb);

  const again = await raw('POST', '/templates', { name: NAME, dockerfile: 'FROM base\n' });
  assert.equal(again.status, 409, again.text);
  assert.match(again.json.error, /exists/);

  await templates.delete(NAME);
  made.delete(NAME);
  await assert.rejects(templates.get(NAME), /404/);
});

test('a failing RUN is 422 with the step and its output, and leaves no template', async () => {
  const name = `t-http-fail-${SUFFIX}`;
  const r = await raw('POST', '/templates',
                      { name, dockerfile: 'FROM base\nRUN echo doomed-output; exit 3\n' });
  if (r.status === 201) made.add(name);
  assert.equal(r.status, 422, r.text);
  assert.match(r.json.error, /exit code 3/);
  assert.match(r.json.error, /doomed-output/);
  assert.equal((await raw('GET', `/templates/${name}`)).status, 404);
  // the same failure on an event stream: build_log events, then an error event
  const s = await raw('POST', '/templates', { name, dockerfile: 'FROM base\nRUN exit 4\n' },
                      { Accept: 'text/event-stream' });
  assert.equal(s.status, 201, s.text);
  assert.match(s.text, /^event: build_log\ndata: .*RUN exit 4/m);
  assert.match(s.text, /^event: error\ndata: .*exit code 4/m);
  assert.equal((await raw('GET', `/templates/${name}`)).status, 404);
});

test('a failing image step fails Sandbox.create with the step and creates nothing', async () => {
  const before = (await raw('GET', '/sandboxes')).json.length;
  const images = (await imageTemplates()).length;
  const logs = [];
  await assert.rejects(create({ image: Image.base().runCommands('echo img-doomed; exit 5'),
                                onBuildLog: (l) => logs.push(l) }),
                       /Build failed: .*exit code 5/);
  assert.ok(logs.some((l) => /img-doomed/.test(l)), logs.join('\n'));
  assert.equal((await raw('GET', '/sandboxes')).json.length, before);
  assert.equal((await imageTemplates()).length, images);
});

test('a client that leaves mid-stream: the build ends, the server stays well', async () => {
  const name = `t-http-gone-${SUFFIX}`;
  const ac = new AbortController();
  const resp = await fetch(`${base}/templates`, {
    method: 'POST', signal: ac.signal,
    headers: { 'X-API-Key': KEY, 'Content-Type': 'application/json', Accept: 'text/event-stream' },
    body: JSON.stringify({ name, dockerfile: 'FROM base\nRUN echo left; sleep 2\n' }),
  });
  made.add(name);
  assert.equal(resp.status, 201);
  const reader = resp.body.getReader();
  const first = new TextDecoder().decode((await reader.read()).value);
  assert.match(first, /event: build_log/);
  ac.abort();
  // the build runs on to its end (the ready snapshot last), and its template is there
  const ready = async () => (await raw('GET', `/templates/${name}`)).json?.snapshotReady === true;
  for (let i = 0; i < 300 && !(await ready()); i++)
    await new Promise((resolve) => setTimeout(resolve, 1000));
  assert.ok(await ready(), serverLog.slice(-2000));
  assert.equal((await raw('GET', '/templates')).status, 200);
  await templates.delete(name);
  made.delete(name);
});

const IMAGE = Image.base().runCommands('echo x > /g').env({ Y: '2' })
  .addFile('/etc/inline.txt', 'inline content\n');

test('Sandbox.create({image}) builds once, streams its log, and reuses the build', async () => {
  const before = (await imageTemplates()).length;
  const logs1 = [];
  let t0 = Date.now();
  const sb1 = await create({ image: IMAGE, onBuildLog: (l) => logs1.push(l) });
  console.log(`# first create with an image (build, ready snapshot, create): ${Date.now() - t0} ms`);
  const r = await sb1.exec.run('cat /g /etc/inline.txt; echo "Y=$Y"');
  assert.equal(r.stdout, 'x\ninline content\nY=2\n', r.stderr);
  assert.ok(logs1.some((l) => /RUN echo x > \/g/.test(l)), logs1.join('\n'));
  const built = await imageTemplates();
  assert.equal(built.length, before + 1, JSON.stringify(built));
  const name = (await raw('GET', `/sandboxes/${sb1.sandboxId}`)).json.templateID;
  assert.match(name, /^img-[0-9a-f]{32}$/);
  made.add(name);
  await kill(sb1);

  const logs2 = [];
  t0 = Date.now();
  const sb2 = await create({ image: IMAGE, onBuildLog: (l) => logs2.push(l) });
  assert.ok(logs2.some((l) => /cached/.test(l)), logs2.join('\n'));
  assert.ok(!logs2.some((l) => /RUN echo/.test(l)), `built again: ${logs2.join('\n')}`);
  assert.equal((await imageTemplates()).length, before + 1);
  assert.equal((await raw('GET', `/sandboxes/${sb2.sandboxId}`)).json.templateID, name);
  assert.equal((await sb2.exec.run('cat /g')).stdout, 'x\n');
  console.log(`# second create with the same image: ${Date.now() - t0} ms`);
  await kill(sb2);
});

test('Snapshots: create from an image, list, get, create a sandbox from it, delete', async () => {
  const snapshots = new Snapshots(opts);
  const logs = [];
  const info = await snapshots.create({ name: SNAP, image: IMAGE, onBuildLogs: (l) => logs.push(l) });
  made.add(SNAP);
  assert.equal(info.name, SNAP);
  assert.equal(info.status, 'ready');
  assert.match(info.contentHash, /^[0-9a-f]{64}$/);
  assert.deepEqual(info.manifest, JSON.parse(JSON.stringify(IMAGE.toJSON())));
  assert.ok(logs.length > 0);
  assert.ok((await snapshots.list()).some((s) => s.name === SNAP));
  assert.equal((await snapshots.get(SNAP)).contentHash, info.contentHash);
  // a plain template is no snapshot
  assert.ok(!(await snapshots.list()).some((s) => s.name === 'base'));

  const sb = await create({ snapshot: SNAP });
  assert.equal((await sb.exec.run('cat /g; echo "Y=$Y"')).stdout, 'x\nY=2\n');
  await kill(sb);

  await snapshots.delete(SNAP);
  made.delete(SNAP);
  await assert.rejects(snapshots.get(SNAP), /404/);
  assert.ok(!(await snapshots.list()).some((s) => s.name === SNAP));
  assert.equal((await raw('GET', `/templates/${SNAP}`)).status, 404);
});
