//! A Rust host that embeds the iteration-history WASI component with
//! wasmtime + wasmtime-wasi: what the tests and the benchmark share.
//!
//! The embedding itself is the few lines of [`Host::new`] and
//! [`Host::instantiate`]: an engine, the component, a linker with WASI 0.2,
//! and a store whose WASI context preopens exactly one directory (or none)
//! at guest path `.`. [`Session`] wraps the generated bindings so tests read
//! like the WIT interface.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::SystemTime;

use wasmtime::component::{Component, Linker, ResourceAny, ResourceTable};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

/// Bindings generated from `wit/history.wit`.
#[allow(missing_docs)]
pub mod bindings {
    wasmtime::component::bindgen!({
        world: "history-component",
        path: "../../wit",
        additional_derives: [PartialEq],
    });
}

pub use bindings::exports::iteration_history::history::store as wit;

pub mod records;

/// The host's per-store state: the WASI context and its resource table.
pub struct HostState {
    ctx: WasiCtx,
    table: ResourceTable,
}

impl std::fmt::Debug for HostState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HostState")
    }
}

impl HostState {
    /// State around a WASI context built by the caller, with an empty table.
    pub fn new(ctx: WasiCtx) -> HostState {
        HostState { ctx, table: ResourceTable::new() }
    }

    /// The resource table (for host functions a test defines).
    pub fn table(&mut self) -> &mut ResourceTable {
        &mut self.table
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.ctx, table: &mut self.table }
    }
}

/// Where the built component is: `$HISTORY_WASM`, else
/// `<target>/wasm32-wasip2/release/iteration_history_component.wasm` with `<target>` from
/// `$CARGO_TARGET_DIR` or the workspace's `target/`.
pub fn wasm_path() -> PathBuf {
    if let Some(p) = std::env::var_os("HISTORY_WASM") {
        return PathBuf::from(p);
    }
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| workspace.join("target"), PathBuf::from);
    target.join("wasm32-wasip2/release/iteration_history_component.wasm")
}

/// The newest modification time of the files under `dir` (recursively).
fn newest(dir: &Path) -> Option<SystemTime> {
    let mut newest = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        let t =
            if path.is_dir() { newest_of(newest, self::newest(&path)) } else { entry.metadata().ok()?.modified().ok() };
        newest = newest_of(newest, t);
    }
    newest
}

fn newest_of(a: Option<SystemTime>, b: Option<SystemTime>) -> Option<SystemTime> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// Fails if the component is missing, or (when not given by `$HISTORY_WASM`)
/// older than its sources: a stale build must not pass the tests.
fn check_built(path: &Path) {
    let build = "build it with `scripts/build-component` (cargo build --target wasm32-wasip2 --release -p iteration-history-component)";
    let built = std::fs::metadata(path)
        .and_then(|m| m.modified())
        .unwrap_or_else(|e| panic!("component {} not found ({e}): {build}", path.display()));
    if std::env::var_os("HISTORY_WASM").is_some() {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let sources = ["wit", "wasi-component/src", "wasi-component/Cargo.toml", "core/src", "core/Cargo.toml"]
        .iter()
        .map(|p| {
            let p = root.join(p);
            if p.is_dir() { newest(&p) } else { std::fs::metadata(&p).and_then(|m| m.modified()).ok() }
        })
        .fold(None, newest_of);
    if let Some(src) = sources {
        assert!(built >= src, "component {} is older than its sources: {build}", path.display());
    }
}

/// An engine and the compiled component, ready to instantiate.
pub struct Host {
    engine: Engine,
    component: Component,
    linker: Linker<HostState>,
}

impl std::fmt::Debug for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Host")
    }
}

impl Host {
    /// Compiles the component at `path` and links WASI 0.2.
    ///
    /// # Errors
    /// If the file is not a valid component or WASI cannot be linked.
    pub fn new(path: &Path) -> wasmtime::Result<Host> {
        let engine = Engine::new(&Config::new())?;
        let component = Component::from_file(&engine, path)?;
        Host::link(engine, component, |_| Ok(()))
    }

    /// Like [`new`](Self::new), reusing machine code compiled by an earlier
    /// run (`<component>.<hash>.cwasm` beside it, keyed by its bytes and the
    /// engine's compatibility hash: compiling takes seconds in a debug-built
    /// host, loading milliseconds), and letting `adjust` change the linker
    /// after WASI is added (e.g. to shadow a WASI function with a weaker
    /// host's behaviour).
    ///
    /// # Errors
    /// As [`new`](Self::new), or what `adjust` returns.
    pub fn cached(
        path: &Path,
        adjust: impl FnOnce(&mut Linker<HostState>) -> wasmtime::Result<()>,
    ) -> wasmtime::Result<Host> {
        use std::hash::{Hash, Hasher};
        let engine = Engine::new(&Config::new())?;
        let wasm = std::fs::read(path)?;
        let mut h = std::collections::hash_map::DefaultHasher::new();
        wasm.hash(&mut h);
        engine.precompile_compatibility_hash().hash(&mut h);
        let cache = path.with_extension(format!("{:016x}.cwasm", h.finish()));
        let component = if cache.exists() {
            // SAFETY: the file was written below, by `Component::serialize`
            // of this very component with a compatible engine (its name
            // carries both hashes), in the build's own target directory.
            unsafe { Component::deserialize_file(&engine, &cache)? }
        } else {
            let component = Component::new(&engine, &wasm)?;
            // Older builds' caches are of no use any more.
            if let (Some(dir), Some(stem)) = (path.parent(), path.file_stem().and_then(|s| s.to_str())) {
                for entry in std::fs::read_dir(dir)?.flatten() {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    if name.starts_with(&format!("{stem}.")) && name.ends_with(".cwasm") {
                        let _ = std::fs::remove_file(entry.path());
                    }
                }
            }
            let tmp = cache.with_extension(format!("{}.tmp", std::process::id()));
            std::fs::write(&tmp, component.serialize()?)?;
            std::fs::rename(&tmp, &cache)?;
            component
        };
        Host::link(engine, component, adjust)
    }

    fn link(
        engine: Engine,
        component: Component,
        adjust: impl FnOnce(&mut Linker<HostState>) -> wasmtime::Result<()>,
    ) -> wasmtime::Result<Host> {
        let mut linker = Linker::<HostState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        adjust(&mut linker)?;
        Ok(Host { engine, component, linker })
    }

    /// The component built by `scripts/build-component`, loaded once per
    /// test binary.
    ///
    /// # Panics
    /// If the component is missing, stale, or does not compile.
    pub fn shared() -> &'static Host {
        static HOST: OnceLock<Host> = OnceLock::new();
        HOST.get_or_init(|| Host::built(|_| Ok(())))
    }

    /// The component built by `scripts/build-component` in a host whose
    /// linker `adjust` changed.
    ///
    /// # Panics
    /// If the component is missing, stale, or does not compile.
    pub fn built(adjust: impl FnOnce(&mut Linker<HostState>) -> wasmtime::Result<()>) -> Host {
        let path = wasm_path();
        check_built(&path);
        Host::cached(&path, adjust).unwrap_or_else(|e| panic!("loading {}: {e:?}", path.display()))
    }

    /// Instantiates the component in a fresh store whose WASI context
    /// preopens `dir` (read-write) at guest path `.`, and nothing else; with
    /// `None` it preopens nothing.
    ///
    /// # Errors
    /// If the directory cannot be opened or instantiation fails.
    pub fn instantiate(&self, dir: Option<&Path>) -> wasmtime::Result<Session> {
        match dir {
            Some(dir) => self.instantiate_with(&[(dir, ".", FsPerms::ReadWrite)]),
            None => self.instantiate_with(&[]),
        }
    }

    /// Instantiates with exactly these preopens: (host directory, guest
    /// path, permissions).
    ///
    /// # Errors
    /// If a directory cannot be opened or instantiation fails.
    pub fn instantiate_with(&self, preopens: &[(&Path, &str, FsPerms)]) -> wasmtime::Result<Session> {
        let mut wasi = WasiCtxBuilder::new();
        wasi.inherit_stderr();
        // This host calls the component synchronously: let wasmtime-wasi do
        // the guest's file operations on this thread instead of handing each
        // one to tokio's `spawn_blocking` and waiting for it (measured: that
        // round trip was most of the gap to the native core in the benchmark).
        wasi.allow_blocking_current_thread(true);
        for (dir, guest, perms) in preopens {
            wasi.preopened_dir(dir, guest, *perms)?;
        }
        let state = HostState::new(wasi.build());
        let mut store = Store::new(&self.engine, state);
        let api = bindings::HistoryComponent::instantiate(&mut store, &self.component, &self.linker)?;
        Ok(Session { store, api })
    }
}

/// One instance of the component, with methods mirroring the WIT
/// interface. A trap (a bug, never an expected error) panics.
pub struct Session {
    store: Store<HostState>,
    api: bindings::HistoryComponent,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Session")
    }
}

/// A `history` resource owned by a [`Session`].
#[derive(Clone, Copy, Debug)]
pub struct History(ResourceAny);

/// What every call returns: the WIT result.
pub type Res<T> = Result<T, wit::Error>;

fn trap<T>(what: &str) -> impl FnOnce(wasmtime::Error) -> T + '_ {
    move |e| panic!("{what} trapped: {e:?}")
}

impl Session {
    /// `default-options`.
    pub fn default_options(&mut self) -> wit::OpenOptions {
        let store = self.api.iteration_history_history_store();
        store.call_default_options(&mut self.store).unwrap_or_else(trap("default-options"))
    }

    /// `verify-file`.
    pub fn verify_file(&mut self, name: &str) -> Res<wit::VerifyReport> {
        let store = self.api.iteration_history_history_store();
        store.call_verify_file(&mut self.store, name).unwrap_or_else(trap("verify-file"))
    }

    /// `history.open`.
    pub fn open(&mut self, name: &str) -> Res<History> {
        let f = self.api.iteration_history_history_store().history();
        f.call_open(&mut self.store, name).unwrap_or_else(trap("open")).map(History)
    }

    /// `history.open-with`.
    pub fn open_with(&mut self, name: &str, options: &wit::OpenOptions) -> Res<History> {
        let f = self.api.iteration_history_history_store().history();
        f.call_open_with(&mut self.store, name, *options).unwrap_or_else(trap("open-with")).map(History)
    }

    /// `history.open-read-only`.
    pub fn open_read_only(&mut self, name: &str) -> Res<History> {
        let f = self.api.iteration_history_history_store().history();
        f.call_open_read_only(&mut self.store, name).unwrap_or_else(trap("open-read-only")).map(History)
    }

    /// Drops a history handle (releasing its lease).
    pub fn close(&mut self, h: History) {
        h.0.resource_drop(&mut self.store).unwrap_or_else(trap("drop"));
    }

    /// `open-report`.
    pub fn open_report(&mut self, h: History) -> wit::OpenReport {
        self.api
            .iteration_history_history_store()
            .history()
            .call_open_report(&mut self.store, h.0)
            .unwrap_or_else(trap("open-report"))
    }

    /// `save`.
    pub fn save(&mut self, h: History, r: &wit::IterationRecord) -> Res<()> {
        self.api
            .iteration_history_history_store()
            .history()
            .call_save(&mut self.store, h.0, r)
            .unwrap_or_else(trap("save"))
    }

    /// `save-batch`.
    pub fn save_batch(&mut self, h: History, rs: &[wit::IterationRecord]) -> Res<()> {
        self.api
            .iteration_history_history_store()
            .history()
            .call_save_batch(&mut self.store, h.0, rs)
            .unwrap_or_else(trap("save-batch"))
    }

    /// `save-if-last`.
    pub fn save_if_last(
        &mut self,
        h: History,
        expected: Option<u64>,
        rs: &[wit::IterationRecord],
    ) -> Res<wit::AppendOutcome> {
        self.api
            .iteration_history_history_store()
            .history()
            .call_save_if_last(&mut self.store, h.0, expected, rs)
            .unwrap_or_else(trap("save-if-last"))
    }

    /// `save-json`.
    pub fn save_json(&mut self, h: History, line: &str) -> Res<()> {
        self.api
            .iteration_history_history_store()
            .history()
            .call_save_json(&mut self.store, h.0, line)
            .unwrap_or_else(trap("save-json"))
    }

    /// `save-batch-json`.
    pub fn save_batch_json(&mut self, h: History, lines: &[String]) -> Res<()> {
        self.api
            .iteration_history_history_store()
            .history()
            .call_save_batch_json(&mut self.store, h.0, lines)
            .unwrap_or_else(trap("save-batch-json"))
    }

    /// `load-recent`.
    pub fn load_recent(&mut self, h: History, n: u32) -> Res<Vec<wit::IterationRecord>> {
        self.api
            .iteration_history_history_store()
            .history()
            .call_load_recent(&mut self.store, h.0, n)
            .unwrap_or_else(trap("load-recent"))
    }

    /// `load-recent-json`.
    pub fn load_recent_json(&mut self, h: History, n: u32) -> Res<Vec<String>> {
        self.api
            .iteration_history_history_store()
            .history()
            .call_load_recent_json(&mut self.store, h.0, n)
            .unwrap_or_else(trap("load-recent-json"))
    }

    /// `get-all`.
    pub fn get_all(&mut self, h: History, cursor: u64, limit: u32) -> Res<wit::Page> {
        self.api
            .iteration_history_history_store()
            .history()
            .call_get_all(&mut self.store, h.0, cursor, limit)
            .unwrap_or_else(trap("get-all"))
    }

    /// `get-all-json`.
    pub fn get_all_json(&mut self, h: History, cursor: u64, limit: u32) -> Res<wit::JsonPage> {
        self.api
            .iteration_history_history_store()
            .history()
            .call_get_all_json(&mut self.store, h.0, cursor, limit)
            .unwrap_or_else(trap("get-all-json"))
    }

    /// `get-all-text`.
    pub fn get_all_text(&mut self, h: History, cursor: u64, limit: u32, d: wit::TextDialect) -> Res<wit::TextPage> {
        self.api
            .iteration_history_history_store()
            .history()
            .call_get_all_text(&mut self.store, h.0, cursor, limit, d)
            .unwrap_or_else(trap("get-all-text"))
    }

    /// `load-recent-text`.
    pub fn load_recent_text(&mut self, h: History, n: u32, d: wit::TextDialect) -> Res<wit::TextPage> {
        self.api
            .iteration_history_history_store()
            .history()
            .call_load_recent_text(&mut self.store, h.0, n, d)
            .unwrap_or_else(trap("load-recent-text"))
    }

    /// `columns`.
    pub fn columns(&mut self, h: History, fields: &[String], d: wit::TextDialect) -> Res<wit::TextPage> {
        self.api
            .iteration_history_history_store()
            .history()
            .call_columns(&mut self.store, h.0, fields, d)
            .unwrap_or_else(trap("columns"))
    }

    /// `count`.
    pub fn count(&mut self, h: History) -> Res<u64> {
        self.api
            .iteration_history_history_store()
            .history()
            .call_count(&mut self.store, h.0)
            .unwrap_or_else(trap("count"))
    }

    /// `last-iteration-num`.
    pub fn last_iteration_num(&mut self, h: History) -> Res<Option<u64>> {
        self.api
            .iteration_history_history_store()
            .history()
            .call_last_iteration_num(&mut self.store, h.0)
            .unwrap_or_else(trap("last-iteration-num"))
    }

    /// `clear`.
    pub fn clear(&mut self, h: History) -> Res<()> {
        self.api
            .iteration_history_history_store()
            .history()
            .call_clear(&mut self.store, h.0)
            .unwrap_or_else(trap("clear"))
    }

    /// `verify`.
    pub fn verify(&mut self, h: History) -> Res<wit::VerifyReport> {
        self.api
            .iteration_history_history_store()
            .history()
            .call_verify(&mut self.store, h.0)
            .unwrap_or_else(trap("verify"))
    }

    /// `repair`.
    pub fn repair(&mut self, h: History) -> Res<wit::RepairReport> {
        self.api
            .iteration_history_history_store()
            .history()
            .call_repair(&mut self.store, h.0)
            .unwrap_or_else(trap("repair"))
    }

    /// `compact`.
    pub fn compact(&mut self, h: History) -> Res<u64> {
        self.api
            .iteration_history_history_store()
            .history()
            .call_compact(&mut self.store, h.0)
            .unwrap_or_else(trap("compact"))
    }

    /// `export`.
    pub fn export(&mut self, h: History, name: &str) -> Res<u64> {
        self.api
            .iteration_history_history_store()
            .history()
            .call_export(&mut self.store, h.0, name)
            .unwrap_or_else(trap("export"))
    }

    /// Every record, page by page (`limit` per call).
    pub fn all_pages(&mut self, h: History, limit: u32) -> Res<Vec<wit::IterationRecord>> {
        let mut out = Vec::new();
        let mut cursor = Some(0);
        while let Some(c) = cursor {
            let page = self.get_all(h, c, limit)?;
            out.extend(page.records);
            cursor = page.next_cursor;
        }
        Ok(out)
    }
}

/// The WASI component's page of the docs, compiled as doctests (`cargo test --doc`).
#[cfg(doctest)]
#[doc = include_str!("../../../docs/wasi.md")]
pub struct WasiDocDoctests;
