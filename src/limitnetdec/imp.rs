use std::path::Path;
use std::sync::{LazyLock, Mutex};

use gst::glib;
use gst::subclass::prelude::*;
use gst_video::prelude::*;
use gst_video::subclass::prelude::*;

use crate::elements::{
    CAPS_NAME, DEFAULT_MAX_BYTES, DEFAULT_PERCENTAGE, bundle_for_stream, load_bundle,
    max_bytes_property, model_property, percentage_property, stream_params, threads_property,
};
use crate::limitnetdec::DecoderOutput;
use limitnet::api::{Cut, DecodeOptions, Decoder, MAX_DIMENSION, StreamFormat, check_runtime};
use limitnet::codec::{FrameStatus, StreamParams};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "limitnetdec",
        gst::DebugColorFlags::empty(),
        Some("LimitNet decoder"),
    )
});

const DEFAULT_THREADS: u32 = 0;

#[derive(Debug, Clone)]
struct Settings {
    percentage: f64,
    max_bytes: u32,
    model: Option<String>,
    threads: u32,
    output: DecoderOutput,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            percentage: DEFAULT_PERCENTAGE,
            max_bytes: DEFAULT_MAX_BYTES,
            model: None,
            threads: DEFAULT_THREADS,
            output: DecoderOutput::Image,
        }
    }
}

struct State {
    /// The `model` property's bundle from `start`; with `model` unset, the compiled-in bundle
    /// the stream caps name, created in `set_format` (kept while the stream's model stays).
    decoder: Option<Decoder>,
    /// From the sink caps (set_format).
    stream: Option<(StreamParams, StreamFormat, gst_video::VideoInfo)>,
}

#[derive(Default)]
pub struct LimitNetDec {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
}

#[glib::object_subclass]
impl ObjectSubclass for LimitNetDec {
    const NAME: &'static str = "GstLimitNetDec";
    type Type = super::LimitNetDec;
    type ParentType = gst_video::VideoDecoder;
}

impl ObjectImpl for LimitNetDec {
    fn constructed(&self) {
        self.parent_constructed();
        // One buffer is one frame (or a prefix of one): no parsing needed.
        self.obj().set_packetized(true);
    }

    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                percentage_property("Decode only the first N % of latent values (the rest are taken as zero); with version 3 bundles, of the items: coarse values and refinement bits"),
                max_bytes_property("Use only the first N bytes of each frame, as if the link had cut it there (0 = all)"),
                model_property("the compiled-in bundle the stream caps name (model-id)"),
                threads_property("decoder", DEFAULT_THREADS),
                glib::ParamSpecEnum::builder_with_default("output", DecoderOutput::Image)
                    .nick("Output")
                    .blurb("What to output: image = the decoded picture; saliency = the received 8x8 saliency map as a grey image at the frame size (value * 255 / 31, black when a frame has no map), without running the network")
                    .mutable_playing()
                    .build(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        if matches!(pspec.name(), "model" | "threads") && self.state.lock().unwrap().is_some() {
            crate::elements::refuse_while_running(&*self.obj(), pspec.name());
            return;
        }
        let mut s = self.settings.lock().unwrap();
        match pspec.name() {
            "percentage" => s.percentage = value.get().expect("type checked upstream"),
            "max-bytes" => s.max_bytes = value.get().expect("type checked upstream"),
            "model" => s.model = value.get().expect("type checked upstream"),
            "threads" => s.threads = value.get().expect("type checked upstream"),
            "output" => s.output = value.get().expect("type checked upstream"),
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
            "output" => s.output.to_value(),
            _ => unreachable!(),
        }
    }
}

impl GstObjectImpl for LimitNetDec {}

impl ElementImpl for LimitNetDec {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "LimitNet decoder",
                "Codec/Decoder/Video",
                "Decodes LimitNet progressive frames, or any prefix of them, to RGB (LimitNet, MobiSys 2024)",
                "gst-limitnet developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let max = MAX_DIMENSION as i32;
            let sink = gst::Caps::builder(CAPS_NAME)
                .field("width", gst::IntRange::new(1, max))
                .field("height", gst::IntRange::new(1, max))
                .build(); // stream-format: frame (or absent) or packets, read in set_format
            let src = gst_video::VideoCapsBuilder::new()
                .format(gst_video::VideoFormat::Rgb)
                .width_range(1..=max)
                .height_range(1..=max)
                .build();
            crate::elements::sink_src_templates(&sink, &src)
        });
        TEMPLATES.as_ref()
    }
}

impl LimitNetDec {
    /// Makes sure the decoder runs the bundle of model `model_id`: with `model` set, it must be
    /// that bundle; unset, the compiled-in bundle with that id is taken (or kept).
    fn ensure_decoder(&self, model_id: &str) -> Result<(), gst::LoggableError> {
        let settings = self.settings.lock().unwrap().clone();
        let current = self
            .state
            .lock()
            .unwrap()
            .as_ref()
            .ok_or_else(|| gst::loggable_error!(CAT, "set_format before start"))?
            .decoder
            .as_ref()
            .map(|decoder| decoder.bundle().clone());
        if let Some(bundle) = current {
            if bundle.id == model_id {
                return Ok(());
            }
            if settings.model.is_some() {
                gst::element_imp_error!(
                    self,
                    gst::StreamError::WrongType,
                    [
                        "Stream encoded with model {} but this decoder has model {} ({}): set the model property to the bundle the encoder used, or leave it unset to follow the stream",
                        model_id,
                        bundle.id,
                        bundle.name
                    ]
                );
                return Err(gst::loggable_error!(CAT, "model mismatch"));
            }
        }
        let bundle = bundle_for_stream(model_id, None).map_err(|message| {
            self.post_error_message(message);
            gst::loggable_error!(CAT, "unknown model {}", model_id)
        })?;
        gst::info!(
            CAT,
            imp = self,
            "stream of model {}: using the compiled-in bundle {}, {} threads",
            bundle.id,
            bundle.name,
            settings.threads
        );
        let decoder = Decoder::new(bundle, settings.threads as usize).map_err(|e| {
            self.post_error_message(crate::elements::init_error(e));
            gst::loggable_error!(CAT, "cannot create the decoder")
        })?;
        if let Some(state) = self.state.lock().unwrap().as_mut() {
            state.decoder = Some(decoder);
        }
        Ok(())
    }
}

impl VideoDecoderImpl for LimitNetDec {
    fn start(&self) -> Result<(), gst::ErrorMessage> {
        let settings = self.settings.lock().unwrap().clone();
        // A set `model` is loaded now, so a bad one fails at once; unset, the stream caps
        // choose the bundle (set_format).
        let decoder = match settings.model.as_deref() {
            Some(model) => {
                let bundle = load_bundle(Some(Path::new(model)))?;
                gst::info!(
                    CAT,
                    imp = self,
                    "model {} ({}), {} threads",
                    bundle.name,
                    bundle.id,
                    settings.threads
                );
                Some(
                    Decoder::new(bundle, settings.threads as usize)
                        .map_err(crate::elements::init_error)?,
                )
            }
            None => {
                // The bundle comes with the caps, but a missing runtime is told now.
                check_runtime().map_err(crate::elements::init_error)?;
                None
            }
        };
        *self.state.lock().unwrap() = Some(State {
            decoder,
            stream: None,
        });
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        *self.state.lock().unwrap() = None;
        Ok(())
    }

    fn set_format(
        &self,
        input: &gst_video::VideoCodecState<'static, gst_video::video_codec_state::Readable>,
    ) -> Result<(), gst::LoggableError> {
        let caps = input
            .caps()
            .ok_or_else(|| gst::loggable_error!(CAT, "no caps"))?;
        let (params, format) = stream_params(caps).map_err(|missing| {
            // The template lets such caps through; say why they are refused.
            gst::element_imp_error!(
                self,
                gst::StreamError::Format,
                ["Stream caps {} have no {}: LimitNet streams carry width, height and model-id (from limitnetenc or limitnetparse)", caps, missing]
            );
            gst::loggable_error!(CAT, "caps without {}", missing)
        })?;
        if format == StreamFormat::Packet {
            gst::element_imp_error!(
                self,
                gst::StreamError::Format,
                [
                    "Stream caps {} carry single packets: put limitnetdepacketizer before limitnetdec to gather each frame's packets",
                    caps
                ]
            );
            return Err(gst::loggable_error!(CAT, "single packets"));
        }
        self.ensure_decoder(&params.model_id)?;
        let instance = self.obj();
        let output = instance
            .set_output_state(
                gst_video::VideoFormat::Rgb,
                params.width,
                params.height,
                Some(input),
            )
            .map_err(|_| gst::loggable_error!(CAT, "failed to set output state"))?;
        let info = output.info().clone();
        instance
            .negotiate(output)
            .map_err(|_| gst::loggable_error!(CAT, "failed to negotiate"))?;
        gst::debug!(
            CAT,
            imp = self,
            "stream {}x{} model {}, latent {:?}, {:?}",
            params.width,
            params.height,
            params.model_id,
            params.latent_dims(),
            format
        );
        if let Some(st) = self.state.lock().unwrap().as_mut() {
            st.stream = Some((params, format, info));
        }
        Ok(())
    }

    fn handle_frame(
        &self,
        mut frame: gst_video::VideoCodecFrame,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let settings = self.settings.lock().unwrap().clone();
        let mut options = DecodeOptions::from(Cut {
            percentage: settings.percentage,
            max_bytes: settings.max_bytes as usize,
        });
        // Output buffer first (it may block on downstream), then decode straight into it.
        self.obj().allocate_output_frame(&mut frame, None)?;
        let input = frame.input_buffer_owned().ok_or(gst::FlowError::Error)?;
        let map = input.map_readable().map_err(|_| gst::FlowError::Error)?;
        let report = {
            let mut guard = self.state.lock().unwrap();
            let state = guard.as_mut().ok_or(gst::FlowError::Flushing)?;
            let (params, format, info) =
                state.stream.as_ref().ok_or(gst::FlowError::NotNegotiated)?;
            let decoder = state
                .decoder
                .as_mut()
                .ok_or(gst::FlowError::NotNegotiated)?;
            options.format = *format;
            let output = frame.output_buffer_mut().ok_or(gst::FlowError::Error)?;
            let mut vframe = gst_video::VideoFrameRef::from_buffer_ref_writable(output, info)
                .map_err(|_| {
                    gst::element_imp_error!(
                        self,
                        gst::CoreError::Failed,
                        ["Failed to map output buffer"]
                    );
                    gst::FlowError::Error
                })?;
            let stride = vframe.plane_stride()[0] as usize;
            let out = vframe
                .plane_data_mut(0)
                .map_err(|_| gst::FlowError::Error)?;
            match settings.output {
                DecoderOutput::Image => {
                    decoder.decode_into(params, map.as_slice(), &options, out, stride)
                }
                DecoderOutput::Saliency => {
                    decoder.saliency_into(params, map.as_slice(), &options, out, stride)
                }
            }
            .map_err(|e| {
                gst::element_imp_error!(self, gst::StreamError::Decode, ["Decoding failed: {}", e]);
                gst::FlowError::Error
            })?
        };
        gst::log!(
            CAT,
            imp = self,
            "frame {}: used {} of {} bytes, {} values ({} sent, {} in latent), {:?}",
            frame.system_frame_number(),
            report.bytes,
            map.len(),
            report.values,
            report.declared,
            report.total_values,
            report.status
        );
        if let Some(packets) = &report.packets {
            gst::log!(
                CAT,
                imp = self,
                "frame {}: {} header and {} values packets used, {} dropped",
                frame.system_frame_number(),
                packets.header_packets,
                packets.values_packets,
                packets.dropped
            );
            if packets.dropped > 0 {
                gst::element_imp_warning!(
                    self,
                    gst::StreamError::Decode,
                    [
                        "Frame {}: {} packets were damaged, of another frame or cut short and were not used",
                        frame.system_frame_number(),
                        packets.dropped
                    ]
                );
            }
        }
        let empty = match settings.output {
            DecoderOutput::Image => "the empty-latent image",
            DecoderOutput::Saliency => "black",
        };
        if let Some(reason) = &report.rejected {
            gst::element_imp_warning!(
                self,
                gst::StreamError::Decode,
                [
                    "Frame {} ignored: {}; output is {}",
                    frame.system_frame_number(),
                    reason,
                    empty
                ]
            );
        } else if report.status == FrameStatus::NoSaliency {
            gst::element_imp_warning!(
                self,
                gst::StreamError::Decode,
                [
                    "Frame {} has only {} bytes, less than its header and saliency map{}; output is {}",
                    frame.system_frame_number(),
                    map.len(),
                    if options.format == StreamFormat::Packets {
                        " (no header packet arrived)"
                    } else {
                        ""
                    },
                    empty
                ]
            );
        }
        drop(map);
        self.obj().finish_frame(frame)
    }
}
