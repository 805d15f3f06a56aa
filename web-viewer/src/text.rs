//! Text columns read straight from the file: the strategy-code search
//! filter, and sort ranks for `timestamp` and `strategy_code`.

use crate::load::{CODE_ESCAPED, Rows, SLOW_PATH, TIME_ESCAPED};

/// Decodes the raw text of a JSON string (between its quotes, already
/// checked by the loader) into `out`, as the core's reader does: escapes
/// resolved, surrogate pairs joined, a lone surrogate as U+FFFD.
pub fn unescape_into(raw: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while i < raw.len() {
        let Some(pos) = memchr::memchr(b'\\', &raw[i..]) else {
            out.extend_from_slice(&raw[i..]);
            return;
        };
        out.extend_from_slice(&raw[i..i + pos]);
        i += pos + 1;
        let Some(&c) = raw.get(i) else { return };
        i += 1;
        match c {
            b'b' => out.push(0x08),
            b'f' => out.push(0x0c),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'u' => {
                let hi = hex4(raw, i);
                i += 4;
                let mut cp = hi;
                if (0xD800..0xDC00).contains(&hi) {
                    cp = 0xFFFD;
                    if raw.get(i..i + 2) == Some(b"\\u") {
                        let lo = hex4(raw, i + 2);
                        if (0xDC00..0xE000).contains(&lo) {
                            cp = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                            i += 6;
                        }
                    }
                }
                let ch = char::from_u32(cp).unwrap_or('\u{FFFD}');
                let mut buf = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
            }
            other => out.push(other), // `"`, `\`, `/`
        }
    }
}

fn hex4(raw: &[u8], at: usize) -> u32 {
    raw.get(at..at + 4)
        .and_then(|h| std::str::from_utf8(h).ok())
        .and_then(|h| u32::from_str_radix(h, 16).ok())
        .unwrap_or(0xFFFD)
}

/// Which text field.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextField {
    /// `strategy_code`.
    Code,
    /// `timestamp`.
    Timestamp,
}

/// Writes the decoded text of `field` for `row` into `out` (cleared first).
pub fn text_of(loaded: &dyn Rows, row: usize, field: TextField, out: &mut Vec<u8>) {
    out.clear();
    let c = loaded.columns();
    let flags = c.flags[row];
    if flags & SLOW_PATH != 0 {
        if let Ok(rec) = loaded.record(row) {
            out.extend_from_slice(match field {
                TextField::Code => rec.strategy_code.as_bytes(),
                TextField::Timestamp => rec.timestamp.as_bytes(),
            });
        }
        return;
    }
    let (range, escaped) = match field {
        TextField::Code => (c.code_start[row] as usize..c.code_end[row] as usize, flags & CODE_ESCAPED != 0),
        TextField::Timestamp => (c.time_start[row] as usize..c.time_end[row] as usize, flags & TIME_ESCAPED != 0),
    };
    let raw = &loaded.bytes()[range];
    if escaped {
        unescape_into(raw, out);
    } else {
        out.extend_from_slice(raw);
    }
}

/// One byte per row: 1 if the row's `strategy_code` contains `needle`
/// (ignoring ASCII case), else 0. An empty needle matches every row.
pub fn search_code(loaded: &dyn Rows, needle: &str) -> Vec<u8> {
    let n = loaded.columns().len();
    if needle.is_empty() {
        return vec![1; n];
    }
    let needle = needle.to_ascii_lowercase();
    let finder = memchr::memmem::Finder::new(needle.as_bytes());
    let mut buf = Vec::new();
    (0..n)
        .map(|row| {
            text_of(loaded, row, TextField::Code, &mut buf);
            buf.make_ascii_lowercase();
            u8::from(finder.find(&buf).is_some())
        })
        .collect()
}

/// The sort rank of each row by `field` (byte order of the decoded text;
/// equal texts share a rank).
pub fn rank(loaded: &dyn Rows, field: TextField) -> Vec<u32> {
    let n = loaded.columns().len();
    let mut texts: Vec<Vec<u8>> = Vec::with_capacity(n);
    let mut buf = Vec::new();
    for row in 0..n {
        text_of(loaded, row, field, &mut buf);
        texts.push(buf.clone());
    }
    let mut order: Vec<u32> = (0..n as u32).collect();
    order.sort_by(|&a, &b| texts[a as usize].cmp(&texts[b as usize]));
    let mut ranks = vec![0u32; n];
    let mut rank = 0u32;
    for (i, &row) in order.iter().enumerate() {
        if i > 0 && texts[row as usize] != texts[order[i - 1] as usize] {
            rank = i as u32;
        }
        ranks[row as usize] = rank;
    }
    ranks
}

#[cfg(test)]
mod tests {
    use super::*;
    use iteration_history::json;

    #[test]
    fn unescape_matches_the_core_reader() {
        for s in [
            r#"plain"#,
            r#"a\nb\tc\"d\\e\/f\bg\fh\ri"#,
            r#"\u00e9\u2192 \ud83d\ude00"#,
            r#"lone \ud800 then x"#,
            r#"lone \ud800\u0041"#,
            r#"low first \udc00"#,
            "raw caf\u{e9}",
        ] {
            let mut out = Vec::new();
            unescape_into(s.as_bytes(), &mut out);
            let want = json::parse(format!("\"{s}\"").as_bytes()).expect("valid");
            assert_eq!(Some(String::from_utf8(out).expect("utf-8").as_str()), want.as_str(), "{s}");
        }
    }
}
