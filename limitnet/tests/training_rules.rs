//! The training pipeline and the codec agree on the priority order and the context rule.
//!
//! `tests/data/training-rules.json` holds what the Python side (`model.priority_keys`,
//! `model.item_keys` for version 3 tables, `export.value_contexts`) computes on real latents of
//! the default bundle
//! (`python -m limitnet_train.rules_fixture`); Rust must compute the same from the same
//! saliency maps and levels. training/smoke_test.sh regenerates the fixture with the current
//! Python code and points `LIMITNET_RULES_FIXTURE` at it.

use limitnet::codec::{SaliencyMap, priority_order, value_contexts};
use limitnet::model::ModelBundle;
use serde_json::Value;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

#[test]
fn rust_order_and_contexts_match_the_training_pipeline() {
    let path = std::env::var("LIMITNET_RULES_FIXTURE").unwrap_or_else(|_| {
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/training-rules.json"
        )
        .into()
    });
    let fixture: Value = serde_json::from_slice(&std::fs::read(&path).expect(&path)).unwrap();
    let bundle = ModelBundle::embedded().expect("default bundle");
    let cases = fixture["cases"].as_array().unwrap();
    assert_eq!(cases.len(), 3);
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let (h, w) = (
            case["h"].as_u64().unwrap() as usize,
            case["w"].as_u64().unwrap() as usize,
        );
        let mut map = [0u8; 64];
        for (cell, v) in map.iter_mut().zip(case["saliency"].as_array().unwrap()) {
            *cell = v.as_u64().unwrap() as u8;
        }
        let saliency = SaliencyMap(map);
        let channels = bundle.tables.channels();
        let u16_list = |key: &str| -> Vec<u32> {
            hex(case[key].as_str().unwrap())
                .chunks_exact(2)
                .map(|b| u32::from(u16::from_le_bytes([b[0], b[1]])))
                .collect()
        };
        let python_order = u16_list("order");
        let item_order = priority_order(&saliency, bundle.tables.priority_rule(), h, w);
        // Version 3 tables: the order of every item (coarse levels, then refinement bits), as
        // the decoder fine-tune cuts it (`model.refined_levels`).
        if bundle.tables.refinement().bits() > 0 {
            let python_items = u16_list("item_order");
            assert_eq!(item_order.len(), python_items.len(), "{name}");
            let first_difference = item_order
                .iter()
                .zip(&python_items)
                .position(|(a, b)| a != b);
            assert_eq!(
                first_difference, None,
                "{name}: item orders differ from this rank on"
            );
        }
        // The values' order: with version 3 tables, that of the coarse levels' items (items
        // from C h w on are refinement bits).
        let order: Vec<u32> = item_order
            .into_iter()
            .filter(|&item| (item as usize) < channels * h * w)
            .collect();
        assert_eq!(order.len(), channels * h * w, "{name}");
        let first_difference = order.iter().zip(&python_order).position(|(a, b)| a != b);
        assert_eq!(
            first_difference, None,
            "{name}: orders differ from this rank on"
        );
        assert_eq!(order, python_order, "{name}");

        let levels = hex(case["levels"].as_str().unwrap());
        let python_contexts = hex(case["contexts"].as_str().unwrap());
        let contexts = value_contexts(&bundle.tables, &saliency, &levels, h, w);
        let differ = contexts
            .iter()
            .zip(&python_contexts)
            .filter(|(a, b)| a != b)
            .count();
        assert_eq!(differ, 0, "{name}: {differ} contexts differ");
        assert_eq!(contexts, python_contexts, "{name}");
        // Real latents: the fixture exercises every context, not only "no neighbour known".
        let used = (0..bundle.tables.contexts())
            .filter(|k| contexts.contains(&(*k as u8)))
            .count();
        assert!(used >= 5, "{name}: only {used} contexts in use");
    }
}
