//! The `.lnet` reader (`codec::container::Reader`) on arbitrary bytes.
//!
//! Input: `chunk size selector | file...`. The file is read twice, in one push and in chunks of
//! 1..=64 bytes, and both readings must agree; what was read must serialize back to exactly the
//! bytes it came from, and a record cut by the end of the file must be a strict prefix.

#![no_main]

use gstlimitnet::codec::container::{self, ContainerError, Item, Reader, Record};
use libfuzzer_sys::fuzz_target;

/// Record header: payload length, pts, duration (docs/bitstream.md "File").
const RECORD_HEADER: usize = 4 + 8 + 8;

#[derive(Debug, PartialEq)]
struct Reading {
    items: Vec<Item>,
    error: Option<ContainerError>,
    /// What `finish` gave at the end of the file (only when no error stopped the reading).
    last: Option<Record>,
}

fn read(file: &[u8], chunk: usize) -> Reading {
    let mut reader = Reader::default();
    let mut items = Vec::new();
    for part in file.chunks(chunk) {
        reader.push(part);
        loop {
            match reader.next_item() {
                Ok(Some(item)) => items.push(item),
                Ok(None) => break,
                Err(e) => {
                    return Reading {
                        items,
                        error: Some(e),
                        last: None,
                    };
                }
            }
        }
    }
    Reading {
        items,
        error: None,
        last: reader.finish(),
    }
}

fuzz_target!(|input: &[u8]| {
    let Some((&chunk, file)) = input.split_first() else {
        return;
    };
    let whole = read(file, file.len().max(1));
    let chunked = read(file, usize::from(chunk % 64) + 1);
    assert_eq!(
        whole, chunked,
        "the reading depends on how the bytes arrive"
    );

    // Items come out as header first, then frames only.
    for (i, item) in whole.items.iter().enumerate() {
        assert_eq!(matches!(item, Item::Header { .. }), i == 0);
    }
    let mut written = Vec::new();
    for item in &whole.items {
        match item {
            Item::Header { caps } => written.extend(container::file_header(caps)),
            Item::Frame(r) => written.extend(container::record(r.pts, r.duration, &r.payload)),
        }
    }
    assert!(
        file.starts_with(&written),
        "items do not serialize back to the bytes they were read from"
    );
    if whole.error.is_some() {
        return;
    }
    let rest = &file[written.len()..];
    match &whole.last {
        Some(last) => {
            assert!(!whole.items.is_empty(), "a record before the file header");
            assert!(rest.len() >= RECORD_HEADER);
            let declared = u32::from_le_bytes(rest[..4].try_into().unwrap()) as usize;
            assert!(
                last.payload.len() < declared,
                "a complete record left unread"
            );
            assert_eq!(last.payload[..], rest[RECORD_HEADER..]);
            let header = container::record(last.pts, last.duration, &[]);
            assert_eq!(header[4..], rest[4..RECORD_HEADER]);
        }
        None if whole.items.is_empty() => {
            // No header yet: at most the magic and version checks passed.
            assert!(
                file.len() < 7
                    || file.len() < 7 + usize::from(u16::from_le_bytes([file[5], file[6]]))
            );
        }
        None => assert!(rest.len() < RECORD_HEADER),
    }
});
