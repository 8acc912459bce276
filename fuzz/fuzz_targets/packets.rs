//! `codec::packet::decode_packets` on arbitrary packet sets with the default model's codec tables.
//!
//! Input: `width - 1 | height - 1 | value limit | packet set...` (a packet set: each packet
//! preceded by its length, u16 little-endian; frames at most 256x256). The stream's model id is
//! [`MODEL_ID`]; the seeds are real frames' packets (tests/fuzz_seeds.rs).
//!
//! Beyond "never panics", it checks what docs/bitstream.md "Packets" promises: the values are at
//! distinct latent indices in priority order, at most the declared count or the limit, each
//! packet's values are those it carries whatever other packets come with it, and a whole set
//! re-packetizes to packets that decode to the same values.

#![no_main]

use std::sync::LazyLock;

use limitnet::codec::packet::{self, PacketOptions};
use limitnet::codec::{CodecTables, FrameStatus, StreamParams, priority_order};
use libfuzzer_sys::fuzz_target;

/// Model id the fuzzed stream claims; only its tag byte matters to the decoder.
const MODEL_ID: &str = "fuzz";

static TABLES: LazyLock<CodecTables> = LazyLock::new(|| {
    CodecTables::from_json(include_bytes!("../../models/limitnet-lite/codec.json"))
        .expect("the embedded codec.json is valid")
});

fuzz_target!(|input: &[u8]| {
    let [width, height, limit, set @ ..] = input else {
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
    let max_values = total * usize::from(*limit) / 255;
    let packets: Vec<&[u8]> = packet::packets_of_set(set).collect();
    let Ok((frame, _stats)) =
        packet::decode_packets(tables, &params, packets.iter().copied(), max_values)
    else {
        return;
    };
    assert!(frame.levels.len() <= frame.declared.min(max_values));
    assert_eq!(frame.levels.len(), frame.order.len());
    let Some(saliency) = frame.saliency else {
        assert!(frame.levels.is_empty());
        return;
    };
    // Distinct indices, in priority order.
    let order = priority_order(&saliency, tables.priority_rule(), h, w);
    let mut rank = vec![usize::MAX; total];
    for (r, &i) in order.iter().enumerate() {
        rank[i as usize] = r;
    }
    let ranks: Vec<usize> = frame.order.iter().map(|&i| rank[i as usize]).collect();
    assert!(ranks.windows(2).all(|p| p[0] < p[1]));
    let top = tables.refinement().coarse_levels() - 1;
    for (&item, &q) in frame.order.iter().zip(&frame.levels) {
        let bound = if (item as usize) < values { top } else { 1 };
        assert!(u32::from(q) <= bound, "item {item}: {q}");
    }
    if frame.status != FrameStatus::Complete || frame.declared != frame.levels.len() {
        return;
    }
    // A complete frame re-packetizes to packets that decode to the same values.
    let known = frame.known_intervals(tables, values);
    let levels = limitnet::codec::frame::lowest_levels(&known);
    let again = packet::packetize(
        tables,
        &params,
        &saliency,
        &levels,
        frame.declared,
        &PacketOptions::default(),
    )
    .expect("51-byte packets hold any header of a frame up to 256x256");
    let (round, stats) =
        packet::decode_packets(tables, &params, again.iter().map(Vec::as_slice), usize::MAX)
            .unwrap();
    assert_eq!(stats.dropped, 0);
    assert_eq!(round.order, frame.order);
    // (A packet's refinement bit of a value already known exactly may be either bit; the
    // re-packetized one sends 0: the values are what must agree.)
    assert_eq!(round.known_intervals(tables, values), known);
});
