"""A learning loop that resumes where it stopped, on the WASI component.

What the loop built on the original history module did -- resume from the
last iteration number, save each iteration, look at the most recent ones --
with every save now a durable, crash-safe append.

Run (after scripts/build-component and pip install wasmtime==50.0.1):
    python examples/python/loop.py runs/history.jsonl 20
"""

import math
import random
import sys
from datetime import datetime, timezone

from iteration_history_wasm import IterationHistory


def run_strategy(code: str, rng: random.Random) -> dict:
    """Stands in for the backtest the real loop runs."""
    ok = rng.random() > 0.15
    sharpe = round(rng.gauss(0.8, 0.5), 4) if ok else float("nan")
    return {
        "execution_result": {"success": ok, "execution_time": round(rng.uniform(0.5, 3.0), 3)}
        | ({} if ok else {"error": "ZeroDivisionError: division by zero"}),
        "metrics": {
            "sharpe_ratio": sharpe,
            "total_return": round(sharpe * 0.2, 4) if ok else float("nan"),
            "max_drawdown": round(-abs(rng.gauss(0.15, 0.05)), 4) if ok else float("-inf"),
            "trades": rng.randint(10, 200),
        },
    }


def main(path: str, iterations: int) -> None:
    with IterationHistory(path) as history:
        last = history.get_last_iteration_num()
        start = 0 if last is None else last + 1
        sharpes = [r["metrics"].get("sharpe_ratio") for r in history.load_recent(50)]
        best = max((s for s in sharpes if isinstance(s, float) and not math.isnan(s)), default=-math.inf)
        print(f"resuming at iteration {start} ({history.count()} saved)")
        rng = random.Random(start)
        for i in range(start, start + iterations):
            code = f"def strategy(data):\n    return data.close.rolling({rng.randint(3, 60)}).mean()\n"
            outcome = run_strategy(code, rng)
            sharpe = outcome["metrics"]["sharpe_ratio"]
            champion = not math.isnan(sharpe) and sharpe > best
            if champion:
                best = sharpe
            level = 0 if math.isnan(sharpe) else 3 if sharpe > 1.2 else 2 if sharpe > 0.8 else 1 if sharpe > 0 else 0
            history.save({
                "iteration_num": i,
                "strategy_code": code,
                **outcome,
                "classification_level": f"LEVEL_{level}",
                "timestamp": datetime.now(timezone.utc).isoformat(),
                "champion_updated": champion,
            })
        for r in history.load_recent(5):
            print(f"  #{r['iteration_num']:>4}  sharpe={r['metrics']['sharpe_ratio']!s:>8}  "
                  f"{r['classification_level']}{'  champion' if r['champion_updated'] else ''}")
        print(f"last iteration: {history.get_last_iteration_num()}, records: {history.count()}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "runs/history.jsonl", int(sys.argv[2]) if len(sys.argv) > 2 else 10)
