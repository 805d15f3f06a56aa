// The page's view state: the model shown, chosen metric and direction,
// filters, sort, selection and decoded-record cache; the live-follow
// session; and window.__ih, the hook the browser tests read.
export const state = {
  model: null,
  metric: null,
  direction: 'max',
  filters: { run: '', level: '', success: '', champ: false, code: '', ranges: [] },
  codeMask: null,
  sort: { key: 'iteration_num', dir: 1 },
  ranks: new Map(),
  view: new Uint32Array(0),
  selected: -1,
  cache: new Map(),
};
// Following the histories `ihist view` serves (?live=1).
export const live = { on: false, paused: false, ctrl: null, resume: null, session: 0, updated: 0, busy: false };

// For tests: the last load's timings, and when followed rows became visible.
window.__ih = { state, lastLoad: null, arrivals: [] };
