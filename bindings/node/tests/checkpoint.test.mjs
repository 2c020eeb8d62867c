// checkpoint.test.mjs: checkpoints, forks and restores from Node against
// real sandboxes (node --test).
//
// Three sandboxes in all (a parent and two forks); each carries metadata
// oc-test, which scripts/check sweeps, and is killed here.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';

import {
  Sandbox, NotFoundError, StateError, configure, poolStatus, templateSnapshotReady,
} from '../index.mjs';

const META = { 'oc-test': 'node-checkpoint' };
const MARK = '/root/mark';
const made = [];
let leftover = null; // a checkpoint to delete if a test failed before it did

after(async () => {
  for (const sb of made) await sb.kill().catch(() => {});
  if (leftover) await made[0]?.deleteCheckpoint(leftover).catch(() => {});
});

test('context options, template snapshot and pool status', async () => {
  assert.equal(typeof await templateSnapshotReady('base'), 'boolean');
  const status = await poolStatus('base');
  assert.equal(status.target, 0); // no pool configured here
  assert.ok(status.ready >= 0);
  // the context is open now: its options can no longer change
  assert.throws(() => configure({ poolSize: 1 }),
    (e) => e instanceof StateError && e.code === -3 && /configure/.test(e.message));
  assert.throws(() => configure({ poolSize: -1 }), TypeError);
  await assert.rejects(Sandbox.getCheckpoint('cp-000000000000'), NotFoundError);
});

test('requireKvm refuses to run under TCG', () => {
  // a fresh process: this one's context is open already
  const index = new URL('../index.mjs', import.meta.url).href;
  const code = `import { configure, poolStatus, UnsupportedError } from '${index}';
    configure({ requireKvm: true });
    try { await poolStatus('base'); console.log('opened'); }
    catch (e) { console.log(e instanceof UnsupportedError ? 'refused: ' + e.message : 'other: ' + e); }`;
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8' });
  let kvm = true;
  try { accessSync('/dev/kvm', constants.R_OK | constants.W_OK); } catch { kvm = false; }
  if (kvm) assert.equal(out, 'opened\n');
  else assert.match(out, /^refused: .*\/dev\/kvm/);
  assert.throws(() => configure({ requireKvm: 'yes' }), TypeError);
});

async function randomBytes(sb) {
  const r = await sb.exec.run('head -c 16 /dev/urandom | od -An -tx1');
  assert.equal(r.exitCode, 0, r.stderr);
  return r.stdout;
}

async function checkFork(f, cp) {
  assert.equal(await f.files.read(MARK), 'before the checkpoint');
  assert.equal((await f.exec.run('hostname')).stdout.trim(), f.sandboxId);
  const info = await f.getInfo();
  assert.deepEqual([info.origin, info.checkpoint, info.metadata], ['checkpoint', cp.id, META]);
  assert.deepEqual([info.cpuCount, info.memoryMB], [cp.cpuCount, cp.memoryMB]);
}

test('checkpoint, fork two, restore, delete', async () => {
  const sb = await Sandbox.create({ metadata: META });
  made.push(sb);
  await sb.files.write(MARK, 'before the checkpoint');
  const cp = await sb.createCheckpoint('js-test');
  leftover = cp.id;
  const info = await sb.getInfo();
  assert.match(cp.id, /^cp-/);
  assert.deepEqual([cp.name, cp.sandboxId, cp.template], ['js-test', sb.sandboxId, info.templateId]);
  assert.deepEqual([cp.cpuCount, cp.memoryMB], [info.cpuCount, info.memoryMB]);
  assert.ok(cp.sizeBytes > 0 && cp.createdAt instanceof Date);
  assert.deepEqual((await sb.listCheckpoints()).map((c) => c.id), [cp.id]);
  assert.deepEqual(await Sandbox.getCheckpoint(cp.id), cp);

  // the forks get a policy of their own; the sandbox keeps having none
  const forks = await Sandbox.createFromCheckpoint(cp.id, { metadata: META, count: 2,
                                                            network: { denyOut: ['10.0.2.2:1'] } });
  made.push(...forks);
  assert.ok(Array.isArray(forks) && forks.length === 2);
  assert.equal(new Set(made.map((s) => s.sandboxId)).size, 3);
  for (const f of forks) {
    await checkFork(f, cp);
    assert.deepEqual((await f.getNetwork()).denyOut, ['10.0.2.2:1']);
  }
  assert.deepEqual(await sb.getNetwork(), { allowOut: [], denyOut: [], blockAll: false });
  const bytes = await Promise.all(forks.map(randomBytes));
  assert.notEqual(bytes[0], bytes[1]);

  await sb.files.remove(MARK);
  assert.equal(await sb.files.exists(MARK), false);
  await sb.restoreCheckpoint(cp.id);
  assert.equal(await sb.files.read(MARK), 'before the checkpoint');
  assert.equal((await sb.getInfo()).checkpoint, cp.id);

  await sb.deleteCheckpoint(cp.id);
  leftover = null;
  assert.deepEqual(await sb.listCheckpoints(), []);
  await assert.rejects(Sandbox.createFromCheckpoint(cp.id, { metadata: META, count: 2 }),
    (e) => e instanceof NotFoundError && e.code === -2 && e.message.includes(cp.id));
});
