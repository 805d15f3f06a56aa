//! The bodies of the fuzz targets (`tests/fuzz/`), shared with the property
//! tests so that CI runs them too.

use iteration_history::codec;
use iteration_history::storage::MemDir;
use iteration_history::{Error, History, Options};

use crate::records::rec;

/// Decoding any bytes never panics; a line that decodes re-encodes to a
/// line that decodes to the same record.
pub fn decode_line(data: &[u8]) {
    let _ = codec::check_line(data, false);
    let _ = codec::check_line(data, true);
    if let Ok((record, _)) = codec::decode_line(data) {
        // Not every decodable record is savable (e.g. an empty timestamp).
        if let Ok(line) = codec::encode_line(&record) {
            let (again, info) = codec::decode_line(&line).expect("a re-encoded record decodes");
            assert!(info.checksummed);
            assert_eq!(
                codec::encode_line(&again).expect("encodes"),
                line,
                "encoding is stable for {:?}",
                String::from_utf8_lossy(data)
            );
        }
    }
}

/// A history of `committed` durable records followed by `tail` (any bytes,
/// e.g. a torn or garbage write): reading never panics; opening for writing
/// either succeeds with every committed record first, or reports corruption
/// (the tail holds a complete record after damage), and then a repair keeps
/// every committed record. Afterwards the history accepts a save.
pub fn recover_tail(committed: u8, tail: &[u8]) {
    let committed = u64::from(committed % 16);
    let dir = MemDir::new();
    let mut bytes = Vec::new();
    for n in 0..committed {
        bytes.extend(codec::encode_line(&rec(n)).expect("valid"));
    }
    bytes.extend_from_slice(tail);
    dir.put("h.jsonl", &bytes);
    let reader = History::open_read_only(dir.clone(), "h.jsonl").expect("name is valid");
    let _ = reader.verify();
    let _ = reader.load_recent(3);
    let _ = reader.last_iteration_num();
    let _ = reader.count();
    if let Ok(all) = reader.get_all() {
        assert!(all.len() as u64 >= committed, "a reader lost committed records");
        assert_eq!(&all[..committed as usize], &(0..committed).map(rec).collect::<Vec<_>>()[..]);
    }
    let h = match History::open(dir.clone(), "h.jsonl", Options::default()) {
        Ok(h) => h,
        Err(Error::Corrupt { .. }) => History::open(dir.clone(), "h.jsonl", Options::default().repair_on_open(true))
            .expect("repair on open succeeds"),
        Err(e) => panic!("open failed: {e}"),
    };
    let all = h.get_all().expect("a writer reads what it recovered");
    assert!(all.len() as u64 >= committed);
    assert_eq!(&all[..committed as usize], &(0..committed).map(rec).collect::<Vec<_>>()[..]);
    h.save(&rec(1_000)).expect("accepts a save");
    assert_eq!(h.load_recent(1).expect("recent")[0], rec(1_000));
}
