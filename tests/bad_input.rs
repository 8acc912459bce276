//! Bad input through the elements (README "Guarantees on bad input"): each case gives a clear
//! GStreamer error, or a warning and a frame where a frame can be made. Nothing panics, nothing
//! is lost, absurd caps are refused before anything is allocated for them.
//! (An unusable ONNX Runtime: tests/runtime_missing.rs and tests/runtime_unusable.rs.)

mod common;

use common::{
    Messages, buffer, empty_latent_image, init, model_id, rgb_of, run_pipeline, run_pipeline_with,
    stream_caps,
};

use gst::prelude::*;
use gst_check::Harness;
use limitnet::codec::container;
use limitnet::{Encoder, ImageRef, ModelBundle, PixelLayout, StreamParams};

fn raw_caps(w: u32, h: u32) -> String {
    format!("video/x-raw,format=RGB,width={w},height={h},framerate=10/1")
}

/// A shipped photo at `w`x`h`, packed RGB (rows of 3 * w bytes: use widths where that is a
/// multiple of 4, GStreamer's RGB stride).
fn photo(w: u32, h: u32) -> Vec<u8> {
    let (rgb, pw, ph) = common::photo("chelsea-224.png");
    common::resize(&rgb, pw, ph, w, h)
}

/// The photo at `w`x`h` encoded whole by the library (what limitnetenc sends).
fn encoded(w: u32, h: u32) -> Vec<u8> {
    let rgb = photo(w, h);
    let mut encoder = Encoder::new(ModelBundle::embedded().unwrap(), 1).unwrap();
    let image = ImageRef::packed(&rgb, w, h, PixelLayout::Rgb);
    encoder.encode(&image, &Default::default()).unwrap().data
}

/// A limitnetdec harness for a `w`x`h` stream of the embedded model, with its messages.
fn decoder(w: u32, h: u32) -> (Harness, Messages) {
    let mut dec = Harness::new("limitnetdec");
    let messages = Messages::watch(&dec.element().unwrap());
    dec.set_src_caps_str(&stream_caps(w, h));
    (dec, messages)
}

/// Pushes `data` as frame `index` and pulls the output: packed RGB of the negotiated size.
fn decode(dec: &mut Harness, data: Vec<u8>, index: u64) -> (Vec<u8>, (u32, u32)) {
    dec.push(buffer(data, index)).unwrap();
    let out = dec.pull().unwrap();
    assert_eq!(
        out.pts(),
        Some(gst::ClockTime::from_mseconds(100 * index)),
        "frame {index} keeps its timestamp"
    );
    let caps = dec.sinkpad().unwrap().current_caps().unwrap();
    let info = gst_video::VideoInfo::from_caps(&caps).unwrap();
    (rgb_of(&out, &caps), (info.width(), info.height()))
}

// ---- Empty buffers ----

#[test]
fn empty_buffer_into_decoder_gives_the_empty_latent_image_and_a_warning() {
    init();
    let (mut dec, messages) = decoder(32, 32);
    let frame = encoded(32, 32);
    let (before, _) = decode(&mut dec, frame.clone(), 0);
    let (empty, size) = decode(&mut dec, Vec::new(), 1);
    assert_eq!(size, (32, 32));
    assert!(
        empty == empty_latent_image(32, 32),
        "the empty-latent image"
    );
    let (warnings, errors) = messages.take();
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("only 0 bytes"), "{warnings:?}");
    // The stream goes on unharmed.
    let (after, _) = decode(&mut dec, frame, 2);
    assert_eq!(after, before);
    assert_eq!(messages.take(), (vec![], vec![]));
}

#[test]
fn empty_buffer_into_encoder_is_a_clear_error() {
    init();
    let mut enc = Harness::new("limitnetenc");
    let messages = Messages::watch(&enc.element().unwrap());
    enc.set_src_caps_str(&raw_caps(32, 32));
    assert_eq!(enc.push(buffer(Vec::new(), 0)), Err(gst::FlowError::Error));
    let (_, errors) = messages.take();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].contains("0 bytes") && errors[0].contains("32x32 RGB frame needs 3072"),
        "{errors:?}"
    );
    // A short buffer too.
    assert_eq!(
        enc.push(buffer(vec![0; 3071], 1)),
        Err(gst::FlowError::Error)
    );
    assert!(messages.take().1[0].contains("3071 bytes"));
}

#[test]
fn empty_buffers_and_empty_frames_through_the_file_elements() {
    init();
    let frame = encoded(32, 32);
    // An empty frame is a record of 0 bytes, read back as an empty frame.
    let mut mux = Harness::new_parse("limitnetmux ! limitnetparse");
    mux.set_src_caps_str(&stream_caps(32, 32));
    for (i, data) in [frame.clone(), Vec::new(), frame.clone()]
        .into_iter()
        .enumerate()
    {
        mux.push(buffer(data, i as u64)).unwrap();
    }
    let sizes: Vec<usize> = (0..3).map(|_| mux.pull().unwrap().size()).collect();
    assert_eq!(sizes, [frame.len(), 0, frame.len()]);

    // Empty buffers between the pieces of a file change nothing.
    let mut file = container::file_header(&stream_caps(32, 32));
    file.extend(container::record(Some(0), Some(100), &frame));
    file.extend(container::record(Some(100_000_000), Some(100), &frame));
    let mut parse = Harness::new("limitnetparse");
    let messages = Messages::watch(&parse.element().unwrap());
    parse.set_src_caps_str("application/x-limitnet-file");
    for piece in file.chunks(50) {
        parse.push(gst::Buffer::new()).unwrap();
        parse.push(gst::Buffer::from_slice(piece.to_vec())).unwrap();
    }
    parse.push(gst::Buffer::new()).unwrap();
    for _ in 0..2 {
        assert_eq!(parse.pull().unwrap().map_readable().unwrap()[..], frame[..]);
    }
    assert_eq!(messages.take(), (vec![], vec![]));
}

// ---- Garbage, frames of other streams, cuts, flipped bits ----

#[test]
fn garbage_and_frames_of_other_streams_give_a_frame_and_a_warning() {
    init();
    let (w, h) = (32, 32);
    let (mut dec, messages) = decoder(w, h);
    let frame = encoded(w, h);
    let params = StreamParams {
        width: w,
        height: h,
        model_id: model_id(),
    };
    let mut other_model = frame.clone();
    other_model[1] = StreamParams {
        model_id: "fedcba9876543210".into(),
        ..params.clone()
    }
    .tag();
    assert_ne!(other_model[1], frame[1]);
    let mut too_many_values = frame[..2].to_vec();
    too_many_values.extend([0xff, 0xff, 0x03]); // 65535 values in a 192-value latent
    too_many_values.extend(&frame[4..]);
    let mut endless_count = frame[..2].to_vec();
    endless_count.extend([0xff; 100]);
    let garbage = |n: usize, seed: u32| -> Vec<u8> {
        (0..n as u32)
            .map(|i| (i.wrapping_add(seed).wrapping_mul(2654435761) >> 13) as u8 | 0x80)
            .collect()
    };
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("one byte", vec![0x42], "version"),
        ("garbage", garbage(700, 1), "version"),
        ("1 MiB of garbage", garbage(1 << 20, 2), "version"),
        ("another model", other_model, "another stream"),
        ("another size", encoded(40, 24), "another stream"),
        (
            "a count over the latent",
            too_many_values,
            "announces 65535 values",
        ),
        ("an endless count", endless_count, "longer than 5 bytes"),
    ];
    let empty = empty_latent_image(w, h);
    for (i, (what, data, warning)) in cases.into_iter().enumerate() {
        let (rgb, size) = decode(&mut dec, data, i as u64);
        assert_eq!(size, (w, h), "{what}");
        assert!(rgb == empty, "{what}: not the empty-latent image");
        let (warnings, errors) = messages.take();
        assert!(errors.is_empty(), "{what}: {errors:?}");
        assert_eq!(warnings.len(), 1, "{what}: {warnings:?}");
        assert!(warnings[0].contains(warning), "{what}: {warnings:?}");
    }
}

/// Bytes before the first value of a 32x32 frame: version, tag, a 2-byte count (192 values),
/// the 40-byte saliency map.
const HEADER_32X32: usize = 44;

#[test]
fn a_frame_cut_at_every_byte_decodes_through_the_element() {
    init();
    let frame = encoded(32, 32);
    let (mut dec, messages) = decoder(32, 32);
    let mut outputs = Vec::new();
    for n in 0..=frame.len() {
        let (rgb, size) = decode(&mut dec, frame[..n].to_vec(), n as u64);
        assert_eq!(size, (32, 32));
        let (warnings, errors) = messages.take();
        assert!(errors.is_empty(), "cut at {n}: {errors:?}");
        // Only a cut before the end of the saliency map is worth a warning.
        assert_eq!(
            warnings.len(),
            usize::from(n < HEADER_32X32),
            "cut at {n}: {warnings:?}"
        );
        outputs.push(rgb);
    }
    // Up to the map nothing is known: all give the empty-latent image; more bytes change it.
    let empty = empty_latent_image(32, 32);
    assert!(outputs[..HEADER_32X32].iter().all(|o| *o == empty));
    assert_ne!(outputs[frame.len()], outputs[0]);
}

#[test]
fn every_single_flipped_bit_gives_a_frame() {
    init();
    let frame = encoded(32, 32);
    let (mut dec, messages) = decoder(32, 32);
    let mut warned = 0;
    let empty = empty_latent_image(32, 32);
    for bit in 0..8 * frame.len() {
        let mut damaged = frame.clone();
        damaged[bit / 8] ^= 1 << (bit % 8);
        let (rgb, size) = decode(&mut dec, damaged, bit as u64);
        assert_eq!(size, (32, 32));
        let (warnings, errors) = messages.take();
        assert!(errors.is_empty(), "bit {bit}: {errors:?}");
        warned += warnings.len();
        if bit < 16 {
            assert_eq!(warnings.len(), 1, "version and tag bits: {warnings:?}");
            assert!(rgb == empty, "bit {bit}: not the empty-latent image");
        }
    }
    assert!(warned >= 16);
}

/// What limitnetparse gives for `file`: (frames pushed, errors posted).
fn parse_file(file: &[u8]) -> (Vec<Vec<u8>>, Vec<String>) {
    let mut parse = Harness::new("limitnetparse");
    let messages = Messages::watch(&parse.element().unwrap());
    parse.set_src_caps_str("application/x-limitnet-file");
    if !file.is_empty() {
        parse.push(gst::Buffer::from_slice(file.to_vec())).unwrap();
    }
    parse.push_event(gst::event::Eos::new());
    let frames = std::iter::from_fn(|| parse.try_pull())
        .map(|b| b.map_readable().unwrap().to_vec())
        .collect();
    (frames, messages.take().1)
}

#[test]
fn an_lnet_file_cut_at_every_byte() {
    init();
    let frame = encoded(32, 32);
    let caps = stream_caps(32, 32);
    let header = container::file_header(&caps);
    let one_copy = header.len() / 2;
    let record_len = container::record(None, None, &frame).len();
    let mut file = header.clone();
    file.extend(container::record(Some(0), Some(100), &frame));
    file.extend(container::record(Some(100_000_000), Some(100), &frame));
    for n in 0..=file.len() {
        let (frames, errors) = parse_file(&file[..n]);
        if n < one_copy {
            assert!(frames.is_empty(), "cut at {n}");
            assert!(
                errors
                    .first()
                    .is_some_and(|e| e.contains("No .lnet header") || e.contains("No valid frames")),
                "cut at {n}: {errors:?}"
            );
            continue;
        }
        // Whole records, then the prefix of a record whose header is complete.
        let body = n.saturating_sub(header.len());
        let (whole, rest) = (body / record_len, body % record_len);
        let expected = whole + usize::from(rest >= container::RECORD_HEADER);
        assert_eq!(frames.len(), expected, "cut at {n}");
        if expected == 0 {
            // A header and no frame, as GstBaseParse says of any stream without one.
            assert!(
                errors.len() == 1 && errors[0].contains("No valid frames"),
                "cut at {n}: {errors:?}"
            );
        } else {
            assert!(errors.is_empty(), "cut at {n}: {errors:?}");
        }
        for (i, f) in frames.iter().enumerate() {
            assert_eq!(f[..], frame[..f.len()], "cut at {n}: frame {i} is a prefix");
            if i < whole {
                assert_eq!(f.len(), frame.len());
            }
        }
    }
}

/// A .lnet file of four different frames (a 32x32 frame and three cuts of it), with each
/// record's offset.
fn four_frame_file() -> (Vec<u8>, Vec<Vec<u8>>, Vec<usize>) {
    let frame = encoded(32, 32);
    let n = frame.len();
    let frames: Vec<Vec<u8>> = [n, n * 3 / 4, n / 2, n / 3]
        .iter()
        .map(|&len| frame[..len].to_vec())
        .collect();
    let mut file = container::file_header(&stream_caps(32, 32));
    let mut offsets = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        offsets.push(file.len());
        file.extend(container::record(
            Some(i as u64 * 100_000_000),
            Some(100_000_000),
            f,
        ));
    }
    (file, frames, offsets)
}

#[test]
fn a_flipped_bit_anywhere_in_an_lnet_header_loses_no_frame() {
    init();
    let (file, frames, offsets) = four_frame_file();
    for byte in 0..offsets[0] {
        for bit in [0, 3, 7] {
            let mut damaged = file.clone();
            damaged[byte] ^= 1 << bit;
            let (got, errors) = parse_file(&damaged);
            assert!(errors.is_empty(), "flip at {byte}.{bit}: {errors:?}");
            assert_eq!(got, frames, "flip at {byte}.{bit}");
        }
    }
}

#[test]
fn damage_in_an_lnet_record_loses_only_that_frame() {
    init();
    let (file, frames, offsets) = four_frame_file();
    let others_intact = |got: &[Vec<u8>], lost: usize, what: &str| {
        let expected: Vec<&Vec<u8>> = (0..4).filter(|&i| i != lost).map(|i| &frames[i]).collect();
        // The touched frame may survive (damage in its checksum) or come out damaged.
        let intact: Vec<&Vec<u8>> = got
            .iter()
            .filter(|f| frames.contains(f) && **f != frames[lost])
            .collect();
        assert_eq!(intact, expected, "{what}");
    };
    for (i, &at) in offsets.iter().enumerate() {
        // The record length off by a little or a lot.
        for delta in [1u32, 2, 0xffff_fffe, 0xffff_ffff, 1 << 20] {
            let mut damaged = file.clone();
            let len = u32::from_le_bytes(damaged[at + 4..at + 8].try_into().unwrap());
            damaged[at + 4..at + 8].copy_from_slice(&len.wrapping_add(delta).to_le_bytes());
            let (got, errors) = parse_file(&damaged);
            assert!(errors.is_empty(), "record {i} length + {delta}: {errors:?}");
            assert_eq!(got.len(), 3, "record {i} length + {delta}");
            others_intact(&got, i, &format!("record {i} length + {delta}"));
        }
        // A flipped bit anywhere in the record's header or payload.
        let end = offsets.get(i + 1).copied().unwrap_or(file.len());
        for byte in (at..end).step_by(7) {
            let mut damaged = file.clone();
            damaged[byte] ^= 0x10;
            let (got, errors) = parse_file(&damaged);
            assert!(errors.is_empty(), "flip at {byte}: {errors:?}");
            assert!(got.len() >= 3, "flip at {byte}");
            others_intact(&got, i, &format!("flip at {byte} (record {i})"));
        }
    }
}

#[test]
fn version_1_lnet_files_keep_reading() {
    init();
    let (_, frames, _) = four_frame_file();
    let mut file = container::v1::file_header(&stream_caps(32, 32));
    for (i, f) in frames.iter().enumerate() {
        file.extend(container::v1::record(Some(i as u64), None, f));
    }
    let (got, errors) = parse_file(&file);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(got, frames);
}

// ---- Caps ----

#[test]
fn absurd_sizes_in_caps_are_refused_before_any_allocation() {
    init();
    let max = limitnet::api::MAX_DIMENSION;
    for (w, h) in [
        (100_000, 100_000),
        (max + 1, max + 1),
        (max + 1, 16),
        (16, 0),
    ] {
        // The pad templates refuse the caps: nothing reaches set_format or allocates.
        let mut enc = Harness::new("limitnetenc");
        enc.set_src_caps_str(&raw_caps(w, h));
        assert_eq!(
            enc.push(buffer(vec![0; 48], 0)),
            Err(gst::FlowError::NotNegotiated),
            "limitnetenc {w}x{h}"
        );
        let (mut dec, _) = decoder(w, h);
        assert_eq!(
            dec.push(buffer(vec![1, 2, 3], 0)),
            Err(gst::FlowError::NotNegotiated),
            "limitnetdec {w}x{h}"
        );
    }
    // In pipelines: a capsfilter cannot even be linked; a source that just sets such caps
    // gets the usual not-negotiated error.
    let err = gst::parse::launch(
        "videotestsrc ! video/x-raw,width=100000,height=100000 ! limitnetenc ! fakesink",
    )
    .unwrap_err();
    assert!(err.to_string().contains("can't handle caps"), "{err}");
    for (element, caps) in [
        ("limitnetenc", raw_caps(100_000, 100_000)),
        ("limitnetdec", stream_caps(100_000, 100_000)),
    ] {
        let err = run_pipeline_with(
            &format!("appsrc name=src caps=\"{caps}\" ! {element} ! fakesink"),
            |p| push_and_end(p, vec![vec![1, 2, 3]]),
        )
        .unwrap_err();
        assert!(err.contains("not-negotiated"), "{element}: {err}");
    }
    // A .lnet file that claims such a size.
    let mut file = container::file_header(&stream_caps(100_000, 100_000));
    file.extend(container::record(Some(0), None, &[1, 2, 3]));
    let path = std::env::temp_dir().join(format!("limitnet-absurd-{}.lnet", std::process::id()));
    std::fs::write(&path, &file).unwrap();
    let err = run_pipeline(&format!(
        "filesrc location={} ! limitnetparse ! limitnetdec ! fakesink",
        path.display()
    ))
    .unwrap_err();
    std::fs::remove_file(&path).unwrap();
    assert!(err.contains("not-negotiated"), "{err}");
}

#[test]
fn stream_caps_without_a_model_id_are_a_clear_error() {
    init();
    let err = run_pipeline_with(
        "appsrc name=src caps=\"image/x-limitnet,width=32,height=32,framerate=10/1\" ! limitnetdec ! fakesink",
        |p| push_and_end(p, vec![vec![1, 2, 3]]),
    )
    .unwrap_err();
    assert!(err.contains("model-id"), "{err}");
}

/// Pushes `frames` into `appsrc name=src` (10 fps timestamps), then ends the stream.
fn push_and_end(pipeline: &gst::Pipeline, frames: Vec<Vec<u8>>) {
    let src = pipeline
        .by_name("src")
        .unwrap()
        .downcast::<gst_app::AppSrc>()
        .unwrap();
    for (i, data) in frames.into_iter().enumerate() {
        // A refused push (not-negotiated) is what some tests are about: the bus says why.
        if src.push_buffer(buffer(data, i as u64)).is_err() {
            break;
        }
    }
    let _ = src.end_of_stream();
}

// ---- Renegotiation ----

#[test]
fn encoder_and_decoder_follow_a_resolution_change_mid_stream() {
    init();
    let mut codec = Harness::new_parse("limitnetenc ! limitnetdec");
    let messages = Messages::watch(&codec.element().unwrap());
    let mut i = 0;
    for (w, h) in [(224, 224), (320, 240), (224, 224)] {
        codec.set_src_caps_str(&raw_caps(w, h));
        let rgb = photo(w, h);
        for _ in 0..2 {
            let (out, size) = decode(&mut codec, rgb.clone(), i);
            i += 1;
            assert_eq!(size, (w, h));
            let q = common::psnr(&rgb, &out);
            let grey = common::psnr(&rgb, &vec![128; rgb.len()]);
            assert!(q > grey + 3.0, "{w}x{h}: {q:.2} dB, grey {grey:.2} dB");
        }
    }
    assert_eq!(messages.take(), (vec![], vec![]));
}

#[test]
fn decoder_follows_new_stream_caps_and_rejects_frames_of_the_old_size() {
    init();
    let (mut dec, messages) = decoder(32, 32);
    let (small, large) = (encoded(32, 32), encoded(48, 40));
    assert_eq!(decode(&mut dec, small.clone(), 0).1, (32, 32));
    dec.set_src_caps_str(&stream_caps(48, 40));
    let (at_new_size, size) = decode(&mut dec, large, 1);
    assert_eq!(size, (48, 40));
    assert!(common::psnr(&photo(48, 40), &at_new_size) > 12.0);
    assert_eq!(messages.take(), (vec![], vec![]));
    // A late frame of the old size: a frame at the new size and a warning.
    assert_eq!(decode(&mut dec, small, 2).1, (48, 40));
    let (warnings, errors) = messages.take();
    assert!(
        errors.is_empty() && warnings.len() == 1,
        "{warnings:?} {errors:?}"
    );
    assert!(warnings[0].contains("another stream"), "{warnings:?}");
}

#[test]
fn a_size_change_into_limitnetmux_is_a_clear_error() {
    init();
    let mut mux = Harness::new("limitnetmux");
    let messages = Messages::watch(&mux.element().unwrap());
    mux.set_src_caps_str(&stream_caps(32, 32));
    mux.push(buffer(encoded(32, 32), 0)).unwrap();
    mux.set_src_caps_str(&stream_caps(48, 40));
    let (_, errors) = messages.take();
    assert!(!errors.is_empty());
    assert!(
        errors.iter().all(|e| e.contains("caps changed mid-stream")),
        "{errors:?}"
    );
}

// ---- EOS ----

#[test]
fn eos_in_the_middle_loses_no_frame() {
    init();
    let (w, h) = (64, 64);
    let frames: Vec<Vec<u8>> = (0..12).map(|_| photo(w, h)).collect();
    // All frames are queued before the encoder has done any: EOS comes in behind them.
    let samples = run_pipeline_with(
        &format!(
            "appsrc name=src format=time caps=\"{}\" ! queue ! limitnetenc ! queue ! limitnetdec ! \
             appsink name=sink sync=false",
            raw_caps(w, h)
        ),
        |p| push_and_end(p, frames),
    )
    .unwrap();
    let pts: Vec<u64> = samples
        .iter()
        .map(|s| s.buffer().unwrap().pts().unwrap().mseconds())
        .collect();
    assert_eq!(pts, (0..12).map(|i| 100 * i).collect::<Vec<_>>());

    // EOS before caps or any frame: it passes, nothing else happens.
    for element in ["limitnetenc", "limitnetdec"] {
        let mut harness = Harness::new(element);
        let messages = Messages::watch(&harness.element().unwrap());
        assert!(harness.push_event(gst::event::Eos::new()));
        let eos = std::iter::from_fn(|| harness.try_pull_event())
            .any(|e| e.type_() == gst::EventType::Eos);
        assert!(eos, "{element}");
        assert_eq!(messages.take(), (vec![], vec![]), "{element}");
    }

    // A frame after EOS is refused with the EOS flow, not an error.
    let (mut dec, messages) = decoder(32, 32);
    decode(&mut dec, encoded(32, 32), 0);
    assert!(dec.push_event(gst::event::Eos::new()));
    assert_eq!(dec.push(buffer(vec![1], 1)), Err(gst::FlowError::Eos));
    assert_eq!(messages.take(), (vec![], vec![]));
}

// ---- percentage=0 ----

#[test]
fn percentage_zero_gives_the_empty_latent_image() {
    init();
    let rgb = photo(64, 64);
    let mut enc = Harness::new("limitnetenc");
    enc.set_src_caps_str(&raw_caps(64, 64));
    enc.element().unwrap().set_property("percentage", 0.0);
    enc.push(buffer(rgb.clone(), 0)).unwrap();
    let header_only = enc.pull().unwrap().map_readable().unwrap().to_vec();
    // Version, tag, count 0, the saliency map: no values.
    assert_eq!(header_only.len(), 2 + 1 + 40);
    assert_eq!(header_only[2], 0);

    let (mut dec, messages) = decoder(64, 64);
    let (from_header_only, size) = decode(&mut dec, header_only, 0);
    assert_eq!(size, (64, 64));
    let (full, _) = decode(&mut dec, encoded(64, 64), 1);
    dec.element().unwrap().set_property("percentage", 0.0);
    let (dec_zero, _) = decode(&mut dec, encoded(64, 64), 2);
    assert_eq!(dec_zero, from_header_only, "both decode an all-zero latent");
    assert_ne!(full, dec_zero);
    assert_eq!(
        messages.take(),
        (vec![], vec![]),
        "a frame with its map: no warning"
    );
}

// ---- Model files ----

#[test]
fn wrong_or_missing_model_files_are_clear_errors_on_both_elements() {
    init();
    let bundle = ModelBundle::embedded().unwrap();
    let dir = std::env::temp_dir().join(format!("limitnet-wrong-model-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let codec_json =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/limitnet-paper/codec.json");
    std::fs::copy(&codec_json, dir.join("codec.json")).unwrap();
    let start = |element: &str| {
        let source = match element {
            "limitnetenc" => "videotestsrc num-buffers=1",
            _ => "fakesrc num-buffers=1",
        };
        run_pipeline(&format!(
            "{source} ! {element} model={} ! fakesink",
            dir.display()
        ))
        .unwrap_err()
    };
    // Each network where the other should be.
    std::fs::write(dir.join("encoder.onnx"), &bundle.decoder_onnx[..]).unwrap();
    std::fs::write(dir.join("decoder.onnx"), &bundle.encoder_onnx[..]).unwrap();
    for (element, graph) in [("limitnetenc", "encoder"), ("limitnetdec", "decoder")] {
        let err = start(element);
        assert!(
            err.contains(&format!("{graph} graph")) && err.contains("not a LimitNet bundle"),
            "{element}: {err}"
        );
    }
    // Not ONNX at all; then missing.
    std::fs::write(dir.join("decoder.onnx"), b"not a network").unwrap();
    let err = start("limitnetdec");
    assert!(err.contains("decoder graph"), "{err}");
    std::fs::remove_file(dir.join("decoder.onnx")).unwrap();
    let err = start("limitnetdec");
    assert!(
        err.contains("Cannot load the model bundle") && err.contains("decoder.onnx"),
        "{err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
