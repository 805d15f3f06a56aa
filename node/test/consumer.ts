// A TypeScript consumer of the package: `tsc --noEmit` must accept it.
import { openHistory, HistoryLocked, InvalidRecord, type IterationRecord, type History } from 'iteration-history';

async function main(): Promise<void> {
  let history: History;
  try {
    history = await openHistory('runs/history.jsonl', { lockTimeoutMs: 1000, durability: 'full' });
  } catch (e) {
    if (e instanceof HistoryLocked) console.error(`busy: ${e.message}`);
    throw e;
  }
  const last: number | undefined = history.getLastIterationNum();
  const record: IterationRecord = {
    iteration_num: (last ?? -1) + 1,
    strategy_code: 'def strategy(data): ...',
    execution_result: { success: true },
    metrics: { sharpe_ratio: NaN },
    classification_level: 'LEVEL_1',
    timestamp: new Date().toISOString(),
    champion_updated: false,
    seed: 7,
  };
  try {
    history.save(record);
  } catch (e) {
    if (e instanceof InvalidRecord) console.error(e.field, e.index);
  }
  const recent: IterationRecord[] = history.loadRecent(5);
  for (const r of history) console.log(r.iteration_num);
  const cols = history.columns(['iteration_num', 'metrics.sharpe_ratio'] as const);
  const sharpe: unknown[] = cols['metrics.sharpe_ratio'];
  console.log(cols.iteration_num.length, sharpe.length);
  console.log(recent.length, history.count(), history.verify().health, history.openReport().lock);
  history.close();
}

void main();
