//! The `.lnet` reader (`codec::container::Reader`, over the `Scanner` limitnetparse uses) on
//! arbitrary bytes.
//!
//! Input: `chunk size selector | file...`. The file is read twice, in one push and in chunks of
//! 1..=64 bytes, and both readings must agree. The header comes before any frame, every byte is
//! accounted for (items' lengths add up to the file), and a frame read without damage holds
//! exactly bytes of the file.

#![no_main]

use limitnet::codec::container::{ContainerError, Item, Reader};
use libfuzzer_sys::fuzz_target;

#[derive(Debug, PartialEq)]
struct Reading {
    items: Vec<Item>,
    error: Option<ContainerError>,
}

fn read(file: &[u8], chunk: usize) -> Reading {
    let mut reader = Reader::default();
    let mut items = Vec::new();
    let mut error = None;
    'outer: for part in file.chunks(chunk) {
        reader.push(part);
        loop {
            match reader.next_item() {
                Ok(Some(item)) => items.push(item),
                Ok(None) => break,
                Err(e) => {
                    error = Some(e);
                    break 'outer;
                }
            }
        }
    }
    if error.is_none() {
        loop {
            match reader.finish() {
                Ok(Some(item)) => items.push(item),
                Ok(None) => break,
                Err(e) => {
                    error = Some(e);
                    break;
                }
            }
        }
    }
    Reading { items, error }
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
    let header = whole
        .items
        .iter()
        .position(|i| matches!(i, Item::Header { .. }));
    let first_frame = whole
        .items
        .iter()
        .position(|i| matches!(i, Item::Frame(_)));
    if let Some(frame) = first_frame {
        assert!(header.is_some_and(|h| h < frame), "a frame before the header");
    }
    assert!(
        whole
            .items
            .iter()
            .filter(|i| matches!(i, Item::Header { .. }))
            .count()
            <= 1
    );
    for item in &whole.items {
        if let Item::Frame(r) = item
            && r.damage.is_none()
            && !r.payload.is_empty()
        {
            assert!(
                file.windows(r.payload.len()).any(|w| w == r.payload),
                "a frame of bytes the file does not hold"
            );
        }
    }
});
