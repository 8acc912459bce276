//! The row-by-row sender (limitnet::sender, pure Rust) against the ONNX Runtime encoder on the
//! shipped photos: the same latent levels and saliency map up to float rounding, frames that
//! decode within 0.3 dB of each other at every cut, and the buffers it needs.

use limitnet::codec::{self, StreamParams};
use limitnet::sender::{
    FixedNetwork, FixedRowEncoder, LITE_NETWORK, LITE_NETWORK_FIXED, LITE_NETWORK_INT8,
    LiteNetwork, RowEncoder,
};
use limitnet::{Cut, DecodeOptions, Decoder, ImageRef, ModelBundle, PixelLayout};

fn photo(name: &str) -> (Vec<u8>, usize, usize) {
    let path = format!("{}/../tests/data/{name}", env!("CARGO_MANIFEST_DIR"));
    let mut reader = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path).unwrap()))
        .read_info()
        .unwrap();
    let mut rgb = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut rgb).unwrap();
    rgb.truncate(info.buffer_size());
    (rgb, info.width as usize, info.height as usize)
}

/// Nearest-neighbour resize (frames of other sizes from a real photo).
fn resize(rgb: &[u8], w: usize, h: usize, nw: usize, nh: usize) -> Vec<u8> {
    (0..nh)
        .flat_map(|y| (0..nw).map(move |x| (y * h / nh, x * w / nw)))
        .flat_map(|(y, x)| rgb[(y * w + x) * 3..][..3].to_vec())
        .collect()
}

fn psnr(a: &[u8], b: &[u8]) -> f64 {
    let mse = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
        .sum::<f64>()
        / a.len() as f64;
    10.0 * (255.0f64.powi(2) / mse.max(1e-10)).log10()
}

#[test]
fn the_sender_makes_the_frames_of_the_onnx_runtime_encoder() {
    // f32 weights: the same levels up to float rounding (in practice none differ), so every
    // frame decodes like ONNX Runtime's.
    let worst = parity(Net::Float(LITE_NETWORK), "f32", 1);
    assert!(worst.iter().all(|&d| d <= 0.3), "{worst:?}");
}

#[test]
fn the_int8_sender_decodes_within_0_3_db_of_the_onnx_runtime_encoder() {
    // int8 weights move a sixth of the values by a level and some saliency cells, which
    // reorders what a short cut carries: single frames move by up to 0.4 dB either way at 256
    // B; over the photos each cut stays within 0.3 dB.
    parity(Net::Float(LITE_NETWORK_INT8), "int8", 250);
}

#[test]
fn the_fixed_point_sender_decodes_within_0_3_db_of_the_onnx_runtime_encoder() {
    // int8 weights and 8-bit activations (ranges calibrated on training photos), integer
    // arithmetic throughout.
    parity(Net::Fixed(LITE_NETWORK_FIXED), "fixed", 350);
}

enum Net {
    Float(LiteNetwork),
    Fixed(FixedNetwork),
}

/// Encodes the test frames with `net` and ONNX Runtime; at most `per_mille` of the levels may
/// differ, and at every cut the mean PSNR over the frames is within 0.3 dB of ONNX Runtime's.
/// Returns the largest difference of a single frame at each cut.
fn parity(net: Net, what: &str, per_mille: usize) -> [f64; 4] {
    let cuts = [256, 512, 1024, usize::MAX];
    let mut sums = [(0.0, 0.0); 4];
    let mut worst = [0f64; 4];
    let mut frames = 0.0;
    let bundle = ModelBundle::load(Some("limitnet-lite".as_ref())).unwrap();
    let tables = &bundle.tables;
    let mut onnx = limitnet::Encoder::new(bundle.clone(), 1).unwrap();
    let mut decoder = Decoder::new(bundle.clone(), 0).unwrap();
    let (chelsea, cw, ch) = photo("chelsea-224.png");
    let mut cases: Vec<(String, Vec<u8>, usize, usize)> = ["coffee", "astronaut", "chelsea"]
        .iter()
        .map(|name| {
            let (rgb, w, h) = photo(&format!("{name}-224.png"));
            (name.to_string(), rgb, w, h)
        })
        .collect();
    for (w, h) in [(250, 190), (97, 8), (13, 7)] {
        cases.push((
            format!("chelsea {w}x{h}"),
            resize(&chelsea, cw, ch, w, h),
            w,
            h,
        ));
    }
    for (name, rgb, w, h) in cases {
        let (mut float, mut fixed);
        let out = match net {
            Net::Float(net) => {
                float = RowEncoder::new(net, tables.quantizer().clone(), w, h);
                for row in rgb.chunks_exact(3 * w) {
                    float.push_row(row);
                }
                float.finish()
            }
            Net::Fixed(net) => {
                fixed = FixedRowEncoder::new(net, w, h);
                for row in rgb.chunks_exact(3 * w) {
                    fixed.push_row(row);
                }
                fixed.finish()
            }
        };
        let params = StreamParams {
            width: w as u32,
            height: h as u32,
            model_id: bundle.id.clone(),
        };
        let reference = onnx
            .encode(
                &ImageRef::packed(&rgb, w as u32, h as u32, PixelLayout::Rgb),
                &Default::default(),
            )
            .unwrap();
        // Every item: values, or coarse levels and refinement bits (version 3).
        let items = tables.items(out.levels.len());
        let frame = codec::encode_frame(tables, &params, &out.saliency, out.levels, items);
        // Float sums in another order may move a value across a rounding boundary, rarely.
        let reference_levels =
            codec::decode_frame(tables, &params, &reference.data, usize::MAX).unwrap();
        let sender_levels = codec::decode_frame(tables, &params, &frame, usize::MAX).unwrap();
        // A whole frame leaves every value's level exact.
        let by_index = reference_levels.levels_by_index(tables, out.levels.len());
        let differ = by_index
            .iter()
            .zip(out.levels)
            .filter(|(a, b)| a != b)
            .count();
        eprintln!(
            "{what} {name}: {differ} of {} levels differ, saliency map {}, {} vs {} bytes",
            out.levels.len(),
            if out.saliency == reference.saliency {
                "equal"
            } else {
                "differs"
            },
            frame.len(),
            reference.data.len()
        );
        assert!(
            differ * 1000 <= out.levels.len() * per_mille,
            "{what} {name}: {differ} levels differ"
        );
        assert_eq!(sender_levels.levels.len(), items);
        frames += 1.0;
        for (i, cut) in cuts.into_iter().enumerate() {
            let options =
                DecodeOptions::from(Cut::max_bytes(if cut == usize::MAX { 0 } else { cut }));
            let (ours, _) = decoder.decode(&params, &frame, &options).unwrap();
            let (theirs, _) = decoder.decode(&params, &reference.data, &options).unwrap();
            let (q_ours, q_theirs) = (psnr(&rgb, &ours), psnr(&rgb, &theirs));
            sums[i].0 += q_ours;
            sums[i].1 += q_theirs;
            worst[i] = worst[i].max((q_ours - q_theirs).abs());
        }
    }
    for (i, cut) in cuts.into_iter().enumerate() {
        let (ours, theirs) = (sums[i].0 / frames, sums[i].1 / frames);
        let cut = if cut == usize::MAX {
            "whole".to_string()
        } else {
            format!("{cut} B")
        };
        eprintln!(
            "{what} at {cut}: mean {ours:.3} dB against ONNX Runtime's {theirs:.3}, worst frame {:.3} dB apart",
            worst[i]
        );
        assert!(
            (ours - theirs).abs() <= 0.3,
            "{what} at {cut}: {ours:.2} dB from the sender, {theirs:.2} from ONNX Runtime"
        );
    }
    worst
}

#[test]
fn the_sender_needs_little_memory() {
    let bundle = ModelBundle::load(Some("limitnet-lite".as_ref())).unwrap();
    let sender = RowEncoder::new(LITE_NETWORK, bundle.tables.quantizer().clone(), 224, 224);
    eprintln!(
        "224x224: {} bytes of buffers, {} parameters ({} bytes as f32, {} with int8 weights)",
        sender.buffer_bytes(),
        LITE_NETWORK.parameters(),
        LITE_NETWORK.weight_bytes(),
        LITE_NETWORK_INT8.weight_bytes()
    );
    let fixed = FixedRowEncoder::new(LITE_NETWORK_FIXED, 224, 224);
    eprintln!(
        "fixed point, 224x224: {} bytes of buffers, {} bytes of weights and tables",
        fixed.buffer_bytes(),
        LITE_NETWORK_FIXED.weight_bytes()
    );
    assert!(fixed.buffer_bytes() <= 32 * 1024);
    assert!(LITE_NETWORK_FIXED.weight_bytes() <= 8 * 1024);
    // docs/sender.md: the figures a device must budget.
    assert!(sender.buffer_bytes() <= 64 * 1024);
    assert!(LITE_NETWORK.weight_bytes() <= 32 * 1024);
    assert!(LITE_NETWORK_INT8.weight_bytes() <= 8 * 1024);
}
