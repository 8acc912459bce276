//! The speed benchmark: limitnetenc/limitnetdec (and, for limitnet-lite, the pure-Rust sender:
//! `engine=rust`, `engine=rust-int8`) beside jpegenc/jpegdec, webpenc/webpdec and
//! openjpegenc/openjpegdec, in the same GStreamer pipeline shape, on frames of real video, in
//! one run on one machine. `scripts/bench.sh` builds and runs it; see README "Speed".
//!
//! ```text
//! cargo run --release --example bench_pipelines -- --video vtest.avi [--sizes 224x224,640x480]
//!     [--runs 3] [--bundle models/limitnet-fast --bundle limitnet-paper] [--threads 1,2]
//!     [--out docs/bench-results.md] [--readme README.md] [--work out/bench]
//! ```
//!
//! `--bundle`: a bundle directory, the name of a bundle compiled into the plugin, or `default`
//! (no `model` set); default: every bundle directory under `models/`. The elements timed are
//! this build's, or those of the plugin file in `LIMITNET_BENCH_PLUGIN` (e.g. an older build).
//!
//! Every measurement is a fresh child process (this program with `--child`), so each has its
//! own peak memory (VmHWM). Shapes, with frames pushed from memory so that no file reading or
//! source decoding is timed:
//!
//! - encoder: `appsrc (RGB frames) ! videoconvert ! ENCODER ! fakesink`
//! - decoder: `appsrc (that encoder's frames) ! DECODER ! videoconvert ! video/x-raw,format=RGB ! fakesink`
//!
//! The classical encoders are given I420 (`videoconvert ! video/x-raw,format=I420 ! jpegenc`),
//! the 4:2:0 input they are normally used with (jpegenc would otherwise code RGB JPEGs, ~3x
//! the size); `videoconvert` is a passthrough for LimitNet, which takes and gives RGB. The
//! conversions are part of the time: they are part of using a codec on RGB video. A run times
//! the frames leaving the pipeline: ms per frame is the median time between consecutive output
//! frames after the warm-up (in a pipeline without queues, one frame's whole processing in all
//! elements and their threads; the median leaves out frames during which another process had
//! the CPU). Each figure is then the median over `--runs` runs; the
//! runs of all codecs are interleaved so that background load spreads over all of them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use gst::prelude::*;

type Res<T> = Result<T, String>;

/// Frames taken from the video (every `SOURCE_STEP`-th), pushed in a loop by every run.
const SOURCE_FRAMES: usize = 16;
const SOURCE_STEP: usize = 10;
/// Frames whose output is not timed: the first runs of a network allocate its buffers.
const WARM_UP: usize = 1;

#[derive(Debug, Clone)]
struct StopRule {
    /// Stop once this many frames are timed and `min_seconds` have passed...
    min_frames: usize,
    min_seconds: f64,
    /// ...or at this many timed frames...
    max_frames: usize,
    /// ...or after this long, with at least 3 timed frames (slow codecs at large sizes).
    max_seconds: f64,
}

impl StopRule {
    fn done(&self, timed: usize, seconds: f64) -> bool {
        (timed >= self.min_frames && seconds >= self.min_seconds)
            || timed >= self.max_frames
            || (timed >= 3 && seconds >= self.max_seconds)
    }
}

/// A codec pair under test.
#[derive(Debug, Clone)]
struct Codec {
    /// Row label.
    label: String,
    /// Threads column ("-" where the element has no such setting used here).
    threads: String,
    encoder: String,
    decoder: String,
    /// Key of its encoded frames (LimitNet's do not depend on the thread count).
    stream_key: String,
}

/// A classical codec, fed 4:2:0 (I420) like it usually is: its input and output conversions
/// to and from RGB are part of its time.
fn classical(name: &str, label: &str) -> Codec {
    Codec {
        label: label.into(),
        threads: "-".into(),
        encoder: format!("video/x-raw,format=I420 ! {name}enc"),
        decoder: format!("{name}dec"),
        stream_key: name.into(),
    }
}

fn limitnet(bundle: &Bundle, threads: u32) -> Codec {
    let model = match &bundle.model {
        Some(m) => format!(" model=\"{m}\""),
        None => String::new(),
    };
    Codec {
        label: format!("limitnet ({})", bundle.name),
        threads: threads.to_string(),
        encoder: format!("limitnetenc threads={threads}{model}"),
        decoder: format!("limitnetdec threads={threads}{model}"),
        stream_key: format!("limitnet-{}", bundle.name),
    }
}

#[derive(Debug, Clone)]
struct Bundle {
    name: String,
    /// The elements' `model` value; `None`: unset (the plugin's default bundle).
    model: Option<String>,
}

impl Bundle {
    /// `default` (the `model` property unset), a bundle directory, or any other `model` value
    /// (the name of a bundle compiled into the plugin).
    fn parse(arg: &str) -> Res<Self> {
        if arg == "default" {
            return Ok(Self {
                name: "default".into(),
                model: None,
            });
        }
        let path = Path::new(arg);
        if !path.is_dir() {
            return Ok(Self {
                name: arg.into(),
                model: Some(arg.into()),
            });
        }
        let dir = std::fs::canonicalize(path).map_err(|e| format!("bundle {arg}: {e}"))?;
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| arg.into());
        Ok(Self {
            name,
            model: Some(dir.to_string_lossy().into_owned()),
        })
    }

    /// Every bundle directory under the repository's `models/`.
    fn all_in_models() -> Res<Vec<Self>> {
        let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
        let mut dirs: Vec<PathBuf> = std::fs::read_dir(&models)
            .map_err(|e| format!("{}: {e}", models.display()))?
            .filter_map(|e| Some(e.ok()?.path()))
            .filter(|d| {
                ["encoder.onnx", "decoder.onnx", "codec.json"]
                    .iter()
                    .all(|f| d.join(f).is_file())
            })
            .collect();
        dirs.sort();
        dirs.iter()
            .map(|d| Self::parse(&d.to_string_lossy()))
            .collect()
    }
}

struct Args {
    video: PathBuf,
    sizes: Vec<(u32, u32)>,
    runs: usize,
    bundles: Vec<Bundle>,
    threads: Vec<u32>,
    out: Option<PathBuf>,
    readme: Option<PathBuf>,
    work: PathBuf,
    stop: StopRule,
    note: Option<String>,
}

fn usage() -> String {
    "usage: bench_pipelines --video FILE [--sizes WxH,...] [--runs N] [--bundle default|DIR|NAME]... \
     [--threads 1,2] [--out FILE.md] [--readme README.md] [--work DIR] [--min-seconds S] [--max-seconds S] \
     [--max-frames N] [--note TEXT]"
        .into()
}

fn parse_size(s: &str) -> Res<(u32, u32)> {
    let (w, h) = s
        .split_once('x')
        .ok_or_else(|| format!("size {s}: not WxH"))?;
    let w: u32 = w.parse().map_err(|_| format!("size {s}: bad width"))?;
    let h: u32 = h.parse().map_err(|_| format!("size {s}: bad height"))?;
    if w == 0 || h == 0 || w > 4096 || h > 4096 {
        return Err(format!("size {s}: outside 1..=4096"));
    }
    Ok((w, h))
}

fn parse_args(args: &[String]) -> Res<Args> {
    let mut a = Args {
        video: PathBuf::new(),
        sizes: vec![(224, 224), (640, 480)],
        runs: 3,
        bundles: Vec::new(),
        threads: vec![1, 2],
        out: None,
        readme: None,
        work: PathBuf::from("out/bench"),
        stop: StopRule {
            min_frames: 10,
            min_seconds: 0.5,
            max_frames: 200,
            max_seconds: 3.0,
        },
        note: None,
    };
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        let number = |v: String| v.parse::<f64>().map_err(|_| format!("{flag}: {v}?"));
        match flag.as_str() {
            "--video" => a.video = PathBuf::from(value()?),
            "--sizes" => a.sizes = value()?.split(',').map(parse_size).collect::<Res<_>>()?,
            "--runs" => a.runs = number(value()?)?.max(1.0) as usize,
            "--bundle" => a.bundles.push(Bundle::parse(&value()?)?),
            "--threads" => {
                a.threads = value()?
                    .split(',')
                    .map(|t| t.parse().map_err(|_| format!("--threads: {t}?")))
                    .collect::<Res<_>>()?
            }
            "--out" => a.out = Some(PathBuf::from(value()?)),
            "--readme" => a.readme = Some(PathBuf::from(value()?)),
            "--work" => a.work = PathBuf::from(value()?),
            "--min-seconds" => a.stop.min_seconds = number(value()?)?,
            "--max-seconds" => a.stop.max_seconds = number(value()?)?,
            "--max-frames" => a.stop.max_frames = number(value()?)?.max(3.0) as usize,
            "--note" => a.note = Some(value()?),
            other => return Err(format!("unknown argument {other}\n{}", usage())),
        }
    }
    if a.video.as_os_str().is_empty() {
        return Err(usage());
    }
    if a.bundles.is_empty() {
        a.bundles = Bundle::all_in_models()?;
    }
    Ok(a)
}

/// Environment variable naming a plugin file to time instead of this build's elements (an
/// installed or older build).
const PLUGIN_ENV: &str = "LIMITNET_BENCH_PLUGIN";

/// GStreamer with the LimitNet elements: this build's, registered in-process, or those of the
/// plugin file in `LIMITNET_BENCH_PLUGIN`. `GST_PLUGIN_PATH` is cleared first (in `main`) so
/// that no other build of the plugin on it can stand in for them.
fn init() -> Res<()> {
    gst::init().map_err(|e| e.to_string())?;
    if let Some(file) = std::env::var_os(PLUGIN_ENV) {
        gst::Plugin::load_file(&file)
            .map_err(|e| format!("{PLUGIN_ENV}={}: {e}", file.to_string_lossy()))?;
        return Ok(());
    }
    if let Some(factory) = gst::ElementFactory::find("limitnetenc") {
        let file = factory
            .plugin()
            .and_then(|p| p.filename())
            .map(|f| f.display().to_string())
            .unwrap_or_default();
        return Err(format!(
            "a LimitNet plugin is installed ({file}) and would shadow this build: set {PLUGIN_ENV}={file} to time it"
        ));
    }
    gstlimitnet::plugin_register_static().map_err(|e| e.to_string())
}

/// Which LimitNet elements are timed, for the report.
fn plugin_in_use() -> String {
    match std::env::var_os(PLUGIN_ENV) {
        Some(file) => format!("the plugin {}", file.to_string_lossy()),
        None => "this build's elements".into(),
    }
}

/// Runs `pipeline` to EOS (or the first error).
fn run_to_eos(pipeline: &gst::Pipeline) -> Res<()> {
    let bus = pipeline.bus().expect("pipelines have a bus");
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| format!("cannot play: {e}"))?;
    let result = loop {
        match bus.timed_pop(gst::ClockTime::NONE) {
            Some(msg) => match msg.view() {
                gst::MessageView::Eos(_) => break Ok(()),
                gst::MessageView::Error(e) => {
                    break Err(format!(
                        "{}: {}",
                        e.src().map(|s| s.path_string()).unwrap_or_default(),
                        e.error()
                    ));
                }
                _ => {}
            },
            None => break Err("bus closed".into()),
        }
    };
    let _ = pipeline.set_state(gst::State::Null);
    result
}

fn parse_pipeline(description: &str) -> Res<gst::Pipeline> {
    gst::parse::launch(description)
        .map_err(|e| format!("{description}: {e}"))?
        .downcast::<gst::Pipeline>()
        .map_err(|_| "not a pipeline".to_string())
}

/// The element named `name` in `pipeline`, as a `T` (an appsrc, an appsink).
fn named<T: IsA<gst::Element>>(pipeline: &gst::Pipeline, name: &str) -> Res<T> {
    pipeline
        .by_name(name)
        .and_then(|e| e.downcast::<T>().ok())
        .ok_or_else(|| format!("no {} named {name}", std::any::type_name::<T>()))
}

fn launch(description: &str) -> Res<(gst::Pipeline, gst_app::AppSrc)> {
    let pipeline = parse_pipeline(description)?;
    let src = named(&pipeline, "src")?;
    Ok((pipeline, src))
}

fn rgb_caps(w: u32, h: u32) -> gst_video::VideoCapsBuilder<gst::caps::NoFeature> {
    gst_video::VideoCapsBuilder::new()
        .format(gst_video::VideoFormat::Rgb)
        .width(w as i32)
        .height(h as i32)
}

/// The caps of the source frames (10 fps, as vtest.avi).
fn raw_caps(w: u32, h: u32) -> gst::Caps {
    rgb_caps(w, h).framerate(gst::Fraction::new(10, 1)).build()
}

/// Frames of the video, scaled to `w` x `h` RGB.
fn source_frames(video: &Path, w: u32, h: u32) -> Res<Vec<Vec<u8>>> {
    let description = format!(
        "filesrc location=\"{}\" ! decodebin ! videoconvert ! videoscale ! {} ! appsink name=sink sync=false",
        video.display(),
        rgb_caps(w, h).build()
    );
    let pipeline = parse_pipeline(&description)?;
    let sink: gst_app::AppSink = named(&pipeline, "sink")?;
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| format!("cannot play {}: {e}", video.display()))?;
    let mut frames = Vec::new();
    let mut index = 0;
    while frames.len() < SOURCE_FRAMES {
        let Ok(sample) = sink.pull_sample() else {
            break;
        };
        if index % SOURCE_STEP == 0 {
            let buffer = sample.buffer().ok_or("sample without buffer")?;
            let map = buffer.map_readable().map_err(|e| e.to_string())?;
            let row = 3 * w as usize;
            // Rows of videoconvert output are 4-byte aligned: repack them.
            let stride = map.len() / h as usize;
            let mut frame = Vec::with_capacity(row * h as usize);
            for y in 0..h as usize {
                frame.extend_from_slice(&map[y * stride..y * stride + row]);
            }
            frames.push(frame);
        }
        index += 1;
    }
    let _ = pipeline.set_state(gst::State::Null);
    if frames.is_empty() {
        return Err(format!("no frames decoded from {}", video.display()));
    }
    Ok(frames)
}

/// Length-prefixed frames in one file: u32 little-endian length, then the bytes.
fn write_frames(path: &Path, frames: &[Vec<u8>]) -> Res<()> {
    let mut out = Vec::new();
    for f in frames {
        out.extend_from_slice(&(f.len() as u32).to_le_bytes());
        out.extend_from_slice(f);
    }
    std::fs::write(path, out).map_err(|e| format!("{}: {e}", path.display()))
}

fn read_frames(path: &Path) -> Res<Vec<Vec<u8>>> {
    let data = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut frames = Vec::new();
    let mut rest = &data[..];
    while rest.len() >= 4 {
        let n = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        let frame = rest.get(4..4 + n).ok_or("truncated frames file")?;
        frames.push(frame.to_vec());
        rest = &rest[4 + n..];
    }
    Ok(frames)
}

/// Encodes the source frames once with `encoder`: the decoders' input and its caps.
fn encode_frames(encoder: &str, frames: &[Vec<u8>], w: u32, h: u32) -> Res<(Vec<Vec<u8>>, String)> {
    let description = format!(
        "appsrc name=src format=time ! videoconvert ! {encoder} ! appsink name=sink sync=false"
    );
    let (pipeline, src) = launch(&description)?;
    src.set_caps(Some(&raw_caps(w, h)));
    let sink: gst_app::AppSink = named(&pipeline, "sink")?;
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| format!("{encoder}: cannot play: {e}"))?;
    let pusher = {
        let src = src.clone();
        let frames = frames.to_vec();
        std::thread::spawn(move || {
            for (i, f) in frames.into_iter().enumerate() {
                let mut buffer = gst::Buffer::from_mut_slice(f);
                let b = buffer.get_mut().expect("new buffer");
                b.set_pts(gst::ClockTime::from_mseconds(100 * i as u64));
                b.set_duration(gst::ClockTime::from_mseconds(100));
                if src.push_buffer(buffer).is_err() {
                    break;
                }
            }
            let _ = src.end_of_stream();
        })
    };
    let mut encoded = Vec::new();
    let mut caps = String::new();
    while let Ok(sample) = sink.pull_sample() {
        if caps.is_empty() {
            caps = sample.caps().map(|c| c.to_string()).unwrap_or_default();
        }
        let buffer = sample.buffer().ok_or("sample without buffer")?;
        encoded.push(buffer.map_readable().map_err(|e| e.to_string())?.to_vec());
    }
    let _ = pusher.join();
    let bus_error = pipeline.bus().and_then(|bus| {
        bus.pop_filtered(&[gst::MessageType::Error])
            .map(|m| match m.view() {
                gst::MessageView::Error(e) => e.error().to_string(),
                _ => String::new(),
            })
    });
    let _ = pipeline.set_state(gst::State::Null);
    if let Some(e) = bus_error {
        return Err(format!("{encoder}: {e}"));
    }
    if encoded.len() != frames.len() {
        return Err(format!(
            "{encoder}: {} frames in, {} out",
            frames.len(),
            encoded.len()
        ));
    }
    Ok((encoded, caps))
}

/// One timed run (in a child process): pushes `frames` in a loop through `description` until
/// the stop rule says enough; returns (timed frames, median ms per frame).
fn timed_run(
    description: &str,
    caps: &gst::Caps,
    frames: Vec<Vec<u8>>,
    stop: &StopRule,
) -> Res<(usize, f64)> {
    let (pipeline, src) = launch(description)?;
    src.set_caps(Some(caps));
    src.set_property("max-buffers", 1u64);
    src.set_property("max-bytes", 0u64);
    let sink = pipeline.by_name("sink").ok_or("no sink")?;
    let outputs: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let enough = Arc::new(AtomicBool::new(false));
    {
        let outputs = outputs.clone();
        let enough = enough.clone();
        let stop = stop.clone();
        sink.static_pad("sink")
            .ok_or("sink without pad")?
            .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                let now = Instant::now();
                let mut times = outputs.lock().unwrap();
                times.push(now);
                if times.len() > WARM_UP {
                    let timed = times.len() - 1 - WARM_UP;
                    let seconds = (now - times[WARM_UP]).as_secs_f64();
                    if stop.done(timed, seconds) {
                        enough.store(true, Ordering::Relaxed);
                    }
                }
                gst::PadProbeReturn::Ok
            });
    }
    // Buffers are pushed from appsrc's need-data callback, in its own streaming thread: no
    // pushing thread to wake per frame (on a loaded machine its wake-ups showed up as time).
    let buffers: Vec<gst::Buffer> = frames
        .into_iter()
        .map(gst::Buffer::from_mut_slice)
        .collect();
    let mut pushed = 0u64;
    src.set_callbacks(
        gst_app::AppSrcCallbacks::builder()
            .need_data(move |src, _| {
                if enough.load(Ordering::Relaxed) {
                    let _ = src.end_of_stream();
                    return;
                }
                let mut buffer = buffers[pushed as usize % buffers.len()].copy();
                let b = buffer.get_mut().expect("fresh copy");
                b.set_pts(gst::ClockTime::from_mseconds(100 * pushed));
                b.set_duration(gst::ClockTime::from_mseconds(100));
                let _ = src.push_buffer(buffer);
                pushed += 1;
            })
            .build(),
    );
    run_to_eos(&pipeline)?;
    let times = outputs.lock().unwrap();
    if times.len() < WARM_UP + 2 {
        return Err(format!("only {} frames came out", times.len()));
    }
    // Output-to-output intervals: in a pipeline without queues each is one frame's processing.
    // Their median leaves out the frames during which another process had the CPU.
    let intervals: Vec<f64> = times[WARM_UP..]
        .windows(2)
        .map(|t| 1000.0 * (t[1] - t[0]).as_secs_f64())
        .collect();
    Ok((intervals.len(), median(&intervals)))
}

/// Peak resident memory of this process in KiB (Linux; 0 elsewhere).
fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// `--child ROLE ELEMENT CAPS FRAMES_FILE min_frames min_s max_frames max_s`: one measurement,
/// printed as `RESULT frames ms_per_frame peak_rss_kib`.
fn child(args: &[String]) -> Res<()> {
    let [
        role,
        element,
        caps,
        file,
        min_frames,
        min_s,
        max_frames,
        max_s,
    ] = args
    else {
        return Err("bad --child arguments".into());
    };
    init()?;
    let num = |s: &String| s.parse::<f64>().map_err(|_| format!("{s}?"));
    let stop = StopRule {
        min_frames: num(min_frames)? as usize,
        min_seconds: num(min_s)?,
        max_frames: num(max_frames)? as usize,
        max_seconds: num(max_s)?,
    };
    let caps: gst::Caps = caps.parse().map_err(|_| format!("caps {caps}?"))?;
    let description = match role.as_str() {
        "enc" => format!(
            "appsrc name=src format=time ! videoconvert ! {element} ! fakesink name=sink sync=false"
        ),
        "dec" => format!(
            "appsrc name=src format=time ! {element} ! videoconvert ! video/x-raw,format=RGB ! fakesink name=sink sync=false"
        ),
        other => return Err(format!("role {other}?")),
    };
    let frames = read_frames(Path::new(file))?;
    let (timed, ms) = timed_run(&description, &caps, frames, &stop)?;
    println!("RESULT {timed} {ms} {}", peak_rss_kib());
    Ok(())
}

#[derive(Debug, Default, Clone)]
struct Samples {
    ms: Vec<f64>,
    rss_kib: Vec<u64>,
    frames: Vec<usize>,
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn spawn_child(
    role: &str,
    element: &str,
    caps: &str,
    file: &Path,
    stop: &StopRule,
) -> Res<(usize, f64, u64)> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let output = Command::new(exe)
        .arg("--child")
        .args([role, element, caps])
        .arg(file)
        .args([
            stop.min_frames.to_string(),
            stop.min_seconds.to_string(),
            stop.max_frames.to_string(),
            stop.max_seconds.to_string(),
        ])
        .output()
        .map_err(|e| e.to_string())?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().find_map(|l| l.strip_prefix("RESULT "));
    let Some(line) = line else {
        return Err(format!(
            "{role} {element}: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    };
    let f: Vec<&str> = line.split_whitespace().collect();
    let parse_err = || format!("bad child output {line}");
    Ok((
        f.first()
            .and_then(|v| v.parse().ok())
            .ok_or_else(parse_err)?,
        f.get(1)
            .and_then(|v| v.parse().ok())
            .ok_or_else(parse_err)?,
        f.get(2)
            .and_then(|v| v.parse().ok())
            .ok_or_else(parse_err)?,
    ))
}

fn element_missing(codec: &Codec) -> Option<String> {
    [&codec.encoder, &codec.decoder]
        .into_iter()
        .map(|e| {
            let last = e.rsplit('!').next().unwrap_or_default();
            last.split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string()
        })
        .find(|name| gst::ElementFactory::find(name).is_none())
}

fn shell(cmd: &str, args: &[&str]) -> String {
    Command::new(cmd)
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    format!("{cores} cores, {cpu}")
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// The command line as the report shows it: files given by absolute path by their names only,
/// not this machine's paths.
fn shown_args(raw: &[String]) -> String {
    raw.iter()
        .map(|a| match Path::new(a).file_name() {
            Some(name) if a.starts_with('/') && Path::new(a).is_file() => {
                name.to_string_lossy().into_owned()
            }
            _ if a.contains(' ') => format!("\"{a}\""),
            _ => a.clone(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// Markers around the table in the README that `--readme` replaces.
const README_START: &str = "<!-- bench-table: written by scripts/bench.sh -->";
const README_END: &str = "<!-- /bench-table -->";

fn replace_marked_block(path: &Path, block: &str) -> Res<()> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let (Some(start), Some(end)) = (text.find(README_START), text.find(README_END)) else {
        return Err(format!(
            "{}: no {README_START} ... {README_END} markers",
            path.display()
        ));
    };
    if end < start {
        return Err(format!("{}: markers out of order", path.display()));
    }
    let updated = format!("{}{README_START}\n{block}{}", &text[..start], &text[end..]);
    std::fs::write(path, updated).map_err(|e| format!("{}: {e}", path.display()))
}

fn fmt_ms(ms: f64) -> String {
    if ms.is_nan() {
        "failed".into()
    } else if ms < 10.0 {
        format!("{ms:.2}")
    } else {
        format!("{ms:.1}")
    }
}

/// A whole number, or "-" where the runs failed.
fn fmt_whole(v: f64) -> String {
    if v.is_nan() {
        "-".into()
    } else {
        format!("{v:.0}")
    }
}

fn fmt_ratio(ms: f64, base: Option<f64>) -> String {
    match base {
        Some(b) if b > 0.0 && !ms.is_nan() => format!("{:.1}x", ms / b),
        _ => "-".into(),
    }
}

fn main() {
    // SAFETY: no other thread exists yet. See `init` for why.
    unsafe { std::env::remove_var("GST_PLUGIN_PATH") };
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        if let Err(e) = child(&args[1..]) {
            eprintln!("{e}");
            std::process::exit(1);
        }
        return;
    }
    if let Err(e) = orchestrate(&args) {
        eprintln!("bench_pipelines: {e}");
        std::process::exit(1);
    }
}

fn orchestrate(raw: &[String]) -> Res<()> {
    let args = parse_args(raw)?;
    init()?;
    std::fs::create_dir_all(&args.work).map_err(|e| format!("{}: {e}", args.work.display()))?;
    let load_before = load_average();
    let started = Instant::now();

    let mut codecs = vec![
        classical("jpeg", "jpeg"),
        classical("webp", "webp"),
        classical("openjpeg", "jpeg2000 (openjpeg)"),
    ];
    for bundle in &args.bundles {
        for &t in &args.threads {
            codecs.push(limitnet(bundle, t));
        }
        // The pure-Rust sender (limitnetenc engine=..., one thread): limitnet-lite only.
        if bundle.name == "limitnet-lite" {
            for engine in ["rust", "rust-int8"] {
                let mut codec = limitnet(bundle, 1);
                codec.label = format!("limitnet ({}, engine={engine})", bundle.name);
                codec.threads = "-".into();
                codec.encoder = codec.encoder.replacen(
                    "limitnetenc threads=1",
                    &format!("limitnetenc engine={engine}"),
                    1,
                );
                codec.stream_key = format!("limitnet-{}-{engine}", bundle.name);
                codecs.push(codec);
            }
        }
    }
    let mut skipped = Vec::new();
    codecs.retain(|c| match element_missing(c) {
        Some(name) => {
            skipped.push(format!("{} (no element {name})", c.label));
            false
        }
        None => true,
    });

    // Inputs: source frames per size, and each stream encoded once for the decoders.
    struct Case {
        size: (u32, u32),
        codec: Codec,
        source: PathBuf,
        raw_caps: String,
        stream: PathBuf,
        stream_caps: String,
        bytes_per_frame: f64,
    }
    let mut cases = Vec::new();
    for &(w, h) in &args.sizes {
        let frames = source_frames(&args.video, w, h)?;
        let source = args.work.join(format!("source-{w}x{h}.frames"));
        write_frames(&source, &frames)?;
        let mut streams: BTreeMap<String, (PathBuf, String, f64)> = BTreeMap::new();
        for codec in &codecs {
            if !streams.contains_key(&codec.stream_key) {
                eprintln!(
                    "bench: encoding {w}x{h} {} for the decoder runs",
                    codec.stream_key
                );
                let (encoded, caps) = encode_frames(&codec.encoder, &frames, w, h)?;
                let bytes =
                    encoded.iter().map(Vec::len).sum::<usize>() as f64 / encoded.len() as f64;
                let path = args
                    .work
                    .join(format!("{}-{w}x{h}.frames", codec.stream_key));
                write_frames(&path, &encoded)?;
                streams.insert(codec.stream_key.clone(), (path, caps, bytes));
            }
            let (stream, stream_caps, bytes_per_frame) = streams[&codec.stream_key].clone();
            cases.push(Case {
                size: (w, h),
                codec: codec.clone(),
                source: source.clone(),
                raw_caps: raw_caps(w, h).to_string(),
                stream,
                stream_caps,
                bytes_per_frame,
            });
        }
    }

    let mut failures: Vec<String> = Vec::new();
    let mut enc: Vec<Samples> = vec![Samples::default(); cases.len()];
    let mut dec: Vec<Samples> = vec![Samples::default(); cases.len()];
    for run in 1..=args.runs {
        for (i, case) in cases.iter().enumerate() {
            let (w, h) = case.size;
            for (role, element, caps, file, samples) in [
                (
                    "enc",
                    &case.codec.encoder,
                    &case.raw_caps,
                    &case.source,
                    &mut enc[i],
                ),
                (
                    "dec",
                    &case.codec.decoder,
                    &case.stream_caps,
                    &case.stream,
                    &mut dec[i],
                ),
            ] {
                match spawn_child(role, element, caps, file, &args.stop) {
                    Ok((frames, ms, rss)) => {
                        eprintln!(
                            "bench: run {run}/{} {w}x{h} {role} {} threads {}: {frames} frames, {ms:.2} ms/frame, peak {:.0} MiB",
                            args.runs,
                            case.codec.label,
                            case.codec.threads,
                            rss as f64 / 1024.0
                        );
                        samples.ms.push(ms);
                        samples.rss_kib.push(rss);
                        samples.frames.push(frames);
                    }
                    // One failing case (say, a bundle replaced mid-run) costs its cells only.
                    Err(e) => {
                        eprintln!("bench: run {run}/{} {w}x{h} {role} failed: {e}", args.runs);
                        failures.push(format!("{w}x{h} {role} {}: {e}", case.codec.label));
                    }
                }
            }
        }
    }
    failures.dedup();

    // The report: provenance, method, one table per size.
    let commit = shell(
        "git",
        &[
            "-C",
            env!("CARGO_MANIFEST_DIR"),
            "describe",
            "--always",
            "--dirty=+uncommitted-changes",
        ],
    );
    let provenance = format!(
        "Measured with `bench_pipelines {}` (what `scripts/bench.sh` runs), {} at commit {}, on {}; {}; load average {} before, {} after; {:.0} s in all.",
        shown_args(raw),
        plugin_in_use(),
        if commit.is_empty() { "?" } else { &commit },
        machine(),
        gst::version_string(),
        load_before,
        load_average(),
        started.elapsed().as_secs_f64()
    );
    let note = args
        .note
        .as_ref()
        .map(|n| format!("**{n}**\n\n"))
        .unwrap_or_default();
    let mut tables = String::new();
    for &(w, h) in &args.sizes {
        let rows: Vec<usize> = (0..cases.len())
            .filter(|&i| cases[i].size == (w, h))
            .collect();
        let base = |s: &[Samples]| {
            rows.iter()
                .find(|&&i| cases[i].codec.stream_key == "jpeg")
                .map(|&i| median(&s[i].ms))
        };
        let (enc_base, dec_base) = (base(&enc), base(&dec));
        tables += &format!("**{w}x{h}**\n\n");
        tables += "| codec | threads | encode ms/frame | encode fps | encode x jpeg | decode ms/frame | decode fps | decode x jpeg | bytes/frame | peak MiB enc / dec |\n";
        tables += "|---|---|---|---|---|---|---|---|---|---|\n";
        for &i in &rows {
            let (e, d) = (median(&enc[i].ms), median(&dec[i].ms));
            let rss = |s: &Samples| {
                fmt_whole(median(&s.rss_kib.iter().map(|&k| k as f64).collect::<Vec<_>>()) / 1024.0)
            };
            tables += &format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {:.0} | {} / {} |\n",
                cases[i].codec.label,
                cases[i].codec.threads,
                fmt_ms(e),
                fmt_whole(1000.0 / e),
                fmt_ratio(e, enc_base),
                fmt_ms(d),
                fmt_whole(1000.0 / d),
                fmt_ratio(d, dec_base),
                cases[i].bytes_per_frame,
                rss(&enc[i]),
                rss(&dec[i]),
            );
        }
        tables += "\n";
    }
    if !skipped.is_empty() {
        tables += &format!("Not measured: {}.\n\n", skipped.join(", "));
    }
    if !failures.is_empty() {
        tables += &format!("Failed runs: {}.\n\n", failures.join("; "));
    }
    let method = format!(
        "Source: {SOURCE_FRAMES} frames of `{}` (every {SOURCE_STEP}th), scaled to each size, pushed from memory in a loop. \
         Encoder: `appsrc (RGB) ! videoconvert ! ENC ! fakesink`, where the classical encoders get I420 (`videoconvert ! video/x-raw,format=I420 ! ENC`, \
         4:2:0 as usual for them; the conversion is timed) and limitnetenc takes the RGB as it is; \
         decoder: `appsrc (ENC's frames) ! DEC ! videoconvert ! video/x-raw,format=RGB ! fakesink`. \
         ms/frame: the median time between consecutive frames leaving the pipeline, after {WARM_UP} warm-up frame: whole element processing with all its threads \
         (a run stops after >= {} frames and >= {} s, or {} frames, or {} s); then the median of {} runs, each its own process, \
         the runs of all codecs interleaved. fps = 1000 / ms. x jpeg: time per frame relative to jpegenc / jpegdec at the same size. \
         Peak MiB: the process's peak resident set (VmHWM), GStreamer and the {SOURCE_FRAMES} source frames included. \
         Classical codecs at their element defaults; LimitNet at 100 %.",
        args.video
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        args.stop.min_frames,
        args.stop.min_seconds,
        args.stop.max_frames,
        args.stop.max_seconds,
        args.runs
    );
    let md = format!(
        "# Speed: LimitNet beside JPEG, WebP and JPEG 2000\n\n{provenance}\n\n{note}{method}\n\n{tables}"
    );
    print!("{md}");
    if let Some(out) = &args.out {
        std::fs::write(out, &md).map_err(|e| format!("{}: {e}", out.display()))?;
        eprintln!("bench: wrote {}", out.display());
    }
    if let Some(readme) = &args.readme {
        let block = format!("{provenance}\n\n{note}{tables}");
        replace_marked_block(readme, &block)?;
        eprintln!("bench: updated the table in {}", readme.display());
    }
    Ok(())
}
