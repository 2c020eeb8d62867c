// build.test.mjs: template builds (Templates.build) from Node against real
// sandboxes (node --test): a Dockerfile build whose log reaches onLog and
// whose sandboxes see its file and ENV, an unchanged rebuild that is all
// cached, a failing step, and bad input.
//
// The templates are deleted at the end, and so are the cache layers of the
// steps that carry this run's nonce (no later build could use them).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';

import {
  Sandbox, Templates, CommandError, InvalidArgumentError, NotFoundError, SandboxError,
} from '../index.mjs';

const META = { 'oc-test': 'node-build' };
const NONCE = randomBytes(8).toString('hex');
const T_MAIN = `node-build-${NONCE.slice(0, 8)}`;
const T_FAIL = `node-build-fail-${NONCE.slice(0, 8)}`;
const T_STEPS = `node-build-steps-${NONCE.slice(0, 8)}`;
// the nonce is in the step's text, so the first build runs it and the
// cleanup finds its layer
const DOCKERFILE = `FROM base\nARG GREETING\nRUN echo $GREETING > /f && echo ${NONCE} > /nonce\n` +
  'ENV X=1\n';
const made = [];

after(async () => {
  for (const sb of made) await sb.kill().catch(() => {});
  // children before their parent
  for (const t of [T_STEPS, T_MAIN, T_FAIL]) await Templates.delete(t).catch(() => {});
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

test('steps on a parent: workdir, an exec-form RUN, env', async () => {
  const log = [];
  const info = await Templates.build(T_STEPS, {
    parent: T_MAIN,
    // the nonce in every step that changes the disk, for the cleanup
    steps: [{ type: 'workdir', args: `/app-${NONCE}` },
            { type: 'run', args: ['/bin/sh', '-c', `pwd; cat /f; echo ${NONCE}`], execForm: true },
            { type: 'env', args: ['Y', '2'] }],
    onLog: (line) => log.push(line),
  });
  assert.equal(info.parent, T_MAIN);
  assert.equal(info.steps.length, 3, JSON.stringify(info.steps));
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
