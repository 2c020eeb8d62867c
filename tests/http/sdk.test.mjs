// sdk.test.mjs: oc-server driven by the real @opencomputer/sdk client.
//
// The test starts its own oc-server on a free loopback port with an API
// key.  Two sandboxes serve all of it (boots are slow under TCG): one
// created, one forked from its checkpoint.  Each carries metadata oc-test,
// which scripts/check sweeps, and is killed here.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';

import { freePort, rawRequest, removeTmpDirs, spawnServer, startServer as startServer_,
         stopServerCleanly, tmpDir } from './server.mjs';

const { Sandbox, Templates } = await import(process.env.OC_SDK);

const KEY = 'test-key-' + Math.random().toString(36).slice(2).padEnd(12, '0');
const META = { 'oc-test': 'http' };
let server, serverLog = '', base, opts, sb, fork;

async function startServer() {
  ({ proc: server, base, opts } = await startServer_(
    KEY, (d) => { serverLog += d; },
    `exec-wait-ms=1000\nmax-upload-bytes=${8 * 1024 * 1024}\n`));
}

// A plain request: status and parsed body.
function raw(method, url, { key = KEY, ...rest } = {}) {
  return rawRequest(base, method, url, { key, ...rest });
}

before(startServer);

after(async () => {
  for (const s of [fork, sb]) await s?.kill().catch(() => {});
  try {
    await stopServerCleanly(server, () => serverLog);
  } finally {
    removeTmpDirs();
  }
});

test('auth: a missing key and a wrong key are 401 and say nothing more', async () => {
  for (const key of [null, 'wrong-key-wrong-key']) {
    const r = await raw('GET', '/sandboxes', { key });
    assert.equal(r.status, 401);
    assert.deepEqual(r.json, { error: 'missing or wrong API key' });
  }
  assert.equal((await raw('GET', '/sandboxes')).status, 200);
});

test('without an API key the server refuses to listen, on loopback too', async () => {
  // sandboxes reach the host's loopback through their gateway
  for (const host of ['0.0.0.0', '127.0.0.1']) {
    const port = await freePort();
    const p = spawn(process.env.OC_SERVER, ['--listen', `${host}:${port}`, '--no-reaper'],
                    { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d) => { err += d; });
    const code = await new Promise((resolve) => p.on('exit', resolve));
    assert.notEqual(code, 0);
    assert.match(err, new RegExp(`refusing to listen on ${host.replaceAll('.', '\\.')}:\\d+ without an API key`));
  }
});

test('a client that stalls mid-request is dropped after io-timeout-s', async () => {
  const port = await freePort();
  const conf = path.join(tmpDir(), 'slow.conf');
  fs.writeFileSync(conf, `[server]\nlisten=127.0.0.1:${port}\napi-keys=${KEY}\nio-timeout-s=1\nreaper=false\n`);
  let log = '';
  const slow = await spawnServer(['--config', conf], (d) => { log += d; });
  try {
    const sock = net.connect(port, '127.0.0.1');
    await new Promise((resolve) => sock.on('connect', resolve));
    const t0 = Date.now();
    sock.write(`POST /api/sandboxes HTTP/1.1\r\nHost: x\r\nX-API-Key: ${KEY}\r\nContent-Length: 100\r\n\r\n{`);
    await new Promise((resolve) => sock.on('close', resolve));
    const waited = Date.now() - t0;
    assert.ok(waited >= 900 && waited < 10000, `closed after ${waited} ms`);
    assert.match(log, /^POST \/api\/sandboxes aborted /m);
  } finally {
    slow.kill('SIGTERM');
  }
});

// A raw connection: what came back, and a Promise of its close.
async function rawConnect(port) {
  const sock = net.connect(port, '127.0.0.1');
  await new Promise((resolve) => sock.on('connect', resolve));
  const c = { sock, got: '' };
  sock.on('data', (d) => { c.got += d; });
  sock.on('error', () => {}); // a reset after a 408 ends it too
  c.closed = new Promise((resolve) => sock.on('close', resolve));
  return c;
}

const TEMPLATES = `GET /api/templates HTTP/1.1\r\nHost: x\r\nX-API-Key: ${KEY}\r\n\r\n`;

// A request and its whole reply on c (a kept-alive connection stays open).
async function oneRequest(c) {
  c.sock.write(TEMPLATES);
  while (!/\r\n\r\n\[.*\]$/s.test(c.got)) await new Promise((resolve) => setTimeout(resolve, 20));
  assert.match(c.got, /^HTTP\/1\.1 200 /);
  c.got = '';
}

// Sends head at once then text one byte a second; resolves when the server
// closes the connection, with what came back, the time from the first byte
// and how many of text went.
async function drip(c, head, text) {
  const t0 = Date.now();
  let i = 0;
  const timer = setInterval(() => { if (i < text.length && !c.sock.destroyed) c.sock.write(text[i++]); }, 1000);
  c.sock.write(head + text[i++]);
  await c.closed;
  clearInterval(timer);
  return { got: c.got, waited: Date.now() - t0, sent: i };
}

async function silent(c) {
  const t0 = Date.now();
  await c.closed;
  return { got: c.got, waited: Date.now() - t0 };
}

const openFds = (pid) => fs.readdirSync(`/proc/${pid}/fd`).length;

test('requests that drip in get 408 after request-timeout-s; idle connections close', async () => {
  const port = await freePort();
  const conf = path.join(tmpDir(), 'drip.conf');
  fs.writeFileSync(conf, `[server]\nlisten=127.0.0.1:${port}\napi-keys=${KEY}\nrequest-timeout-s=3\n` +
    'io-timeout-s=2\nreaper=false\n' +
    (process.env.OC_STATE_DIR ? `state-dir=${process.env.OC_STATE_DIR}\n` : ''));
  let log = '';
  const slow = await spawnServer(['--config', conf], (d) => { log += d; });
  try {
    const next = await rawConnect(port);
    await oneRequest(next);
    const afterReply = await rawConnect(port);
    await oneRequest(afterReply);
    const cuts = [
      // a connection's first request: its headers, or its body
      drip(await rawConnect(port), '', TEMPLATES),
      drip(await rawConnect(port), `POST /api/sandboxes HTTP/1.1\r\nHost: x\r\nX-API-Key: ${KEY}\r\nContent-Length: 40\r\n\r\n`,
           '{"templateID": "base", "timeout": 10}   '),
      // the next request on a kept-alive connection
      drip(next, '', TEMPLATES),
    ];
    // silent connections, new and after a reply, are closed after
    // io-timeout-s, with nothing said
    const quiet = [silent(await rawConnect(port)), silent(afterReply)];
    // meanwhile other connections are served
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const ok = await fetch(`http://127.0.0.1:${port}/api/templates`, { headers: { 'X-API-Key': KEY } });
    assert.equal(ok.status, 200);
    assert.ok((await ok.json()).some((t) => t.name === 'base'));
    for (const r of await Promise.all(cuts)) {
      assert.ok(r.waited >= 2900 && r.waited < 6000, `closed after ${r.waited} ms`);
      assert.ok(r.sent < 8, `${r.sent} bytes were sent before the cut`);
      assert.match(r.got, /^HTTP\/1\.1 408 Request Timeout\r\n/);
      assert.match(r.got, /Connection: close\r\n/);
      assert.match(r.got, /\{"error":"the request did not arrive in 3 s \(the server's request-timeout-s\)/);
    }
    for (const r of await Promise.all(quiet)) {
      assert.equal(r.got, '');
      assert.ok(r.waited >= 1500 && r.waited < 6000, `closed after ${r.waited} ms`);
    }
    assert.equal((log.match(/^- \(no request line\) 408 /mg) || []).length, 2, log);
    assert.match(log, /^POST \/api\/sandboxes 408 /m);
    // clients that close a kept-alive connection after a request leave no
    // descriptor behind (libsoup 3.2 alone kept each in CLOSE_WAIT)
    const before = openFds(slow.pid);
    for (let i = 0; i < 30; i++) {
      const c = await rawConnect(port);
      await oneRequest(c);
      c.sock.end();
      await c.closed;
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.ok(openFds(slow.pid) <= before + 2, `${before} -> ${openFds(slow.pid)} descriptors`);
  } finally {
    slow.kill('SIGTERM');
  }
});

test('bad input: each with its status and a JSON error', async () => {
  const cases = [
    ['POST', '/sandboxes', { body: '{"templateID": ' }, 400, /not valid JSON/],
    ['POST', '/sandboxes', { body: '[1]' }, 400, /JSON object/],
    ['POST', '/sandboxes', { body: JSON.stringify({ templateID: '../../etc' }) }, 400, /template name/],
    ['POST', '/sandboxes', { body: JSON.stringify({ cpuCount: 'two' }) }, 400, /cpuCount/],
    ['POST', '/sandboxes', { body: ' '.repeat(10 * 1024 * 1024) }, 413, /over the limit/],
    ['GET', '/no/such/route', {}, 404, /no such route/],
    ['GET', '/sandboxes/sb-000000000000', {}, 404, /sb-000000000000/],
    ['GET', '/sandboxes/..%2f..%2fetc', {}, 400, /not valid/],
    ['GET', '/sandboxes/sb-0000%2fx/files', {}, 404, /no such route/],
    ['GET', '/sandboxes/sb-000000000000/exec/ex-1/result', {}, 404, /ex-1/],
    ['GET', '/templates/no-such-template', {}, 404, /no-such-template/],
    ['GET', '/templates/..%2e', {}, 404, /no such route/],
    ['DELETE', '/templates/no-such-template', {}, 404, /no-such-template/],
  ];
  for (const [method, url, o, status, re] of cases) {
    const r = await raw(method, url, o);
    assert.equal(r.status, status, `${method} ${url}: ${r.text}`);
    assert.match(r.json?.error ?? '', re, `${method} ${url}: ${r.text}`);
  }
});

test('Sandbox.create with template, timeout, envs, metadata, cpuCount and memoryMB', async () => {
  sb = await Sandbox.create({ ...opts, template: 'base', timeout: 600, cpuCount: 1, memoryMB: 512,
                              envs: { SB_VAR: 'from-sandbox' }, metadata: META });
  assert.match(sb.sandboxId, /^sb-/);
  assert.equal(sb.status, 'running');
  const r = await raw('GET', `/sandboxes/${sb.sandboxId}`);
  assert.equal(r.json.templateID, 'base');
  assert.equal(r.json.cpuCount, 1);
  assert.equal(r.json.memoryMB, 512);
  assert.equal(r.json.timeout, 600);
  assert.deepEqual(r.json.metadata, META);
  const tpl = await raw('GET', '/templates/base');
  assert.equal(tpl.json.templateID, 'base');
  assert.equal(tpl.json.status, 'ready', tpl.text);
  assert.ok(tpl.json.sizeBytes > 0, tpl.text);
  // the SDK's Templates: base is listed, and cannot be deleted while sb builds on it
  const templates = new Templates(`${opts.apiUrl}/api`, KEY);
  assert.ok((await templates.list()).some((t) => t.name === 'base' && t.status === 'ready'));
  assert.equal((await templates.get('base')).templateID, 'base');
  await assert.rejects(templates.delete('base'), /Failed to delete template: 409/);
  const refused = await raw('DELETE', '/templates/base');
  assert.equal(refused.status, 409);
  assert.match(refused.json.error, /template base is in use by /);
  const list = await raw('GET', '/sandboxes');
  assert.ok(list.json.some((s) => s.sandboxID === sb.sandboxId));
});

test('a create over the max-sandboxes quota is 429', async () => {
  const n = (await raw('GET', '/sandboxes')).json.length; // sb at least
  const port = await freePort();
  const quota = await spawnServer(['--listen', `127.0.0.1:${port}`, '--no-reaper', '--api-key', KEY,
                                   '--max-sandboxes', String(n)]);
  try {
    const resp = await fetch(`http://127.0.0.1:${port}/api/sandboxes`,
                             { method: 'POST', body: '{}', headers: { 'X-API-Key': KEY } });
    assert.equal(resp.status, 429);
    assert.match((await resp.json()).error, new RegExp(`at most ${n} sandbox`));
  } finally {
    quota.kill('SIGTERM');
  }
});

test('exec.run with env and cwd; a slow command through the result poll', async () => {
  const r = await sb.exec.run('echo "$SB_VAR $MY_VAR $(pwd)"; echo oops >&2; exit 3',
                              { env: { MY_VAR: 'mine' }, cwd: '/tmp' });
  assert.deepEqual(r, { exitCode: 3, stdout: 'from-sandbox mine /tmp\n', stderr: 'oops\n' });
  // longer than exec-wait-ms: run-async hands back an execId to poll
  const res = await raw('POST', `/sandboxes/${sb.sandboxId}/exec/run-async`,
                        { body: JSON.stringify({ cmd: 'sh', args: ['-c', 'sleep 1.5; echo late'] }) });
  assert.equal(res.json.running, true);
  assert.match(res.json.execId, /^ex-/);
  const slow = await sb.exec.run('sleep 1.5; echo slow');
  assert.deepEqual(slow, { exitCode: 0, stdout: 'slow\n', stderr: '' });
});

test('files: write, read, readBytes, list, makeDir, exists, remove', async () => {
  await sb.files.makeDir('/tmp/h/sub');
  await sb.files.write('/tmp/h/a.txt', 'hello file\n');
  const bytes = new Uint8Array(256).map((_, i) => i);
  await sb.files.write('/tmp/h/b.bin', bytes);
  assert.equal(await sb.files.read('/tmp/h/a.txt'), 'hello file\n');
  assert.deepEqual(await sb.files.readBytes('/tmp/h/b.bin'), bytes);
  const names = (await sb.files.list('/tmp/h')).map((e) => `${e.name}:${e.isDir}:${e.size}:${e.path}`).sort();
  assert.deepEqual(names, ['a.txt:false:11:/tmp/h/a.txt', 'b.bin:false:256:/tmp/h/b.bin', 'sub:true:' + names[2].split(':')[2] + ':/tmp/h/sub']);
  assert.equal(await sb.files.exists('/tmp/h/a.txt'), true);
  // uploads are exempt from the JSON cap up to max-upload-bytes, streamed or not
  const big = new Uint8Array(3 * 1024 * 1024).map((_, i) => (i * 7) & 0xff);
  await sb.files.write('/tmp/h/big.bin', big);
  assert.deepEqual(await sb.files.readBytes('/tmp/h/big.bin'), big);
  await sb.files.write('/tmp/h/stream.txt', new ReadableStream({
    start(c) { c.enqueue(new TextEncoder().encode('one,')); c.enqueue(new TextEncoder().encode('two')); c.close(); },
  }));
  assert.equal(await sb.files.read('/tmp/h/stream.txt'), 'one,two');
  const over = await raw('PUT', `/sandboxes/${sb.sandboxId}/files?path=/tmp/h/over`,
                         { body: new Uint8Array(9 * 1024 * 1024) });
  assert.equal(over.status, 413, over.text);
  assert.equal(await sb.files.exists('/tmp/h/over'), false);
  await sb.files.remove('/tmp/h');
  assert.equal(await sb.files.exists('/tmp/h/a.txt'), false);
  await assert.rejects(sb.files.read('/tmp/h/a.txt'), /404/);
});

test('exec.start with onStdout, onExit and sendStdin (key in the WebSocket query)', async () => {
  let out = '';
  let exitCode;
  const session = await sb.exec.start('head', {
    args: ['-n', '1'],
    onStdout: (d) => { out += new TextDecoder().decode(d); },
    onExit: (c) => { exitCode = c; },
  });
  session.sendStdin('through stdin\n');
  assert.equal(await session.done, 0);
  assert.equal(exitCode, 0);
  assert.equal(out, 'through stdin\n');
  const url = `${base.replace('http', 'ws')}/sandboxes/${sb.sandboxId}/exec/${session.sessionId}`;
  const opens = (key) => new Promise((resolve) => {
    const ws = new WebSocket(`${url}?api_key=${key}`);
    ws.onopen = () => { ws.close(); resolve(true); };
    ws.onerror = () => resolve(false);
  });
  assert.ok((await sb.exec.list()).some((s) => s.sessionID === session.sessionId && !s.running));
  // 20 MB of output through the socket's flow control, none lost
  let bytes = 0;
  const flood = await sb.exec.start('head', { args: ['-c', '20000000', '/dev/zero'],
                                              onStdout: (d) => { bytes += d.length; } });
  assert.equal(await flood.done, 0);
  assert.equal(bytes, 20000000);
  assert.equal(await opens('wrong-key-wrong-key'), false);
  assert.equal(await opens(KEY), true);
  assert.match(serverLog, /^GET \/api\/sandboxes\/:id\/exec\/:exec 401 /m);
});

test('a WebSocket outlives io-timeout-s while its session is quiet', async () => {
  const port = await freePort();
  const conf = path.join(tmpDir(), 'quiet.conf');
  fs.writeFileSync(conf, `[server]\nlisten=127.0.0.1:${port}\napi-keys=${KEY}\nio-timeout-s=1\nreaper=false\n` +
    (process.env.OC_STATE_DIR ? `state-dir=${process.env.OC_STATE_DIR}\n` : ''));
  const quiet = await spawnServer(['--config', conf]);
  try {
    const other = await Sandbox.connect(sb.sandboxId, { apiUrl: `http://127.0.0.1:${port}`, apiKey: KEY });
    let out = '';
    const session = await other.exec.start('head', {
      args: ['-n', '1'], onStdout: (d) => { out += new TextDecoder().decode(d); },
    });
    await new Promise((resolve) => setTimeout(resolve, 2500)); // quiet past the timeout
    session.sendStdin('still here\n');
    assert.equal(await session.done, 0);
    assert.equal(out, 'still here\n');
  } finally {
    quiet.kill('SIGTERM');
  }
});

// The server's resident memory, in KiB.
function serverRssKiB() {
  const m = fs.readFileSync(`/proc/${server.pid}/status`, 'utf8').match(/^VmRSS:\s+(\d+)/m);
  return Number(m[1]);
}

test('a WebSocket client that stops reading does not grow the server', async () => {
  const start = await raw('POST', `/sandboxes/${sb.sandboxId}/exec`,
                          { body: JSON.stringify({ cmd: 'head', args: ['-c', '400000000', '/dev/zero'] }) });
  assert.equal(start.status, 200, start.text);
  const sid = start.json.sessionID;
  // a client with a small receive buffer that reads the 101 and then nothing
  // (node's own sockets keep reading into memory when paused)
  const client = spawn('/usr/bin/python3', ['-c', `
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.connect(("127.0.0.1", ${new URL(base).port}))
s.sendall(b"GET /api/sandboxes/${sb.sandboxId}/exec/${sid}?api_key=${KEY} HTTP/1.1\\r\\nHost: x\\r\\n"
          b"Upgrade: websocket\\r\\nConnection: Upgrade\\r\\n"
          b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\\r\\nSec-WebSocket-Version: 13\\r\\n\\r\\n")
print(s.recv(12).decode(), flush=True)
time.sleep(30)
`], { stdio: ['ignore', 'pipe', 'inherit'] });
  const status = await new Promise((resolve) => client.stdout.once('data', (d) => resolve(String(d))));
  const before = serverRssKiB();
  await new Promise((resolve) => setTimeout(resolve, 8000));
  const grown = serverRssKiB() - before;
  client.kill();
  await raw('POST', `/sandboxes/${sb.sandboxId}/exec/${sid}/kill`, { body: '{}' });
  assert.match(status, /HTTP\/1.1 101/);
  // unbounded, this grew 31 MiB in 6 s on a loaded host; bounded, 9 MiB
  assert.ok(grown < 24 * 1024, `the server grew by ${grown} KiB for a client that stopped reading`);
});

test('exec.kill and exec.shell (a stateful shell over the session WebSocket)', async () => {
  const sleeper = await sb.exec.start('sleep', { args: ['100'] });
  await sleeper.kill(9);
  assert.equal(await sleeper.done, 137);
  const sh = await sb.exec.shell();
  await sh.run('cd /tmp && export SHELL_VAR=kept');
  const r = await sh.run('echo "$(pwd) $SHELL_VAR"');
  assert.equal(r.stdout, '/tmp kept\n');
  assert.equal(r.exitCode, 0);
  await sh.close();
});

// Resolves once cond() holds, polling; fails after 120 s naming what.
async function until(what, cond) {
  for (let i = 0; i < 1200; i++) {
    if (cond()) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.fail(`timed out waiting for ${what}`);
}

test('agent.start, sendPrompt, interrupt, attach from a second client, list, kill', async () => {
  const events = [], errors = [];
  const count = (evs, type) => evs.filter((e) => e.type === type).length;
  const session = await sb.agent.start({
    prompt: 'hello\nrun: ls /', model: 'm1', maxTurns: 9, allowedTools: ['Bash'],
    onEvent: (e) => events.push(e), onError: (d) => errors.push(d),
  });
  await until('the first turn', () => count(events, 'turn_complete') === 1);
  const types = events.map((e) => e.type);
  assert.deepEqual(types, ['ready', 'configured', 'system', 'assistant', 'tool_use_summary',
                           'result', 'turn_complete']);
  const conf = events[1].config;
  assert.equal(conf.model, 'm1');
  assert.equal(conf.maxTurns, 9);
  assert.deepEqual(conf.allowedTools, ['Bash']);
  assert.equal(events[3].text, 'You said: hello\nrun: ls /');
  assert.match(events[4].output, /^bin$/m);
  assert.match(events[4].output, /^etc$/m);

  // a garbage line reaches onError; the session goes on
  session.sendPrompt('garbage: this is not json');
  await until('the garbage turn', () => count(events, 'turn_complete') === 2);
  assert.ok(errors.includes('non-JSON stdout: this is not json'), JSON.stringify(errors));

  session.sendPrompt('sleep: 30');
  await until('the sleep turn', () => events.some((e) => e.text === 'You said: sleep: 30'));
  const t0 = Date.now();
  session.interrupt();
  await until('interrupted', () => count(events, 'interrupted') === 1);
  assert.ok(Date.now() - t0 < 10000, `interrupted after ${Date.now() - t0} ms`);
  await until('the end of the interrupted turn', () => count(events, 'turn_complete') === 3);

  // a second client: the whole history, then live events
  const events2 = [];
  let replayed = false;
  const second = await sb.agent.attach(session.sessionId, {
    onEvent: (e) => events2.push(e), onScrollbackEnd: () => { replayed = true; },
  });
  await until('the history', () => replayed && count(events2, 'turn_complete') === 3);
  assert.deepEqual(events2, events);
  const prompt = await raw('POST', `/sandboxes/${sb.sandboxId}/agent/${session.sessionId}/prompt`,
                           { body: JSON.stringify({ text: 'through the REST route' }) });
  assert.equal(prompt.status, 200, prompt.text);
  await until('the REST turn in both clients', () => count(events, 'turn_complete') === 4 &&
                                                    count(events2, 'turn_complete') === 4);
  assert.equal(events.at(-3).text, 'You said: through the REST route');
  const intr = await raw('POST', `/sandboxes/${sb.sandboxId}/agent/${session.sessionId}/interrupt`);
  assert.equal(intr.status, 200, intr.text);
  await until('the idle interrupt', () => count(events2, 'interrupted') === 2);

  // agent.list shows agent sessions only
  const plain = await sb.exec.start('sleep', { args: ['60'] });
  const listed = await sb.agent.list();
  const mine = listed.find((s) => s.sessionID === session.sessionId);
  assert.ok(mine && mine.running && mine.sandboxID === sb.sandboxId, JSON.stringify(listed));
  assert.ok(!listed.some((s) => s.sessionID === plain.sessionId), JSON.stringify(listed));
  await plain.kill(9);
  await session.kill();
  assert.equal(await session.done, 137);
  assert.equal(await second.done, 137);
  const gone = await raw('POST', `/sandboxes/${sb.sandboxId}/agent/99999/prompt`,
                         { body: JSON.stringify({ text: 'x' }) });
  assert.equal(gone.status, 404, gone.text);
});

test('pty.create with send and onOutput', async () => {
  let out = '';
  let seen;
  const saw = new Promise((resolve) => { seen = resolve; });
  const pty = await sb.pty.create({
    cols: 100, rows: 30,
    onOutput: (d) => { out += new TextDecoder().decode(d); if (out.includes('pty-ok-42')) seen(); },
  });
  await new Promise((resolve) => setTimeout(resolve, 500)); // the socket opens
  const resize = await raw('POST', `/sandboxes/${sb.sandboxId}/pty/${pty.sessionId}/resize`,
                           { body: JSON.stringify({ cols: 120, rows: 40 }) });
  assert.equal(resize.status, 200, resize.text);
  pty.send('echo pty-ok-$((40+2)) $(stty size)\n');
  await saw;
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.match(out, /pty-ok-42 40 120/);
  pty.close();
  const r = await raw('DELETE', `/sandboxes/${sb.sandboxId}/pty/${pty.sessionId}`);
  assert.equal(r.status, 200, r.text);
});

test('Sandbox.connect from a second client; setTimeout', async () => {
  const other = await Sandbox.connect(sb.sandboxId, opts);
  assert.equal(other.status, 'running');
  assert.equal((await other.exec.run('echo second')).stdout, 'second\n');
  await other.setTimeout(900);
  assert.equal((await raw('GET', `/sandboxes/${sb.sandboxId}`)).json.timeout, 900);
});

test('hibernate, isRunning, wake; a file read wakes through the 503 {waking} flow', async () => {
  await sb.files.write('/root/keep.txt', 'kept');
  await sb.hibernate();
  assert.equal(await sb.isRunning(), false);
  await sb.wake({ timeout: 600 });
  assert.equal(await sb.isRunning(), true);
  await sb.hibernate();
  const r = await raw('GET', `/sandboxes/${sb.sandboxId}/files?path=/root/keep.txt`,
                      { headers: { 'X-OSB-Async-Wake': '1' } });
  assert.equal(r.status, 503);
  assert.deepEqual(r.json, { waking: true });
  assert.equal(await sb.files.read('/root/keep.txt'), 'kept');
  assert.equal(await sb.isRunning(), true);
});

// ---- previews: a guest port through the server ----

// A WebSocket server that echoes text frames (short, masked, as clients
// send them) until the client closes; the base image has no WebSocket
// library.
const WS_ECHO = `
import base64, hashlib, socket, threading
ACCEPT_GUID = b'258EAFA5-E914-47DA-95CA-C5AB0DC85B11'
def take(conn, buf, n):
    while len(buf) < n:
        more = conn.recv(65536)
        if not more:
            raise EOFError
        buf += more
    return buf[:n], buf[n:]
def session(conn):
    head = b''
    while b'\\r\\n\\r\\n' not in head:
        more = conn.recv(65536)
        if not more:
            return
        head += more
    head, rest = head.split(b'\\r\\n\\r\\n', 1)
    fields = {}
    for line in head.split(b'\\r\\n')[1:]:
        name, _, value = line.partition(b':')
        fields[name.strip().lower()] = value.strip()
    digest = hashlib.sha1(fields[b'sec-websocket-key'] + ACCEPT_GUID).digest()
    conn.sendall(b'HTTP/1.1 101 Switching Protocols\\r\\nUpgrade: websocket\\r\\n'
                 b'Connection: Upgrade\\r\\nSec-WebSocket-Accept: ' + base64.b64encode(digest) +
                 b'\\r\\n\\r\\n')
    while True:
        hdr, rest = take(conn, rest, 2)
        mask, rest = take(conn, rest, 4)
        data, rest = take(conn, rest, hdr[1] & 0x7f)
        text = bytes(c ^ mask[i % 4] for i, c in enumerate(data))
        if hdr[0] & 0x0f == 8:
            conn.sendall(bytes([0x88, 0]))
            return
        conn.sendall(bytes([0x81, len(text)]) + text)
def serve(conn):
    try:
        session(conn)
    except (EOFError, KeyError, OSError):
        pass
    conn.close()
listener = socket.create_server(('127.0.0.1', 3002))
while True:
    threading.Thread(target=serve, args=(listener.accept()[0],), daemon=True).start()
`;

// GET through node:http, which (unlike fetch) lets the caller set Host.
function getWithHost(host, urlPath, headers = {}) {
  const { port } = new URL(opts.apiUrl);
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, headers: { Host: host, ...headers } },
      (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks) }));
      });
    req.on('error', reject);
  });
}

async function previewGet(url, headers = {}) {
  const r = await fetch(url, { headers });
  return { status: r.status, body: Buffer.from(await r.arrayBuffer()) };
}

// A guest server started in the background listens within a few seconds.
async function untilServed(url, headers) {
  for (let i = 0; ; i++) {
    const r = await previewGet(url, headers);
    if (r.status !== 502 || i > 120) return r;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

test('preview URLs: create, list, delete; a guest server by path and by Host; WebSocket', async () => {
  const blob = crypto.randomBytes(4 << 20);
  await sb.files.makeDir('/root/www');
  await sb.files.write('/root/www/blob.bin', blob);
  await sb.exec.start('python3 -m http.server 3000 --bind 127.0.0.1', { cwd: '/root/www' });
  await sb.files.write('/root/ws-echo.py', WS_ECHO);
  await sb.exec.start('python3 /root/ws-echo.py');

  const made = await sb.createPreviewURL({ port: 3000, authConfig: {} });
  assert.match(made.id, /^pv-/);
  assert.equal(made.sandboxId, sb.sandboxId);
  assert.equal(made.port, 3000);
  assert.equal(made.hostname, `${sb.sandboxId}-p3000.localhost`);
  assert.equal(sb.getPreviewDomain(3000), made.hostname);
  assert.deepEqual(await sb.listPreviewURLs(), [made]);
  // the same port again is the same URL
  assert.deepEqual(await sb.createPreviewURL({ port: 3000 }), made);
  await assert.rejects(sb.createPreviewURL({ port: 70000 }), /Failed to create preview URL: 400/);

  // by path: the server has an API key and the sandbox no preview token,
  // so the key is needed, and the guest never sees it
  const url = `${base}/sandboxes/${sb.sandboxId}/preview/3000/blob.bin`;
  const got = await untilServed(url, { 'X-API-Key': KEY });
  assert.equal(got.status, 200);
  assert.ok(got.body.equals(blob), 'the 4 MiB file came through whole');
  assert.equal((await previewGet(url)).status, 401);
  // any method goes through: python's http.server answers a POST itself, with 501
  const post = await fetch(url, { method: 'POST', headers: { 'X-API-Key': KEY }, body: 'a body' });
  assert.equal(post.status, 501);
  assert.match(await post.text(), /Unsupported method \('POST'\)/);
  // by Host, as the SDK's preview domains are
  const byHost = await getWithHost(made.hostname, '/blob.bin', { 'X-API-Key': KEY });
  assert.equal(byHost.status, 200);
  assert.ok(byHost.body.equals(blob));
  // a port nothing listens on says so
  const none = await previewGet(`${base}/sandboxes/${sb.sandboxId}/preview/3999/`, { 'X-API-Key': KEY });
  assert.equal(none.status, 502);
  assert.match(none.body.toString(), /port 3999 of sandbox .* closed without answering/);

  // a WebSocket through the preview route (the key in the query, as browsers must)
  const wsUrl = `${base.replace('http', 'ws')}/sandboxes/${sb.sandboxId}/preview/3002/?api_key=${KEY}`;
  let echoed;
  for (let i = 0; i < 60 && echoed === undefined; i++) {
    echoed = await new Promise((resolve) => {
      const ws = new WebSocket(wsUrl);
      ws.onopen = () => ws.send('through the preview');
      ws.onmessage = (m) => { ws.close(); resolve(m.data); };
      ws.onerror = () => resolve(undefined);
    });
    if (echoed === undefined) await new Promise((resolve) => setTimeout(resolve, 500));
  }
  assert.equal(echoed, 'through the preview');

  await sb.deletePreviewURL(3000);
  assert.deepEqual(await sb.listPreviewURLs(), []);
  await sb.deletePreviewURL(3000); // a 404, which the SDK lets pass
  assert.match(serverLog, /^GET \(preview of port 3000\) proxied [0-9.]+ms, \d+ bytes in, \d+ out$/m);
  assert.match(serverLog, /^GET \(preview of port 3999\) failed /m);
  assert.doesNotMatch(serverLog, /blob\.bin/);
});

test('preview auth: 401 without the token, 200 with it; rotate refuses the old one', async () => {
  const url = `${base}/sandboxes/${sb.sandboxId}/preview/3000/blob.bin`;
  const first = await sb.rotatePreviewAuthToken();
  assert.match(first, /^[0-9a-f]{64}$/);
  assert.equal(sb.previewAuthToken, first);
  // with a token the sandbox's gate is the token: the API key does not open it
  for (const headers of [{}, { 'X-API-Key': KEY }, { Authorization: 'Bearer wrong' },
                         { 'X-OC-Preview-Token': first.slice(1) }]) {
    const r = await previewGet(url, headers);
    assert.equal(r.status, 401, JSON.stringify(headers));
    assert.ok(JSON.parse(r.body.toString()).error, r.body.toString());
  }
  assert.equal((await previewGet(url, { Authorization: `Bearer ${first}` })).status, 200);
  assert.equal((await previewGet(url, { 'X-OC-Preview-Token': first })).status, 200);
  const second = await sb.rotatePreviewAuthToken();
  assert.notEqual(second, first);
  assert.equal((await previewGet(url, { Authorization: `Bearer ${first}` })).status, 401);
  const byHost = await getWithHost(sb.getPreviewDomain(3000), '/blob.bin',
                                   { 'X-OC-Preview-Token': second });
  assert.equal(byHost.status, 200);
  // only the hash is kept
  const stateDir = process.env.OC_STATE_DIR || '/var/lib/opencomputer';
  const kept = fs.readFileSync(path.join(stateDir, 'server/preview', `${sb.sandboxId}.json`), 'utf8');
  assert.ok(!kept.includes(second) && kept.includes(crypto.createHash('sha256').update(second).digest('hex')));
});

test('a preview request to a hibernated sandbox wakes it and answers', async () => {
  await sb.hibernate();
  assert.equal(await sb.isRunning(), false);
  const r = await previewGet(`${base}/sandboxes/${sb.sandboxId}/preview/3000/blob.bin`,
                             { Authorization: `Bearer ${sb.previewAuthToken}` });
  assert.equal(r.status, 200);
  assert.equal(r.body.length, 4 << 20);
  assert.equal(await sb.isRunning(), true);
});

test('Sandbox.create with previewAuth: the token comes once, and guards the ports', async () => {
  const short = await raw('POST', '/sandboxes', { body: JSON.stringify({ previewAuth: { token: 'short' } }) });
  assert.equal(short.status, 400);
  assert.match(short.json.error, /previewAuth\.token must be "auto" or 16 to 256/);
  const basic = await raw('POST', '/sandboxes', { body: JSON.stringify({ previewAuth: { scheme: 'basic' } }) });
  assert.equal(basic.status, 400);
  const own = 'my-own-preview-token-0123';
  const guarded = await Sandbox.create({ ...opts, memoryMB: 256, metadata: META,
                                         previewAuth: { token: own } });
  try {
    assert.equal(guarded.previewAuthToken, own);
    const again = await Sandbox.connect(guarded.sandboxId, opts);
    assert.equal(again.previewAuthToken, '');
    const url = `${base}/sandboxes/${guarded.sandboxId}/preview/3000/`;
    assert.equal((await previewGet(url, { 'X-API-Key': KEY })).status, 401);
    // past the gate: nothing listens there
    assert.equal((await previewGet(url, { 'X-OC-Preview-Token': own })).status, 502);
  } finally {
    await guarded.kill();
  }
  const stateDir = process.env.OC_STATE_DIR || '/var/lib/opencomputer';
  assert.ok(!fs.existsSync(path.join(stateDir, 'server/preview', `${guarded.sandboxId}.json`)));
});

test('createCheckpoint and Sandbox.createFromCheckpoint', async () => {
  await sb.files.write('/root/cp.txt', 'at checkpoint');
  const cp = await sb.createCheckpoint('http-test');
  assert.match(cp.id, /^cp-/);
  assert.equal(cp.name, 'http-test');
  assert.ok((await sb.listCheckpoints()).some((c) => c.id === cp.id));
  await sb.files.write('/root/cp.txt', 'changed after');
  await sb.restoreCheckpoint(cp.id);
  assert.equal(await sb.files.read('/root/cp.txt'), 'at checkpoint');
  fork = await Sandbox.createFromCheckpoint(cp.id, { ...opts, timeout: 600 });
  assert.notEqual(fork.sandboxId, sb.sandboxId);
  assert.equal(await fork.files.read('/root/cp.txt'), 'at checkpoint');
  await sb.deleteCheckpoint(cp.id);
});

test('load: 4 clients x 50 exec.run on 2 sandboxes, output never crossed', async () => {
  const clients = await Promise.all([0, 1, 2, 3].map((i) =>
    Sandbox.connect(i % 2 ? fork.sandboxId : sb.sandboxId, opts)));
  await Promise.all(clients.map(async (c, i) => {
    for (let n = 0; n < 50; n++) {
      const tag = `c${i}-n${n}`;
      const r = await c.exec.run(`echo ${tag}; echo ${tag}-err >&2`);
      assert.deepEqual(r, { exitCode: 0, stdout: `${tag}\n`, stderr: `${tag}-err\n` });
    }
  }));
});

test('kill, and the log has one line per request', async () => {
  // killed behind the server's back: the first call finds the cached
  // handle's sandbox gone and the server drops the handle, so the next
  // one looks the id up anew
  const gone = sb.sandboxId;
  execFileSync(process.env.OC_CLI, ['kill', gone], { stdio: ['ignore', 'ignore', 'pipe'] });
  sb = undefined;
  const stale = await raw('POST', `/sandboxes/${gone}/exec/run`, { body: JSON.stringify({ cmd: 'true' }) });
  assert.equal(stale.status, 404, stale.text);
  assert.match(stale.json.error, /no longer exists|was killed/);
  // with the handle goes the preview record (its token's hash)
  const stateDir = process.env.OC_STATE_DIR || '/var/lib/opencomputer';
  assert.ok(!fs.existsSync(path.join(stateDir, 'server/preview', `${gone}.json`)));
  const fresh = await raw('POST', `/sandboxes/${gone}/exec/run`, { body: JSON.stringify({ cmd: 'true' }) });
  assert.equal(fresh.status, 404, fresh.text);
  assert.match(fresh.json.error, new RegExp(`no sandbox with id '${gone}'`));

  const id = fork.sandboxId;
  await fork.kill();
  fork = undefined;
  assert.equal((await raw('GET', `/sandboxes/${id}`)).status, 404);
  assert.match(serverLog, /^POST \/api\/sandboxes 201 [0-9.]+ms$/m);
  assert.match(serverLog, /^GET \/api\/sandboxes\/:id 404 [0-9.]+ms$/m);
  assert.match(serverLog, /^DELETE \/api\/sandboxes\/:id 200 [0-9.]+ms$/m);
});
