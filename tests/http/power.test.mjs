// power.test.mjs: the SDK's reboot() and powerCycle() through oc-server: the
// guest restarts from its disk (a new boot id, files kept, processes gone);
// reboot of a hibernated sandbox is 409, a power cycle boots it.  And what a
// restart of the server forgets: the preview records of gone sandboxes.  One
// sandbox; it carries metadata oc-test, which scripts/check sweeps, and is
// killed here.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { rawRequest, removeTmpDirs, startServer, stopServerCleanly } from './server.mjs';

const { Sandbox } = await import(process.env.OC_SDK);

const KEY = 'test-key-' + Math.random().toString(36).slice(2).padEnd(12, '0');
const META = { 'oc-test': 'http' };
let server, serverLog = '', base, opts, sb;

async function start() {
  ({ proc: server, base, opts } = await startServer(KEY, (d) => { serverLog += d; }));
}

async function stop() {
  await stopServerCleanly(server, () => serverLog);
}

before(async () => {
  await start();
  sb = await Sandbox.create({ ...opts, timeout: 600, memoryMB: 256, metadata: META });
});

after(async () => {
  await sb?.kill().catch(() => {});
  await stop();
  removeTmpDirs();
});

const bootId = async () => (await sb.exec.run('cat /proc/sys/kernel/random/boot_id')).stdout;

test('reboot and powerCycle restart the guest from its disk', async () => {
  await sb.files.write('/root/kept', 'kept\n');
  const session = await sb.exec.start('sleep', { args: ['1000'] });
  const before = await bootId();
  await sb.reboot();
  const after = await bootId();
  assert.ok(after && after !== before, `${before} ${after}`);
  assert.equal(await sb.files.read('/root/kept'), 'kept\n');
  const running = (await sb.exec.list()).filter((s) => s.running);
  assert.deepEqual(running, [], `session ${session.sessionId} survived: ${JSON.stringify(running)}`);
  await sb.powerCycle();
  assert.ok(![before, after].includes(await bootId()));
  assert.equal(await sb.isRunning(), true);
});

test('reboot of a hibernated sandbox is 409; powerCycle boots it', async () => {
  await sb.hibernate();
  const r = await rawRequest(base, 'POST', `/sandboxes/${sb.sandboxId}/reboot`, { key: KEY });
  assert.equal(r.status, 409, r.text);
  assert.match(r.json.error, /wake it first/);
  await sb.powerCycle();
  assert.equal(await sb.isRunning(), true);
  assert.equal(await sb.files.read('/root/kept'), 'kept\n');
  const unknown = await rawRequest(base, 'POST', '/sandboxes/sb-000000000000/power-cycle',
                                 { key: KEY });
  assert.equal(unknown.status, 404, unknown.text);
});

test('a restarted server forgets the preview records of sandboxes that are gone', async () => {
  await stop();
  const dir = path.join(process.env.OC_STATE_DIR || '/var/lib/opencomputer', 'server', 'preview');
  const gone = path.join(dir, 'sb-00000000dead.json');
  const kept = path.join(dir, `${sb.sandboxId}.json`);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  fs.writeFileSync(gone, '{"urls": []}', { mode: 0o600 });
  fs.writeFileSync(kept, '{"urls": []}', { mode: 0o600 });
  serverLog = '';
  await start();
  // the new server has a new port: follow it, so that after() can kill sb
  sb = await Sandbox.connect(sb.sandboxId, opts);
  assert.equal(fs.existsSync(gone), false, 'the record of a gone sandbox is still there');
  assert.equal(fs.existsSync(kept), true, 'the record of a live sandbox went');
  assert.match(serverLog, /forgot the preview records of 1 sandbox/);
  fs.rmSync(kept, { force: true });
});
