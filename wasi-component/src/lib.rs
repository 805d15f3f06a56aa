//! The iteration history as a WASI 0.2 component.
//!
//! Built with `scripts/build-component` (`cargo build --target wasm32-wasip2
//! --release -p iteration-history-component` with fat LTO and one codegen unit; simd128
//! comes from `.cargo/config.toml`) into
//! `target/wasm32-wasip2/release/iteration_history_component.wasm`, a component that
//! exports `iteration-history:history/store@0.1.0` (see `wit/history.wit`,
//! which states the durability and consistency contract) and imports only
//! WASI 0.2.
//!
//! Layout: [`json_text`] (JSON text at the boundary, tested natively),
//! [`text_page`] (pages and columns as one JSON text, tested natively); and,
//! compiled for `wasm32` only: `component` (the exported interface: type
//! conversions and calls into the core), `convert` (WIT ↔ core types),
//! `backend` (the one place the storage backend is chosen) and `wasi_dir`
//! (the core's `storage::Dir` over WASI's preopened-directory descriptor).
//! Natively this crate is only [`json_text`], so the workspace builds and
//! tests everywhere.

pub mod json_text;
pub mod text_page;

#[cfg(target_arch = "wasm32")]
mod backend;
#[cfg(target_arch = "wasm32")]
mod component;
#[cfg(target_arch = "wasm32")]
mod convert;
#[cfg(target_arch = "wasm32")]
mod wasi_dir;

#[cfg(target_arch = "wasm32")]
#[allow(missing_docs, unreachable_pub, missing_debug_implementations, clippy::all)]
mod bindings {
    wit_bindgen::generate!({
        world: "history-component",
        path: "../wit",
    });
}

#[cfg(target_arch = "wasm32")]
use component::Component;

#[cfg(target_arch = "wasm32")]
bindings::export!(Component with_types_in bindings);
