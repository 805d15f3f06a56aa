// Line diff (longest common subsequence) of two texts, for the code of an
// iteration against the previous champion. Common prefix and suffix are
// trimmed first; the LCS table is only built for the differing middle and
// is refused beyond MAX_CELLS (the caller then shows both texts).
export const MAX_CELLS = 4_000_000;

/** @returns {{op: ' ' | '+' | '-', text: string}[] | null} */
export function diffLines(a, b) {
  const x = a.split('\n');
  const y = b.split('\n');
  let pre = 0;
  while (pre < x.length && pre < y.length && x[pre] === y[pre]) pre++;
  let suf = 0;
  while (suf < x.length - pre && suf < y.length - pre && x[x.length - 1 - suf] === y[y.length - 1 - suf]) suf++;
  const xs = x.slice(pre, x.length - suf);
  const ys = y.slice(pre, y.length - suf);
  const n = xs.length;
  const m = ys.length;
  if ((n + 1) * (m + 1) > MAX_CELLS) return null;
  // lcs[i][j] = LCS length of xs[i..] and ys[j..], row-major in one array.
  const w = m + 1;
  const lcs = new Uint32Array((n + 1) * w);
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i * w + j] = xs[i] === ys[j] ? lcs[(i + 1) * w + j + 1] + 1 : Math.max(lcs[(i + 1) * w + j], lcs[i * w + j + 1]);
    }
  }
  const out = x.slice(0, pre).map((text) => ({ op: ' ', text }));
  let i = 0;
  let j = 0;
  while (i < n && j < m) {
    if (xs[i] === ys[j]) { out.push({ op: ' ', text: xs[i] }); i++; j++; }
    else if (lcs[(i + 1) * w + j] >= lcs[i * w + j + 1]) out.push({ op: '-', text: xs[i++] });
    else out.push({ op: '+', text: ys[j++] });
  }
  while (i < n) out.push({ op: '-', text: xs[i++] });
  while (j < m) out.push({ op: '+', text: ys[j++] });
  for (const text of x.slice(x.length - suf)) out.push({ op: ' ', text });
  return out;
}

/** Unchanged runs longer than 2*context+1 are folded to `{op:'…', count}`. */
export function foldContext(lines, context = 3) {
  const out = [];
  let k = 0;
  while (k < lines.length) {
    if (lines[k].op !== ' ') { out.push(lines[k++]); continue; }
    let end = k;
    while (end < lines.length && lines[end].op === ' ') end++;
    const run = end - k;
    const head = k === 0 ? 0 : context;
    const tail = end === lines.length ? 0 : context;
    if (run > head + tail + 1) {
      out.push(...lines.slice(k, k + head));
      out.push({ op: '…', count: run - head - tail });
      out.push(...lines.slice(end - tail, end));
    } else {
      out.push(...lines.slice(k, end));
    }
    k = end;
  }
  return out;
}
