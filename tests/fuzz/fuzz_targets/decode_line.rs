//! The line decoder on arbitrary bytes: never panics; whatever decodes
//! re-encodes stably (see `iteration_history_testkit::fuzz::decode_line`).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    iteration_history_testkit::fuzz::decode_line(data);
});
