//! Runs every workload of the guest writer on the host (marks to a file,
//! no device mapper, no crash) and checks that the checker's model predicts
//! the writer's history byte for byte after every operation, and at the end.
//! If this fails, a power-loss run would report false losses.

use std::fs;
use std::path::Path;
use std::process::Command;

use iteration_history_powerloss::marks::Mark;
use iteration_history_powerloss::model::State;
use iteration_history_powerloss::workloads::{HISTORY, WORKLOADS};

fn run_workload(name: &str, root: &Path) -> (Vec<Mark>, Vec<u8>) {
    let dir = root.join(name).join("runs");
    let marks = root.join(format!("{name}.marks"));
    let out = Command::new(env!("CARGO_BIN_EXE_plwriter"))
        .args(["run", name, "--dir"])
        .arg(&dir)
        .arg("--marks-to")
        .arg(&marks)
        .output()
        .expect("run plwriter");
    assert!(out.status.success(), "plwriter {name}: {}", String::from_utf8_lossy(&out.stderr));
    let text = fs::read_to_string(&marks).expect("marks");
    let parsed = text.lines().map(|l| Mark::parse(l).expect("our marks parse")).collect();
    (parsed, fs::read(dir.join(HISTORY)).expect("history"))
}

#[test]
fn every_workload_matches_the_model() {
    let root = tempfile::tempdir().expect("tempdir");
    for (name, _, _) in WORKLOADS {
        let (marks, final_bytes) = run_workload(name, root.path());
        assert_eq!(marks.first(), Some(&Mark::Ready), "{name}: first mark");
        let mut state = State::default();
        let mut ops = 0;
        for m in &marks {
            match m {
                Mark::Op { op, len, .. } => {
                    state = state.apply(*op);
                    ops += 1;
                    assert_eq!(state.content().len() as u64, *len, "{name}: length after {m}");
                }
                Mark::End { workload, ops: n } => {
                    assert_eq!(workload, name);
                    assert_eq!(*n, ops, "{name}: operations in the end mark");
                }
                _ => {}
            }
        }
        assert!(matches!(marks.last(), Some(Mark::End { .. })), "{name}: ends with an end mark");
        assert!(ops >= 12, "{name}: only {ops} operations");
        assert_eq!(final_bytes, state.content(), "{name}: final history differs from the model");
    }
}

#[test]
fn the_model_tracks_damage_and_repair() {
    use iteration_history_powerloss::marks::Op;
    let s = State::default().apply(Op::Save(0)).apply(Op::Batch { first: 1, count: 3 });
    assert_eq!(s.records(), vec![0, 1, 2, 3]);
    assert!(!s.corrupt());
    let damaged = s.apply(Op::Corrupt(4));
    assert!(damaged.corrupt());
    assert_eq!(damaged.records(), vec![0, 1, 2, 3, 4]);
    assert!(damaged.content().starts_with(&s.content()));
    let repaired = damaged.apply(Op::Repair);
    assert!(!repaired.corrupt());
    assert_eq!(repaired.records(), vec![0, 1, 2, 3, 4]);
    assert_eq!(repaired.preserved_garbage, vec![4], "a repaired damaged line must stay in a sidecar");
    // Repair drops the batch's commit tags: the lines are single commits now.
    assert!(!String::from_utf8_lossy(&repaired.content()).contains("/3+"));
    let cleared = repaired.apply(Op::Clear);
    assert!(cleared.content().is_empty() && cleared.records().is_empty());
}
