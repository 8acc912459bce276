//! .lnet files: limitnetenc ! limitnetmux ! filesink, then filesrc ! limitnetparse (or decodebin)
//! ! limitnetdec decodes to exactly the frames of decoding live; a cut file loses nothing before
//! the cut.

mod common;

use common::init;

/// The RGB frames reaching `appsink name=sink`, or the error message.
fn frames(description: &str) -> Result<Vec<Vec<u8>>, String> {
    let samples = common::run_pipeline(description)?;
    Ok(samples
        .iter()
        .map(|s| common::rgb_of(&s.buffer_owned().unwrap(), s.caps().unwrap()))
        .collect())
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

/// A .lnet of `frames` frames at 10 fps, each different (a moving ball), with `model`.
fn write_clip(path: &std::path::Path, frames: u32, model: &str) {
    frames_or_panic(&format!(
        "videotestsrc pattern=ball num-buffers={frames} ! video/x-raw,width=96,height=64,framerate=10/1 ! \
         videoconvert ! limitnetenc model={model} ! limitnetmux ! filesink location={}",
        path.display()
    ));
}

fn frames_or_panic(description: &str) -> Vec<Vec<u8>> {
    frames(description).unwrap_or_else(|e| panic!("{description}: {e}"))
}

/// What a paused pipeline reports, and the frames after a seek.
struct Seeked {
    duration: Option<gst::ClockTime>,
    seekable: bool,
    /// (pts, RGB) of each frame after the seek.
    frames: Vec<(gst::ClockTime, Vec<u8>)>,
}

/// What a paused `pipeline` reports, then the frames that reach `sink` after a flushing,
/// accurate seek to `to`.
fn seek_in(pipeline: &gst::Element, sink: &gst::Element, to: gst::ClockTime) -> Seeked {
    use gst::prelude::*;
    let sink = sink.clone().downcast::<gst_app::AppSink>().unwrap();
    pipeline.set_state(gst::State::Paused).unwrap();
    let (result, ..) = pipeline.state(gst::ClockTime::from_seconds(30));
    result.unwrap();
    let duration = pipeline.query_duration::<gst::ClockTime>();
    let mut q = gst::query::Seeking::new(gst::Format::Time);
    let seekable = pipeline.query(&mut q) && q.result().0;
    pipeline
        .seek_simple(gst::SeekFlags::FLUSH | gst::SeekFlags::ACCURATE, to)
        .unwrap();
    pipeline.set_state(gst::State::Playing).unwrap();
    let mut out = Vec::new();
    while let Some(s) = sink.try_pull_sample(gst::ClockTime::from_seconds(10)) {
        let b = s.buffer_owned().unwrap();
        out.push((b.pts().unwrap(), common::rgb_of(&b, s.caps().unwrap())));
    }
    pipeline.set_state(gst::State::Null).unwrap();
    Seeked {
        duration,
        seekable,
        frames: out,
    }
}

#[test]
fn lnet_files_of_every_bundle_play_seek_and_report_their_duration() {
    use gst::prelude::*;
    init();
    let dir = std::env::temp_dir().join(format!("limitnet-seek-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let rgb_sink = "videoconvert ! video/x-raw,format=RGB ! appsink name=sink sync=false";
    for model in limitnet::ModelBundle::embedded_names() {
        let file = dir.join(format!("{model}.lnet"));
        write_clip(&file, 20, model);
        let parser = format!(
            "filesrc location={} ! limitnetparse ! limitnetdec ! {rgb_sink}",
            file.display()
        );
        let all = frames_or_panic(&parser);
        assert_eq!(all.len(), 20, "{model}");
        assert!(
            all.windows(2).all(|w| w[0] != w[1]),
            "{model}: frames differ"
        );
        let to = gst::ClockTime::from_mseconds(1300);
        for how in ["limitnetparse", "playbin"] {
            let (pipeline, sink) = if how == "playbin" {
                let sink = gst::parse::bin_from_description(rgb_sink, true).unwrap();
                let playbin = gst::ElementFactory::make("playbin")
                    .property("uri", format!("file://{}", file.display()))
                    .property("video-sink", &sink)
                    .build()
                    .unwrap();
                (playbin, sink.by_name("sink").unwrap())
            } else {
                let pipeline = gst::parse::launch(&parser).unwrap();
                let sink = pipeline
                    .downcast_ref::<gst::Bin>()
                    .unwrap()
                    .by_name("sink")
                    .unwrap();
                (pipeline, sink)
            };
            let Seeked {
                duration,
                seekable,
                frames: after,
            } = seek_in(&pipeline, &sink, to);
            assert_eq!(
                duration,
                Some(gst::ClockTime::from_seconds(2)),
                "{model} {how}"
            );
            assert!(seekable, "{model} {how}");
            assert_eq!(after.len(), 7, "{model} {how}: frames 13..20");
            for (i, (pts, rgb)) in after.iter().enumerate() {
                assert_eq!(
                    *pts,
                    to + gst::ClockTime::from_mseconds(100 * i as u64),
                    "{model} {how}"
                );
                assert!(
                    rgb == &all[13 + i],
                    "{model} {how}: frame {} after the seek",
                    13 + i
                );
            }
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
