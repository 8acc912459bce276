//! .lnet files: limitnetenc ! limitnetmux ! filesink, then filesrc ! limitnetparse (or decodebin)
//! ! limitnetdec decodes to exactly the frames of decoding live; a cut file loses nothing before
//! the cut.

mod common;

fn init() {
    gst::init().unwrap();
    let _ = gstlimitnet::plugin_register_static();
}

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
