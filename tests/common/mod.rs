#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::Once;

use gst::prelude::*;
use gst_video::prelude::*;

/// GStreamer and this crate's elements, once per test binary.
pub fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        gst::init().unwrap();
        gstlimitnet::plugin_register_static().unwrap();
    });
}

/// Id of the embedded model bundle (what the stream caps carry).
pub fn model_id() -> String {
    limitnet::ModelBundle::embedded().unwrap().id.clone()
}

/// Caps of a 10 fps LimitNet stream of the embedded model.
pub fn stream_caps(w: u32, h: u32) -> String {
    format!(
        "image/x-limitnet,width={w},height={h},framerate=10/1,model-id={}",
        model_id()
    )
}

/// What the default bundle's decoder makes of an all-zero latent (nothing received) at
/// `w`x`h`, by the library: the picture a rejected or headless frame decodes to.
pub fn empty_latent_image(w: u32, h: u32) -> Vec<u8> {
    let params = limitnet::StreamParams {
        width: w,
        height: h,
        model_id: model_id(),
    };
    let mut decoder =
        limitnet::Decoder::new(limitnet::ModelBundle::embedded().unwrap(), 1).unwrap();
    decoder
        .decode(&params, &[], &limitnet::DecodeOptions::default())
        .unwrap()
        .0
}

pub fn data_path(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// A real photo shipped with the tests (scikit-image samples, public domain), packed RGB.
pub fn photo(name: &str) -> (Vec<u8>, u32, u32) {
    let mut decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(data_path(name)).unwrap(),
    ));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb);
    buf.truncate((info.width * info.height * 3) as usize);
    (buf, info.width, info.height)
}

/// Nearest-neighbour resize of packed RGB (test frames of odd sizes from a real photo).
pub fn resize(rgb: &[u8], w: u32, h: u32, nw: u32, nh: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity((nw * nh * 3) as usize);
    for y in 0..nh {
        for x in 0..nw {
            let (sx, sy) = ((x * w / nw) as usize, (y * h / nh) as usize);
            let i = (sy * w as usize + sx) * 3;
            out.extend_from_slice(&rgb[i..i + 3]);
        }
    }
    out
}

pub fn psnr(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len());
    let mse = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
        .sum::<f64>()
        / a.len() as f64;
    10.0 * (255.0f64 * 255.0 / mse.max(1e-10)).log10()
}

/// A buffer at frame `index` of a 10 fps stream.
pub fn buffer(data: Vec<u8>, index: u64) -> gst::Buffer {
    let mut b = gst::Buffer::from_mut_slice(data);
    {
        let b = b.get_mut().unwrap();
        b.set_pts(gst::ClockTime::from_mseconds(100 * index));
        b.set_duration(gst::ClockTime::from_mseconds(100));
    }
    b
}

/// Packed RGB from a decoder output buffer (rows may be padded to 4 bytes).
pub fn rgb_of(b: &gst::Buffer, caps: &gst::CapsRef) -> Vec<u8> {
    let info = gst_video::VideoInfo::from_caps(caps).unwrap();
    let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(b.as_ref(), &info).unwrap();
    let stride = frame.plane_stride()[0] as usize;
    let data = frame.plane_data(0).unwrap();
    let row = 3 * info.width() as usize;
    (0..info.height() as usize)
        .flat_map(|y| data[y * stride..y * stride + row].to_vec())
        .collect()
}

/// Runs a pipeline to EOS; returns what reached `appsink name=sink` (if any), or the error
/// message posted on the bus.
pub fn run_pipeline(description: &str) -> Result<Vec<gst::Sample>, String> {
    run_pipeline_with(description, |_| {})
}

/// [`run_pipeline`], with `feed` called once the pipeline is playing (to push into an appsrc).
pub fn run_pipeline_with(
    description: &str,
    feed: impl FnOnce(&gst::Pipeline),
) -> Result<Vec<gst::Sample>, String> {
    let pipeline = gst::parse::launch(description)
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap();
    let sink = pipeline
        .by_name("sink")
        .and_then(|s| s.downcast::<gst_app::AppSink>().ok());
    let bus = pipeline.bus().unwrap();
    let _ = pipeline.set_state(gst::State::Playing);
    feed(&pipeline);
    let mut samples = Vec::new();
    let result = loop {
        if let Some(sink) = &sink {
            while let Some(s) = sink.try_pull_sample(gst::ClockTime::from_mseconds(10)) {
                samples.push(s);
            }
        }
        if let Some(msg) = bus.timed_pop(gst::ClockTime::from_mseconds(50)) {
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
            samples.push(s);
        }
    }
    pipeline.set_state(gst::State::Null).unwrap();
    result.map(|_| samples)
}

/// Collects the warnings and errors an element (or bin) posts, for elements outside a pipeline
/// (gst_check::Harness posts nowhere by default).
pub struct Messages(gst::Bus);

impl Messages {
    pub fn watch(element: &gst::Element) -> Self {
        let bus = gst::Bus::new();
        element.set_bus(Some(&bus));
        Self(bus)
    }

    /// (warnings, errors) posted since the last call, each as "message (debug)".
    pub fn take(&self) -> (Vec<String>, Vec<String>) {
        let (mut warnings, mut errors) = (Vec::new(), Vec::new());
        while let Some(msg) = self.0.pop() {
            match msg.view() {
                gst::MessageView::Warning(w) => {
                    warnings.push(format!("{} ({:?})", w.error(), w.debug()))
                }
                gst::MessageView::Error(e) => {
                    errors.push(format!("{} ({:?})", e.error(), e.debug()))
                }
                _ => {}
            }
        }
        (warnings, errors)
    }
}
