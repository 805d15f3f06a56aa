// A learning loop that resumes where it stopped, on the WASI component:
//   node examples/node/loop.mjs runs/history.jsonl 20
import { openHistory } from './history.mjs';

const [file = 'runs/history.jsonl', n = '10'] = process.argv.slice(2);
const history = await openHistory(file);
try {
  const last = history.getLastIterationNum();
  const start = last === undefined ? 0 : last + 1;
  console.log(`resuming at iteration ${start} (${history.count()} saved)`);
  let best = Math.max(-Infinity, ...history.loadRecent(50)
    .map((r) => r.metrics.sharpe_ratio).filter((s) => Number.isFinite(s)));
  for (let i = start; i < start + Number(n); i++) {
    const ok = (i * 7919) % 100 > 15;
    const sharpe = ok ? Math.round((Math.sin(i) * 1.5 + 0.8) * 1e4) / 1e4 : NaN;
    const champion = Number.isFinite(sharpe) && sharpe > best;
    if (champion) best = sharpe;
    history.save({
      iteration_num: i,
      strategy_code: `def strategy(data):\n    return data.close.rolling(${3 + (i % 50)}).mean()\n`,
      execution_result: ok ? { success: true, execution_time: 1.5 } : { success: false, execution_time: 0.2, error: 'ZeroDivisionError' },
      metrics: { sharpe_ratio: sharpe, total_return: ok ? sharpe * 0.2 : NaN, max_drawdown: ok ? -0.12 : -Infinity, trades: 10 + i },
      classification_level: `LEVEL_${!ok ? 0 : sharpe > 1.2 ? 3 : sharpe > 0.8 ? 2 : 1}`,
      timestamp: new Date().toISOString(),
      champion_updated: champion,
    });
  }
  for (const r of history.loadRecent(5)) {
    console.log(`  #${r.iteration_num}  sharpe=${r.metrics.sharpe_ratio}  ${r.classification_level}${r.champion_updated ? '  champion' : ''}`);
  }
  console.log(`last iteration: ${history.getLastIterationNum()}, records: ${history.count()}`);
} finally {
  history.close();
}
