//! The built component embedded in a wasmtime host (one test binary, so
//! the component is compiled once per run).

mod exports;
mod host_limits;
mod native_parity;
mod sandbox;
