// Starts `ihist view` for the end-to-end tests and benchmarks (the server
// the viewer ships with; there is no other). Resolves to
// { proc, url, origin, token, stop }: `url` is the printed one
// (`http://127.0.0.1:PORT/?live=1&token=...`); `token` is also what a page
// URL needs on its first load (it sets the cookie later requests send).
import { spawn } from 'node:child_process';
import readline from 'node:readline';

export async function startView(ihist, args, { cwd } = {}) {
  const proc = spawn(ihist, ['view', ...args, '--port', '0'], { stdio: ['ignore', 'pipe', 'pipe'], cwd });
  let err = '';
  proc.stderr.on('data', (d) => { err += d; });
  const url = await new Promise((resolve, reject) => {
    readline.createInterface({ input: proc.stdout }).once('line', resolve);
    proc.once('exit', (code) => reject(new Error(`ihist view exited with ${code}: ${err}`)));
  });
  const m = /^(http:\/\/127\.0\.0\.1:\d+)\/\?live=1&token=([0-9a-f]{64})$/.exec(url);
  if (!m) throw new Error(`ihist view printed an unexpected URL: ${url}`);
  return { proc, url, origin: m[1], token: m[2], stop: () => proc.kill() };
}
