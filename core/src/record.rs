//! The iteration record: the seven fields of the original Python module plus
//! any other top-level fields, kept as they were read.

use crate::format::{FIELDS, RESERVED_FIELDS};
use crate::value::{Map, Value};

/// Largest `iteration_num` accepted: 2^53 - 1, so that `jq`, JavaScript and
/// every other reader that holds numbers as doubles reads it exactly.
pub const MAX_ITERATION_NUM: u64 = (1 << 53) - 1;

/// One iteration of a learning loop.
///
/// Field for field the record of the original Python module
/// (`iteration_num`, `strategy_code`, `execution_result`, `metrics`,
/// `classification_level`, `timestamp`, `champion_updated`). Any other
/// top-level field found in a line is kept in [`extra`](Self::extra) and
/// written back, so reading and writing a record loses no content.
/// Numbers in the open-ended parts may be `NaN` or infinite (see
/// [`Value`]).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct IterationRecord {
    /// Position of the iteration in the loop; at most [`MAX_ITERATION_NUM`].
    pub iteration_num: u64,
    /// Source code of the strategy tried in this iteration.
    pub strategy_code: String,
    /// Outcome of running the strategy (a JSON object, e.g. `success`,
    /// `execution_time`, `error`).
    pub execution_result: Map,
    /// Named metrics (a JSON object; numeric values are read with
    /// [`IterationRecord::metric`]).
    pub metrics: Map,
    /// Classification of the result (e.g. `"LEVEL_3"`); not empty.
    pub classification_level: String,
    /// When the iteration ran, as written by the loop (ISO 8601 in the
    /// original module); not empty.
    pub timestamp: String,
    /// Whether this iteration became the new champion.
    pub champion_updated: bool,
    /// Any other top-level fields, in the order they were read.
    pub extra: Map,
}

/// A record that cannot be saved or read: which field, and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("field `{field}`: {reason}")]
#[non_exhaustive]
pub struct FieldError {
    /// The field, as a dotted path (`metrics.sharpe_ratio`, `iteration_num`).
    pub field: String,
    /// What is wrong with it.
    pub reason: String,
}

impl FieldError {
    pub(crate) fn new(field: impl Into<String>, reason: impl Into<String>) -> Self {
        FieldError { field: field.into(), reason: reason.into() }
    }
}

impl IterationRecord {
    /// Copies of `records` numbered `first`, `first + 1`, …: what a store
    /// that numbers records itself (`Store::append_next`) saves.
    pub fn renumbered(records: &[IterationRecord], first: u64) -> Vec<IterationRecord> {
        records.iter().zip(first..).map(|(r, n)| IterationRecord { iteration_num: n, ..r.clone() }).collect()
    }

    /// A record with the given number and code; the other fields empty
    /// (`classification_level` and `timestamp` must be set before saving).
    pub fn new(iteration_num: u64, strategy_code: impl Into<String>) -> Self {
        IterationRecord { iteration_num, strategy_code: strategy_code.into(), ..Default::default() }
    }

    /// The numeric value of metric `name`, if present and a number
    /// (`NaN` and infinities included).
    pub fn metric(&self, name: &str) -> Option<f64> {
        self.metrics.get(name).and_then(Value::as_f64)
    }

    /// Sets metric `name` to `value` (any `f64`, `NaN` included).
    pub fn set_metric(&mut self, name: impl Into<String>, value: f64) -> &mut Self {
        self.metrics.insert(name.into(), Value::from(value));
        self
    }

    /// `execution_result.success`, if it is a boolean.
    pub fn success(&self) -> Option<bool> {
        self.execution_result.get("success").and_then(Value::as_bool)
    }

    /// Checks what a history requires of a record before it is written.
    ///
    /// # Errors
    /// A [`FieldError`] naming the first offending field.
    pub fn validate(&self) -> Result<(), FieldError> {
        if self.iteration_num > MAX_ITERATION_NUM {
            return Err(FieldError::new(
                "iteration_num",
                format!("{} is above 2^53-1, which JSON readers cannot hold exactly", self.iteration_num),
            ));
        }
        if self.classification_level.trim().is_empty() {
            return Err(FieldError::new("classification_level", "must not be empty"));
        }
        if self.timestamp.trim().is_empty() {
            return Err(FieldError::new("timestamp", "must not be empty"));
        }
        for key in self.extra.keys() {
            if FIELDS.contains(&key.as_str()) {
                return Err(FieldError::new(key.clone(), "is a record field and cannot also be an extra field"));
            }
            if RESERVED_FIELDS.contains(&key.as_str()) {
                return Err(FieldError::new(key.clone(), "is reserved for the history's own metadata"));
            }
        }
        Ok(())
    }

    /// Builds a record from a decoded JSON object, checking every field.
    ///
    /// # Errors
    /// A [`FieldError`] naming the first missing or mistyped field.
    pub fn from_map(mut map: Map) -> Result<Self, FieldError> {
        let fields = FIELDS.map(|f| map.shift_remove(f));
        Self::from_fields(fields, map)
    }

    /// Builds a record from the values of [`FIELDS`] (in that order) and
    /// the other fields, checking every field in that order.
    pub(crate) fn from_fields(fields: [Option<Value>; 7], extra: Map) -> Result<Self, FieldError> {
        fn wrong(field: &str, want: &str, got: &Value) -> FieldError {
            FieldError::new(field, format!("must be {want}, found {}", got.type_name()))
        }
        let [iteration_num, strategy_code, execution_result, metrics, classification_level, timestamp, champion] =
            fields;
        let take = |v: Option<Value>, field: &str| v.ok_or_else(|| FieldError::new(field, "is missing"));
        let iteration_num = match take(iteration_num, "iteration_num")? {
            v @ Value::Number(_) => v.as_u64().ok_or_else(|| wrong("iteration_num", "a non-negative integer", &v))?,
            v => return Err(wrong("iteration_num", "a non-negative integer", &v)),
        };
        let strategy_code = match take(strategy_code, "strategy_code")? {
            Value::String(s) => s,
            v => return Err(wrong("strategy_code", "a string", &v)),
        };
        let execution_result = match take(execution_result, "execution_result")? {
            Value::Object(m) => m,
            v => return Err(wrong("execution_result", "an object", &v)),
        };
        let metrics = match take(metrics, "metrics")? {
            Value::Object(m) => m,
            v => return Err(wrong("metrics", "an object", &v)),
        };
        let classification_level = match take(classification_level, "classification_level")? {
            Value::String(s) => s,
            v => return Err(wrong("classification_level", "a string", &v)),
        };
        let timestamp = match take(timestamp, "timestamp")? {
            Value::String(s) => s,
            v => return Err(wrong("timestamp", "a string", &v)),
        };
        let champion_updated = match take(champion, "champion_updated")? {
            Value::Bool(b) => b,
            v => return Err(wrong("champion_updated", "a boolean", &v)),
        };
        Ok(IterationRecord {
            iteration_num,
            strategy_code,
            execution_result,
            metrics,
            classification_level,
            timestamp,
            champion_updated,
            extra,
        })
    }

    /// The record as one JSON object: the seven fields, then the extras.
    pub fn to_map(&self) -> Map {
        let mut m = Map::with_capacity(FIELDS.len() + self.extra.len());
        m.insert("iteration_num".into(), Value::from(self.iteration_num));
        m.insert("strategy_code".into(), Value::from(self.strategy_code.as_str()));
        m.insert("execution_result".into(), Value::Object(self.execution_result.clone()));
        m.insert("metrics".into(), Value::Object(self.metrics.clone()));
        m.insert("classification_level".into(), Value::from(self.classification_level.as_str()));
        m.insert("timestamp".into(), Value::from(self.timestamp.as_str()));
        m.insert("champion_updated".into(), Value::Bool(self.champion_updated));
        for (k, v) in &self.extra {
            m.insert(k.clone(), v.clone());
        }
        m
    }
}

impl serde::Serialize for IterationRecord {
    /// Serializes as the JSON object of [`IterationRecord::to_map`];
    /// through `serde_json` non-finite numbers come out as `null`.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        Value::Object(self.to_map()).serialize(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn sample(n: u64) -> IterationRecord {
        let mut r = IterationRecord::new(n, "def strategy():\n    return 1\n");
        r.execution_result.insert("success".into(), Value::Bool(true));
        r.set_metric("sharpe_ratio", 1.5);
        r.classification_level = "LEVEL_1".into();
        r.timestamp = "2025-01-01T00:00:00".into();
        r
    }

    #[test]
    fn validate_names_the_field() {
        let mut r = sample(1);
        r.timestamp.clear();
        assert_eq!(r.validate().map_err(|e| e.field), Err("timestamp".to_string()));
        let mut r = sample(1);
        r.extra.insert("_ih".into(), Value::Null);
        assert_eq!(r.validate().map_err(|e| e.field), Err("_ih".to_string()));
        let r = sample(MAX_ITERATION_NUM + 1);
        assert_eq!(r.validate().map_err(|e| e.field), Err("iteration_num".to_string()));
    }

    #[test]
    fn from_map_reports_missing_and_mistyped_fields() {
        let mut m = sample(3).to_map();
        m.shift_remove("metrics");
        assert_eq!(IterationRecord::from_map(m).map_err(|e| e.field), Err("metrics".into()));
        let mut m = sample(3).to_map();
        m.insert("iteration_num".into(), Value::from(-1i64));
        let e = IterationRecord::from_map(m).expect_err("negative");
        assert_eq!(e.field, "iteration_num");
        assert!(e.reason.contains("non-negative integer"), "{e}");
    }

    #[test]
    fn extras_round_trip_through_the_map() {
        let mut r = sample(4);
        r.extra.insert("seed".into(), Value::from(7u64));
        assert_eq!(IterationRecord::from_map(r.to_map()), Ok(r));
    }
}
