use crate::elements::stream_caps;
use std::path::PathBuf;
use std::sync::{LazyLock, Mutex};

use gst::glib;
use gst::subclass::prelude::*;
use gst_video::prelude::*;
use gst_video::subclass::prelude::*;

use crate::elements::{
    CAPS_NAME, DEFAULT_MAX_BYTES, DEFAULT_PERCENTAGE, load_bundle, max_bytes_property,
    model_property, percentage_property, threads_property,
};
use crate::limitnetenc::EncoderEngine;
use limitnet::api::{
    EncodeOptions, Encoder, ImageRef, MAX_DIMENSION, PixelLayout, StreamFormat, frame_budget,
    min_limit,
};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "limitnetenc",
        gst::DebugColorFlags::empty(),
        Some("LimitNet encoder"),
    )
});

const DEFAULT_THREADS: u32 = 1;
const DEFAULT_BITRATE: u32 = 0;

#[derive(Debug, Clone)]
struct Settings {
    percentage: f64,
    max_bytes: u32,
    model: Option<String>,
    threads: u32,
    bitrate: u32,
    engine: EncoderEngine,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            percentage: DEFAULT_PERCENTAGE,
            max_bytes: DEFAULT_MAX_BYTES,
            model: None,
            threads: DEFAULT_THREADS,
            bitrate: DEFAULT_BITRATE,
            engine: EncoderEngine::default(),
        }
    }
}

struct State {
    encoder: Encoder,
    /// Set by set_format.
    input: Option<(gst_video::VideoInfo, PixelLayout)>,
    /// The bitrate was set on a stream without a frame rate and a warning was posted.
    warned_no_framerate: bool,
    /// The last cut below a frame's header that a warning was posted about.
    warned_cut: Option<usize>,
}

#[derive(Default)]
pub struct LimitNetEnc {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
}

fn layout_of(format: gst_video::VideoFormat) -> Option<PixelLayout> {
    use gst_video::VideoFormat as F;
    Some(match format {
        F::Rgb => PixelLayout::Rgb,
        F::Bgr => PixelLayout::Bgr,
        F::Rgbx | F::Rgba => PixelLayout::Rgbx,
        F::Bgrx | F::Bgra => PixelLayout::Bgrx,
        F::Xrgb | F::Argb => PixelLayout::Xrgb,
        F::Xbgr | F::Abgr => PixelLayout::Xbgr,
        _ => return None,
    })
}

#[glib::object_subclass]
impl ObjectSubclass for LimitNetEnc {
    const NAME: &'static str = "GstLimitNetEnc";
    type Type = super::LimitNetEnc;
    type ParentType = gst_video::VideoEncoder;
}

impl ObjectImpl for LimitNetEnc {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                percentage_property("Send only the first N % of latent values, most important first (saliency + channel order); with version 3 bundles, of the items: coarse values and refinement bits"),
                max_bytes_property("Cut each frame after this many bytes, header included (0 = no cut); any cut still decodes"),
                glib::ParamSpecUInt::builder("bitrate")
                    .nick("Bit rate")
                    .blurb("Target bit rate in bits per second (0 = off): cut each frame after bitrate / 8 / framerate bytes (the caps' frame rate; ignored with a warning for framerate 0/1); with max-bytes the smaller cut wins")
                    .default_value(DEFAULT_BITRATE)
                    .mutable_playing()
                    .build(),
                model_property("limitnet-lite"),
                threads_property("encoder", DEFAULT_THREADS),
                glib::ParamSpecEnum::builder_with_default("engine", EncoderEngine::OnnxRuntime)
                    .nick("Engine")
                    .blurb("What runs the encoder network: onnx-runtime = the bundle's encoder.onnx; rust = limitnet-lite's encoder in pure Rust, fed row by row as a microcontroller sender runs it (the same frames, no ONNX Runtime needed; limitnet-lite only); rust-int8 = the same in fixed point, int8 weights and 8-bit activations, as a microcontroller without an FPU runs it (frames within 0.3 dB). Set in the NULL or READY state")
                    .mutable_ready()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        if matches!(pspec.name(), "model" | "threads" | "engine")
            && self.state.lock().unwrap().is_some()
        {
            crate::elements::refuse_while_running(&*self.obj(), pspec.name());
            return;
        }
        let mut s = self.settings.lock().unwrap();
        match pspec.name() {
            "percentage" => s.percentage = value.get().expect("type checked upstream"),
            "max-bytes" => s.max_bytes = value.get().expect("type checked upstream"),
            "model" => s.model = value.get().expect("type checked upstream"),
            "threads" => s.threads = value.get().expect("type checked upstream"),
            "bitrate" => s.bitrate = value.get().expect("type checked upstream"),
            "engine" => s.engine = value.get().expect("type checked upstream"),
            _ => unreachable!(),
        }
        gst::debug!(CAT, imp = self, "{} = {:?}", pspec.name(), value);
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.settings.lock().unwrap();
        match pspec.name() {
            "percentage" => s.percentage.to_value(),
            "max-bytes" => s.max_bytes.to_value(),
            "model" => s.model.to_value(),
            "threads" => s.threads.to_value(),
            "bitrate" => s.bitrate.to_value(),
            "engine" => s.engine.to_value(),
            _ => unreachable!(),
        }
    }
}

impl GstObjectImpl for LimitNetEnc {}

impl ElementImpl for LimitNetEnc {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "LimitNet encoder",
                "Codec/Encoder/Video",
                "Progressive, content-aware learned image codec for weak devices and networks (LimitNet, MobiSys 2024)",
                "gst-limitnet developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            use gst_video::VideoFormat as F;
            let max = MAX_DIMENSION as i32;
            let sink = gst_video::VideoCapsBuilder::new()
                .format_list([
                    F::Rgb,
                    F::Bgr,
                    F::Rgbx,
                    F::Bgrx,
                    F::Xrgb,
                    F::Xbgr,
                    F::Rgba,
                    F::Bgra,
                    F::Argb,
                    F::Abgr,
                ])
                .width_range(1..=max)
                .height_range(1..=max)
                .build();
            let src = gst::Caps::builder(CAPS_NAME)
                .field("width", gst::IntRange::new(1, max))
                .field("height", gst::IntRange::new(1, max))
                .build();
            crate::elements::sink_src_templates(&sink, &src)
        });
        TEMPLATES.as_ref()
    }
}

impl VideoEncoderImpl for LimitNetEnc {
    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let settings = self.settings.lock().unwrap().clone();
        let bundle = load_bundle(settings.model.as_deref().map(PathBuf::from).as_deref())?;
        gst::info!(
            CAT,
            imp = self,
            "model {} ({}), {} threads, engine {:?}",
            bundle.name,
            bundle.id,
            settings.threads,
            settings.engine
        );
        let encoder =
            Encoder::with_engine(bundle, settings.threads as usize, settings.engine.into())
                .map_err(crate::elements::init_error)?;
        *self.state.lock().unwrap() = Some(State {
            encoder,
            input: None,
            warned_no_framerate: false,
            warned_cut: None,
        });
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        *self.state.lock().unwrap() = None;
        Ok(())
    }

    fn set_format(
        &self,
        state: &gst_video::VideoCodecState<'static, gst_video::video_codec_state::Readable>,
    ) -> Result<(), gst::LoggableError> {
        let info = state.info().clone();
        let layout = layout_of(info.format())
            .ok_or_else(|| gst::loggable_error!(CAT, "unsupported format {:?}", info.format()))?;
        let caps = {
            let mut guard = self.state.lock().unwrap();
            let st = guard
                .as_mut()
                .ok_or_else(|| gst::loggable_error!(CAT, "set_format before start"))?;
            let params = st.encoder.stream_params(info.width(), info.height());
            st.input = Some((info.clone(), layout));
            st.warned_no_framerate = false;
            gst::debug!(
                CAT,
                imp = self,
                "input {:?} {}x{}, latent {:?}",
                info.format(),
                info.width(),
                info.height(),
                params.latent_dims()
            );
            stream_caps(&params, Some(info.fps()), StreamFormat::Frame)
        };
        let instance = self.obj();
        let output = instance
            .set_output_state(caps, Some(state))
            .map_err(|_| gst::loggable_error!(CAT, "failed to set output state"))?;
        instance
            .negotiate(output)
            .map_err(|_| gst::loggable_error!(CAT, "failed to negotiate"))
    }

    fn handle_frame(
        &self,
        mut frame: gst_video::VideoCodecFrame,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let settings = self.settings.lock().unwrap().clone();
        let (encoded, budget) = {
            let mut guard = self.state.lock().unwrap();
            let state = guard.as_mut().ok_or(gst::FlowError::Flushing)?;
            let (info, layout) = state.input.as_ref().ok_or(gst::FlowError::NotNegotiated)?;
            let fps = info.fps();
            let budget = frame_budget(settings.bitrate, fps.numer(), fps.denom());
            if settings.bitrate > 0 && budget.is_none() && !state.warned_no_framerate {
                state.warned_no_framerate = true;
                gst::element_imp_warning!(
                    self,
                    gst::StreamError::Encode,
                    [
                        "bitrate={} is ignored: the stream has no fixed frame rate (framerate {}); use max-bytes instead",
                        settings.bitrate,
                        fps
                    ]
                );
            }
            let options = EncodeOptions {
                percentage: settings.percentage,
                max_bytes: min_limit(settings.max_bytes as usize, budget.unwrap_or(0)),
            };
            let header = state.encoder.header_bytes(info.width(), info.height());
            if options.max_bytes > 0
                && options.max_bytes < header
                && state.warned_cut != Some(options.max_bytes)
            {
                state.warned_cut = Some(options.max_bytes);
                gst::element_imp_warning!(
                    self,
                    gst::StreamError::Encode,
                    [
                        "Frames are cut at {} bytes (max-bytes={}, bitrate={}), less than their {}-byte header and saliency map: they carry no values and decode to the empty-latent image",
                        options.max_bytes,
                        settings.max_bytes,
                        settings.bitrate,
                        header
                    ]
                );
            }
            let input = frame.input_buffer().ok_or(gst::FlowError::Error)?;
            let vframe =
                gst_video::VideoFrameRef::from_buffer_ref_readable(input, info).map_err(|_| {
                    // Mapping fails mostly on a buffer shorter than the caps' frame size.
                    gst::element_imp_error!(
                        self,
                        gst::StreamError::Format,
                        [
                            "Input buffer of {} bytes is not a frame of the caps: a {}x{} {} frame needs {} bytes",
                            input.size(),
                            info.width(),
                            info.height(),
                            info.format().to_str(),
                            info.size()
                        ]
                    );
                    gst::FlowError::Error
                })?;
            let image = ImageRef {
                data: vframe.plane_data(0).map_err(|_| gst::FlowError::Error)?,
                width: info.width(),
                height: info.height(),
                stride: vframe.plane_stride()[0] as usize,
                layout: *layout,
            };
            let encoded = state.encoder.encode(&image, &options).map_err(|e| {
                gst::element_imp_error!(self, gst::StreamError::Encode, ["Encoding failed: {}", e]);
                gst::FlowError::Error
            })?;
            (encoded, budget)
        };
        gst::log!(
            CAT,
            imp = self,
            "frame {}: {} bytes, {} of {} values, bitrate budget {:?} bytes",
            frame.system_frame_number(),
            encoded.data.len(),
            encoded.values,
            encoded.total_values,
            budget
        );
        // Every frame stands alone: each is a sync point.
        frame.set_flags(gst_video::VideoCodecFrameFlags::SYNC_POINT);
        frame.set_output_buffer(gst::Buffer::from_mut_slice(encoded.data));
        self.obj().finish_frame(frame)
    }
}
