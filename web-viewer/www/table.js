// A virtualised table: a spacer as tall as all rows, and only the rows in
// view (plus a few) in the DOM, re-used as the body scrolls.
const OVERSCAN = 6;

export class VTable {
  /**
   * @param {HTMLElement} root
   * @param {{rowHeight: number, onSelect: (row: number) => void, onSort: (key: string) => void}} opts
   */
  constructor(root, opts) {
    this.root = root;
    this.opts = opts;
    this.rowHeight = opts.rowHeight;
    this.columns = [];
    this.view = new Uint32Array(0);
    this.selected = -1;
    this.sort = { key: null, dir: 1 };
    root.innerHTML = '';
    root.setAttribute('role', 'grid');
    this.head = el('div', 'vhead');
    this.head.setAttribute('role', 'row');
    this.body = el('div', 'vbody');
    this.body.id = 'rows';
    this.body.tabIndex = 0;
    this.spacer = el('div', 'vspacer');
    this.body.append(this.spacer);
    this.note = el('div', 'empty-note');
    this.note.hidden = true;
    root.append(this.head, this.body);
    this.body.append(this.note);
    this.pool = [];
    this.frame = 0;
    this.body.addEventListener('scroll', () => this.schedule());
    this.body.addEventListener('click', (e) => {
      const row = e.target.closest('.vrow');
      if (row) this.opts.onSelect(Number(row.dataset.row));
    });
    this.body.addEventListener('keydown', (e) => this.key(e));
    this.head.addEventListener('click', (e) => {
      const cell = e.target.closest('.cell');
      if (cell) this.opts.onSort(cell.dataset.key);
    });
    new ResizeObserver(() => this.schedule()).observe(this.body);
  }

  /** @param {{key: string, label: string, width: number, cls?: string, title?: string, render: (row: number) => string | Node}[]} columns */
  setColumns(columns) {
    this.columns = columns;
    const template = columns.map((c) => `${c.width}px`).join(' ');
    this.template = template;
    this.width = columns.reduce((s, c) => s + c.width, 0);
    this.head.style.gridTemplateColumns = template;
    this.head.style.width = `${this.width}px`;
    this.head.innerHTML = '';
    for (const c of columns) {
      const h = el('div', `cell ${c.cls || ''}`);
      h.textContent = c.label;
      h.title = c.title || c.key;
      h.dataset.key = c.key;
      h.setAttribute('role', 'columnheader');
      this.head.append(h);
    }
    this.spacer.style.width = `${this.width}px`;
    for (const r of this.pool) r.remove();
    this.pool = [];
    this.setSort(this.sort.key, this.sort.dir);
    this.render();
  }

  setSort(key, dir) {
    this.sort = { key, dir };
    for (const h of this.head.children) {
      h.setAttribute('aria-sort', h.dataset.key === key ? (dir > 0 ? 'ascending' : 'descending') : 'none');
    }
  }

  /** @param {Uint32Array} view record indices in display order */
  setView(view, emptyText = 'No iteration matches the filter.') {
    this.view = view;
    this.positions = null;
    this.spacer.style.height = `${view.length * this.rowHeight}px`;
    this.note.hidden = view.length > 0;
    this.note.textContent = emptyText;
    this.render();
  }

  /** Position of record `row` in the view, or -1. */
  positionOf(row) {
    if (!this.positions) {
      this.positions = new Map();
      for (let p = 0; p < this.view.length; p++) this.positions.set(this.view[p], p);
    }
    const p = this.positions.get(row);
    return p === undefined ? -1 : p;
  }

  select(row, scroll = true) {
    this.selected = row;
    const p = this.positionOf(row);
    if (scroll && p >= 0) {
      const top = p * this.rowHeight;
      const h = this.body.clientHeight;
      if (top < this.body.scrollTop || top + this.rowHeight > this.body.scrollTop + h) {
        this.body.scrollTop = Math.max(0, top - h / 2 + this.rowHeight / 2);
      }
    }
    this.render();
  }

  key(e) {
    if (e.key !== 'ArrowDown' && e.key !== 'ArrowUp') return;
    e.preventDefault();
    const p = this.positionOf(this.selected);
    const next = Math.min(this.view.length - 1, Math.max(0, p + (e.key === 'ArrowDown' ? 1 : -1)));
    if (next >= 0 && next < this.view.length) this.opts.onSelect(this.view[next]);
  }

  schedule() {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => { this.frame = 0; this.render(); });
  }

  render() {
    const rh = this.rowHeight;
    const height = this.body.clientHeight || 400;
    this.head.style.transform = `translateX(${-this.body.scrollLeft}px)`; // the header follows horizontal scrolling
    const first = Math.max(0, Math.floor(this.body.scrollTop / rh) - OVERSCAN);
    const last = Math.min(this.view.length, Math.ceil((this.body.scrollTop + height) / rh) + OVERSCAN);
    const need = Math.max(0, last - first);
    while (this.pool.length < need) {
      const r = el('div', 'vrow');
      r.setAttribute('role', 'row');
      r.style.gridTemplateColumns = this.template;
      r.style.width = `${this.width}px`;
      for (const c of this.columns) {
        const cell = el('div', `cell ${c.cls || ''}`);
        cell.setAttribute('role', 'gridcell');
        r.append(cell);
      }
      this.body.append(r);
      this.pool.push(r);
    }
    while (this.pool.length > need) this.pool.pop().remove();
    for (let k = 0; k < need; k++) {
      const p = first + k;
      const row = this.view[p];
      const r = this.pool[k];
      r.style.transform = `translateY(${p * rh}px)`;
      if (r.dataset.row !== String(row) || r.dataset.stamp !== this.stamp) {
        r.dataset.row = String(row);
        r.dataset.stamp = this.stamp || '';
        r.dataset.pos = String(p);
        const cells = r.children;
        for (let ci = 0; ci < this.columns.length; ci++) {
          const v = this.columns[ci].render(row);
          if (typeof v === 'string') cells[ci].textContent = v;
          else { cells[ci].textContent = ''; cells[ci].append(v); }
        }
        if (this.rowClass) r.className = `vrow ${this.rowClass(row)}`;
      }
      r.classList.toggle('selected', row === this.selected);
    }
  }

  /** Re-renders every visible row (after their data changed). */
  refresh() {
    this.stamp = String((Number(this.stamp) || 0) + 1);
    this.render();
  }
}

function el(tag, cls) {
  const e = document.createElement(tag);
  e.className = cls;
  return e;
}
