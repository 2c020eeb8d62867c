// stream.test.mjs: following sessions (exec.start/attach, pty, shell) from
// Node, against one real sandbox (node --test).
//
// The sandbox carries metadata oc-test, which scripts/check sweeps, and is
// killed at the end.  Waits are generous and never asserted: other VMs
// share this host.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';

import {
  Sandbox, SandboxError, NotFoundError, InvalidArgumentError, StateError, TimeoutError,
} from '../index.mjs';
import { PATIENCE_MS, until } from './wait.mjs';

const META = { 'oc-test': 'node-stream' };
let sb;

before(async () => {
  sb = await Sandbox.create({ memoryMB: 256, metadata: META });
});

after(async () => {
  await sb?.kill();
});

test('start streams lines in order, then the exit code', async () => {
  const out = [];
  const err = [];
  const exits = [];
  const s = await sb.exec.start('for i in $(seq 1 50); do echo $i; done; echo oops >&2; exit 3', {
    onStdout: (d) => out.push(d), onStderr: (d) => err.push(d), onExit: (c) => exits.push(c),
  });
  assert.match(s.sessionId, /^[1-9][0-9]*$/);
  assert.equal(await s.done, 3);
  assert.ok(out.every((d) => Buffer.isBuffer(d)));
  assert.deepEqual(Buffer.concat(out).toString().split('\n').slice(0, -1),
    Array.from({ length: 50 }, (_, i) => String(i + 1)));
  assert.equal(Buffer.concat(err).toString(), 'oops\n');
  assert.deepEqual(exits, [3]);
  const info = (await sb.exec.list()).find((i) => i.sessionID === s.sessionId);
  assert.deepEqual([info.running, info.exitCode, info.sandboxID], [false, 3, sb.sandboxId]);
  assert.ok(info.startedAt instanceof Date);
  // the session has ended: it takes no more input
  await assert.rejects(s.sendStdin('late'), StateError);
});

test('encoding gives strings, with characters split across chunks whole', async () => {
  const out = [];
  // 'é' is two bytes written apart: they may come in separate chunks
  const s = await sb.exec.start("printf '\\303'; sleep 0.2; printf '\\251 %s\\n' $X", {
    env: { X: 'x' }, encoding: 'utf8', onStdout: (t) => out.push(t),
  });
  assert.equal(await s.done, 0);
  assert.ok(out.every((t) => typeof t === 'string'));
  assert.equal(out.join(''), 'é x\n');
});

test('sendStdin and closeStdin round-trip 256 KiB through cat', async () => {
  const data = randomBytes(256 * 1024);
  const out = [];
  const s = await sb.exec.start('cat', { onStdout: (d) => out.push(d) });
  // unawaited, in pieces: they must arrive in order
  for (let i = 0; i < data.length; i += 1024) s.sendStdin(data.subarray(i, i + 1024));
  await s.closeStdin();
  assert.equal(await s.done, 0);
  const got = Buffer.concat(out);
  assert.equal(got.length, data.length);
  assert.ok(got.equals(data), 'the bytes differ');
});

test('attach replays the scrollback, then live output', async () => {
  const first = [];
  const s = await sb.exec.background(
    'echo early1; echo early2; while [ ! -e /tmp/js-go ]; do sleep 0.1; done; echo late1; echo late2',
    { onStdout: (d) => first.push(d) });
  await until(() => Buffer.concat(first).toString().includes('early2\n'), 'early output');
  s.close(); // detach: the process goes on
  await assert.rejects(s.done, (e) => e instanceof SandboxError && e.code === -12);
  const listed = (await sb.exec.list()).find((i) => i.sessionID === s.sessionId);
  assert.equal(listed.running, true);

  const events = [];
  const a = await sb.exec.attach(s.sessionId, {
    onStdout: (d) => events.push(d.toString()),
    onScrollbackEnd: () => events.push('END'),
    onExit: (c) => events.push(['exit', c]),
  });
  assert.equal(a.sessionId, s.sessionId);
  await until(() => events.includes('END'), 'the end of the scrollback');
  await sb.exec.run('touch /tmp/js-go');
  assert.equal(await a.done, 0);
  const i = events.indexOf('END');
  assert.equal(events.slice(0, i).join(''), 'early1\nearly2\n');
  assert.equal(events.slice(i + 1, -1).join(''), 'late1\nlate2\n');
  assert.deepEqual(events.at(-1), ['exit', 0]);
  await assert.rejects(sb.exec.attach('999999'), NotFoundError);
});

test('attach after the scrollback dropped the start: onGap, then the last 1 MiB', async () => {
  // 3 MiB while nobody follows: the 1 MiB scrollback keeps only the last
  const s = await sb.exec.start('head -c 3145728 /dev/zero; touch /tmp/js-gap-written; ' +
                                'while [ ! -e /tmp/js-gap-go ]; do sleep 0.1; done');
  assert.equal(s.isPty, false);
  s.close();
  for (;;) {
    if ((await sb.exec.run('test -e /tmp/js-gap-written')).exitCode === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const events = [];
  let stdoutBytes = 0;
  const a = await sb.exec.attach(s.sessionId, {
    onStdout: (d) => { stdoutBytes += d.length; if (events.at(-1) !== 'out') events.push('out'); },
    onGap: (stream, skipped) => events.push(['gap', stream, skipped]),
    onScrollbackEnd: () => events.push('END'),
  });
  assert.equal(a.isPty, false);
  await until(() => events.includes('END'), 'the end of the scrollback');
  await sb.exec.run('touch /tmp/js-gap-go');
  assert.equal(await a.done, 0);
  assert.deepEqual(events, [['gap', 1, 2097152], 'out', 'END']);
  assert.equal(stdoutBytes, 1048576);

  const p = await sb.pty.create({ shell: '/bin/sh' });
  assert.equal(p.isPty, true);
  p.send('exit 0\n');
  assert.equal(await p.done, 0);
});

test('kill ends a session with 137', async () => {
  const s = await sb.exec.start('sleep 600');
  await s.kill();
  assert.equal(await s.done, 137);
  // and by id
  const s2 = await sb.exec.start('sleep 600');
  await sb.exec.kill(s2.sessionId);
  assert.equal(await s2.done, 137);
  const info = (await sb.exec.list()).find((i) => i.sessionID === s2.sessionId);
  assert.deepEqual([info.running, info.exitCode, info.signal], [false, 137, 9]);
  // only terminals have a size
  const s3 = await sb.exec.start('sleep 600');
  await assert.rejects(s3.resize(100, 40), (e) =>
    e instanceof InvalidArgumentError && /no terminal/.test(e.message));
  await s3.kill();
  assert.equal(await s3.done, 137);
});

test('pty: resize, stty size, and the exit code', async () => {
  let screen = '';
  const p = await sb.pty.create({ onOutput: (t) => { screen += t; }, encoding: 'utf8' });
  await p.resize(100, 40);
  p.send('stty size\n');
  await until(() => screen.includes('40 100'), '"40 100" on the terminal');
  p.send('tty; exit 3\n');
  assert.equal(await p.done, 3);
  assert.match(screen, /\/dev\/pts\/\d+/);
  // a size from the start, another shell, Buffers
  const chunks = [];
  const q = await sb.pty.create({ cols: 120, rows: 50, shell: '/bin/sh',
                                  onOutput: (d) => chunks.push(d) });
  q.send(Buffer.from('stty size; exit 4\n'));
  assert.equal(await q.done, 4);
  assert.ok(Buffer.concat(chunks).toString().includes('50 120'));
});

test('dropped sessions are released; the process exits once nothing is followed', async () => {
  for (let i = 0; i < 5; i++) await sb.exec.start('true');
  globalThis.gc?.();
  await new Promise((resolve) => setImmediate(resolve));
  globalThis.gc?.();
  // A child follows a session it never awaits: it must stay up until the
  // session ends, then exit on its own.  QEMU takes one agent client at a
  // time: let this process's connection linger out first.
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const index = fileURLToPath(new URL('../index.mjs', import.meta.url));
  const script = `import { Sandbox } from ${JSON.stringify(index)};
    const sb = await Sandbox.connect(${JSON.stringify(sb.sandboxId)});
    await sb.exec.start('sleep 1; echo bye', { onStdout: (d) => process.stdout.write(d) });`;
  const stdout = await new Promise((resolve, reject) => {
    execFile(process.execPath, ['--input-type=module', '-e', script],
      { timeout: PATIENCE_MS }, (e, out) => (e ? reject(e) : resolve(out)));
  });
  assert.equal(stdout, 'bye\n');
});

test('shell keeps state between runs', async () => {
  const sh = await sb.exec.shell({ env: { FROM_OPEN: 'o' }, cwd: '/root' });
  try {
    assert.match(sh.sessionId, /^[1-9][0-9]*$/);
    let r = await sh.run('cd /tmp; export A=1');
    assert.deepEqual([r.exitCode, r.stdout, r.stderr], [0, '', '']);
    r = await sh.run('pwd; echo $A $FROM_OPEN; echo err >&2; false');
    assert.deepEqual([r.stdout, r.stderr, r.exitCode], ['/tmp\n1 o\n', 'err\n', 1]);
  } finally {
    await sh.close();
  }
  await assert.rejects(sh.run('true'), (e) => e instanceof StateError && /closed/.test(e.message));
});

test('shell runs one command at a time', async () => {
  const sh = await sb.exec.shell();
  try {
    const first = sh.run(
      'touch /tmp/js-sh-started; while [ ! -e /tmp/js-sh-go ]; do sleep 0.1; done; echo first');
    // the first run is in progress once its command has begun
    while ((await sb.exec.run('test -e /tmp/js-sh-started')).exitCode !== 0);
    await assert.rejects(sh.run('echo second'),
      (e) => e instanceof StateError && /busy/.test(e.message));
    await sb.exec.run('touch /tmp/js-sh-go');
    assert.equal((await first).stdout, 'first\n');
    assert.equal((await sh.run('echo third')).stdout, 'third\n');
  } finally {
    await sh.close();
  }
});

test('shell: exit and timeout end it; close ends a run in progress', async () => {
  let sh = await sb.exec.shell();
  await assert.rejects(sh.run('exit 3'), (e) => e instanceof StateError && /code 3/.test(e.message));
  await assert.rejects(sh.run('echo after'), StateError);
  await sh.close();
  sh = await sb.exec.shell();
  await assert.rejects(sh.run('sleep 30', { timeout: 0.5 }), TimeoutError);
  await assert.rejects(sh.run('echo after'), StateError);
  await sh.close();
  sh = await sb.exec.shell();
  const running = sh.run('touch /tmp/js-sh-long; sleep 600');
  while ((await sb.exec.run('test -e /tmp/js-sh-long')).exitCode !== 0);
  const failed = assert.rejects(running, (e) => e instanceof StateError && /137/.test(e.message));
  await sh.close();
  await failed;
  // a shell collected without close() is closed
  const { sessionId } = await sb.exec.shell();
  if (!globalThis.gc) return; // --expose-gc, as in the meson test
  const deadline = Date.now() + PATIENCE_MS;
  while ((await sb.exec.list()).some((i) => i.sessionID === sessionId && i.running)) {
    assert.ok(Date.now() < deadline, 'the collected shell still runs');
    globalThis.gc();
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
});
