// DOM and text helpers shared by every view: element lookup and creation,
// the status line, number and byte formatting, and waiting for a frame.
// Owns no state.
export const $ = (id) => document.getElementById(id);
const nf = new Intl.NumberFormat('en-US');
export const fmtInt = (n) => nf.format(n);
export function fmtBytes(b) {
  if (b < 1024) return `${b} B`;
  if (b < 1 << 20) return `${(b / 1024).toFixed(1)} KB`;
  return `${(b / (1 << 20)).toFixed(1)} MB`;
}
export function fmtNum(v) {
  if (typeof v !== 'number') return String(v);
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '∞';
  if (v === -Infinity) return '-∞';
  if (Number.isInteger(v)) return String(v);
  return String(Number(v.toPrecision(6)));
}
export function fmtCell(col, row) {
  const s = col.states[row];
  if (s === 1) return '';
  if (s === 2) return 'null';
  return fmtNum(col.values[row]);
}
export function fmtValue(v) {
  if (typeof v === 'number') return fmtNum(v);
  if (v === null) return 'null';
  if (typeof v === 'object') {
    return JSON.stringify(v, (k, x) => (typeof x === 'number' && !Number.isFinite(x) ? fmtNum(x) : x));
  }
  return String(v);
}
export function h(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) e.append(c);
  return e;
}
export function setStatus(text, error = false) {
  const s = $('status');
  s.textContent = text;
  s.classList.toggle('error', error);
}
export const nextFrame = () => new Promise((r) => requestAnimationFrame(() => r()));
