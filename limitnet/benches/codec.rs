//! Micro benchmarks of the codec core (pure Rust): the stages of a frame after and before the
//! networks, on the real latent of a photo. The fixture is made at start by the default
//! bundle's (or `LIMITNET_BENCH_MODEL`'s) encoder (ONNX Runtime) from tests/data/coffee-224.png, so it always matches the
//! bundle; only the stages are timed.
//!
//! `cargo bench -p limitnet --bench codec` (`cargo test --all-targets` runs each once, as a smoke test).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use limitnet::codec::{self, SaliencyMap, StreamParams};
use limitnet::model::{EncoderSession, ModelBundle};

const SIDE: u32 = 224;

struct Fixture {
    tables: codec::CodecTables,
    params: StreamParams,
    latent: Vec<f32>,
    saliency: Vec<f32>,
}

fn fixture() -> Fixture {
    let png = std::fs::File::open(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/data/coffee-224.png"
    ))
    .expect("tests/data/coffee-224.png");
    let mut reader = png::Decoder::new(std::io::BufReader::new(png))
        .read_info()
        .unwrap();
    let mut rgb = vec![0; reader.output_buffer_size()];
    reader.next_frame(&mut rgb).unwrap();
    // LIMITNET_BENCH_MODEL: another bundle (a compiled-in name or a directory).
    let model = std::env::var_os("LIMITNET_BENCH_MODEL").map(std::path::PathBuf::from);
    let bundle = ModelBundle::load(model.as_deref()).expect("model bundle");
    let mut session = EncoderSession::new(&bundle, 1).expect("ONNX Runtime");
    let side = SIDE as usize;
    let table = *session.input_table();
    let planes: Vec<f32> = (0..3)
        .flat_map(|c| {
            rgb.chunks_exact(3)
                .map(move |px| table[c][usize::from(px[c])])
        })
        .collect();
    assert_eq!(planes.len(), 3 * side * side, "a 224x224 RGB photo");
    let (latent, saliency) = session
        .run(&planes, side, side, |latent, saliency| {
            (latent.to_vec(), saliency.to_vec())
        })
        .unwrap();
    Fixture {
        tables: bundle.tables.clone(),
        params: StreamParams {
            width: SIDE,
            height: SIDE,
            model_id: bundle.id.clone(),
        },
        latent,
        saliency,
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
        b.iter(|| {
            codec::priority_order(
                black_box(&map),
                codec::PriorityRule::paper(channels),
                lh,
                lw,
            )
        })
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
