"""A learning loop on the package, type-checked with `mypy --strict`
(scripts/test-packages runs it, then checks it type-checks).

    python typed_loop.py runs/history.jsonl 20
"""

import math
import random
import sys
from datetime import datetime, timezone
from typing import List, Optional

from iteration_history import HistoryError, HistoryLocked, IterationHistory, IterationRecord


def best_sharpe(records: List[IterationRecord]) -> float:
    values = [r.metrics.get("sharpe_ratio") for r in records]
    return max((v for v in values if isinstance(v, float) and not math.isnan(v)), default=-math.inf)


def main(path: str, iterations: int) -> int:
    rng = random.Random(7)
    try:
        history = IterationHistory(path, lock_timeout_ms=2000)
    except HistoryLocked as e:
        print(f"another loop is writing: {e}", file=sys.stderr)
        return 5
    with history:
        last: Optional[int] = history.get_last_iteration_num()
        start = 0 if last is None else last + 1
        best = best_sharpe(history.load_recent(50))
        print(f"resuming at iteration {start} ({history.count()} saved)")
        for i in range(start, start + iterations):
            ok = rng.random() > 0.15
            sharpe = round(rng.gauss(0.8, 0.5), 4) if ok else float("nan")
            champion = ok and sharpe > best
            best = max(best, sharpe) if ok else best
            record = IterationRecord(
                iteration_num=i,
                strategy_code=f"def strategy(data):\n    return data.close.rolling({i % 30 + 2}).mean()\n",
                execution_result={"success": ok, "execution_time": round(rng.uniform(0.5, 3.0), 3)},
                metrics={"sharpe_ratio": sharpe, "trades": rng.randint(10, 200)},
                classification_level=f"LEVEL_{i % 4}",
                timestamp=datetime.now(timezone.utc).isoformat(),
                champion_updated=champion,
                extra={"seed": 7},
            )
            try:
                history.save(record)
            except HistoryError as e:
                print(f"not saved: {e}", file=sys.stderr)
                return 1
        recent: List[IterationRecord] = history.load_recent(3)
        print(f"last iteration: {history.get_last_iteration_num()}, records: {history.count()}, "
              f"recent: {[r.iteration_num for r in recent]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 10))
