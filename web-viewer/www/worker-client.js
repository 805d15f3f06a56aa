// The page's side of the loading worker (worker.js): one worker per page,
// requests numbered by id, answered by promise; progress messages go to the
// caller's onProgress. Owns the worker and the requests in flight.
const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
let nextId = 1;
const pending = new Map();
export function ask(msg, { transfer = [], onProgress } = {}) {
  const id = nextId++;
  return new Promise((resolve, reject) => {
    pending.set(id, { resolve, reject, onProgress });
    worker.postMessage({ ...msg, id }, transfer);
  });
}
worker.onmessage = (e) => {
  const m = e.data;
  const p = pending.get(m.id);
  if (!p) return;
  if (m.op === 'progress') { if (p.onProgress) p.onProgress(m); return; }
  pending.delete(m.id);
  if (m.op === 'error') p.reject(new Error(m.message));
  else p.resolve(m);
};
worker.onerror = (e) => {
  for (const p of pending.values()) p.reject(new Error(`the loading worker failed: ${e.message || 'see the console'}`));
  pending.clear();
};
