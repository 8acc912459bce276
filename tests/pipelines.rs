//! The pieces of the paper's video experiment: `limitnetdec output=saliency`, `limitnetenc
//! bitrate`, and the scripts in pipelines/ run end to end on a few frames of a real clip.

mod common;

use common::{buffer, init, rgb_of, stream_caps};

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Once;

use gst::prelude::*;
use gst_check::Harness;
use limitnet::codec::SaliencyMap;

/// An encoded frame of a shipped photo, and its saliency map as the bitstream carries it.
fn encoded(name: &str, w: u32, h: u32) -> (Vec<u8>, SaliencyMap) {
    let (rgb, pw, ph) = common::photo(name);
    let rgb = common::resize(&rgb, pw, ph, w, h);
    let bundle = limitnet::ModelBundle::embedded().unwrap();
    let mut enc = limitnet::Encoder::new(bundle, 1).unwrap();
    let image = limitnet::ImageRef::packed(&rgb, w, h, limitnet::PixelLayout::Rgb);
    let frame = enc.encode(&image, &Default::default()).unwrap();
    (frame.data, frame.saliency)
}

fn expected_saliency(map: Option<&SaliencyMap>, w: u32, h: u32) -> Vec<u8> {
    let mut out = vec![0u8; 3 * (w * h) as usize];
    SaliencyMap::render_rgb(map, w as usize, h as usize, &mut out, 3 * w as usize);
    out
}

#[test]
fn decoder_outputs_the_received_saliency_map_and_switches_while_playing() {
    init();
    for (w, h) in [(224, 224), (250, 190)] {
        let (frame, map) = encoded("astronaut-224.png", w, h);
        let mut dec = Harness::new("limitnetdec");
        dec.set_src_caps_str(&stream_caps(w, h));
        let element = dec.element().unwrap();
        assert_eq!(
            element.property::<gstlimitnet::limitnetdec::DecoderOutput>("output"),
            gstlimitnet::limitnetdec::DecoderOutput::Image
        );
        element.set_property_from_str("output", "saliency");
        let mut outputs = Vec::new();
        // Whole frame; a prefix with just the map; a cut inside the map (black); a frame of
        // another stream (black); then the image again.
        for (i, (data, output)) in [
            (frame.clone(), "saliency"),
            // 45 bytes: version, tag, the 3-byte count of a version 3 frame, the map.
            (frame[..45].to_vec(), "saliency"),
            (frame[..30].to_vec(), "saliency"),
            (vec![9u8; 200], "saliency"),
            (frame.clone(), "image"),
        ]
        .into_iter()
        .enumerate()
        {
            element.set_property_from_str("output", output);
            dec.push(buffer(data, i as u64)).unwrap();
            let out = dec.pull().unwrap();
            let caps = dec.sinkpad().unwrap().current_caps().unwrap();
            outputs.push(rgb_of(&out, &caps));
        }
        let full = expected_saliency(Some(&map), w, h);
        assert!(
            full.iter().any(|&v| v != 0) || map.0.iter().all(|&c| c == 0),
            "a real photo's map is drawn"
        );
        assert_eq!(outputs[0], full, "{w}x{h}: the map of the whole frame");
        assert_eq!(outputs[1], full, "{w}x{h}: 45 bytes carry the whole map");
        assert!(
            outputs[2].iter().all(|&v| v == 0),
            "cut inside the map: black"
        );
        assert!(outputs[3].iter().all(|&v| v == 0), "another stream: black");
        assert_ne!(outputs[4], full, "back to the decoded image");
        // The image is in colour, the map is grey.
        assert!(
            outputs[4]
                .chunks_exact(3)
                .any(|p| p[0] != p[1] || p[1] != p[2])
        );
    }
}

/// Sizes of frames pushed through limitnetenc with `caps`, after `set` changed its properties.
fn encoder_sizes(caps: &str, settings: &[(u32, u32)]) -> (Vec<usize>, Vec<String>) {
    let (rgb, w, h) = common::photo("coffee-224.png");
    let mut enc = Harness::new("limitnetenc");
    enc.set_src_caps_str(&format!(
        "video/x-raw,format=RGB,width={w},height={h},{caps}"
    ));
    let element = enc.element().unwrap();
    let bus = gst::Bus::new();
    element.set_bus(Some(&bus));
    let mut sizes = Vec::new();
    for (i, &(bitrate, max_bytes)) in settings.iter().enumerate() {
        element.set_property("bitrate", bitrate);
        element.set_property("max-bytes", max_bytes);
        enc.push(buffer(rgb.clone(), i as u64)).unwrap();
        sizes.push(enc.pull().unwrap().size());
    }
    let warnings = std::iter::from_fn(|| bus.pop())
        .filter_map(|m| match m.view() {
            gst::MessageView::Warning(w) => Some(format!("{}: {:?}", w.error(), w.debug())),
            _ => None,
        })
        .collect();
    (sizes, warnings)
}

#[test]
fn encoder_bitrate_sets_a_frame_budget_from_the_framerate() {
    init();
    // 10 fps: 40000 bit/s = 500 bytes a frame; 16000 = 200; max-bytes and bitrate: the smaller.
    let (sizes, warnings) = encoder_sizes(
        "framerate=10/1",
        &[
            (0, 0),
            (40_000, 0),
            (16_000, 0),
            (40_000, 300),
            (16_000, 300),
            (0, 0),
        ],
    );
    assert!(sizes[0] > 1000, "{sizes:?}");
    assert_eq!(sizes[1..5], [500, 200, 300, 200], "{sizes:?}");
    assert_eq!(sizes[5], sizes[0], "bitrate 0 is off again");
    assert!(warnings.is_empty(), "{warnings:?}");
    // 30000/1001 fps: 64000 * 1001 / 8 / 30000 = 266.9 bytes.
    let (sizes, _) = encoder_sizes("framerate=30000/1001", &[(64_000, 0)]);
    assert_eq!(sizes, [266]);
    // No frame rate: the bitrate is ignored, with one warning; max-bytes still applies.
    let (sizes, warnings) =
        encoder_sizes("framerate=0/1", &[(40_000, 0), (40_000, 0), (40_000, 300)]);
    assert!(sizes[0] > 1000 && sizes[1] == sizes[0], "{sizes:?}");
    assert_eq!(sizes[2], 300);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("bitrate"), "{warnings:?}");
}

// ---- The scripts in pipelines/, end to end ----

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A folder with a libgstlimitnet.so built from the current sources, for gst-launch-1.0:
/// target/release (scripts/test.sh builds it first) or target/debug if one is up to date,
/// else target/release after `cargo build --release` (cargo test builds no cdylib).
fn plugin_dir() -> PathBuf {
    static BUILD: Once = Once::new();
    let newest_source = ["src", "limitnet/src", "models"]
        .iter()
        .flat_map(|d| files_under(&root().join(d)))
        .chain([root().join("Cargo.toml"), root().join("Cargo.lock")])
        .filter_map(|p| p.metadata().and_then(|m| m.modified()).ok())
        .max()
        .unwrap();
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"));
    let fresh = |dir: &Path| {
        dir.join("libgstlimitnet.so")
            .metadata()
            .and_then(|m| m.modified())
            .is_ok_and(|t| t >= newest_source)
    };
    let release = target.join("release");
    if let Some(dir) = [release.clone(), target.join("debug")]
        .into_iter()
        .find(|d| fresh(d))
    {
        return dir;
    }
    BUILD.call_once(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        eprintln!("building the plugin for gst-launch-1.0: {cargo} build --release");
        let status = Command::new(cargo)
            .args(["build", "--release", "--lib"])
            .current_dir(root())
            .status()
            .unwrap();
        assert!(status.success(), "cargo build --release failed");
    });
    release
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(files_under(&path));
        } else {
            out.push(path);
        }
    }
    out
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("pipelines-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// OpenCV's vtest.avi where scripts/setup or pipelines/lib.sh put it; otherwise a 10 fps clip
/// made from the shipped photos (never skipped: the pipelines run either way; set
/// LIMITNET_TEST_PHOTO_CLIP=1 to use the photo clip anyway).
fn test_clip() -> PathBuf {
    let rel = "usr/share/doc/opencv-doc/examples/data/vtest.avi";
    let photos_only = std::env::var_os("LIMITNET_TEST_PHOTO_CLIP").is_some();
    for candidate in [
        Path::new("/").join(rel),
        root().join("data/.pkgs/x/opencv-doc").join(rel),
    ] {
        if candidate.exists() && !photos_only {
            eprintln!("clip: {}", candidate.display());
            return candidate;
        }
    }
    init();
    let dir = scratch("photo-clip");
    let mut photos: Vec<PathBuf> = std::fs::read_dir(root().join("tests/data"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    photos.sort();
    for i in 0..8 {
        std::fs::copy(&photos[i % photos.len()], dir.join(format!("{i}.png"))).unwrap();
    }
    let clip = dir.join("photos.avi");
    run_pipeline(&format!(
        "multifilesrc location={}/%d.png stop-index=7 caps=image/png,framerate=10/1 ! pngdec ! \
         videoconvert ! jpegenc ! avimux ! filesink location={}",
        dir.display(),
        clip.display()
    ));
    eprintln!(
        "vtest.avi absent: clip made from tests/data: {}",
        clip.display()
    );
    clip
}

/// [`common::run_pipeline`], failing the test on a pipeline error.
fn run_pipeline(description: &str) -> Vec<gst::Sample> {
    common::run_pipeline(description).unwrap_or_else(|e| panic!("{description}: {e}"))
}

/// (frames, width, height) of a video file, decoded back with decodebin. An mp4 must be H.264
/// 4:2:0 (what browsers and hardware decoders play), not the 4:4:4 that x264enc makes of RGB.
fn decoded_video(path: &Path) -> (usize, u32, u32) {
    init();
    if path.extension().is_some_and(|e| e == "mp4") {
        let parsed = run_pipeline(&format!(
            "filesrc location={} ! qtdemux ! h264parse ! appsink name=sink sync=false",
            path.display()
        ));
        let caps = parsed.first().expect("no H.264 frames").caps().unwrap();
        let s = caps.structure(0).unwrap();
        assert_eq!(s.get::<&str>("chroma-format").ok(), Some("4:2:0"), "{caps}");
        assert!(
            !s.get::<&str>("profile").unwrap_or("").contains("4:4:4"),
            "{caps}"
        );
    }
    let samples = run_pipeline(&format!(
        "filesrc location={} ! decodebin ! videoconvert ! video/x-raw,format=RGB ! \
         appsink name=sink sync=false",
        path.display()
    ));
    let caps = samples
        .first()
        .expect("no frames")
        .caps()
        .unwrap()
        .to_owned();
    let info = gst_video::VideoInfo::from_caps(&caps).unwrap();
    (samples.len(), info.width(), info.height())
}

/// Runs a script of pipelines/ with its output in `out`; returns what it printed.
fn run_script(script: &str, out: &Path, args: &[&str]) -> String {
    let output = Command::new("bash")
        .arg(root().join("pipelines").join(script))
        .args(args)
        .env("LIMITNET_OUT", out)
        .env("LIMITNET_PLUGIN_DIR", plugin_dir())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{script} {args:?} failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    eprintln!("{script} {args:?}:\n{stdout}");
    stdout
}

/// The numbers after `key` in a line of the script's output.
fn numbers_after(output: &str, key: &str) -> Vec<f64> {
    let line = output
        .lines()
        .find(|l| l.starts_with(key))
        .unwrap_or_else(|| panic!("no line {key:?} in:\n{output}"));
    line[key.len()..]
        .split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .filter_map(|t| t.parse().ok())
        .collect()
}

#[test]
fn video_experiment_script_cuts_to_the_bitrate_and_writes_a_playable_mp4() {
    let clip = test_clip();
    let out = scratch("video-experiment");
    let clip_arg = clip.to_str().unwrap();
    let printed = run_script(
        "video-experiment.sh",
        &out,
        &[clip_arg, "--frames", "5", "--bitrate", "40000"],
    );
    // 10 fps: 40000 bit/s is 500 bytes a frame.
    assert_eq!(
        numbers_after(&printed, "bytes per frame:"),
        [500.0, 500.0, 500.0]
    );
    assert_eq!(numbers_after(&printed, "bitrate:")[0], 40_000.0);
    let sent = numbers_after(&printed, "clip:").last().copied().unwrap() as usize;
    assert_eq!(sent, 5, "frames sent for --frames 5");
    let stem = clip.file_stem().unwrap().to_str().unwrap();
    let name = format!("{stem}-224x224-bitrate40000");
    let frames = std::fs::read_dir(out.join(format!("{name}.frames")))
        .unwrap()
        .count();
    assert_eq!(frames, sent);
    assert_eq!(
        decoded_video(&out.join(format!("{name}.mp4"))),
        (5, 224, 224)
    );

    // A percentage at another size: smaller frames than the full ones, same frame count.
    let printed = run_script(
        "video-experiment.sh",
        &out,
        &[
            clip_arg,
            "--frames",
            "3",
            "--size",
            "96x64",
            "--percentage",
            "10",
        ],
    );
    let bytes = numbers_after(&printed, "bytes per frame:");
    assert!(bytes[0] > 44.0 && bytes[2] < 200.0, "{bytes:?}");
    let (n, w, h) = decoded_video(&out.join(format!("{stem}-96x64-percentage10.mp4")));
    assert_eq!((w, h), (96, 64));
    assert_eq!(n, 3);
}

#[test]
fn comparison_script_tiles_the_percentages_and_the_saliency_map() {
    let clip = test_clip();
    let out = scratch("comparison");
    let printed = run_script(
        "comparison.sh",
        &out,
        &[clip.to_str().unwrap(), "--frames", "4"],
    );
    // Mean bytes per frame grow with the percentage.
    let means: Vec<f64> = [5, 10, 20, 50, 100]
        .iter()
        .map(|p| numbers_after(&printed, &format!("{p} %: bytes per frame mean"))[0])
        .collect();
    assert!(means.windows(2).all(|m| m[0] < m[1]), "{means:?}");
    let (frames, w, h) = decoded_video(&out.join("comparison.mp4"));
    assert_eq!((w, h), (896, 448));
    assert_eq!(frames, 4);
    let (_, pw, ph) = {
        let mut d = png::Decoder::new(std::io::BufReader::new(
            std::fs::File::open(out.join("comparison.png")).unwrap(),
        ));
        d.set_transformations(png::Transformations::EXPAND);
        let info = d.read_info().unwrap();
        let (w, h) = (info.info().width, info.info().height);
        ((), w, h)
    };
    assert_eq!((pw, ph), (896, 448));
}

/// `gst-launch-1.0 pipeline` with the built plugin, under an address-space limit of `gb` GB
/// (`prlimit --as`, as docs/memory.md measures); its exit status and output.
fn launch_within(gb: u64, pipeline: &str) -> (bool, String) {
    let output = Command::new("prlimit")
        .arg(format!("--as={}", gb * 1_000_000_000))
        .arg("gst-launch-1.0")
        .arg("-q")
        .args(pipeline.split_whitespace())
        .env("GST_PLUGIN_PATH", plugin_dir())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stdout).into_owned()
        + &String::from_utf8_lossy(&output.stderr);
    (output.status.success(), text)
}

#[test]
fn large_frames_encode_and_decode_in_bounded_memory() {
    // limitnet-paper's decoder needs ~3.8 GB for a whole 1024x1024 frame (5.3 GB of address
    // space); decoded in tiles it stays under 1 GB. limitnet-lite at the largest size the caps
    // allow stays under 3 GB too.
    for (model, size) in [("limitnet-paper", 1024), ("limitnet-lite", 4096)] {
        let (ok, output) = launch_within(
            3,
            &format!(
                "videotestsrc num-buffers=1 pattern=smpte ! video/x-raw,width={size},height={size} ! \
                 videoconvert ! limitnetenc model={model} ! limitnetdec ! fakesink"
            ),
        );
        assert!(ok, "{model} at {size}x{size} within 3 GB:\n{output}");
    }
}
