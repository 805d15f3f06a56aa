/** One iteration of a learning loop: the original module's seven fields,
 * plus any other top-level fields (kept as they are). */
export interface IterationRecord {
  iteration_num: number;
  strategy_code: string;
  execution_result: Record<string, unknown>;
  /** Numbers may be NaN or ±Infinity; integers beyond 2^53 come back as bigint. */
  metrics: Record<string, unknown>;
  classification_level: string;
  timestamp: string;
  champion_updated: boolean;
  [extra: string]: unknown;
}

export interface OpenOptions {
  /** Open for reading only: no lock, writes fail with ReadOnlyHistory. */
  readOnly?: boolean;
  /** 'append' (default) or 'rewrite' (whole file per save, atomically). */
  strategy?: 'append' | 'rewrite';
  /** 'full' (default: every save synced) or 'none' (no syncs; tests only). */
  durability?: 'full' | 'none';
  /** Wait this long for another writer (default: fail at once with HistoryLocked). */
  lockTimeoutMs?: number | bigint;
  /** Repair a corrupt history while opening instead of failing. */
  repairOnOpen?: boolean;
  /** Length of the writer's lease (default 30000 ms). */
  leaseMs?: number | bigint;
}

export interface BadLine { line: number; offset: number; reason: string }
export interface TornTail { offset: number; line: number; bytes: number; reason: string; sidecar: string }

export interface VerifyReport {
  file: string;
  health: 'healthy' | 'torn-tail' | 'corrupt';
  records: number;
  unchecksummed: number;
  lastIterationNum: number | undefined;
  bytes: number;
  tornTail: TornTail | undefined;
  corruptLines: BadLine[];
  badLinesTotal: number;
  tempFiles: string[];
  dirSync: boolean;
}

export interface RepairReport {
  kept: number;
  moved: BadLine[];
  movedLines: number;
  movedBytes: number;
  sidecar: string | undefined;
}

export interface OpenReport {
  file: string;
  writable: boolean;
  lock: 'os' | 'lease' | 'host' | 'none';
  dirSync: boolean;
  created: boolean;
  removedTempFiles: string[];
  tornTail: TornTail | undefined;
  addedFinalNewline: boolean;
  repaired: RepairReport | undefined;
}

/** What `History.columns` returns: an array of values per column name. */
export type Columns<K extends string = string> = { [name in K]: unknown[] };

/** An open history. Methods are synchronous; errors are HistoryError subclasses. */
export interface History extends Iterable<IterationRecord> {
  readonly path: string;
  readonly closed: boolean;
  /** Saves one record durably (on stable storage when this returns). */
  save(record: IterationRecord): void;
  /** Saves several records as one all-or-nothing commit. */
  saveBatch(records: Iterable<IterationRecord>): void;
  /** Compare-and-append: true if appended, false if already present (a retry); throws Conflict otherwise. */
  saveIfLast(expectedLast: number | undefined, records: Iterable<IterationRecord>): boolean;
  /** The last `n` (default 5) records, oldest first. */
  loadRecent(n?: number): IterationRecord[];
  /** `iteration_num` of the last record; undefined when empty. */
  getLastIterationNum(): number | undefined;
  getAll(): IterationRecord[];
  iter(pageSize?: number): Generator<IterationRecord, void, undefined>;
  /**
   * Columns of the whole history, read by the component in one pass: one
   * array per name, one value per record, oldest first (`null` where a
   * record has none). A name is a record field (`iteration_num`), another
   * top-level field, or a dotted path (`metrics.sharpe_ratio`).
   */
  columns<K extends string>(names: K | readonly K[]): Columns<K>;
  /** One page of the typed interface (`get-all`), for checks against `iter()`. */
  typedPage(cursor?: number, limit?: number): { records: IterationRecord[]; nextCursor: number | undefined };
  count(): number;
  clear(): void;
  verify(): VerifyReport;
  repair(): RepairReport;
  compact(): number;
  export(name: string): number;
  openReport(): OpenReport;
  /** Releases the history and its writer lease. Idempotent. */
  close(): void;
  [Symbol.dispose](): void;
}

/** Opens (creating if needed) the history at `filepath`. */
export function openHistory(filepath: string, options?: OpenOptions): Promise<History>;

export class HistoryError extends Error {
  /** The WIT error case: 'locked', 'corrupt', 'invalid-record', ... */
  readonly tag: string;
  constructor(message: string, tag?: string);
}
export class HistoryLocked extends HistoryError {}
export class CorruptHistory extends HistoryError {
  /** 1-based line of the damaged line. */
  readonly line: number;
  /** Byte offset of its first byte. */
  readonly offset: number;
  readonly reason: string;
}
export class InvalidRecord extends HistoryError {
  /** Dotted path of the field (`metrics.sharpe_ratio`); '' if not an object. */
  readonly field: string;
  readonly reason: string;
  /** 0-based position in a batch. */
  readonly index: number | undefined;
}
export class InvalidName extends HistoryError {}
export class DiskFull extends HistoryError {}
export class HistoryPermissionError extends HistoryError {}
export class SyncFailed extends HistoryError {}
export class ReadOnlyHistory extends HistoryError {}
export class Conflict extends HistoryError {
  /** The actual last iteration (undefined: empty). */
  readonly actual: number | undefined;
}
export class ChangedExternally extends HistoryError {}
export class InvalidCursor extends HistoryError {}
export class LeaseLost extends HistoryError {}
export class HistoryIOError extends HistoryError {}
export class HistoryClosed extends HistoryError {}

/** The exception for a WIT error value. */
export function errorFromWit(error: { tag: string; val: unknown }): HistoryError;
/** JSON.stringify keeping NaN / Infinity as bare tokens (Python's json dialect). */
export function stringifyPython(value: unknown): string;
/** JSON.parse that also reads bare NaN / Infinity / -Infinity. */
export function parsePython(text: string): unknown;
