//! Without a usable ONNX Runtime the elements fail to start with an error that says what to do.
//! (Its own test binary: the runtime is loaded once per process.)

use gst::prelude::*;

fn start_error(pipeline: &str) -> String {
    let pipeline = gst::parse::launch(pipeline).unwrap();
    let bus = pipeline.bus().unwrap();
    let _ = pipeline.set_state(gst::State::Playing);
    let msg = bus
        .timed_pop_filtered(
            gst::ClockTime::from_seconds(10),
            &[gst::MessageType::Error, gst::MessageType::Eos],
        )
        .expect("no message");
    pipeline.set_state(gst::State::Null).unwrap();
    match msg.view() {
        gst::MessageView::Error(e) => format!("{} {:?}", e.error(), e.debug()),
        other => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn missing_or_wrong_runtime_is_a_clear_error() {
    // SAFETY: set before any thread of this process reads the environment.
    unsafe { std::env::set_var("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so.1") };
    gst::init().unwrap();
    gstlimitnet::plugin_register_static().unwrap();
    for element in ["limitnetenc", "limitnetdec"] {
        let desc = if element == "limitnetenc" {
            "videotestsrc num-buffers=1 ! limitnetenc ! fakesink".to_string()
        } else {
            "fakesrc num-buffers=1 ! limitnetdec ! fakesink".to_string()
        };
        let err = start_error(&desc);
        assert!(
            err.contains("install-runtime.sh") && err.contains("ORT_DYLIB_PATH"),
            "{element}: {err}"
        );
        assert!(
            err.contains("/nonexistent/libonnxruntime.so.1: no such file"),
            "{element}: {err}"
        );
    }
    // The API says the same, as an error value.
    let bundle = limitnet::ModelBundle::embedded().unwrap();
    assert!(matches!(
        limitnet::Decoder::new(bundle, 1),
        Err(limitnet::Error::RuntimeUnavailable(_))
    ));
}
