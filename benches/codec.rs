//! Micro benchmarks of the codec core (pure Rust, no ONNX Runtime): the stages of a frame after
//! and before the networks, on the real latent of a photo.
//!
//! `cargo bench --bench codec` (`cargo test --all-targets` runs each once, as a smoke test).
//! `benches/data/coffee-224.latent` is what the embedded model's encoder made of
//! tests/data/coffee-224.png: 12x28x28 latent then 28x28 saliency, f32 little-endian.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use gstlimitnet::codec::{self, SaliencyMap, StreamParams};
use gstlimitnet::model::ModelBundle;

const SIDE: u32 = 224;

struct Fixture {
    tables: codec::CodecTables,
    params: StreamParams,
    latent: Vec<f32>,
    saliency: Vec<f32>,
}

fn fixture() -> Fixture {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/benches/data/coffee-224.latent"
    );
    let bytes = std::fs::read(path).expect("benches/data/coffee-224.latent");
    let values: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let bundle = ModelBundle::embedded().expect("embedded bundle");
    let params = StreamParams {
        width: SIDE,
        height: SIDE,
        model_id: bundle.id.clone(),
    };
    let (lh, lw) = params.latent_dims();
    let total = bundle.tables.channels() * lh * lw;
    assert_eq!(values.len(), total + lh * lw, "fixture size");
    Fixture {
        tables: bundle.tables.clone(),
        params,
        latent: values[..total].to_vec(),
        saliency: values[total..].to_vec(),
    }
}

fn stages(c: &mut Criterion) {
    let f = fixture();
    let (lh, lw) = f.params.latent_dims();
    let channels = f.tables.channels();
    let map = SaliencyMap::pool(&f.saliency, lh, lw);
    let mut levels = Vec::new();
    f.tables.quantizer().quantize_latent(&f.latent, &mut levels);
    let frame = codec::encode_frame(&f.tables, &f.params, &map, &levels, levels.len());
    let total = levels.len();

    let mut g = c.benchmark_group("codec-224");
    g.bench_function("saliency-pool", |b| {
        b.iter(|| SaliencyMap::pool(black_box(&f.saliency), lh, lw))
    });
    g.bench_function("priority-order", |b| {
        b.iter(|| codec::priority_order(black_box(&map), channels, lh, lw))
    });
    g.bench_function("quantize", |b| {
        let mut out = Vec::new();
        b.iter(|| {
            f.tables
                .quantizer()
                .quantize_latent(black_box(&f.latent), &mut out)
        })
    });
    // What limitnetenc does per frame: one FrameEncoder, its buffers reused.
    g.bench_function("entropy-encode", |b| {
        let mut encoder = codec::FrameEncoder::default();
        b.iter(|| encoder.encode(&f.tables, &f.params, black_box(&map), &levels, total))
    });
    g.bench_function("entropy-decode", |b| {
        b.iter(|| codec::decode_frame(&f.tables, &f.params, black_box(&frame), total))
    });
    g.bench_function("entropy-decode-20pct", |b| {
        b.iter(|| codec::decode_frame(&f.tables, &f.params, black_box(&frame), total / 5))
    });
    g.bench_function("dequantize", |b| {
        let decoded = codec::decode_frame(&f.tables, &f.params, &frame, total).unwrap();
        let mut out = vec![0f32; total];
        b.iter(|| decoded.fill_latent(&f.tables, black_box(&mut out)))
    });
    g.finish();
}

criterion_group!(benches, stages);
criterion_main!(benches);
