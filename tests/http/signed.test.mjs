// signed.test.mjs: the SDK's downloadUrl and uploadUrl through oc-server:
// URLs that read or write one file of one sandbox without an API key,
// until they expire.  One sandbox; it carries metadata oc-test, which
// scripts/check sweeps, and is killed here.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { freePort, rawRequest, removeTmpDirs, spawnServer, startServer, stopServer,
         stopServerCleanly, tmpDir } from './server.mjs';

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

// A request without any key: status, body text and parsed JSON.
async function plain(url, init = {}) {
  const resp = await fetch(url, init);
  const buf = Buffer.from(await resp.arrayBuffer());
  let json;
  try { json = JSON.parse(buf.toString()); } catch { json = undefined; }
  return { status: resp.status, buf, json };
}

// url with one query parameter replaced
function withParam(url, name, value) {
  const u = new URL(url);
  u.searchParams.set(name, value);
  return u.toString();
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

test('downloadUrl: a plain GET without a key returns the bytes; the URL has no key', async () => {
  const bytes = crypto.randomBytes(300 * 1024);
  await sb.files.makeDir('/tmp/dl dir');
  await sb.files.write('/tmp/dl dir/a+b.bin', bytes);
  const url = await sb.downloadUrl('/tmp/dl dir/a+b.bin');
  assert.ok(!url.includes(KEY) && !/api_key/i.test(url), url);
  assert.ok(url.startsWith(`${opts.apiUrl}/api/sandboxes/${sb.sandboxId}/files/signed?`), url);
  const r = await plain(url);
  assert.equal(r.status, 200, r.buf.toString());
  assert.ok(r.buf.equals(bytes));
  // the URL grants this path only
  assert.equal((await plain(withParam(url, 'path', '/etc/passwd'))).status, 403);
});

test('uploadUrl: a plain PUT without a key writes the file', async () => {
  const bytes = crypto.randomBytes(200 * 1024);
  const url = await sb.uploadUrl('/tmp/up.bin', { expiresIn: 600 });
  assert.ok(!url.includes(KEY) && !/api_key/i.test(url), url);
  const r = await plain(url, { method: 'PUT', body: bytes });
  assert.equal(r.status, 200, r.buf.toString());
  assert.deepEqual(Buffer.from(await sb.files.readBytes('/tmp/up.bin')), bytes);
  // an upload URL does not read
  const get = await plain(url);
  assert.equal(get.status, 403);
  assert.deepEqual(get.json, { error: 'the signed URL grants PUT only' });
});

test('a web page of another origin may use the URLs (CORS), without a key', async () => {
  const url = await sb.uploadUrl('/tmp/cors.txt');
  const pre = await fetch(url, { method: 'OPTIONS', headers: {
    Origin: 'https://app.example.com', 'Access-Control-Request-Method': 'PUT' } });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers.get('access-control-allow-origin'), '*');
  assert.match(pre.headers.get('access-control-allow-methods'), /\bPUT\b/);
  const put = await fetch(url, { method: 'PUT', body: 'from a page',
                                 headers: { Origin: 'https://app.example.com' } });
  assert.equal(put.status, 200);
  assert.equal(put.headers.get('access-control-allow-origin'), '*');
  const dl = await fetch(await sb.downloadUrl('/tmp/cors.txt'));
  assert.equal(dl.headers.get('access-control-allow-origin'), '*');
  assert.equal(await dl.text(), 'from a page');
  // other routes still want the key, and say nothing of CORS
  const keyed = await fetch(`${base}/sandboxes/${sb.sandboxId}/files?path=/tmp/cors.txt`,
                            { method: 'OPTIONS' });
  assert.ok(keyed.status === 401 || keyed.status === 405, String(keyed.status));
  assert.equal(keyed.headers.get('access-control-allow-origin'), null);
});

test('a tampered, misused or expired URL is 403 saying which, without the signature', async () => {
  await sb.files.write('/tmp/keep.txt', 'unchanged');
  const url = await sb.downloadUrl('/tmp/keep.txt');
  const sig = new URL(url).searchParams.get('sig');
  assert.match(sig, /^[0-9a-f]{64}$/);
  const flipped = sig.slice(0, -1) + (sig.endsWith('0') ? '1' : '0');
  const invalid = [
    withParam(url, 'sig', flipped),
    withParam(url, 'sig', ''),
    withParam(url, 'exp', String(Number(new URL(url).searchParams.get('exp')) + 1)),
    withParam(url, 'op', 'put'),
    url.replace(`/sandboxes/${sb.sandboxId}/`, '/sandboxes/sb-someone-else/'),
    url.split('?')[0],
  ];
  for (const u of invalid) {
    const r = await plain(u);
    assert.equal(r.status, 403, u);
    assert.match(r.json.error, /^the signed URL is not valid/, u);
    assert.ok(!r.buf.toString().includes(sig) && !r.buf.toString().includes(flipped));
  }
  // a download URL used to PUT
  const put = await plain(url, { method: 'PUT', body: 'overwritten' });
  assert.equal(put.status, 403);
  assert.deepEqual(put.json, { error: 'the signed URL grants GET only' });
  assert.equal(await sb.files.read('/tmp/keep.txt'), 'unchanged');
  // expired: a second past its expiry
  const short = await sb.downloadUrl('/tmp/keep.txt', { expiresIn: 1 });
  await new Promise((resolve) => setTimeout(resolve, 2100));
  const late = await plain(short);
  assert.equal(late.status, 403);
  assert.deepEqual(late.json, { error: 'the signed URL has expired; ask for a new one' });
  // the key is still needed to ask for URLs
  const nokey = await rawRequest(base, 'POST', `/sandboxes/${sb.sandboxId}/files/download-url`,
                                 { body: JSON.stringify({ path: '/tmp/keep.txt' }) });
  assert.equal(nokey.status, 401);
});

test('bad expiresIn, a relative path and an unknown sandbox are 400 and 404', async () => {
  const ask = (id, body) => rawRequest(base, 'POST', `/sandboxes/${id}/files/upload-url`,
                                       { key: KEY, body: JSON.stringify(body) });
  for (const expiresIn of [0, -5, 86401, 1.5, 'soon']) {
    const r = await ask(sb.sandboxId, { path: '/tmp/x', expiresIn });
    assert.equal(r.status, 400, JSON.stringify(expiresIn));
    assert.match(r.json.error, /'expiresIn' must be/);
  }
  for (const p of ['tmp/x', '', undefined]) {
    const r = await ask(sb.sandboxId, { path: p });
    assert.equal(r.status, 400, String(p));
    assert.match(r.json.error, /'path' must be an absolute path/);
  }
  const ok = await ask(sb.sandboxId, { path: '/tmp/x', expiresIn: 86400 });
  assert.equal(ok.status, 200);
  const exp = Number(new URL(ok.json.url).searchParams.get('exp'));
  assert.ok(Math.abs(exp - (Date.now() / 1000 + 86400)) < 60, String(exp));
  const gone = await ask('sb-does-not-exist', { path: '/tmp/x' });
  assert.equal(gone.status, 404);
  assert.ok(gone.json.error);
});

test('a signed URL wakes a hibernated sandbox, as the files routes do', async () => {
  await sb.files.write('/tmp/asleep.txt', 'woken');
  const url = await sb.downloadUrl('/tmp/asleep.txt');
  await sb.hibernate();
  assert.equal(await sb.isRunning(), false);
  const r = await plain(url);
  assert.equal(r.status, 200, r.buf.toString());
  assert.equal(r.buf.toString(), 'woken');
  assert.equal(await sb.isRunning(), true);
});

test('URLs outlive a restart: the key is kept 0600 in the state dir', async () => {
  await sb.files.write('/tmp/restart.txt', 'still here');
  const url = await sb.downloadUrl('/tmp/restart.txt');
  const upload = await sb.uploadUrl('/tmp/restart-up.txt');
  if (process.env.OC_STATE_DIR) {
    const st = fs.statSync(path.join(process.env.OC_STATE_DIR, 'server', 'url-signing.key'));
    assert.equal(st.mode & 0o777, 0o600);
    assert.equal(st.size, 65);
  }
  await stop();
  await start(); // a new port: only the host part of the URLs changes
  const moved = (u) => u.replace(/^http:\/\/[^/]+/, opts.apiUrl);
  const r = await plain(moved(url));
  assert.equal(r.status, 200, r.buf.toString());
  assert.equal(r.buf.toString(), 'still here');
  assert.equal((await plain(moved(upload), { method: 'PUT', body: 'after' })).status, 200);
  sb = await Sandbox.connect(sb.sandboxId, opts);
  assert.equal(await sb.files.read('/tmp/restart-up.txt'), 'after');
});

test('public-url: the URLs start with it (a trailing /api or / dropped)', async () => {
  await sb.files.write('/tmp/public.txt', 'via a proxy');
  const other = await startServer(KEY, undefined, 'public-url=https://files.example.com/oc/api/\n');
  try {
    const r = await rawRequest(other.base, 'POST', `/sandboxes/${sb.sandboxId}/files/download-url`,
                               { key: KEY, body: JSON.stringify({ path: '/tmp/public.txt' }) });
    assert.equal(r.status, 200, r.text);
    const prefix = `https://files.example.com/oc/api/sandboxes/${sb.sandboxId}/files/signed?`;
    assert.ok(r.json.url.startsWith(prefix), r.json.url);
    // the proxy in front would pass it on as this
    const got = await plain(r.json.url.replace('https://files.example.com/oc', other.opts.apiUrl));
    assert.equal(got.buf.toString(), 'via a proxy');
  } finally {
    await stopServer(other.proc);
  }
});

test('the key file: made 0600 on first start; one others may read, or malformed, stops the start', async () => {
  const dir = tmpDir();
  const keyFile = path.join(dir, 'server', 'url-signing.key');
  const args = async () => ['--listen', `127.0.0.1:${await freePort()}`, '--api-key', KEY,
                            '--state-dir', dir, '--no-reaper'];
  const fresh = await spawnServer(await args());
  await stopServer(fresh);
  const st = fs.statSync(keyFile);
  assert.equal(st.mode & 0o777, 0o600);
  assert.match(fs.readFileSync(keyFile, 'utf8'), /^[0-9a-f]{64}\n$/);
  fs.chmodSync(keyFile, 0o644);
  await assert.rejects(spawnServer(await args()), /url-signing\.key may be read by others \(mode 644\); run chmod 600/);
  fs.chmodSync(keyFile, 0o600);
  fs.writeFileSync(keyFile, 'not a key\n');
  await assert.rejects(spawnServer(await args()), /url-signing\.key is not 64 hex digits; remove it/);
});
