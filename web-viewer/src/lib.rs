//! Browser viewer of iteration histories (wasm-bindgen).
//!
//! The page (`www/`) opens a `.jsonl` history from a file picker, a drop or
//! `?src=`; nothing leaves the browser. A Web Worker feeds the file to a
//! [`bindings::Loader`] chunk by chunk as it is read: one pass over the bytes
//! applies the core's line rules ([`iteration_history::scan`]) and builds
//! columns (typed arrays per metric, byte range per record, level, success,
//! champion, warnings). Full records are decoded by the core only when
//! shown ([`bindings::decode_line`]), because building JS objects from wasm
//! for every record is several times slower than the columns.
//!
//! A history followed while a loop writes it (`ihist view`, `?live=1`)
//! goes to a [`bindings::Live`] instead: the same pass continues with each
//! chunk of appended bytes, and returns the rows of complete commits not
//! returned yet ([`load::Loader::live`] applies the torn-tail rules to a
//! copy of the scan state). Several histories are compared as runs, one
//! loader each.
//!
//! Modules: [`extract`] (fast field reader, checked against the core),
//! [`load`] (the column pass), [`text`] (code search, text sort ranks),
//! [`export`] (CSV), [`bindings`] (the JS API).

pub mod bindings;
pub mod export;
pub mod extract;
pub mod load;
pub mod text;
