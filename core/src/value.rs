//! A JSON value that can also hold the non-finite numbers Python writes.
//!
//! Described on [`Value`](crate::Value), where rustdoc shows it.

use std::fmt;

use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

/// An ordered JSON object: keys keep the order they were read or inserted
/// in, each key at most once.
///
/// A small vector of `(key, value)` pairs, not a hash map: records hold a
/// handful of keys per object, so a linear search is as fast as hashing and
/// a history of a million records takes a fraction of the memory. Lookups
/// and [`insert`](Self::insert) are linear in the number of keys; building
/// a map with [`FromIterator`] is not quadratic. The method names follow
/// `indexmap::IndexMap`, which this type replaced.
#[derive(Clone, Default)]
pub struct Map {
    entries: Vec<(String, Value)>,
}

/// Maps with more keys than this are checked for repeated keys by sorting
/// instead of pairwise comparison.
const PAIRWISE_MAX: usize = 16;

impl Map {
    /// An empty map.
    pub const fn new() -> Self {
        Map { entries: Vec::new() }
    }

    /// An empty map with room for `n` keys.
    pub fn with_capacity(n: usize) -> Self {
        Map { entries: Vec::with_capacity(n) }
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the map has no keys.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn position(&self, key: &str) -> Option<usize> {
        self.entries.iter().position(|(k, _)| k == key)
    }

    // The lookups take any `&Q` that is a `str` (`&str`, `&String`), as
    // `IndexMap`'s do.

    /// Sets `key` to `value`. A new key goes last; an existing key keeps its
    /// position and gets the new value, and the old value is returned.
    pub fn insert(&mut self, key: String, value: Value) -> Option<Value> {
        match self.position(&key) {
            Some(i) => Some(std::mem::replace(&mut self.entries[i].1, value)),
            None => {
                self.entries.push((key, value));
                None
            }
        }
    }

    /// The value of `key`.
    pub fn get<Q: ?Sized + AsRef<str>>(&self, key: &Q) -> Option<&Value> {
        let key = key.as_ref();
        self.entries.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// The value of `key`, to change it.
    pub fn get_mut<Q: ?Sized + AsRef<str>>(&mut self, key: &Q) -> Option<&mut Value> {
        let key = key.as_ref();
        self.entries.iter_mut().find(|(k, _)| k == key).map(|(_, v)| v)
    }

    /// Whether `key` is present.
    pub fn contains_key<Q: ?Sized + AsRef<str>>(&self, key: &Q) -> bool {
        self.position(key.as_ref()).is_some()
    }

    /// Removes `key`, keeping the order of the others; returns its value.
    pub fn shift_remove<Q: ?Sized + AsRef<str>>(&mut self, key: &Q) -> Option<Value> {
        self.position(key.as_ref()).map(|i| self.entries.remove(i).1)
    }

    /// Removes `key`, moving the last pair into its place; returns its value.
    pub fn swap_remove<Q: ?Sized + AsRef<str>>(&mut self, key: &Q) -> Option<Value> {
        self.position(key.as_ref()).map(|i| self.entries.swap_remove(i).1)
    }

    /// The stored key and the value of `key`.
    pub fn get_key_value<Q: ?Sized + AsRef<str>>(&self, key: &Q) -> Option<(&String, &Value)> {
        let key = key.as_ref();
        self.entries.iter().find(|(k, _)| k == key).map(|(k, v)| (k, v))
    }

    /// Sorts the pairs by key.
    pub fn sort_keys(&mut self) {
        self.entries.sort_by(|a, b| a.0.cmp(&b.0));
    }

    /// The key and value at position `i`.
    pub fn get_index(&self, i: usize) -> Option<(&String, &Value)> {
        self.entries.get(i).map(|(k, v)| (k, v))
    }

    /// The first key and value.
    pub fn first(&self) -> Option<(&String, &Value)> {
        self.get_index(0)
    }

    /// The last key and value.
    pub fn last(&self) -> Option<(&String, &Value)> {
        self.entries.last().map(|(k, v)| (k, v))
    }

    /// Keys in order.
    pub fn keys(&self) -> impl DoubleEndedIterator<Item = &String> + ExactSizeIterator {
        self.entries.iter().map(|(k, _)| k)
    }

    /// Values in order.
    pub fn values(&self) -> impl DoubleEndedIterator<Item = &Value> + ExactSizeIterator {
        self.entries.iter().map(|(_, v)| v)
    }

    /// Values in order, to change them.
    pub fn values_mut(&mut self) -> impl DoubleEndedIterator<Item = &mut Value> + ExactSizeIterator {
        self.entries.iter_mut().map(|(_, v)| v)
    }

    /// Keys and values in order.
    pub fn iter(&self) -> Iter<'_> {
        Iter(self.entries.iter())
    }

    /// Keys and values in order, values to change.
    pub fn iter_mut(&mut self) -> IterMut<'_> {
        IterMut(self.entries.iter_mut())
    }

    /// Removes every key.
    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// Keeps the pairs for which `f` returns true.
    pub fn retain(&mut self, mut f: impl FnMut(&String, &mut Value) -> bool) {
        self.entries.retain_mut(|(k, v)| f(k, v));
    }

    /// Builds a map from pairs in order; a repeated key keeps its first
    /// position and its last value (as [`insert`](Self::insert) does, and
    /// as Python's `json.loads` does).
    pub(crate) fn from_pairs(mut entries: Vec<(String, Value)>) -> Self {
        dedup_keep_first_position_last_value(&mut entries);
        Map { entries }
    }
}

/// Repeated keys: the first position, the last value; in place.
fn dedup_keep_first_position_last_value(entries: &mut Vec<(String, Value)>) {
    let n = entries.len();
    if n < 2 {
        return;
    }
    // For each position, the position of the first pair with the same key
    // (itself if it is the first).
    let mut first: Vec<usize> = Vec::new();
    if n <= PAIRWISE_MAX {
        // Length and last byte first: most keys differ there.
        let same = |a: &str, b: &str| a.len() == b.len() && a.as_bytes().last() == b.as_bytes().last() && a == b;
        for j in 1..n {
            if let Some(i) = (0..j).find(|&i| same(&entries[i].0, &entries[j].0)) {
                if first.is_empty() {
                    first = (0..n).collect();
                }
                first[j] = first[i];
            }
        }
    } else {
        let mut order: Vec<usize> = (0..n).collect();
        // Stable: equal keys stay in position order.
        order.sort_by(|&a, &b| entries[a].0.cmp(&entries[b].0));
        for w in 1..n {
            let (a, b) = (order[w - 1], order[w]);
            if entries[a].0 == entries[b].0 {
                if first.is_empty() {
                    first = (0..n).collect();
                }
                first[b] = first[a];
            }
        }
    }
    if first.is_empty() {
        return;
    }
    // Later values move to the first position, later pairs are dropped.
    for j in 0..n {
        let i = first[j];
        if i != j {
            let v = std::mem::take(&mut entries[j].1);
            entries[i].1 = v;
        }
    }
    let mut j = 0;
    entries.retain(|_| {
        let keep = first[j] == j;
        j += 1;
        keep
    });
}

impl fmt::Debug for Map {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl PartialEq for Map {
    /// The same keys with equal values, in any order (as `IndexMap`).
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().all(|(k, v)| other.get(k) == Some(v))
    }
}

impl std::ops::Index<&str> for Map {
    type Output = Value;

    /// The value of `key`.
    ///
    /// # Panics
    /// If `key` is absent (as `IndexMap` does).
    fn index(&self, key: &str) -> &Value {
        match self.get(key) {
            Some(v) => v,
            None => panic!("key {key:?} not in the map"),
        }
    }
}

impl FromIterator<(String, Value)> for Map {
    fn from_iter<I: IntoIterator<Item = (String, Value)>>(iter: I) -> Self {
        Map::from_pairs(iter.into_iter().collect())
    }
}

impl Extend<(String, Value)> for Map {
    fn extend<I: IntoIterator<Item = (String, Value)>>(&mut self, iter: I) {
        self.entries.extend(iter);
        dedup_keep_first_position_last_value(&mut self.entries);
    }
}

impl<const N: usize> From<[(String, Value); N]> for Map {
    fn from(pairs: [(String, Value); N]) -> Self {
        pairs.into_iter().collect()
    }
}

/// Iterator over a [`Map`]'s keys and values.
#[derive(Clone, Debug)]
pub struct Iter<'a>(std::slice::Iter<'a, (String, Value)>);

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a String, &'a Value);
    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|(k, v)| (k, v))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl DoubleEndedIterator for Iter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.0.next_back().map(|(k, v)| (k, v))
    }
}

impl ExactSizeIterator for Iter<'_> {}

/// Iterator over a [`Map`]'s keys and mutable values.
#[derive(Debug)]
pub struct IterMut<'a>(std::slice::IterMut<'a, (String, Value)>);

impl<'a> Iterator for IterMut<'a> {
    type Item = (&'a String, &'a mut Value);
    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(|(k, v)| (&*k, v))
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl ExactSizeIterator for IterMut<'_> {}

/// Owning iterator over a [`Map`]'s keys and values.
#[derive(Debug)]
pub struct IntoIter(std::vec::IntoIter<(String, Value)>);

impl Iterator for IntoIter {
    type Item = (String, Value);
    fn next(&mut self) -> Option<Self::Item> {
        self.0.next()
    }
    fn size_hint(&self) -> (usize, Option<usize>) {
        self.0.size_hint()
    }
}

impl DoubleEndedIterator for IntoIter {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.0.next_back()
    }
}

impl ExactSizeIterator for IntoIter {}

impl IntoIterator for Map {
    type Item = (String, Value);
    type IntoIter = IntoIter;
    fn into_iter(self) -> IntoIter {
        IntoIter(self.entries.into_iter())
    }
}

impl<'a> IntoIterator for &'a Map {
    type Item = (&'a String, &'a Value);
    type IntoIter = Iter<'a>;
    fn into_iter(self) -> Iter<'a> {
        self.iter()
    }
}

impl<'a> IntoIterator for &'a mut Map {
    type Item = (&'a String, &'a mut Value);
    type IntoIter = IterMut<'a>;
    fn into_iter(self) -> IterMut<'a> {
        self.iter_mut()
    }
}

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
                // serde_json writes the shortest representation that reads
                // back exactly (at most 24 bytes: `-1.2345678901234567e-308`).
                let mut buf = [0u8; 32];
                let mut w = &mut buf[..];
                serde_json::to_writer(&mut w, &x).map_err(|_| fmt::Error)?;
                let len = 32 - w.len();
                f.write_str(std::str::from_utf8(&buf[..len]).map_err(|_| fmt::Error)?)
            }
        }
    }
}

/// A JSON value; numbers may be non-finite.
///
/// `serde_json::Value` cannot represent `NaN`, `Infinity` or `-Infinity`
/// (it turns them into `null`), but histories written by CPython's `json`
/// module contain them as bare tokens. [`Value`] keeps them as
/// [`Number::Float`], so reading a record and writing it back loses nothing.
/// How they are written (strict JSON plus a `_nonfinite` index) is described
/// in [`crate::codec`].
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
    pub fn get<Q: ?Sized + AsRef<str>>(&self, key: &Q) -> Option<&Value> {
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
    fn a_repeated_key_keeps_its_first_position_and_last_value() {
        for n in [3usize, 40] {
            let mut pairs: Vec<(String, Value)> = (0..n as u64).map(|i| (format!("k{i}"), Value::from(i))).collect();
            pairs.push(("k1".into(), Value::from("last")));
            pairs.push(("k0".into(), Value::Null));
            let m: Map = pairs.into_iter().collect();
            assert_eq!(m.len(), n);
            assert_eq!(m.get_index(1), Some((&"k1".to_string(), &Value::from("last"))));
            assert_eq!(m.get_index(0).map(|(_, v)| v), Some(&Value::Null));
            assert_eq!(m.keys().last().map(String::as_str), Some(format!("k{}", n - 1).as_str()));
        }
        let mut m = Map::new();
        assert_eq!(m.insert("a".into(), Value::from(1u64)), None);
        m.insert("b".into(), Value::from(2u64));
        assert_eq!(m.insert("a".into(), Value::from(3u64)), Some(Value::from(1u64)));
        assert_eq!(m.keys().collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!(m.shift_remove("a"), Some(Value::from(3u64)));
        assert_eq!(m.keys().collect::<Vec<_>>(), ["b"]);
    }

    #[test]
    fn display_of_numbers() {
        assert_eq!(Number::Float(f64::NEG_INFINITY).to_string(), "-Infinity");
        assert_eq!(Number::Float(0.1).to_string(), "0.1");
        assert_eq!(Number::NegInt(-3).to_string(), "-3");
    }
}
