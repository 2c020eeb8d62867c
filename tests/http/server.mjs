// server.mjs: starting and talking to a test oc-server, shared by the
// http tests.  OC_SERVER names the binary; OC_STATE_DIR, when set, becomes
// its state-dir.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export async function freePort() {
  const s = net.createServer();
  await new Promise((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address();
  await new Promise((resolve) => s.close(resolve));
  return port;
}

const tmpDirs = [];
export function tmpDir() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'oc-server-test-'));
  tmpDirs.push(dir);
  return dir;
}

export function removeTmpDirs() {
  for (const dir of tmpDirs.splice(0)) fs.rmSync(dir, { recursive: true, force: true });
}

// Starts oc-server and resolves once it listens; onLog gets its stderr.
export async function spawnServer(args, onLog) {
  // a GLib or libsoup critical is a bug of ours: make it end the server
  const p = spawn(process.env.OC_SERVER, args, { stdio: ['ignore', 'ignore', 'pipe'],
                                                 env: { ...process.env, G_DEBUG: 'fatal-criticals' } });
  let log = '';
  await new Promise((resolve, reject) => {
    p.stderr.on('data', (d) => {
      log += d;
      onLog?.(d);
      if (log.includes('listening on')) resolve();
    });
    p.on('exit', (code) => reject(new Error(`oc-server exited (${code}): ${log}`)));
  });
  return p;
}

// The server of a test file, with API key `key` and the given extra config
// lines: {proc, base ('http://127.0.0.1:N/api'), opts (the SDK's apiUrl and
// apiKey)}.
export async function startServer(key, onLog, extra = '') {
  const port = await freePort();
  const conf = path.join(tmpDir(), 'server.conf');
  fs.writeFileSync(conf, `[server]\nlisten=127.0.0.1:${port}\napi-keys=${key}\n${extra}` +
    (process.env.OC_STATE_DIR ? `state-dir=${process.env.OC_STATE_DIR}\n` : ''));
  const proc = await spawnServer(['--config', conf], onLog);
  return { proc, base: `http://127.0.0.1:${port}/api`,
           opts: { apiUrl: `http://127.0.0.1:${port}`, apiKey: key } };
}

// Stops proc with SIGTERM; resolves to [exit code, signal].
export async function stopServer(proc) {
  const exited = proc.exitCode !== null || proc.signalCode !== null
    ? Promise.resolve([proc.exitCode, proc.signalCode])
    : new Promise((resolve) => proc.on('exit', (c, s) => resolve([c, s])));
  proc.kill('SIGTERM');
  return exited;
}

// Stops proc and asserts it exited 0 on the signal, with the end of its
// log (log(): the text so far) when it did not.
export async function stopServerCleanly(proc, log) {
  const [code, signal] = await stopServer(proc);
  assert.equal(signal, null, `oc-server died of ${signal}: ${log().slice(-2000)}`);
  assert.equal(code, 0, log().slice(-2000));
}

// A plain request to base + url: status and parsed body.
export async function rawRequest(base, method, url, { key, body, headers = {} } = {}) {
  const h = { ...headers };
  if (key) h['X-API-Key'] = key;
  const resp = await fetch(base + url, { method, headers: h, body });
  const text = await resp.text();
  let json;
  try { json = JSON.parse(text); } catch { json = undefined; }
  return { status: resp.status, json, text };
}
