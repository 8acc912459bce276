//! Every byte prefix of real LimitNet frames decodes to exactly the full frame's values on the
//! positions it covers (encoder: the embedded model through ONNX Runtime; decoder: the codec).

mod common;

use limitnet::codec::{self, FrameStatus, SaliencyMap, StreamParams};
use limitnet::{Cut, Decoder, EncodeOptions, Encoder, ImageRef, ModelBundle, PixelLayout};
use proptest::prelude::*;

fn encode(name: &str, w: u32, h: u32) -> (Encoder, StreamParams, Vec<u8>) {
    let (rgb, pw, ph) = common::photo(name);
    let rgb = common::resize(&rgb, pw, ph, w, h);
    let mut enc = Encoder::new(ModelBundle::embedded().unwrap(), 1).unwrap();
    let frame = enc
        .encode(
            &ImageRef::packed(&rgb, w, h, PixelLayout::Rgb),
            &EncodeOptions::default(),
        )
        .unwrap();
    let params = enc.stream_params(w, h);
    assert_eq!(frame.values, frame.total_values);
    (enc, params, frame.data)
}

fn check_every_prefix(name: &str, w: u32, h: u32) {
    let (enc, params, data) = encode(name, w, h);
    let tables = &enc.bundle().tables;
    let full = codec::decode_frame(tables, &params, &data, usize::MAX).unwrap();
    assert_eq!(full.status, FrameStatus::Complete);
    assert_eq!(full.levels.len(), full.declared);
    let mut previous = 0;
    for cut in 0..=data.len() {
        let part = codec::decode_frame(tables, &params, &data[..cut], usize::MAX).unwrap();
        let n = part.levels.len();
        assert_eq!(
            part.levels[..],
            full.levels[..n],
            "{name} cut at {cut}: values differ from the full frame"
        );
        assert_eq!(
            part.order[..],
            full.order[..n],
            "{name} cut at {cut}: order differs"
        );
        assert!(n >= previous, "{name}: a longer prefix gave fewer values");
        previous = n;
        if cut < side_information_bytes(full.declared) {
            assert_eq!(part.status, FrameStatus::NoSaliency);
        } else if cut < data.len() {
            assert!(part.saliency.is_some());
        }
    }
    assert_eq!(previous, full.declared);
}

/// Version, tag, LEB128 value count and saliency map.
fn side_information_bytes(count: usize) -> usize {
    let leb = (usize::BITS - count.max(1).leading_zeros()).div_ceil(7) as usize;
    2 + leb + codec::saliency::ENCODED_BYTES
}

#[test]
fn every_prefix_of_real_frames_decodes_224() {
    check_every_prefix("coffee-224.png", 224, 224);
    check_every_prefix("astronaut-224.png", 224, 224);
}

#[test]
fn every_prefix_of_real_frames_decodes_odd_sizes() {
    check_every_prefix("chelsea-224.png", 250, 190);
    check_every_prefix("coffee-224.png", 13, 7);
}

#[test]
fn header_and_saliency_under_50_bytes_at_224() {
    let (enc, params, data) = encode("coffee-224.png", 224, 224);
    assert_eq!(side_information_bytes(9408), 44);
    // Version 3 counts items: 3 x 9408 take a 3-byte count.
    let side = side_information_bytes(enc.bundle().tables.items(9408));
    assert!(side <= 45);
    // A cut right after the saliency map decodes the map and no values.
    let decoded =
        codec::decode_frame(&enc.bundle().tables, &params, &data[..side], usize::MAX).unwrap();
    assert!(decoded.saliency.is_some());
    assert_eq!(decoded.levels.len(), 0);
    let decoded =
        codec::decode_frame(&enc.bundle().tables, &params, &data[..side - 1], usize::MAX).unwrap();
    assert!(decoded.saliency.is_none());
}

#[test]
fn percentage_and_max_bytes_are_prefixes_of_the_full_frame() {
    let (mut enc, params, full) = encode("astronaut-224.png", 224, 224);
    let (rgb, w, h) = common::photo("astronaut-224.png");
    let img = ImageRef::packed(&rgb, w, h, PixelLayout::Rgb);
    let cut = enc
        .encode(
            &img,
            &EncodeOptions {
                percentage: 100.0,
                max_bytes: 300,
            },
        )
        .unwrap();
    assert_eq!(cut.data[..], full[..300]);
    let part = enc
        .encode(
            &img,
            &EncodeOptions {
                percentage: 20.0,
                max_bytes: 0,
            },
        )
        .unwrap();
    let tables = &enc.bundle().tables;
    let p = codec::decode_frame(tables, &params, &part.data, usize::MAX).unwrap();
    let f = codec::decode_frame(tables, &params, &full, usize::MAX).unwrap();
    assert_eq!(
        p.levels.len(),
        codec::values_for_percentage(tables.items(9408), 20.0)
    );
    assert_eq!(p.levels[..], f.levels[..p.levels.len()]);
    // The decoder's own percentage limit gives the same values from the full frame.
    let dec = Decoder::new(enc.bundle().clone(), 1).unwrap();
    let (limited, _, _) = dec.decode_values(&params, &full, &Cut::percentage(20.0).into());
    assert_eq!(limited.unwrap().levels, p.levels);
}

#[test]
fn frames_of_other_streams_are_rejected() {
    let (enc, params, data) = encode("coffee-224.png", 224, 224);
    let tables = &enc.bundle().tables;
    let other = StreamParams {
        width: 224,
        height: 232,
        ..params.clone()
    };
    assert!(matches!(
        codec::decode_frame(tables, &other, &data, usize::MAX),
        Err(codec::FrameError::WrongStream { .. })
    ));
    let mut bad = data.clone();
    bad[0] = 7;
    assert_eq!(
        codec::decode_frame(tables, &params, &bad, usize::MAX).unwrap_err(),
        codec::FrameError::UnsupportedVersion {
            found: 7,
            expected: tables.frame_version()
        }
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Random latents and saliency maps through the real bundle tables: round trip and prefixes.
    #[test]
    fn random_frames_round_trip(
        w in 1u32..80, h in 1u32..80,
        seed in any::<u64>(),
        sal in proptest::collection::vec(0u8..32, 64),
        percentage in 0.0f64..=100.0,
        cut_frac in 0.0f64..=1.0,
    ) {
        let bundle = ModelBundle::embedded().unwrap();
        let tables = &bundle.tables;
        let params = StreamParams { width: w, height: h, model_id: bundle.id.clone() };
        let (lh, lw) = params.latent_dims();
        let total = tables.channels() * lh * lw;
        let mut x = seed | 1;
        let levels: Vec<u8> = (0..total).map(|_| { x ^= x << 13; x ^= x >> 7; x ^= x << 17; ((x % 64) as u8).min(if x % 3 == 0 { 0 } else { 63 }) }).collect();
        let map = SaliencyMap(sal.try_into().unwrap());
        let count = codec::values_for_percentage(tables.items(total), percentage);
        let data = codec::encode_frame(tables, &params, &map, &levels, count);
        let full = codec::decode_frame(tables, &params, &data, usize::MAX).unwrap();
        prop_assert_eq!(full.levels.len(), count);
        // Every value received lies in the interval its items leave (exactly, for whole values).
        for (known, &q) in full.known_intervals(tables, total).iter().zip(&levels) {
            if let Some(interval) = known {
                prop_assert!(interval.lo <= q && q <= interval.hi);
            }
        }
        let cut = (data.len() as f64 * cut_frac) as usize;
        let part = codec::decode_frame(tables, &params, &data[..cut], usize::MAX).unwrap();
        prop_assert_eq!(&part.levels[..], &full.levels[..part.levels.len()]);
    }

    /// Arbitrary bytes never panic the decoder.
    #[test]
    fn garbage_never_panics(data in proptest::collection::vec(any::<u8>(), 0..600), w in 1u32..64, h in 1u32..64, tagged in any::<bool>()) {
        let bundle = ModelBundle::embedded().unwrap();
        let params = StreamParams { width: w, height: h, model_id: bundle.id.clone() };
        let mut data = data;
        if tagged && data.len() >= 2 {
            data[0] = bundle.tables.frame_version();
            data[1] = params.tag();
        }
        let values = bundle.tables.channels() * params.latent_dims().0 * params.latent_dims().1;
        let total = bundle.tables.items(values);
        // A rejected frame is the empty-latent image (the decoder's job); a decoded one must
        // hold values of this latent only, each at most once.
        if let Ok(frame) = codec::decode_frame(&bundle.tables, &params, &data, usize::MAX) {
            prop_assert_eq!(frame.levels.len(), frame.order.len());
            prop_assert!(frame.levels.len() <= total && frame.declared <= total);
            let mut seen = vec![false; total];
            for &index in &frame.order {
                prop_assert!(!std::mem::replace(&mut seen[index as usize], true));
            }
            prop_assert!(tagged || data.len() < 2 || data[0] == bundle.tables.frame_version());
        }
    }
}

/// limitnet-layered (docs/bitstream.md "Layered bundles"): its whole frame carries at least
/// 8 KB, every part of it adds quality past the size of limitnet-lite's whole frame, and its
/// prefixes decode like any other bundle's.
#[test]
fn the_layered_bundle_keeps_improving_past_the_base_frame() {
    let (rgb, w, h) = common::photo("astronaut-224.png");
    let img = ImageRef::packed(&rgb, w, h, PixelLayout::Rgb);
    let whole = |name: &str| {
        let bundle = ModelBundle::load(Some(name.as_ref())).unwrap();
        let mut enc = Encoder::new(bundle.clone(), 1).unwrap();
        let frame = enc.encode(&img, &EncodeOptions::default()).unwrap();
        (bundle, enc.stream_params(w, h), frame.data)
    };
    let (lite, lite_params, lite_frame) = whole("limitnet-lite");
    let (layered, params, frame) = whole("limitnet-layered");
    assert!(frame.len() >= 8192, "{} bytes", frame.len());
    let psnr_at = |bundle: &std::sync::Arc<ModelBundle>, params: &StreamParams, data: &[u8]| {
        let mut dec = Decoder::new(bundle.clone(), 1).unwrap();
        let (out, _) = dec.decode(params, data, &Default::default()).unwrap();
        common::psnr(&rgb, &out)
    };
    let lite_full = psnr_at(&lite, &lite_params, &lite_frame);
    let mut previous = 0.0;
    for bytes in [lite_frame.len(), frame.len() / 2, frame.len()] {
        let q = psnr_at(&layered, &params, &frame[..bytes]);
        assert!(q > previous, "{bytes} bytes: {q:.2} dB, less than before");
        previous = q;
    }
    assert!(
        previous > lite_full + 1.0,
        "whole layered frame {previous:.2} dB, limitnet-lite's {lite_full:.2} dB"
    );
}
