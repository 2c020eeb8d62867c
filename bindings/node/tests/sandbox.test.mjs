// sandbox.test.mjs: the Node binding against real sandboxes (node --test).
//
// One sandbox serves most tests (boots are slow under TCG).  Every sandbox
// carries metadata oc-test, which scripts/check sweeps, and is killed here.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import {
  Sandbox, SandboxError, NotFoundError, InvalidArgumentError, StateError, Templates,
} from '../index.mjs';

const META = { 'oc-test': 'node' };
let shared;

before(async () => {
  shared = await Sandbox.create({ memoryMB: 256, metadata: META, envs: { SB_VAR: 'from-sandbox' } });
});

after(async () => {
  await shared?.kill();
});

test('async hello in its own sandbox', async () => {
  const sb = await Sandbox.create({ memoryMB: 192, metadata: META });
  try {
    const r = await sb.exec.run('echo Hello from $(uname -a)');
    assert.equal(r.exitCode, 0);
    assert.ok(r.stdout.startsWith('Hello from Linux '), r.stdout);
    assert.ok(r.stdout.includes('x86_64 GNU/Linux'), r.stdout);
    assert.equal(await sb.status(), 'running');
    assert.equal(await sb.isRunning(), true);
    assert.strictEqual(sb.commands, sb.exec);
    const ids = (await Sandbox.list({ metadata: META })).map((i) => i.sandboxId);
    assert.ok(ids.includes(sb.sandboxId), ids.join(' '));
  } finally {
    await sb.kill();
  }
  await assert.rejects(Sandbox.connect(sb.sandboxId), NotFoundError);
});

test('exec with env, cwd, args, stdin and exit codes', async () => {
  const sb = await Sandbox.connect(shared.sandboxId);
  let r = await sb.exec.run('echo $SB_VAR $X; pwd', { env: { X: 'call' }, cwd: '/tmp' });
  assert.equal(r.stdout, 'from-sandbox call\n/tmp\n');
  r = await sb.exec.run('printf', { args: ['%s|', 'a b', 'c'] });
  assert.equal(r.stdout, 'a b|c|');
  r = await sb.exec.run('cat', { stdin: 'piped in' });
  assert.equal(r.stdout, 'piped in');
  r = await sb.exec.run('echo oops >&2; exit 3');
  assert.deepEqual([r.exitCode, r.stderr, r.signal, r.timedOut], [3, 'oops\n', 0, false]);
  r = await sb.exec.run('sleep 5', { timeout: 0.5 });
  assert.equal(r.timedOut, true);
});

test('the event loop keeps running during a call', async () => {
  let ticks = 0;
  const timer = setInterval(() => { ticks++; }, 100);
  const start = performance.now();
  let r;
  try {
    r = await shared.exec.run('sleep 2');
  } finally {
    clearInterval(timer);
  }
  const elapsed = (performance.now() - start) / 1000;
  assert.equal(r.exitCode, 0);
  // about one tick per 100 ms of the call: the loop was not blocked
  assert.ok(ticks >= 14 && ticks >= Math.floor(elapsed * 10 * 0.7), `${ticks} ticks in ${elapsed} s`);
});

test('files round trip', async () => {
  const { files } = shared;
  const blob = Buffer.alloc(256 * 4096);
  for (let i = 0; i < blob.length; i++) blob[i] = i & 0xff;
  await files.makeDir('/root/js/sub');
  await files.write('/root/js/sub/blob', blob);
  await files.write('/root/js/text', 'héllo');
  await files.write('/root/js/u8', new Uint8Array([0, 1, 2, 255]));
  assert.ok(Buffer.from(await files.readBytes('/root/js/sub/blob')).equals(blob));
  assert.equal(await files.read('/root/js/text'), 'héllo');
  assert.deepEqual([...await files.readBytes('/root/js/u8')], [0, 1, 2, 255]);
  const st = await files.stat('/root/js/sub/blob');
  assert.deepEqual([st.type, st.size, st.name, st.isDir], ['file', blob.length, 'blob', false]);
  assert.ok(st.modifiedAt instanceof Date);
  const names = (await files.list('/root/js')).map((f) => `${f.name}:${f.type}`).sort();
  assert.deepEqual(names, ['sub:dir', 'text:file', 'u8:file']);
  await files.rename('/root/js/text', '/root/js/moved');
  assert.equal(await files.exists('/root/js/text'), false);
  assert.equal(await files.exists('/root/js/moved'), true);
  await files.remove('/root/js/u8', { recursive: false });
  assert.equal(await files.exists('/root/js/u8'), false);
  await files.remove('/root/js');
  assert.equal(await files.exists('/root/js'), false);
  await assert.rejects(files.read('/root/missing'),
    (e) => e instanceof NotFoundError && e.code === -2 && /\/root\/missing/.test(e.message));
});

test('errors map to SandboxError subclasses', async () => {
  await assert.rejects(Sandbox.connect('sb-000000000000'), (e) =>
    e instanceof NotFoundError && e instanceof SandboxError && e.code === -2 &&
    e.message.includes('sb-000000000000'));
  await assert.rejects(Sandbox.create({ cpuCount: 9, metadata: META }), (e) =>
    e instanceof InvalidArgumentError && e.code === -1 && /cpuCount 9/.test(e.message));
  await assert.rejects(shared.files.read('relative/path'),
    (e) => e instanceof InvalidArgumentError && /relative/.test(e.message));
  await assert.rejects(shared.exec.run(42), TypeError);
});

test('dropped handles are released and never stop the sandbox', async () => {
  for (let i = 0; i < 20; i++) await Sandbox.connect(shared.sandboxId);
  // --expose-gc in the meson test; elsewhere this only checks the calls
  globalThis.gc?.();
  await new Promise((resolve) => setImmediate(resolve));
  globalThis.gc?.();
  assert.equal(await shared.isRunning(), true);
  assert.equal((await shared.exec.run('true', { args: [] })).exitCode, 0);
});

test('hibernate, wake and timeout', async () => {
  const sb = await Sandbox.connect(shared.sandboxId);
  await sb.exec.run('echo kept > /root/kept');
  await sb.hibernate();
  assert.equal(await sb.status(), 'hibernated');
  assert.equal(await sb.wake({ timeout: 900 }), 'restored');
  const info = await sb.getInfo();
  assert.deepEqual([info.status, info.timeout, info.lastWake], ['running', 900, 'restored']);
  assert.equal(info.reason, null); // a running sandbox needs no explaining
  assert.deepEqual(info.metadata, META);
  assert.deepEqual(info.envs, { SB_VAR: 'from-sandbox' });
  assert.ok(info.startedAt instanceof Date && info.endAt instanceof Date);
  assert.equal(await sb.files.read('/root/kept'), 'kept\n');
  await sb.setTimeout(0);
  assert.equal((await sb.getInfo()).endAt, null);
  assert.equal(await sb.wake(), 'running');
});

test('templates: list, get and delete refused', async () => {
  const names = (await Templates.list()).map((t) => t.name);
  assert.ok(names.includes('base'), names.join(' '));
  assert.deepEqual(names, [...names].sort());
  const base = await Templates.get('base');
  assert.deepEqual([base.name, base.parent, base.steps], ['base', null, []]);
  assert.ok(base.sizeBytes > 0 && base.diskBytes > 0, JSON.stringify(base));
  assert.ok(base.createdAt instanceof Date && base.createdAt < new Date(), base.createdAt);
  // the SDK's shape: an instance with the same methods
  assert.deepEqual(await new Templates('ignored', 'ignored').get('base'), base);
  await assert.rejects(Templates.get('no-such-template'), (e) =>
    e instanceof NotFoundError && e.code === -2 && e.message.includes('no-such-template'));
  await assert.rejects(Templates.delete('../x'), (e) =>
    e instanceof InvalidArgumentError && e.code === -1 &&
    e.message.includes('invalid template name'));
  // the shared sandbox builds on base: the refusal names the users (up to
  // 8, then "and N more"), and base stays
  await assert.rejects(Templates.delete('base'), (e) =>
    e instanceof StateError && e.code === -3 &&
    e.message.startsWith('template base is in use by ') &&
    (e.message.includes(shared.sandboxId) || e.message.includes(' more: ')));
  assert.deepEqual(await Templates.get('base'), base);
});
