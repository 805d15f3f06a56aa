//! Recovery of a history whose committed records are followed by arbitrary
//! bytes: never panics, never loses a committed record (see
//! `iteration_history_testkit::fuzz::recover_tail`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let (committed, tail) = data.split_first().map_or((0, &[][..]), |(c, t)| (*c, t));
    iteration_history_testkit::fuzz::recover_tail(committed, tail);
});
