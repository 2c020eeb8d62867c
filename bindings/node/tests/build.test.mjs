// build.test.mjs: template builds (Templates.build) from Node against real
// sandboxes (node --test): a Dockerfile build whose log reaches onLog and
// whose sandboxes see its file and ENV, an unchanged rebuild that is all
// cached, a failing step, and bad input; an import of a busybox root
// filesystem tarball (without its boot) and a prune of the layer cache.
//
// The templates are deleted at the end, and so are the cache layers of the
// steps that carry this run's nonce (no later build could use them).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { randomBytes } from 'node:crypto';

import {
  Sandbox, Templates, AlreadyExistsError, CommandError, InvalidArgumentError, NotFoundError,
  SandboxError,
} from '../index.mjs';

const META = { 'oc-test': 'node-build' };
const NONCE = randomBytes(8).toString('hex');
const T_MAIN = `node-build-${NONCE.slice(0, 8)}`;
const T_FAIL = `node-build-fail-${NONCE.slice(0, 8)}`;
const T_STEPS = `node-build-steps-${NONCE.slice(0, 8)}`;
const T_IMPORT = `node-import-${NONCE.slice(0, 8)}`;
// makes a tiny busybox root filesystem tarball (Debian's busybox-static)
const MAKE_ROOTFS = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..', 'tests',
  'integration', 'make-busybox-rootfs');
const TMP = mkdtempSync(join(tmpdir(), 'oc-node-import-'));
// the nonce is in the step's text, so the first build runs it and the
// cleanup finds its layer
const DOCKERFILE = `FROM base\nARG GREETING\nRUN echo $GREETING > /f && echo ${NONCE} > /nonce\n` +
  'ENV X=1\n';
const made = [];

after(async () => {
  for (const sb of made) await sb.kill().catch(() => {});
  // children before their parent
  for (const t of [T_STEPS, T_MAIN, T_FAIL, T_IMPORT]) await Templates.delete(t).catch(() => {});
  rmSync(TMP, { recursive: true, force: true });
  const layers = join(process.env.OC_STATE_DIR || '/var/lib/opencomputer', 'cache', 'layers');
  let names = [];
  try { names = readdirSync(layers); } catch { /* no cache yet */ }
  for (const n of names.filter((f) => f.endsWith('.json'))) {
    if (!readFileSync(join(layers, n), 'utf8').includes(NONCE)) continue;
    rmSync(join(layers, n.replace(/\.json$/, '.qcow2')), { force: true });
    rmSync(join(layers, n), { force: true });
  }
});

test('a Dockerfile build logs its steps; its sandboxes see its file and ENV', async () => {
  const log = [];
  // the event loop runs during the build
  let ticks = 0;
  const timer = setInterval(() => { ticks++; }, 50);
  const t0 = Date.now();
  const info = await Templates.build(T_MAIN, {
    dockerfile: DOCKERFILE, buildArgs: { GREETING: 'hi' }, onLog: (line) => log.push(line),
  }).finally(() => clearInterval(timer));
  const elapsed = Date.now() - t0;
  assert.ok(ticks >= elapsed / 50 / 4, `${ticks} ticks in ${elapsed} ms`);
  // the SDK's TemplateInfo, and ours beside it
  assert.equal(info.templateID, T_MAIN);
  assert.equal(info.name, T_MAIN);
  assert.equal(info.tag, 'latest');
  assert.equal(info.status, 'ready');
  assert.equal(info.parent, 'base');
  assert.ok(info.createdAt instanceof Date);
  assert.ok(info.steps.some((s) => s.includes(NONCE)), JSON.stringify(info.steps));
  // every line came before the Promise settled
  const run = log.find((l) => /\] RUN echo/.test(l));
  assert.ok(run, log.join('\n'));
  assert.ok(!run.endsWith('(cached)'), `the nonce's step was cached: ${run}`);

  const sb = await Sandbox.create({ template: T_MAIN, memoryMB: 256, metadata: META });
  made.push(sb);
  const r = await sb.exec.run('cat /f; echo "X=$X"');
  assert.equal(r.stdout, 'hi\nX=1\n');
  await sb.kill();

  // nothing changed: every step is cached
  const again = [];
  const info2 = await Templates.build(T_MAIN, {
    dockerfile: DOCKERFILE, buildArgs: { GREETING: 'hi' }, onLog: (line) => again.push(line),
  });
  assert.equal(info2.name, T_MAIN);
  const steps = again.filter((l) => /^\[\d+\/\d+\] (RUN|ENV)/.test(l));
  assert.ok(steps.length >= 2, again.join('\n'));
  for (const l of steps) assert.ok(l.endsWith('(cached)'), `not cached: ${l}\n${again.join('\n')}`);
});

test('steps on a parent: workdir, an exec-form RUN, env, agent', async () => {
  const log = [];
  const info = await Templates.build(T_STEPS, {
    parent: T_MAIN,
    // the nonce in every step that changes the disk, for the cleanup
    steps: [{ type: 'workdir', args: `/app-${NONCE}` },
            { type: 'run', args: ['/bin/sh', '-c', `pwd; cat /f; echo ${NONCE}`], execForm: true },
            { type: 'env', args: ['Y', '2'] },
            { type: 'agent', args: ['/usr/local/bin/oc-agent-runner', '--quiet'] }],
    onLog: (line) => log.push(line),
  });
  assert.equal(info.parent, T_MAIN);
  assert.equal(info.steps.length, 4, JSON.stringify(info.steps));
  // the sandboxes' defaults, the parent's with these steps'
  assert.equal(info.workdir, `/app-${NONCE}`);
  assert.ok(info.env.includes('Y=2'), JSON.stringify(info.env));
  assert.deepEqual(info.agent, ['/usr/local/bin/oc-agent-runner', '--quiet']);
  assert.equal((await Templates.get('base')).agent, null);
  const text = log.join('\n');
  // the step ran in the parent's disk, in the new WORKDIR
  assert.match(text, new RegExp(`^/app-${NONCE}$`, 'm'));
  assert.match(text, /^hi$/m);
  assert.match(text, new RegExp(`^${NONCE}$`, 'm'));
});

test('a failing RUN rejects naming the step and leaves no template', async () => {
  const log = [];
  const err = await Templates.build(T_FAIL, {
    steps: [{ type: 'env', args: ['A', '1'] },
            { type: 'run', args: 'echo first-line && echo the-last-words >&2 && exit 3' }],
    onLog: (line) => log.push(line),
  }).then(() => null, (e) => e);
  assert.ok(err instanceof CommandError, String(err));
  assert.ok(err instanceof SandboxError);
  assert.equal(err.code, -15);
  for (const part of ['step 2/2', 'exit code 3', 'the-last-words', 'first-line']) {
    assert.ok(err.message.includes(part), `${part} is not in: ${err.message}`);
  }
  assert.ok(log.some((l) => l.includes('the-last-words')), log.join('\n'));
  await assert.rejects(Templates.get(T_FAIL), NotFoundError);
});

test('bad input rejects before anything runs', async () => {
  const log = [];
  await assert.rejects(Templates.build('Bad Name!', 'FROM base\nRUN true\n'),
                       InvalidArgumentError);
  await assert.rejects(new Templates().build(T_FAIL, { dockerfile: 'FROM base\nEXPOSE 80\n',
                                                       onLog: (l) => log.push(l) }),
                       (e) => e instanceof InvalidArgumentError && /line 2/.test(e.message));
  assert.deepEqual(log, []);
  await assert.rejects(Templates.build(T_FAIL, { steps: [{ type: 'frobnicate', args: [] }] }),
                       TypeError);
  await assert.rejects(Templates.get(T_FAIL), NotFoundError);
});

test('a rootfs tarball imports without a boot; importedFrom names it', async () => {
  const tar = join(TMP, 'busybox-rootfs.tar.gz');
  execFileSync(MAKE_ROOTFS, [tar]);
  const log = [];
  const info = await Templates.importRootfs(T_IMPORT, tar,
    { prepare: false, onLog: (line) => log.push(line) });
  assert.equal(info.name, T_IMPORT);
  assert.equal(info.parent, null);
  assert.equal(info.importedFrom, tar);
  assert.ok(info.sizeBytes > 0, `${info.sizeBytes}`);
  assert.ok(log.some((line) => line.includes(tar)), log.join('\n'));
  assert.equal((await Templates.get(T_IMPORT)).importedFrom, tar);
  assert.equal((await Templates.get('base')).importedFrom, null);
  // the name is taken now
  await assert.rejects(Templates.importRootfs(T_IMPORT, tar, { prepare: false }),
    AlreadyExistsError);
  await Templates.delete(T_IMPORT);
  await assert.rejects(Templates.get(T_IMPORT), NotFoundError);
});

test('a bad import rejects and leaves nothing', async () => {
  const tar = join(TMP, 'busybox-rootfs.tar.gz');
  await assert.rejects(Templates.importRootfs('../x', tar, { prepare: false }),
    InvalidArgumentError);
  await assert.rejects(Templates.importRootfs(T_IMPORT, join(TMP, 'missing.tar'),
    { prepare: false }), NotFoundError);
  const notTar = join(TMP, 'not.tar');
  writeFileSync(notTar, 'not a tarball\n'.repeat(64));
  await assert.rejects(Templates.importRootfs(T_IMPORT, notTar, { prepare: false }),
    InvalidArgumentError);
  await assert.rejects(Templates.importRootfs(T_IMPORT, tar, { prepare: 'no' }), TypeError);
  assert.ok(!(await Templates.list()).some((t) => t.name === T_IMPORT));
});

test('prune reports what it removed and kept', async () => {
  const r = await Templates.prune({ keepDays: 0 });
  assert.deepEqual(Object.keys(r).sort(), ['bytesFreed', 'kept', 'removed']);
  for (const v of Object.values(r)) assert.ok(Number.isInteger(v) && v >= 0, JSON.stringify(r));
  assert.ok(r.removed > 0 || r.bytesFreed === 0, JSON.stringify(r));
  // nothing more to remove
  const again = await new Templates().prune();
  assert.equal(again.removed, 0, JSON.stringify(again));
  await assert.rejects(Templates.prune({ keepDays: -1 }), RangeError);
});
