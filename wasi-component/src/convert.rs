//! Conversions between the WIT types and the core's types. No I/O.

use iteration_history::Number;
use iteration_history::codec;
use iteration_history::{
    CommitStrategy, Durability, Error as CoreError, Health, IterationRecord, LockKind, Map, Options, RecoveryReport,
    RepairReport, TornTail, Value, VerifyReport,
};
use std::time::Duration;

use crate::bindings::exports::iteration_history::history::store as wit;
use crate::json_text;

/// A record the component refuses before the core sees it.
pub(crate) fn field_error(field: impl Into<String>, reason: impl Into<String>, index: Option<u32>) -> wit::Error {
    let (field, reason) = (field.into(), reason.into());
    let at = index.map_or_else(String::new, |i| format!(" (record {i} of the batch, 0-based)"));
    let message = format!("invalid record{at}: field `{field}`: {reason}; nothing was written");
    wit::Error::InvalidRecord(wit::FieldError { field, reason, index, message })
}

/// A WIT record into a core record; errors name the field.
pub(crate) fn record_from_wit(r: wit::IterationRecord, index: Option<u32>) -> Result<IterationRecord, wit::Error> {
    let execution_result =
        json_text::parse_object(&r.execution_result).map_err(|e| field_error("execution_result", e, index))?;
    let extra = json_text::parse_object(&r.extra).map_err(|e| field_error("extra", e, index))?;
    let mut metrics = Map::with_capacity(r.metrics.len());
    for m in r.metrics {
        let field = format!("metrics.{}", m.name);
        let value = match m.value {
            wit::MetricValue::Number(f) => Value::from(f),
            wit::MetricValue::Integer(i) => Value::from(i),
            wit::MetricValue::Json(text) => json_text::parse_value(&text).map_err(|e| field_error(&field, e, index))?,
        };
        if metrics.insert(m.name, value).is_some() {
            return Err(field_error(field, "appears twice in the metrics list", index));
        }
    }
    let rec = IterationRecord {
        iteration_num: r.iteration_num,
        strategy_code: r.strategy_code,
        execution_result,
        metrics,
        classification_level: r.classification_level,
        timestamp: r.timestamp,
        champion_updated: r.champion_updated,
        extra,
    };
    rec.validate().map_err(|e| field_error(e.field, e.reason, index))?;
    Ok(rec)
}

/// Converts a batch, naming the position of a bad record.
pub(crate) fn records_from_wit(records: Vec<wit::IterationRecord>) -> Result<Vec<IterationRecord>, wit::Error> {
    let batch = records.len() > 1;
    records.into_iter().enumerate().map(|(i, r)| record_from_wit(r, batch.then_some(i as u32))).collect()
}

/// One JSON line into a core record; errors name the field or the byte.
pub(crate) fn record_from_json(line: &str, index: Option<u32>) -> Result<IterationRecord, wit::Error> {
    let rec = codec::decode_line(line.as_bytes()).map(|(r, _)| r).map_err(|e| match e {
        codec::LineError::Field(f) => field_error(f.field, f.reason, index),
        other => field_error("", other.to_string(), index),
    })?;
    rec.validate().map_err(|e| field_error(e.field, e.reason, index))?;
    Ok(rec)
}

/// A metric value into its WIT form.
fn metric_to_wit(v: Value) -> wit::MetricValue {
    match v {
        Value::Number(Number::Float(f)) => wit::MetricValue::Number(f),
        Value::Number(Number::NegInt(i)) => wit::MetricValue::Integer(i),
        Value::Number(Number::PosInt(u)) => match i64::try_from(u) {
            Ok(i) => wit::MetricValue::Integer(i),
            Err(_) => wit::MetricValue::Json(u.to_string()),
        },
        other => wit::MetricValue::Json(json_text::value_text(&other)),
    }
}

/// A core record into its WIT form. Its strings move into the WIT record
/// (metric names included); only the open-ended objects are written, once,
/// as JSON text.
pub(crate) fn record_to_wit(r: IterationRecord) -> wit::IterationRecord {
    let IterationRecord {
        iteration_num,
        strategy_code,
        execution_result,
        metrics,
        classification_level,
        timestamp,
        champion_updated,
        extra,
    } = r;
    wit::IterationRecord {
        iteration_num,
        execution_result: json_text::object_text(&execution_result),
        metrics: metrics.into_iter().map(|(name, v)| wit::Metric { name, value: metric_to_wit(v) }).collect(),
        extra: json_text::object_text(&extra),
        strategy_code,
        classification_level,
        timestamp,
        champion_updated,
    }
}

/// A core record as one JSON line, as the library writes it for a single
/// save (strict JSON, `_nonfinite` when needed, `_ih` last; no newline).
pub(crate) fn record_to_json(r: &IterationRecord) -> Result<String, wit::Error> {
    let mut line = codec::encode_line(r).map_err(|e| field_error(e.field, e.reason, None))?;
    if line.last() == Some(&b'\n') {
        line.pop();
    }
    // The encoder writes UTF-8 JSON; a failure here would be a bug in it.
    String::from_utf8(line).map_err(|e| wit::Error::Io(format!("encoding a record: {e}")))
}

/// The open options into the core's (`none` keeps the core's default).
pub(crate) fn options_from_wit(o: &wit::OpenOptions) -> Options {
    let opts = Options::default()
        .strategy(match o.strategy {
            wit::CommitStrategy::Append => CommitStrategy::Append,
            wit::CommitStrategy::Rewrite => CommitStrategy::Rewrite,
        })
        .durability(match o.durability {
            wit::Durability::Full => Durability::Full,
            wit::Durability::None => Durability::None,
        })
        .lock_timeout(o.lock_timeout_ms.map(Duration::from_millis))
        .repair_on_open(o.repair_on_open)
        .host_lock(o.host_lock);
    match o.lease_ms {
        Some(ms) => opts.lease(Duration::from_millis(ms)),
        None => opts,
    }
}

/// The default open options in WIT form.
pub(crate) fn default_options() -> wit::OpenOptions {
    wit::OpenOptions {
        strategy: wit::CommitStrategy::Append,
        durability: wit::Durability::Full,
        lock_timeout_ms: None,
        repair_on_open: false,
        lease_ms: None,
        host_lock: false,
    }
}

fn torn_to_wit(t: &TornTail) -> wit::TornTail {
    wit::TornTail {
        offset: t.offset,
        line: t.line,
        bytes: t.bytes,
        reason: t.reason.clone(),
        sidecar: t.sidecar.clone(),
    }
}

fn bad_lines_to_wit(lines: &[iteration_history::BadLineReport]) -> Vec<wit::BadLine> {
    lines.iter().map(|b| wit::BadLine { line: b.line, offset: b.offset, reason: b.reason.clone() }).collect()
}

pub(crate) fn repair_to_wit(r: &RepairReport) -> wit::RepairReport {
    wit::RepairReport {
        kept: r.kept,
        moved: bad_lines_to_wit(&r.moved),
        moved_lines: r.moved_lines,
        moved_bytes: r.moved_bytes,
        sidecar: r.sidecar.clone(),
    }
}

/// The open report of a history handle.
pub(crate) fn open_report(
    file: &str,
    report: Option<&RecoveryReport>,
    lock: Option<LockKind>,
    dir_sync: bool,
) -> wit::OpenReport {
    let empty = RecoveryReport::default();
    let r = report.unwrap_or(&empty);
    wit::OpenReport {
        file: file.to_string(),
        writable: report.is_some(),
        lock: match lock {
            Some(LockKind::Os) => wit::LockKind::Os,
            Some(LockKind::Lease) => wit::LockKind::Lease,
            Some(LockKind::Host) => wit::LockKind::Host,
            // Unknown future kinds are still locks; read-only handles have none.
            Some(_) => wit::LockKind::Lease,
            None => wit::LockKind::None,
        },
        dir_sync,
        created: r.created,
        removed_temp_files: r.removed_temp_files.clone(),
        torn_tail: r.torn_tail.as_ref().map(torn_to_wit),
        added_final_newline: r.added_final_newline,
        repaired: r.repaired.as_ref().map(repair_to_wit),
    }
}

pub(crate) fn verify_to_wit(v: &VerifyReport) -> wit::VerifyReport {
    wit::VerifyReport {
        file: v.file.clone(),
        health: match v.health {
            Health::Healthy => wit::Health::Healthy,
            Health::TornTail => wit::Health::TornTail,
            _ => wit::Health::Corrupt,
        },
        records: v.records,
        unchecksummed: v.unchecksummed,
        last_iteration_num: v.last_iteration_num,
        bytes: v.bytes,
        torn_tail: v.torn_tail.as_ref().map(torn_to_wit),
        corrupt_lines: bad_lines_to_wit(&v.corrupt_lines),
        bad_lines_total: v.bad_lines_total,
        temp_files: v.temp_files().to_vec(),
        dir_sync: v.dir_sync(),
    }
}

/// A core error into the WIT variant. `actual_last` is the history's last
/// iteration, for `conflict`.
pub(crate) fn error_to_wit(e: CoreError, actual_last: impl FnOnce() -> Option<u64>) -> wit::Error {
    let message = e.to_string();
    match e {
        CoreError::DiskFull { .. } => wit::Error::DiskFull(message),
        CoreError::PermissionDenied { .. } => wit::Error::PermissionDenied(message),
        CoreError::SyncFailed { .. } => wit::Error::SyncFailed(message),
        CoreError::Locked { .. } => wit::Error::Locked(message),
        CoreError::Corrupt { line, offset, reason, .. } => {
            wit::Error::Corrupt(wit::Corruption { line, offset, reason: reason.to_string(), message })
        }
        CoreError::InvalidRecord { source, .. } => wit::Error::InvalidRecord(wit::FieldError {
            field: source.field,
            reason: source.reason,
            index: None,
            message,
        }),
        CoreError::InvalidJson { reason, .. } => {
            let (field, reason) = match reason {
                codec::LineError::Field(f) => (f.field, f.reason),
                other => (String::new(), other.to_string()),
            };
            wit::Error::InvalidRecord(wit::FieldError { field, reason, index: None, message })
        }
        CoreError::InvalidName(_) => wit::Error::InvalidName(message),
        CoreError::ReadOnly { .. } => wit::Error::ReadOnly(message),
        CoreError::Conflict { .. } => wit::Error::Conflict(wit::ConflictInfo { actual: actual_last(), message }),
        CoreError::ChangedExternally { .. } => wit::Error::ChangedExternally(message),
        CoreError::InvalidCursor { .. } => wit::Error::InvalidCursor(message),
        CoreError::LeaseLost { .. } => wit::Error::LeaseLost(message),
        _ => wit::Error::Io(message),
    }
}
