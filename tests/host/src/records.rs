//! Sample records in their WIT form, and the same records as the native
//! core builds them, so a test can save them both ways and compare.

use iteration_history::{IterationRecord, Map, Value, json};

use crate::wit::{IterationRecord as WitRecord, Metric, MetricValue};

/// A realistic record in WIT form. Every few records exercise an edge:
/// non-finite metrics, integer and non-numeric metrics, extra fields,
/// multi-line and non-ASCII code, a failed execution.
pub fn sample(n: u64) -> WitRecord {
    let ok = !n.is_multiple_of(5);
    let mut metrics = vec![
        metric("sharpe_ratio", MetricValue::Number(if ok { (n as f64 * 0.37).sin() * 2.0 } else { f64::NAN })),
        metric("total_return", MetricValue::Number(n as f64 / 1000.0)),
        metric("max_drawdown", MetricValue::Number(if ok { -0.1 } else { f64::NEG_INFINITY })),
    ];
    if n.is_multiple_of(3) {
        metrics.push(metric("trades", MetricValue::Integer(n as i64 * 7 - 10)));
        metrics
            .push(metric("regime", MetricValue::Json(format!(r#"{{"name":"bull","since":{n},"probs":[0.5,NaN]}}"#))));
        metrics.push(metric("note", MetricValue::Json(r#""flat \"equity\" é""#.into())));
    }
    let execution_result = if ok {
        format!(r#"{{"success":true,"execution_time":{}}}"#, 0.5 + n as f64 / 100.0)
    } else {
        r#"{"success":false,"execution_time":0.25,"error":"ZeroDivisionError: division by zero\n  line 3"}"#.into()
    };
    WitRecord {
        iteration_num: n,
        strategy_code: format!(
            "def strategy_{n}(data):\n    # tuned → fast={n}\n    return data.close.rolling({n}).mean()\n"
        ),
        execution_result,
        metrics,
        classification_level: format!("LEVEL_{}", n % 4),
        timestamp: format!("2025-03-01T00:{:02}:{:02}.123456", (n / 60) % 60, n % 60),
        champion_updated: n.is_multiple_of(7),
        extra: if n.is_multiple_of(4) { format!(r#"{{"seed":{n},"tags":["a","b"]}}"#) } else { String::new() },
    }
}

fn metric(name: &str, value: MetricValue) -> Metric {
    Metric { name: name.into(), value }
}

fn parse(text: &str) -> Value {
    json::parse(text.as_bytes()).unwrap_or_else(|e| panic!("test JSON {text:?}: {e:?}"))
}

fn object(text: &str) -> Map {
    if text.is_empty() {
        return Map::new();
    }
    match parse(text) {
        Value::Object(m) => m,
        other => panic!("not an object: {other:?}"),
    }
}

/// The same record as the native core builds it.
pub fn to_core(r: &WitRecord) -> IterationRecord {
    let mut rec = IterationRecord::new(r.iteration_num, r.strategy_code.clone());
    rec.execution_result = object(&r.execution_result);
    for m in &r.metrics {
        let v = match &m.value {
            MetricValue::Number(f) => Value::from(*f),
            MetricValue::Integer(i) => Value::from(*i),
            MetricValue::Json(t) => parse(t),
        };
        rec.metrics.insert(m.name.clone(), v);
    }
    rec.classification_level = r.classification_level.clone();
    rec.timestamp = r.timestamp.clone();
    rec.champion_updated = r.champion_updated;
    rec.extra = object(&r.extra);
    rec
}

/// A record compared by content: JSON text parts are compared as parsed
/// values, NaN equals NaN.
#[derive(Clone, Debug, PartialEq)]
pub struct Comparable(pub IterationRecord);

impl From<&WitRecord> for Comparable {
    fn from(r: &WitRecord) -> Self {
        Comparable(to_core(r))
    }
}

/// Whether a metric value is the non-finite float `f` (NaN matches NaN).
pub fn is_float(v: &MetricValue, f: f64) -> bool {
    match v {
        MetricValue::Number(x) => x == &f || (x.is_nan() && f.is_nan()),
        _ => false,
    }
}
