// agent.test.mjs: agent sessions (sandbox.agent) from Node against the
// reference runner of the base template (oc-agent-runner, a scripted test
// double for the protocol; docs/agent-sessions.md), on one real sandbox
// (node --test).
//
// The sandbox carries metadata oc-test, which scripts/check sweeps, and is
// killed at the end.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

import { Sandbox, SandboxAgent, StateError, NotFoundError } from '../index.mjs';
import { PATIENCE_MS, until } from './wait.mjs';

const META = { 'oc-test': 'node-agent' };
let sb;
const sessions = []; // killed at the end, whatever a test left

before(async () => {
  sb = await Sandbox.create({ memoryMB: 256, metadata: META });
});

after(async () => {
  for (const s of sessions) await s.kill().catch(() => {});
  await sb?.kill();
});

// Starts a session that records its events; `count(type)` and `types`
// follow them.
async function startRecorded(opts = {}) {
  const events = [];
  const errors = [];
  const s = await sb.agent.start({ ...opts, onEvent: (e) => events.push(e),
                                   onError: (d) => errors.push(d) });
  sessions.push(s);
  const rec = { s, events, errors, count: (t) => events.filter((e) => e.type === t).length };
  return rec;
}

test('sandbox.agent is a SandboxAgent', () => {
  assert.ok(sb.agent instanceof SandboxAgent);
});

test('start then prompt: ready, assistant, turn_complete in order', async () => {
  const r = await startRecorded({ prompt: 'hello there', model: 'test-model',
                                  allowedTools: ['Bash'], permissionMode: 'plan' });
  assert.match(r.s.sessionId, /^[1-9][0-9]*$/);
  await until(() => r.count('turn_complete') === 1, 'the first turn');
  const types = r.events.map((e) => e.type);
  assert.equal(types[0], 'ready');
  const configured = r.events.find((e) => e.type === 'configured');
  assert.ok(configured, `no configured event in ${types}`);
  // settings the C options lack travel under the SDK's names
  const settings = JSON.stringify(configured);
  for (const s of ['test-model', 'Bash', 'plan']) assert.ok(settings.includes(s), settings);
  const a = types.indexOf('assistant');
  assert.ok(types.indexOf('configured') < a && a < types.indexOf('turn_complete'), `${types}`);
  assert.equal(r.events[a].text, 'You said: hello there');

  r.s.sendPrompt('second');
  await until(() => r.count('turn_complete') === 2, 'the second turn');
  assert.equal(r.events.filter((e) => e.type === 'assistant').at(-1).text, 'You said: second');
  await r.s.kill();
  assert.equal(typeof await r.s.done, 'number');
});

test('a prompt that runs ls / gives tool_use_summary with the listing', async () => {
  const r = await startRecorded({ prompt: 'list the root please\nrun: ls /' });
  await until(() => r.count('turn_complete') === 1, 'the turn');
  const tool = r.events.find((e) => e.type === 'tool_use_summary');
  assert.ok(tool, `no tool_use_summary in ${r.events.map((e) => e.type)}`);
  assert.equal(tool.command, 'ls /');
  assert.equal(tool.exit_code, 0);
  for (const dir of ['bin', 'etc', 'usr']) assert.match(tool.output, new RegExp(`^${dir}$`, 'm'));
  const types = r.events.map((e) => e.type);
  assert.ok(types.indexOf('tool_use_summary') < types.indexOf('result'), `${types}`);
  assert.equal(r.events.find((e) => e.type === 'result').subtype, 'success');
  await r.s.kill();
});

test('interrupt during a long turn gives interrupted', async () => {
  const r = await startRecorded({ prompt: 'sleep: 60' });
  await until(() => r.count('assistant') === 1, 'the turn to start');
  const t0 = Date.now();
  await r.s.interrupt();
  await until(() => r.count('interrupted') === 1, 'interrupted');
  await until(() => r.count('turn_complete') === 1, 'the end of the turn');
  assert.ok(Date.now() - t0 < 60000, 'the turn ran its whole minute');
  assert.equal(r.events.find((e) => e.type === 'result').subtype, 'interrupted');
  await r.s.kill();
});

test('attach from a second handle replays the history, then follows live', async () => {
  const r = await startRecorded({ prompt: 'first turn' });
  await until(() => r.count('turn_complete') === 1, 'the first turn');
  r.s.close();
  assert.equal(await r.s.done, -1);

  const other = await Sandbox.connect(sb.sandboxId);
  const seen = [];
  let replayed = -1;
  const exits = [];
  const a = await other.agent.attach(r.s.sessionId, {
    onEvent: (e) => seen.push(e), onScrollbackEnd: () => { replayed = seen.length; },
    onExit: (c) => exits.push(c),
  });
  sessions.push(a);
  assert.equal(a.sessionId, r.s.sessionId);
  await until(() => replayed >= 0, 'the end of the history');
  assert.deepEqual(seen.map((e) => e.type), r.events.map((e) => e.type));
  a.sendPrompt('live turn\nexit: 7');
  await until(() => seen.filter((e) => e.type === 'turn_complete').length === 2, 'the live turn');
  assert.equal(seen.filter((e) => e.type === 'assistant').at(-1).text, 'You said: live turn\nexit: 7');
  assert.ok(seen.length > replayed);
  // done resolves with the program's exit code
  assert.equal(await a.done, 7);
  assert.deepEqual(exits, [7]);
  await assert.rejects(a.sendPrompt('too late'), StateError);
});

test('a second process attaches, gets the same history, closes and exits', async () => {
  const r = await startRecorded({ prompt: 'from the first process' });
  await until(() => r.count('turn_complete') === 1, 'the turn');
  await r.s.close();
  // QEMU takes one agent client at a time: let this process's connection
  // linger out first
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const index = fileURLToPath(new URL('../index.mjs', import.meta.url));
  const script = `import { Sandbox } from ${JSON.stringify(index)};
    const sb = await Sandbox.connect(${JSON.stringify(sb.sandboxId)});
    const types = [];
    let replayed;
    const history = new Promise((resolve) => { replayed = resolve; });
    const s = await sb.agent.attach(${JSON.stringify(r.s.sessionId)},
      { onEvent: (e) => types.push(e.type), onScrollbackEnd: () => replayed() });
    await history;
    console.log(JSON.stringify(types));
    s.close();
    console.log(await s.done);`;
  const stdout = await new Promise((resolve, reject) => {
    execFile(process.execPath, ['--input-type=module', '-e', script],
      { timeout: PATIENCE_MS }, (e, out) => (e ? reject(e) : resolve(out)));
  });
  assert.equal(stdout, `${JSON.stringify(r.events.map((e) => e.type))}\n-1\n`);
  await r.s.kill();
});

test('a garbage line gives an error event and the session goes on', async () => {
  const r = await startRecorded({ prompt: 'garbage: this is { not json' });
  await until(() => r.count('turn_complete') === 1, 'the turn');
  const bad = r.events.find((e) => e.type === 'error' && e.source === 'host');
  assert.ok(bad, `no host error event in ${JSON.stringify(r.events)}`);
  assert.equal(bad.raw, 'this is { not json');
  assert.ok(r.errors.includes('non-JSON stdout: this is { not json'), `${r.errors}`);
  r.s.sendPrompt('after the garbage');
  await until(() => r.count('turn_complete') === 2, 'the next turn');
  assert.equal(r.events.filter((e) => e.type === 'assistant').at(-1).text,
               'You said: after the garbage');
  await r.s.kill();
});

test('configure sends settings the runner reports', async () => {
  const r = await startRecorded();
  await until(() => r.count('ready') === 1, 'ready');
  await r.s.configure({ model: 'other-model', maxTurns: 3 });
  await until(() => r.count('configured') === 1, 'configured');
  const c = r.events.find((e) => e.type === 'configured');
  assert.ok(JSON.stringify(c).includes('other-model'), JSON.stringify(c));
  await r.s.kill();
});

test('list shows agent sessions only; kill ends one and done resolves', async () => {
  const exec = await sb.exec.start('sleep 600');
  const r = await startRecorded();
  await until(() => r.count('ready') === 1, 'ready');
  const list = await sb.agent.list();
  const mine = list.find((i) => i.sessionID === r.s.sessionId);
  assert.ok(mine, JSON.stringify(list));
  assert.equal(mine.sandboxID, sb.sandboxId);
  assert.equal(mine.running, true);
  assert.ok(!Number.isNaN(Date.parse(mine.startedAt)), mine.startedAt);
  assert.ok(!list.some((i) => i.sessionID === exec.sessionId), 'an exec session is listed');
  await exec.kill();

  await r.s.kill();
  assert.equal(await r.s.done, 128 + 9);
  const listed = (await sb.agent.list()).find((i) => i.sessionID === r.s.sessionId);
  assert.deepEqual([listed.running, listed.exitCode], [false, 128 + 9]);
});

test('a session survives hibernate and wake; its follower ends with -1 and attaches again',
     async () => {
  const exits = [];
  const r = await startRecorded({ prompt: 'before the hibernate', onExit: (c) => exits.push(c) });
  await until(() => r.count('turn_complete') === 1, 'the turn');
  await sb.hibernate();
  assert.equal(await r.s.done, -1);
  assert.deepEqual(exits, [-1]);
  await sb.wake();

  const seen = [];
  let replayed = -1;
  const a = await sb.agent.attach(r.s.sessionId, {
    onEvent: (e) => seen.push(e), onScrollbackEnd: () => { replayed = seen.length; },
  });
  sessions.push(a);
  await until(() => replayed >= 0, 'the end of the history');
  assert.deepEqual(seen.map((e) => JSON.stringify(e)), r.events.map((e) => JSON.stringify(e)));
  a.sendPrompt('after the wake');
  await until(() => seen.filter((e) => e.type === 'turn_complete').length === 2, 'a live turn');
  assert.equal(seen.filter((e) => e.type === 'assistant').at(-1).text, 'You said: after the wake');
  await a.kill();
});

test('another program with args and envs: its events, its stderr to onError, its exit code',
     async () => {
  const exits = [];
  const r = await startRecorded({
    program: '/bin/sh',
    args: ['-c', 'echo "{\\"type\\":\\"ready\\",\\"who\\":\\"$WHO\\"}"; echo oops >&2; exit 3'],
    envs: { WHO: 'me' }, onExit: (c) => exits.push(c),
  });
  assert.equal(await r.s.done, 3);
  assert.deepEqual(exits, [3]);
  assert.deepEqual(r.events, [{ type: 'ready', who: 'me' }]);
  assert.equal(r.errors.join(''), 'oops\n');
});

test('attach to an unknown session is a NotFoundError', async () => {
  await assert.rejects(sb.agent.attach('999999'), NotFoundError);
});
