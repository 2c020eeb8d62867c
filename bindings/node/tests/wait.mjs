// wait.mjs: waiting in the binding's tests.  Waits are generous and never
// asserted: other VMs share this host.
import assert from 'node:assert/strict';

export const PATIENCE_MS = 180000; // a bound against hangs, not a measurement

/** Resolves once pred() holds; fails naming `what` after PATIENCE_MS. */
export async function until(pred, what) {
  const deadline = Date.now() + PATIENCE_MS;
  while (!pred()) {
    assert.ok(Date.now() < deadline, `gave up waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
