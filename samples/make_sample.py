"""Writes samples/history.jsonl the way the original Python module did.

Each save rewrote the whole file with json.dumps(record) per line (CPython
defaults: NaN/Infinity as bare tokens, non-ASCII as \\uXXXX escapes) to
<file>.tmp and renamed it over the history. Deterministic (fixed seed).
Run: python3 samples/make_sample.py samples/history.jsonl
"""
import json
import math
import os
import random
import sys

path = sys.argv[1] if len(sys.argv) > 1 else "samples/history.jsonl"
rng = random.Random(42)
indicators = ["sma", "ema", "rsi", "macd", "bollinger", "momentum", "atr"]
records, best = [], -math.inf
for i in range(60):
    fast, slow = rng.randint(3, 20), rng.randint(21, 120)
    ind = rng.choice(indicators)
    code = (
        f"def strategy(data):\n"
        f"    # {ind} crossover, tuned \u2192 fast={fast}, slow={slow}\n"
        f"    fast = data.close.rolling({fast}).mean()\n"
        f"    slow = data.close.rolling({slow}).mean()\n"
        f"    return (fast > slow).astype(int)\n"
    )
    ok = rng.random() > 0.15
    if ok:
        sharpe = round(rng.gauss(0.6 + i * 0.012, 0.45), 4)
        metrics = {
            "sharpe_ratio": sharpe,
            "total_return": round(sharpe * 0.18 + rng.gauss(0, 0.05), 4),
            "max_drawdown": round(-abs(rng.gauss(0.15, 0.07)), 4),
            "win_rate": round(rng.uniform(0.4, 0.65), 4),
        }
        if rng.random() < 0.08:
            metrics["sortino_ratio"] = float("nan")  # flat equity curve
        level = 3 if sharpe > 1.2 else 2 if sharpe > 0.8 else 1 if sharpe > 0 else 0
        result = {"success": True, "execution_time": round(rng.uniform(0.8, 6.0), 3)}
    else:
        metrics = {"sharpe_ratio": float("nan"), "total_return": float("nan"),
                   "max_drawdown": float("-inf"), "win_rate": 0.0}
        level = 0
        result = {"success": False, "execution_time": round(rng.uniform(0.1, 1.0), 3),
                  "error": rng.choice(["KeyError: 'close'", "ZeroDivisionError: division by zero",
                                       "TimeoutError: backtest exceeded 60 s"])}
    champion = ok and metrics["sharpe_ratio"] > best
    if champion:
        best = metrics["sharpe_ratio"]
    records.append({
        "iteration_num": i,
        "strategy_code": code,
        "execution_result": result,
        "metrics": metrics,
        "classification_level": f"LEVEL_{level}",
        "timestamp": f"2025-03-{1 + i // 24:02d}T{i % 24:02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}.{rng.randint(0, 999999):06d}",
        "champion_updated": champion,
    })
    with open(path + ".tmp", "w") as f:
        for r in records:
            f.write(json.dumps(r) + "\n")
    os.replace(path + ".tmp", path)
