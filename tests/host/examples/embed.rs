//! The whole embedding of the component in a wasmtime host: resume a loop.
//! Run: `cargo run -p iteration-history-host-tests --example embed -- runs [component.wasm]`
#![allow(missing_docs)] // the generated bindings
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::{FsPerms, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

wasmtime::component::bindgen!({ world: "history-component", path: "../../wit" });
use exports::iteration_history::history::store::{IterationRecord, Metric, MetricValue};

struct State(WasiCtx, ResourceTable);
impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.0, table: &mut self.1 }
    }
}

fn main() -> wasmtime::Result<()> {
    let dir = std::env::args().nth(1).unwrap_or_else(|| "runs".into());
    std::fs::create_dir_all(&dir)?;
    let engine = Engine::new(&Config::new())?;
    let wasm = std::env::args()
        .nth(2)
        .unwrap_or_else(|| "target/wasm32-wasip2/release/iteration_history_component.wasm".into());
    let component = Component::from_file(&engine, wasm)?;
    let mut linker = Linker::new(&engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
    let ctx = WasiCtxBuilder::new()
        .allow_blocking_current_thread(true) // sync host: file calls on this thread; set before the preopen, which keeps it
        .preopened_dir(&dir, ".", FsPerms::ReadWrite)? // the only directory it sees
        .build();
    let mut store = Store::new(&engine, State(ctx, ResourceTable::new()));
    let api = HistoryComponent::instantiate(&mut store, &component, &linker)?;
    let history = api.iteration_history_history_store().history();

    let h = history.call_open(&mut store, "history.jsonl")??;
    let next = history.call_last_iteration_num(&mut store, h)??;
    let next = next.map_or(0, |n| n + 1);
    let record = IterationRecord {
        iteration_num: next,
        strategy_code: "def strategy(data): ...".into(),
        execution_result: r#"{"success":true}"#.into(),
        metrics: vec![Metric { name: "sharpe_ratio".into(), value: MetricValue::Number(1.42) }],
        classification_level: "LEVEL_2".into(),
        timestamp: "2025-03-01T12:00:00".into(),
        champion_updated: false,
        extra: String::new(),
    };
    history.call_save(&mut store, h, &record)??; // durable now
    let recent = history.call_load_recent(&mut store, h, 5)??;
    println!("saved iteration {next}; last {} in {dir}/history.jsonl", recent.len());
    h.resource_drop(&mut store) // releases the writer lease
}
