//! A JSON value that can also hold the non-finite numbers Python writes.
//!
//! `serde_json::Value` cannot represent `NaN`, `Infinity` or `-Infinity`
//! (it turns them into `null`), but histories written by CPython's `json`
//! module contain them as bare tokens. [`Value`] keeps them as
//! [`Number::Float`], so reading a record and writing it back loses nothing.
//! How they are written (strict JSON plus a `_nonfinite` index) is described
//! in [`crate::codec`].

use std::fmt;

use indexmap::IndexMap;
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

/// An ordered JSON object: keys keep the order they were read or inserted in.
pub type Map = IndexMap<String, Value>;

/// A JSON number as read from a line.
///
/// Integers keep their integer form (`42` is written back as `42`, not
/// `42.0`); `Float` may be non-finite.
#[derive(Clone, Copy, Debug)]
pub enum Number {
    /// A non-negative integer that fits in `u64`.
    PosInt(u64),
    /// A negative integer that fits in `i64`.
    NegInt(i64),
    /// Any other number, including `NaN`, `Infinity` and `-Infinity`.
    Float(f64),
}

impl Number {
    /// The number as an `f64` (integers beyond 2^53 are rounded).
    pub fn as_f64(&self) -> f64 {
        match *self {
            Number::PosInt(u) => u as f64,
            Number::NegInt(i) => i as f64,
            Number::Float(f) => f,
        }
    }

    /// The number as a `u64`, if it is a non-negative integer.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Number::PosInt(u) => Some(u),
            _ => None,
        }
    }

    /// The number as an `i64`, if it is an integer in range.
    pub fn as_i64(&self) -> Option<i64> {
        match *self {
            Number::PosInt(u) => i64::try_from(u).ok(),
            Number::NegInt(i) => Some(i),
            Number::Float(_) => None,
        }
    }

    /// Whether this is a float that JSON cannot write as a number.
    pub fn is_non_finite(&self) -> bool {
        matches!(*self, Number::Float(f) if !f.is_finite())
    }
}

impl PartialEq for Number {
    /// Integers compare by value; floats compare by value, except that
    /// `NaN == NaN` (a history round trip must be checkable with `==`).
    fn eq(&self, other: &Self) -> bool {
        match (*self, *other) {
            (Number::PosInt(a), Number::PosInt(b)) => a == b,
            (Number::NegInt(a), Number::NegInt(b)) => a == b,
            (Number::Float(a), Number::Float(b)) => a == b || (a.is_nan() && b.is_nan()),
            _ => false,
        }
    }
}

impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Number::PosInt(u) => write!(f, "{u}"),
            Number::NegInt(i) => write!(f, "{i}"),
            Number::Float(x) if x.is_nan() => f.write_str("NaN"),
            Number::Float(x) if x == f64::INFINITY => f.write_str("Infinity"),
            Number::Float(x) if x == f64::NEG_INFINITY => f.write_str("-Infinity"),
            Number::Float(x) => {
                let mut buf = Vec::new();
                // serde_json writes the shortest representation that reads back exactly.
                serde_json::to_writer(&mut buf, &x).map_err(|_| fmt::Error)?;
                f.write_str(&String::from_utf8_lossy(&buf))
            }
        }
    }
}

/// A JSON value; numbers may be non-finite.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum Value {
    /// `null`
    #[default]
    Null,
    /// `true` or `false`
    Bool(bool),
    /// A number, possibly non-finite.
    Number(Number),
    /// A string.
    String(String),
    /// An array.
    Array(Vec<Value>),
    /// An object, keys in order.
    Object(Map),
}

impl Value {
    /// The value as an `f64` if it is a number (finite or not).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Number(n) => Some(n.as_f64()),
            _ => None,
        }
    }

    /// The value as a `u64` if it is a non-negative integer.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::Number(n) => n.as_u64(),
            _ => None,
        }
    }

    /// The value as a string slice.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    /// The value as a bool.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The value as an object.
    pub fn as_object(&self) -> Option<&Map> {
        match self {
            Value::Object(m) => Some(m),
            _ => None,
        }
    }

    /// Member `key` of an object, or `None`.
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.as_object().and_then(|m| m.get(key))
    }

    /// A short name of the JSON type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "a boolean",
            Value::Number(_) => "a number",
            Value::String(_) => "a string",
            Value::Array(_) => "an array",
            Value::Object(_) => "an object",
        }
    }

    /// Converts to a `serde_json::Value`; non-finite numbers become `null`
    /// (the only form strict JSON has for them).
    pub fn to_serde_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Number(Number::PosInt(u)) => serde_json::Value::from(*u),
            Value::Number(Number::NegInt(i)) => serde_json::Value::from(*i),
            Value::Number(Number::Float(f)) => {
                serde_json::Number::from_f64(*f).map(serde_json::Value::Number).unwrap_or(serde_json::Value::Null)
            }
            Value::String(s) => serde_json::Value::String(s.clone()),
            Value::Array(a) => serde_json::Value::Array(a.iter().map(Value::to_serde_json).collect()),
            Value::Object(m) => {
                serde_json::Value::Object(m.iter().map(|(k, v)| (k.clone(), v.to_serde_json())).collect())
            }
        }
    }
}

impl From<serde_json::Value> for Value {
    fn from(v: serde_json::Value) -> Self {
        match v {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(b),
            serde_json::Value::Number(n) => Value::Number(if let Some(u) = n.as_u64() {
                Number::PosInt(u)
            } else if let Some(i) = n.as_i64() {
                Number::NegInt(i)
            } else {
                Number::Float(n.as_f64().unwrap_or(f64::NAN))
            }),
            serde_json::Value::String(s) => Value::String(s),
            serde_json::Value::Array(a) => Value::Array(a.into_iter().map(Value::from).collect()),
            serde_json::Value::Object(m) => Value::Object(m.into_iter().map(|(k, v)| (k, Value::from(v))).collect()),
        }
    }
}

impl From<f64> for Value {
    fn from(f: f64) -> Self {
        Value::Number(Number::Float(f))
    }
}

impl From<u64> for Value {
    fn from(u: u64) -> Self {
        Value::Number(Number::PosInt(u))
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        if i >= 0 { Value::Number(Number::PosInt(i as u64)) } else { Value::Number(Number::NegInt(i)) }
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::String(s.to_owned())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::String(s)
    }
}

impl From<Map> for Value {
    fn from(m: Map) -> Self {
        Value::Object(m)
    }
}

impl Serialize for Number {
    /// Non-finite floats serialize as `f64`; `serde_json` writes them as `null`.
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match *self {
            Number::PosInt(u) => s.serialize_u64(u),
            Number::NegInt(i) => s.serialize_i64(i),
            Number::Float(f) => s.serialize_f64(f),
        }
    }
}

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => s.serialize_unit(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Number(n) => n.serialize(s),
            Value::String(v) => s.serialize_str(v),
            Value::Array(a) => {
                let mut seq = s.serialize_seq(Some(a.len()))?;
                for v in a {
                    seq.serialize_element(v)?;
                }
                seq.end()
            }
            Value::Object(m) => {
                let mut map = s.serialize_map(Some(m.len()))?;
                for (k, v) in m {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nan_equals_nan_for_round_trip_checks() {
        assert_eq!(Value::from(f64::NAN), Value::from(f64::NAN));
        assert_ne!(Value::from(1.0), Value::from(1u64));
    }

    #[test]
    fn non_finite_becomes_null_in_serde_json() {
        assert_eq!(Value::from(f64::INFINITY).to_serde_json(), serde_json::Value::Null);
        let v: Value = serde_json::json!({"a": [1, -2, 2.5, "x", null, true]}).into();
        assert_eq!(Value::from(v.to_serde_json()), v);
    }

    #[test]
    fn display_of_numbers() {
        assert_eq!(Number::Float(f64::NEG_INFINITY).to_string(), "-Infinity");
        assert_eq!(Number::Float(0.1).to_string(), "0.1");
        assert_eq!(Number::NegInt(-3).to_string(), "-3");
    }
}
