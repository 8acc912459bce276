//! limitnetenc / limitnetdec through gst_check::Harness and real pipelines, on real photos.

mod common;

use common::{buffer, init, model_id, rgb_of, run_pipeline, stream_caps};

use gst::prelude::*;
use gst_check::Harness;

/// Quality floors of the default bundle on the shipped photos (224x224, PSNR in dB at 100 %,
/// 20 % and 512 bytes): 0.5 dB under what limitnet-lite reaches (coffee 23.8 / 21.9 / 15.8,
/// astronaut 21.0 / 19.8 / 15.7, chelsea 26.7 / 24.7 / 20.8), so a regression of the model or
/// the codec shows, while ONNX Runtime's small differences between CPUs do not.
const PSNR_FLOORS: [(&str, [f64; 3]); 3] = [
    ("coffee-224.png", [23.3, 21.4, 15.3]),
    ("astronaut-224.png", [20.5, 19.2, 15.2]),
    ("chelsea-224.png", [26.2, 24.2, 20.3]),
];
/// The lowest 20 % floor, for the pipeline test.
const PSNR_FLOOR_20_PERCENT: f64 = 19.2;
/// At 512 bytes a frame must be clearly better than sending nothing (a mid-grey frame).
const PSNR_GAIN_OVER_GREY_512_BYTES: f64 = 1.0;

fn grey_psnr(rgb: &[u8]) -> f64 {
    common::psnr(rgb, &vec![128u8; rgb.len()])
}

fn raw_caps(format: &str, w: u32, h: u32) -> String {
    format!("video/x-raw,format={format},width={w},height={h},framerate=10/1")
}

fn bytes(b: &gst::Buffer) -> Vec<u8> {
    b.map_readable().unwrap().to_vec()
}

fn encoded_photo(name: &str) -> Vec<u8> {
    let (rgb, w, h) = common::photo(name);
    let mut enc = Harness::new("limitnetenc");
    enc.set_src_caps_str(&raw_caps("RGB", w, h));
    enc.push(buffer(rgb, 0)).unwrap();
    bytes(&enc.pull().unwrap())
}

#[test]
fn encoder_emits_one_sync_frame_per_input_with_stream_caps() {
    init();
    let (rgb, w, h) = common::photo("coffee-224.png");
    let mut h_enc = Harness::new("limitnetenc");
    h_enc.set_src_caps_str(&raw_caps("RGB", w, h));
    for i in 0..3 {
        h_enc.push(buffer(rgb.clone(), i)).unwrap();
    }
    for i in 0..3 {
        let out = h_enc.pull().unwrap();
        assert_eq!(out.pts(), Some(gst::ClockTime::from_mseconds(100 * i)));
        assert!(
            !out.flags().contains(gst::BufferFlags::DELTA_UNIT),
            "every frame is a sync point"
        );
        assert!(out.size() > 44);
    }
    let caps = h_enc.sinkpad().unwrap().current_caps().unwrap();
    let s = caps.structure(0).unwrap();
    assert_eq!(s.name(), "image/x-limitnet");
    assert_eq!(s.get::<i32>("width").unwrap(), 224);
    assert_eq!(s.get::<i32>("height").unwrap(), 224);
    assert_eq!(
        s.get::<gst::Fraction>("framerate").unwrap(),
        gst::Fraction::new(10, 1)
    );
    assert_eq!(s.get::<&str>("model-id").unwrap(), model_id());
    let _ = h;
}

fn round_trip(format: &str, rgb_in: &[u8], w: u32, h: u32, dec_props: &str) -> Vec<u8> {
    let mut hn = Harness::new_parse(&format!("limitnetenc ! limitnetdec {dec_props}"));
    hn.set_src_caps_str(&raw_caps(format, w, h));
    let data = match format {
        "RGB" => rgb_in.to_vec(),
        "BGRx" => rgb_in
            .chunks_exact(3)
            .flat_map(|p| [p[2], p[1], p[0], 0])
            .collect(),
        _ => unreachable!(),
    };
    let data = if format == "RGB" {
        // GStreamer's default RGB stride is rounded up to 4 bytes.
        let info = gst_video::VideoInfo::builder(gst_video::VideoFormat::Rgb, w, h)
            .build()
            .unwrap();
        let stride = info.stride()[0] as usize;
        let mut padded = vec![0u8; stride * h as usize];
        for y in 0..h as usize {
            padded[y * stride..y * stride + 3 * w as usize]
                .copy_from_slice(&data[y * 3 * w as usize..(y + 1) * 3 * w as usize]);
        }
        padded
    } else {
        data
    };
    hn.push(buffer(data, 0)).unwrap();
    let out = hn.pull().unwrap();
    let caps = hn.sinkpad().unwrap().current_caps().unwrap();
    let info = gst_video::VideoInfo::from_caps(&caps).unwrap();
    assert_eq!(
        (info.width(), info.height(), info.format()),
        (w, h, gst_video::VideoFormat::Rgb)
    );
    rgb_of(&out, &caps)
}

#[test]
fn round_trip_quality_on_real_photos() {
    init();
    for (name, [floor_full, floor_20, floor_512]) in PSNR_FLOORS {
        let (rgb, w, h) = common::photo(name);
        let full = common::psnr(&rgb, &round_trip("RGB", &rgb, w, h, ""));
        let p20 = common::psnr(&rgb, &round_trip("RGB", &rgb, w, h, "percentage=20"));
        let b512 = common::psnr(&rgb, &round_trip("RGB", &rgb, w, h, "max-bytes=512"));
        eprintln!("{name}: PSNR 100% {full:.2} dB, 20% {p20:.2} dB, 512 B {b512:.2} dB");
        assert!(full >= floor_full, "{name}: {full:.2} dB at 100%");
        assert!(p20 >= floor_20, "{name}: {p20:.2} dB at 20%");
        assert!(b512 >= floor_512, "{name}: {b512:.2} dB at 512 bytes");
        let grey = grey_psnr(&rgb);
        assert!(
            b512 >= grey + PSNR_GAIN_OVER_GREY_512_BYTES,
            "{name}: {b512:.2} dB at 512 bytes, grey {grey:.2} dB"
        );
        assert!(full > p20, "{name}: more data must not decode worse");
    }
}

#[test]
fn odd_sizes_and_formats_round_trip_at_their_own_size() {
    init();
    let (rgb, w, h) = common::photo("chelsea-224.png");
    // PSNR floors 0.5 dB under what limitnet-lite reaches (26.4 and 16.4 dB); none for the
    // tiny frames, which are mostly border.
    for ((nw, nh), floor) in [
        ((250, 190), Some(25.9)),
        ((13, 7), None),
        ((1, 1), None),
        ((97, 8), Some(15.8)),
    ] {
        let small = common::resize(&rgb, w, h, nw, nh);
        let out = round_trip("RGB", &small, nw, nh, "");
        assert_eq!(out.len(), small.len());
        let out_bgrx = round_trip("BGRx", &small, nw, nh, "");
        assert_eq!(
            out, out_bgrx,
            "{nw}x{nh}: RGB and BGRx input must encode the same"
        );
        let q = common::psnr(&small, &out);
        eprintln!("{nw}x{nh}: {q:.2} dB");
        if let Some(floor) = floor {
            assert!(q > floor, "{nw}x{nh}: {q:.2} dB");
        }
    }
}

#[test]
fn decoder_percentage_and_max_bytes_change_while_playing() {
    init();
    let (rgb, w, h) = common::photo("astronaut-224.png");
    let frame = encoded_photo("astronaut-224.png");
    let mut dec = Harness::new("limitnetdec");
    dec.set_src_caps_str(&stream_caps(w, h));
    let element = dec.element().unwrap();
    let mut quality = Vec::new();
    for (percentage, max_bytes) in [(100.0, 0u32), (10.0, 0), (100.0, 200), (100.0, 0)] {
        element.set_property("percentage", percentage);
        element.set_property("max-bytes", max_bytes);
        dec.push(buffer(frame.clone(), 0)).unwrap();
        let out = dec.pull().unwrap();
        let caps = dec.sinkpad().unwrap().current_caps().unwrap();
        quality.push(common::psnr(&rgb, &rgb_of(&out, &caps)));
    }
    assert!(
        quality[0] > quality[1] && quality[0] > quality[2],
        "{quality:?}"
    );
    assert_eq!(quality[0], quality[3], "back to full quality");
}

#[test]
fn encoder_percentage_and_max_bytes_change_while_playing() {
    init();
    let (rgb, w, h) = common::photo("coffee-224.png");
    let mut enc = Harness::new("limitnetenc");
    enc.set_src_caps_str(&raw_caps("RGB", w, h));
    let element = enc.element().unwrap();
    let mut sizes = Vec::new();
    for (percentage, max_bytes) in [(100.0, 0u32), (20.0, 0), (100.0, 512), (100.0, 10)] {
        element.set_property("percentage", percentage);
        element.set_property("max-bytes", max_bytes);
        enc.push(buffer(rgb.clone(), 0)).unwrap();
        sizes.push(enc.pull().unwrap().size());
    }
    assert!(sizes[1] < sizes[0] / 2, "{sizes:?}");
    assert_eq!(sizes[2], 512);
    assert_eq!(sizes[3], 10);
}

#[test]
fn every_cut_and_damaged_frame_still_gives_a_frame() {
    init();
    let frame = encoded_photo("coffee-224.png");
    let mut dec = Harness::new("limitnetdec");
    dec.set_src_caps_str(&stream_caps(224, 224));
    let mut inputs: Vec<Vec<u8>> = [0, 1, 2, 3, 10, 43, 44, 45, 100, 511, frame.len() - 1]
        .iter()
        .map(|&n| frame[..n].to_vec())
        .collect();
    let mut flipped = frame.clone();
    for i in (50..flipped.len()).step_by(37) {
        flipped[i] ^= 0x5a;
    }
    inputs.push(flipped);
    inputs.push(
        (0..700u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect(),
    ); // garbage
    let mut wrong_version = frame.clone();
    wrong_version[0] = 9;
    inputs.push(wrong_version);
    // Cuts up to the end of the 45-byte header and map (the default bundle's version 3 frames
    // count 3 x 9408 items in 3 bytes), garbage and a wrong version carry no value.
    let nothing_usable = |i: usize| i <= 7 || i >= 12;
    let empty = common::empty_latent_image(224, 224);
    for (i, data) in inputs.into_iter().enumerate() {
        dec.push(buffer(data, i as u64)).unwrap();
        let out = dec.pull().unwrap();
        assert_eq!(
            out.pts(),
            Some(gst::ClockTime::from_mseconds(100 * i as u64))
        );
        let caps = dec.sinkpad().unwrap().current_caps().unwrap();
        let rgb = rgb_of(&out, &caps);
        assert_eq!(rgb.len(), 224 * 224 * 3);
        assert_eq!(rgb == empty, nothing_usable(i), "input {i}");
    }
}

#[test]
fn pipeline_from_a_photo_file_decodes_recognisably() {
    init();
    let path = common::data_path("coffee-224.png");
    let (rgb, _, _) = common::photo("coffee-224.png");
    let grey = grey_psnr(&rgb);
    for (enc, dec, floor) in [
        ("", "percentage=20", PSNR_FLOOR_20_PERCENT),
        ("max-bytes=512", "", grey + PSNR_GAIN_OVER_GREY_512_BYTES),
    ] {
        let samples = run_pipeline(&format!(
            "filesrc location={} ! decodebin ! videoconvert ! videoscale ! video/x-raw,width=224,height=224 ! \
             limitnetenc {enc} ! limitnetdec {dec} ! videoconvert ! video/x-raw,format=RGB ! appsink name=sink sync=false",
            path.display()
        ))
        .unwrap();
        assert_eq!(samples.len(), 1);
        let out = rgb_of(
            &samples[0].buffer_owned().unwrap(),
            samples[0].caps().unwrap(),
        );
        let q = common::psnr(&rgb, &out);
        assert!(q >= floor, "enc [{enc}] dec [{dec}]: {q:.2} dB");
    }
}

#[test]
fn bad_model_property_is_a_clear_error() {
    init();
    let dir = std::env::temp_dir().join(format!("limitnet-bad-model-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let err = run_pipeline(&format!(
        "videotestsrc num-buffers=1 ! limitnetenc model={} ! fakesink",
        dir.display()
    ))
    .unwrap_err();
    assert!(
        err.contains("Cannot load the model bundle") && err.contains("encoder.onnx"),
        "{err}"
    );
    // A truncated network file.
    let bundle = limitnet::ModelBundle::embedded().unwrap();
    std::fs::write(dir.join("encoder.onnx"), &bundle.encoder_onnx[..1000]).unwrap();
    std::fs::write(dir.join("decoder.onnx"), &bundle.decoder_onnx[..]).unwrap();
    std::fs::copy(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/limitnet-paper/codec.json"),
        dir.join("codec.json"),
    )
    .unwrap();
    let err = run_pipeline(&format!(
        "videotestsrc num-buffers=1 ! limitnetenc model={} ! fakesink",
        dir.display()
    ))
    .unwrap_err();
    assert!(err.contains("encoder graph"), "{err}");
    // Corrupt codec tables.
    std::fs::write(dir.join("codec.json"), b"{\"format\": \"limitnet-codec\"").unwrap();
    let err = run_pipeline(&format!(
        "videotestsrc num-buffers=1 ! limitnetenc model={} ! fakesink",
        dir.display()
    ))
    .unwrap_err();
    assert!(err.contains("codec.json"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
