//! A summary of a history (`ihist stats`, and the end of `ihist demo`):
//! records, success rate, best sharpe ratio, champion, records per level,
//! and the most recent records.

use std::collections::BTreeMap;

use iteration_history::IterationRecord;
use serde_json::json;

use crate::ctx::Ctx;
use crate::error::{EXIT_OK, Result};
use crate::progress;
use crate::render;
use crate::target::{Opened, Target};

/// The metric that ranks strategies.
pub(crate) const SHARPE: &str = "sharpe_ratio";

/// Running totals over records.
#[derive(Debug, Default, Clone)]
pub(crate) struct Summary {
    pub(crate) records: u64,
    pub(crate) successes: u64,
    /// (sharpe, iteration) of the best finite sharpe among runs not marked failed.
    pub(crate) best: Option<(f64, u64)>,
    /// (iteration, sharpe) of the last record that became champion.
    pub(crate) champion: Option<(u64, Option<f64>)>,
    pub(crate) levels: BTreeMap<String, u64>,
    pub(crate) first: Option<u64>,
    pub(crate) last: Option<u64>,
}

impl Summary {
    /// Adds one record.
    pub(crate) fn add(&mut self, r: &IterationRecord) {
        self.records += 1;
        if r.success() == Some(true) {
            self.successes += 1;
        }
        if r.success() != Some(false)
            && let Some(s) = r.metric(SHARPE).filter(|s| s.is_finite())
            && self.best.is_none_or(|(b, _)| s > b)
        {
            self.best = Some((s, r.iteration_num));
        }
        if r.champion_updated {
            self.champion = Some((r.iteration_num, r.metric(SHARPE)));
        }
        *self.levels.entry(r.classification_level.clone()).or_default() += 1;
        self.first.get_or_insert(r.iteration_num);
        self.last = Some(r.iteration_num);
    }

    /// Reads every record of `h` (streaming, constant memory).
    pub(crate) fn of(ctx: &Ctx, h: &Opened) -> Result<Summary> {
        let spin = progress::spinner(ctx, &format!("reading {}", h.name()));
        let mut s = Summary::default();
        for r in h.records()? {
            s.add(&r?);
        }
        spin.finish_and_clear();
        Ok(s)
    }

    /// The best finite sharpe so far (−∞ if none): what a new champion must beat.
    pub(crate) fn best_sharpe(&self) -> f64 {
        self.best.map_or(f64::NEG_INFINITY, |(s, _)| s)
    }

    fn success_rate(&self) -> Option<f64> {
        (self.records > 0).then(|| self.successes as f64 / self.records as f64)
    }

    /// The summary as JSON, with the recent records.
    pub(crate) fn to_json(&self, file: &str, recent: &[IterationRecord]) -> serde_json::Value {
        json!({
            "file": file,
            "records": self.records,
            "first_iteration_num": self.first,
            "last_iteration_num": self.last,
            "successes": self.successes,
            "success_rate": self.success_rate(),
            "best_sharpe": self.best.map(|(s, i)| json!({ "iteration_num": i, "sharpe_ratio": s })),
            "champion": self.champion.map(|(i, s)| json!({
                "iteration_num": i,
                "sharpe_ratio": s.filter(|s| s.is_finite()),
            })),
            "levels": self.levels,
            "recent": recent.iter().map(render::record_value).collect::<Vec<_>>(),
        })
    }

    /// The summary for people.
    pub(crate) fn to_text(&self, file: &str, recent: &[IterationRecord]) -> Vec<String> {
        let mut out = vec![file.to_string()];
        let range = match (self.first, self.last) {
            (Some(f), Some(l)) => format!(" (iterations {f}..{l})"),
            _ => String::new(),
        };
        out.push(format!("  records       {}{range}", self.records));
        if let Some(rate) = self.success_rate() {
            out.push(format!("  success rate  {:.1}% ({} of {})", rate * 100.0, self.successes, self.records));
        }
        out.push(match self.best {
            Some((s, i)) => format!("  best sharpe   {} at iteration {i}", render::float(s)),
            None => "  best sharpe   none".into(),
        });
        out.push(match self.champion {
            Some((i, s)) => format!("  champion      iteration {i} (sharpe {})", s.map_or("?".into(), render::float)),
            None => "  champion      none".into(),
        });
        let levels: Vec<String> = self.levels.iter().map(|(l, n)| format!("{l} {n}")).collect();
        out.push(format!("  levels        {}", levels.join(", ")));
        if !recent.is_empty() {
            out.push(format!("recent {}:", recent.len()));
            out.extend(render::table(recent).into_iter().map(|l| format!("  {l}")));
        }
        out
    }
}

/// `ihist stats`: the summary of a history (read-only).
pub(crate) fn stats(ctx: &Ctx, history: &Target) -> Result {
    let h = history.reader()?;
    let s = Summary::of(ctx, &h)?;
    let recent = h.store().load_recent(5)?;
    if ctx.json {
        ctx.out_json(&s.to_json(&h.name(), &recent))?;
    } else {
        for line in s.to_text(&h.name(), &recent) {
            ctx.out(line)?;
        }
    }
    Ok(EXIT_OK)
}

#[cfg(test)]
mod tests {
    use super::*;
    use iteration_history::Value;

    fn rec(n: u64, ok: bool, sharpe: f64, champion: bool, level: &str) -> IterationRecord {
        let mut r = IterationRecord::new(n, "x");
        r.execution_result.insert("success".into(), Value::Bool(ok));
        r.set_metric(SHARPE, sharpe);
        r.champion_updated = champion;
        r.classification_level = level.into();
        r
    }

    #[test]
    fn totals() {
        let mut s = Summary::default();
        for r in [
            rec(0, true, 0.5, true, "LEVEL_1"),
            rec(1, false, f64::NAN, false, "LEVEL_0"),
            rec(2, true, 1.5, true, "LEVEL_3"),
            rec(3, true, 1.0, false, "LEVEL_2"),
        ] {
            s.add(&r);
        }
        assert_eq!((s.records, s.successes), (4, 3));
        assert_eq!(s.best, Some((1.5, 2)));
        assert_eq!(s.champion, Some((2, Some(1.5))));
        assert_eq!(s.levels.get("LEVEL_0"), Some(&1));
        assert_eq!((s.first, s.last), (Some(0), Some(3)));
        let text = s.to_text("h.jsonl", &[]).join("\n");
        assert!(text.contains("success rate  75.0% (3 of 4)"), "{text}");
        assert!(text.contains("best sharpe   1.5000 at iteration 2"), "{text}");
    }
}
