//! .lnet files: limitnetenc ! limitnetmux ! filesink, then filesrc ! limitnetparse (or decodebin)
//! ! limitnetdec decodes to exactly the frames of decoding live; a cut file loses nothing before
//! the cut.

mod common;

use gst::prelude::*;

fn init() {
    gst::init().unwrap();
    let _ = gstlimitnet::plugin_register_static();
}

/// Runs to EOS; returns the RGB frames reaching `appsink name=sink`, or the error message.
fn frames(description: &str) -> Result<Vec<Vec<u8>>, String> {
    let pipeline = gst::parse::launch(description)
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    let sink = pipeline
        .by_name("sink")
        .map(|s| s.downcast::<gst_app::AppSink>().unwrap());
    let bus = pipeline.bus().unwrap();
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    let result = loop {
        if let Some(sink) = &sink {
            while let Some(s) = sink.try_pull_sample(gst::ClockTime::from_mseconds(10)) {
                out.push(common::rgb_of(
                    &s.buffer_owned().unwrap(),
                    s.caps().unwrap(),
                ));
            }
        }
        if let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(20)) {
            match msg.view() {
                gst::MessageView::Eos(..) => break Ok(()),
                gst::MessageView::Error(e) => {
                    break Err(format!("{} ({:?})", e.error(), e.debug()));
                }
                _ => {}
            }
        }
    };
    if let Some(sink) = &sink {
        while let Some(s) = sink.try_pull_sample(gst::ClockTime::ZERO) {
            out.push(common::rgb_of(
                &s.buffer_owned().unwrap(),
                s.caps().unwrap(),
            ));
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    result.map(|_| out)
}

#[test]
fn lnet_file_round_trip_equals_live_decoding() {
    init();
    let photo = common::data_path("chelsea-224.png");
    let dir = std::env::temp_dir().join(format!("limitnet-container-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("clip.lnet");
    let source = format!(
        "multifilesrc location={} loop=true num-buffers=4 caps=image/png,framerate=10/1 ! pngdec ! videoconvert ! \
         videoscale ! video/x-raw,width=250,height=190 ! limitnetenc percentage=60",
        photo.display()
    );
    let sink = "limitnetdec ! videoconvert ! video/x-raw,format=RGB ! appsink name=sink sync=false";
    let live = frames(&format!("{source} ! {sink}")).unwrap();
    assert_eq!(live.len(), 4);
    frames(&format!(
        "{source} ! limitnetmux ! filesink location={}",
        file.display()
    ))
    .unwrap();
    let parsed = frames(&format!(
        "filesrc location={} ! limitnetparse ! {sink}",
        file.display()
    ))
    .unwrap();
    assert_eq!(parsed, live, "limitnetparse");
    let found = frames(&format!("filesrc location={} ! decodebin ! videoconvert ! video/x-raw,format=RGB ! appsink name=sink sync=false", file.display())).unwrap();
    assert_eq!(
        found, live,
        "decodebin must find limitnetparse ! limitnetdec"
    );

    // Cut the file inside its last frame: every frame still decodes, the last from its prefix.
    let bytes = std::fs::read(&file).unwrap();
    let cut = dir.join("cut.lnet");
    std::fs::write(&cut, &bytes[..bytes.len() - 300]).unwrap();
    let from_cut = frames(&format!(
        "filesrc location={} ! limitnetparse ! {sink}",
        cut.display()
    ))
    .unwrap();
    assert_eq!(from_cut.len(), 4);
    assert_eq!(from_cut[..3], live[..3]);

    // Not a .lnet file: a clear error, no crash.
    let err = frames(&format!(
        "filesrc location={} ! limitnetparse ! {sink}",
        photo.display()
    ))
    .unwrap_err();
    assert!(err.contains("not a .lnet file"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}
