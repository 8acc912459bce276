//! What users expect of the elements beyond decoding: the decoder follows the stream's model,
//! properties that need a restart say so, mistyped names and tiny budgets are explained.

mod common;

use common::{Messages, buffer, init, rgb_of, run_pipeline};

use gst::prelude::*;
use gst_check::Harness;

const BUNDLES: [&str; 4] = [
    "limitnet-lite",
    "limitnet-layered",
    "limitnet-fast",
    "limitnet-paper",
];

fn raw_caps(w: u32, h: u32) -> String {
    format!("video/x-raw,format=RGB,width={w},height={h},framerate=10/1")
}

/// A frame of `photo` encoded with the compiled-in bundle `model`, and the stream caps.
fn encoded(photo: &str, model: &str) -> (Vec<u8>, gst::Caps) {
    let (rgb, w, h) = common::photo(photo);
    let mut enc = Harness::new_parse(&format!("limitnetenc model={model}"));
    enc.set_src_caps_str(&raw_caps(w, h));
    enc.push(buffer(rgb, 0)).unwrap();
    let out = enc.pull().unwrap();
    let caps = enc.sinkpad().unwrap().current_caps().unwrap();
    (out.map_readable().unwrap().to_vec(), caps)
}

fn decode(frame: &[u8], caps: &gst::Caps, dec_props: &str) -> Vec<u8> {
    let mut dec = Harness::new_parse(&format!("limitnetdec {dec_props}"));
    dec.set_src_caps(caps.clone());
    dec.push(buffer(frame.to_vec(), 0)).unwrap();
    let out = dec.pull().unwrap();
    let out_caps = dec.sinkpad().unwrap().current_caps().unwrap();
    rgb_of(&out, &out_caps)
}

#[test]
fn decoder_without_model_follows_the_stream_of_every_bundle() {
    init();
    let (rgb, _, _) = common::photo("astronaut-224.png");
    for model in BUNDLES {
        let (frame, caps) = encoded("astronaut-224.png", model);
        let followed = decode(&frame, &caps, "");
        let named = decode(&frame, &caps, &format!("model={model}"));
        assert_eq!(followed, named, "{model}: the same bundle decodes the same");
        // Every bundle round-trips to a recognisable picture (README: 18-22 dB on the photos).
        let q = common::psnr(&rgb, &followed);
        assert!(q > 16.0, "{model}: {q:.2} dB");
    }
}

#[test]
fn decoder_follows_a_change_of_model_mid_stream() {
    init();
    let (lite, lite_caps) = encoded("chelsea-224.png", "limitnet-lite");
    let (paper, paper_caps) = encoded("chelsea-224.png", "limitnet-paper");
    let mut dec = Harness::new("limitnetdec");
    let messages = Messages::watch(&dec.element().unwrap());
    for (frame, caps) in [
        (&lite, &lite_caps),
        (&paper, &paper_caps),
        (&lite, &lite_caps),
    ] {
        dec.set_src_caps(caps.clone());
        dec.push(buffer(frame.clone(), 0)).unwrap();
        let out = dec.pull().unwrap();
        let out_caps = dec.sinkpad().unwrap().current_caps().unwrap();
        assert_eq!(rgb_of(&out, &out_caps), decode(frame, caps, ""));
    }
    let (warnings, errors) = messages.take();
    assert!(
        warnings.is_empty() && errors.is_empty(),
        "{warnings:?} {errors:?}"
    );
}

#[test]
fn decoder_with_model_set_refuses_a_stream_of_another_bundle() {
    init();
    let err = run_pipeline(
        "videotestsrc num-buffers=1 ! video/x-raw,width=64,height=64 ! videoconvert ! \
         limitnetenc model=limitnet-fast ! limitnetdec model=limitnet-lite ! fakesink",
    )
    .unwrap_err();
    let fast = limitnet::ModelBundle::load(Some("limitnet-fast".as_ref())).unwrap();
    assert!(
        err.contains(&format!("Stream encoded with model {}", fast.id))
            && err.contains("limitnet-lite")
            && err.contains("leave it unset"),
        "{err}"
    );
}

#[test]
fn decoder_names_the_bundles_for_a_stream_of_an_unknown_model() {
    init();
    let mut dec = Harness::new("limitnetdec");
    let messages = Messages::watch(&dec.element().unwrap());
    dec.set_src_caps_str(
        "image/x-limitnet,width=224,height=224,framerate=10/1,model-id=0123456789abcdef",
    );
    assert!(dec.push(buffer(vec![1, 2, 3], 0)).is_err());
    let (_, errors) = messages.take();
    assert!(
        errors.iter().any(|e| e.contains("0123456789abcdef")
            && e.contains("not one of the compiled-in bundles")
            && BUNDLES.iter().all(|b| e.contains(b))),
        "{errors:?}"
    );
}

#[test]
fn caps_without_width_height_or_model_id_are_refused() {
    init();
    // Without a size the caps are not a subset of the sink template: refused at negotiation.
    for caps in [
        "image/x-limitnet,height=224,model-id=x",
        "image/x-limitnet,width=224,model-id=x",
    ] {
        let mut dec = Harness::new("limitnetdec");
        dec.set_src_caps_str(caps);
        assert_eq!(
            dec.push(buffer(vec![1, 2, 3], 0)),
            Err(gst::FlowError::NotNegotiated),
            "{caps}"
        );
        assert!(dec.try_pull().is_none());
    }
    // With a size but no model-id they reach the decoder, which says what is missing.
    let mut dec = Harness::new("limitnetdec");
    let messages = Messages::watch(&dec.element().unwrap());
    dec.set_src_caps_str("image/x-limitnet,width=224,height=224");
    assert!(dec.push(buffer(vec![1, 2, 3], 0)).is_err());
    let (_, errors) = messages.take();
    assert!(
        errors.iter().any(|e| e.contains("have no model-id")),
        "{errors:?}"
    );
}

#[test]
fn a_mistyped_bundle_name_lists_the_valid_ones() {
    init();
    for element in ["limitnetenc", "limitnetdec"] {
        let tail = if element == "limitnetenc" {
            "limitnetenc model=limitnet-Lite ! fakesink"
        } else {
            "limitnetenc ! limitnetdec model=limitnet-Lite ! fakesink"
        };
        let err = run_pipeline(&format!("videotestsrc num-buffers=1 ! {tail}")).unwrap_err();
        assert!(
            err.contains("limitnet-Lite is neither a compiled-in bundle")
                && BUNDLES.iter().all(|b| err.contains(b)),
            "{element}: {err}"
        );
    }
}

#[test]
fn restart_properties_are_refused_while_running() {
    init();
    for (element, threads) in [("limitnetenc", 1u32), ("limitnetdec", 0)] {
        let mut h = Harness::new(element);
        let e = h.element().unwrap();
        let messages = Messages::watch(&e);
        if element == "limitnetenc" {
            h.set_src_caps_str(&raw_caps(16, 16));
        }
        h.play();
        e.set_property("model", "limitnet-paper");
        e.set_property("threads", 4u32);
        assert_eq!(e.property::<Option<String>>("model"), None, "{element}");
        assert_eq!(e.property::<u32>("threads"), threads, "{element}");
        let (warnings, _) = messages.take();
        assert_eq!(warnings.len(), 2, "{element}: {warnings:?}");
        assert!(
            warnings.iter().all(|w| w.contains("NULL or READY")),
            "{element}: {warnings:?}"
        );
        // Stopped, the same properties take.
        e.set_state(gst::State::Null).unwrap();
        e.set_property("model", "limitnet-paper");
        e.set_property("threads", 4u32);
        assert_eq!(
            e.property::<Option<String>>("model").as_deref(),
            Some("limitnet-paper")
        );
        assert_eq!(e.property::<u32>("threads"), 4);
    }
}

#[test]
fn a_budget_below_the_header_is_a_warning_once_per_budget() {
    init();
    let (rgb, w, h) = common::photo("coffee-224.png");
    let mut enc = Harness::new("limitnetenc");
    let e = enc.element().unwrap();
    let messages = Messages::watch(&e);
    enc.set_src_caps_str(&raw_caps(w, h));
    for (max_bytes, warned) in [
        (0u32, false),
        (512, false),
        (10, true),
        (10, false),
        (44, true),
    ] {
        e.set_property("max-bytes", max_bytes);
        enc.push(buffer(rgb.clone(), 0)).unwrap();
        let out = enc.pull().unwrap();
        let (warnings, errors) = messages.take();
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            warnings.len(),
            usize::from(warned),
            "max-bytes={max_bytes}: {warnings:?}"
        );
        if warned {
            assert!(
                warnings[0].contains(&format!("cut at {max_bytes} bytes"))
                    && warnings[0].contains("45-byte header"),
                "{warnings:?}"
            );
            assert_eq!(out.size(), max_bytes as usize);
        }
    }
}

#[test]
fn element_classes_are_written_as_the_peers_write_them() {
    init();
    for (element, klass) in [
        ("limitnetenc", "Codec/Encoder/Video"),
        ("limitnetdec", "Codec/Decoder/Video"),
        ("limitnetmux", "Codec/Muxer"),
        ("limitnetparse", "Codec/Parser/Video"),
        ("limitnetpay", "Codec/Payloader/Network/RTP"),
        ("limitnetdepay", "Codec/Depayloader/Network/RTP"),
    ] {
        let factory = gst::ElementFactory::find(element).unwrap();
        assert_eq!(
            factory.metadata(gst::ELEMENT_METADATA_KLASS),
            Some(klass),
            "{element}"
        );
    }
}

#[test]
fn the_rust_engine_sends_what_onnx_runtime_sends() {
    init();
    for photo in ["coffee-224.png", "astronaut-224.png"] {
        let (rgb, w, h) = common::photo(photo);
        let frames: Vec<Vec<u8>> = ["onnx-runtime", "rust", "rust-int8"]
            .iter()
            .map(|engine| {
                let mut enc = Harness::new_parse(&format!("limitnetenc engine={engine}"));
                enc.set_src_caps_str(&raw_caps(w, h));
                enc.push(buffer(rgb.clone(), 0)).unwrap();
                enc.pull().unwrap().map_readable().unwrap().to_vec()
            })
            .collect();
        assert_eq!(frames[0], frames[1], "{photo}");
        // Fixed point: other bytes, nearly the same picture.
        let bundle = limitnet::ModelBundle::embedded().unwrap();
        let mut decoder = limitnet::Decoder::new(bundle.clone(), 1).unwrap();
        let params = limitnet::StreamParams {
            width: w,
            height: h,
            model_id: bundle.id.clone(),
        };
        let [onnx, fixed] = [&frames[0], &frames[2]].map(|frame| {
            let (image, _) = decoder.decode(&params, frame, &Default::default()).unwrap();
            common::psnr(&rgb, &image)
        });
        assert!(
            (onnx - fixed).abs() < 0.3,
            "{photo}: {onnx:.2} vs {fixed:.2} dB"
        );
    }
    // Other bundles have no Rust encoder: a clear error at start.
    let err = run_pipeline(
        "videotestsrc num-buffers=1 ! limitnetenc engine=rust model=limitnet-paper ! fakesink",
    )
    .unwrap_err();
    assert!(
        err.contains("the Rust encoder runs limitnet-lite only"),
        "{err}"
    );
}
