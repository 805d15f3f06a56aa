//! The component's storage backend, chosen here and nowhere else.
//!
//! Today the guest implements the core's `storage::Dir` over WASI's own
//! handles ([`WasiDir`]), because cap-std 4.x does not compile for
//! `wasm32-wasip2` on stable Rust (its crates need the nightly `wasi_ext`
//! and `wasip2` library features). The host side is cap-std either way:
//! wasmtime-wasi performs the guest's filesystem calls through cap-std's
//! sandbox.
//!
//! The day cap-std compiles for the guest, switching is this one line:
//! `pub(crate) type Backend = iteration_history::storage::CapStdDir;`
//! (with the core's `cap-std` feature on in `Cargo.toml`), plus the
//! [`Preopen`] impl `CapStdDir::open_ambient(".")`, since in a component the
//! preopen *is* the ambient authority.

use std::io;

use iteration_history::storage::Dir;

use crate::wasi_dir::WasiDir;

/// The storage backend of the component.
pub(crate) type Backend = WasiDir;

/// Opening the directory the host preopened for the component.
pub(crate) trait Preopen: Dir + Sized + 'static {
    /// Opens it, or explains why there is none.
    fn open_preopen() -> io::Result<Self>;
}

impl Preopen for WasiDir {
    fn open_preopen() -> io::Result<Self> {
        WasiDir::from_preopens()
    }
}

/// Opens the preopened directory with the chosen backend.
pub(crate) fn open_dir() -> io::Result<Backend> {
    <Backend as Preopen>::open_preopen()
}
