//! `codec::decode_frame` on arbitrary bytes with the default bundle's (limitnet-lite) codec tables.
//!
//! Input: `width - 1 | height - 1 | value limit | cut | frame...` (one byte each, so frames are
//! at most 256x256 and the latent at most 12x32x32 values). The stream's model id is
//! [`MODEL_ID`]; the seeds are real frames re-tagged for it (tests/fuzz_seeds.rs).
//!
//! Beyond "never panics", it checks what docs/bitstream.md promises: a value limit and any byte
//! prefix decode to a prefix of the full frame's values, the order is part of a permutation of
//! the latent, and a complete frame re-encodes to one that decodes to the same values.

#![no_main]

use std::sync::LazyLock;

use limitnet::codec::{self, CodecTables, DecodedFrame, FrameStatus, StreamParams};
use libfuzzer_sys::fuzz_target;

/// Model id the fuzzed stream claims; only its tag byte matters to the decoder.
const MODEL_ID: &str = "fuzz";

static TABLES: LazyLock<CodecTables> = LazyLock::new(|| {
    CodecTables::from_json(include_bytes!("../../models/limitnet-lite/codec.json"))
        .expect("the embedded codec.json is valid")
});

fuzz_target!(|input: &[u8]| {
    let [width, height, limit, cut, data @ ..] = input else {
        return;
    };
    let tables = &*TABLES;
    let params = StreamParams {
        width: u32::from(*width) + 1,
        height: u32::from(*height) + 1,
        model_id: MODEL_ID.into(),
    };
    let (h, w) = params.latent_dims();
    let values = tables.channels() * h * w;
    // Items of the order: values, or coarse levels and refinement bits (version 3 tables).
    let total = tables.items(values);

    let full = codec::decode_frame(tables, &params, data, usize::MAX);
    let max_values = total * usize::from(*limit) / 255;
    let limited = codec::decode_frame(tables, &params, data, max_values);
    let cut = data.len() * usize::from(*cut) / 255;
    let prefix = codec::decode_frame(tables, &params, &data[..cut], usize::MAX);

    let full = match full {
        Ok(frame) => frame,
        Err(e) => {
            // Rejection depends on the bytes, not on how many values are wanted.
            assert_eq!(limited.unwrap_err(), e);
            return;
        }
    };
    check_frame(&full, tables, total, usize::MAX);

    let limited = limited.expect("the full frame decoded");
    check_frame(&limited, tables, total, max_values);
    assert_eq!(limited.declared, full.declared);
    assert_eq!(limited.saliency, full.saliency);
    assert_eq!(limited.levels.len(), full.levels.len().min(max_values));
    assert_starts_like(&limited, &full, "value limit");

    // A prefix of a frame of this stream is never rejected: it decodes what it holds.
    let prefix = prefix.expect("a prefix of an accepted frame decodes");
    check_frame(&prefix, tables, total, usize::MAX);
    assert!(prefix.declared == full.declared || prefix.declared == 0);
    assert!(prefix.saliency.is_none() || prefix.saliency == full.saliency);
    assert_starts_like(&prefix, &full, "byte prefix");

    let mut latent = vec![f32::NAN; values];
    full.fill_latent(tables, &mut latent);
    assert!(latent.iter().all(|v| v.is_finite()));

    if full.status == FrameStatus::Complete {
        check_reencoding(&full, tables, &params, values, data.len());
    }
});

/// What holds for any decoded frame: `limit` is the value limit it was decoded with.
fn check_frame(frame: &DecodedFrame, tables: &CodecTables, total: usize, limit: usize) {
    assert!(frame.declared <= total);
    assert_eq!(frame.order.len(), frame.levels.len());
    let wanted = frame.declared.min(limit);
    match frame.status {
        FrameStatus::NoSaliency => assert!(frame.saliency.is_none() && frame.levels.is_empty()),
        FrameStatus::Complete => assert_eq!(frame.levels.len(), wanted),
        FrameStatus::Truncated => assert!(frame.levels.len() < wanted),
    }
    if frame.status != FrameStatus::NoSaliency {
        assert!(frame.saliency.is_some());
    }
    let values = total / tables.refinement().stages();
    let plane = values / tables.channels();
    let mut seen = vec![false; total];
    for (&item, &level) in frame.order.iter().zip(&frame.levels) {
        let item = item as usize;
        assert!(item < total, "item {item} of {total}");
        assert!(!seen[item], "item {item} decoded twice");
        seen[item] = true;
        if item < values {
            assert!(usize::from(level) < tables.code(item / plane, 0).symbols());
        } else {
            assert!(level <= 1, "refinement bit {level}");
        }
    }
}

/// `part` (a cut or limited decode) holds exactly the first values of `full`.
fn assert_starts_like(part: &DecodedFrame, full: &DecodedFrame, what: &str) {
    let n = part.levels.len();
    assert!(
        n <= full.levels.len(),
        "{what}: more values than the full frame"
    );
    assert_eq!(part.levels[..], full.levels[..n], "{what}: values differ");
    assert_eq!(part.order[..], full.order[..n], "{what}: order differs");
}

/// A complete frame, encoded again from its values, decodes to the same values, and the
/// canonical encoding is never longer than the input.
fn check_reencoding(
    full: &DecodedFrame,
    tables: &CodecTables,
    params: &StreamParams,
    values: usize,
    input_len: usize,
) {
    let saliency = full.saliency.expect("a complete frame has its map");
    let levels = full.levels_by_index(tables, values);
    let again = codec::encode_frame(tables, params, &saliency, &levels, full.declared);
    assert!(again.len() <= input_len, "re-encoding grew the frame");
    let decoded = codec::decode_frame(tables, params, &again, usize::MAX).expect("own frame");
    assert_eq!(decoded.status, FrameStatus::Complete);
    assert_eq!(decoded.saliency, full.saliency);
    assert_eq!(decoded.levels, full.levels);
    assert_eq!(decoded.order, full.order);
}
