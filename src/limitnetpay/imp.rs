use std::path::PathBuf;
use std::sync::{Arc, LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_rtp::prelude::*;
use gst_rtp::subclass::prelude::*;

use crate::api::StreamFormat;
use crate::codec::StreamParams;
use crate::codec::packet::{self, PacketError, PacketOptions};
use crate::elements::{
    CAPS_NAME, DEFAULT_HEADER_COPIES, DEFAULT_INTERLEAVE, RTP_ENCODING_NAME, bundle_for_stream,
    header_copies_property, interleave_property, model_property, stream_params,
};
use crate::model::ModelBundle;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "limitnetpay",
        gst::DebugColorFlags::empty(),
        Some("LimitNet RTP payloader"),
    )
});

#[derive(Debug, Clone)]
struct Settings {
    header_copies: u32,
    interleave: u32,
    model: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            header_copies: DEFAULT_HEADER_COPIES,
            interleave: DEFAULT_INTERLEAVE,
            model: None,
        }
    }
}

struct State {
    params: StreamParams,
    bundle: Arc<ModelBundle>,
    /// Frames sent so far (packets carry the last 3 bits).
    frames: u32,
}

#[derive(Default)]
pub struct LimitNetPay {
    settings: Mutex<Settings>,
    state: Mutex<Option<State>>,
}

#[glib::object_subclass]
impl ObjectSubclass for LimitNetPay {
    const NAME: &'static str = "GstLimitNetPay";
    type Type = super::LimitNetPay;
    type ParentType = gst_rtp::RTPBasePayload;
}

impl ObjectImpl for LimitNetPay {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![
                header_copies_property(),
                interleave_property(),
                model_property(),
            ]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.lock().unwrap();
        match pspec.name() {
            "header-copies" => s.header_copies = value.get().expect("type checked upstream"),
            "interleave" => s.interleave = value.get().expect("type checked upstream"),
            "model" => s.model = value.get().expect("type checked upstream"),
            _ => unreachable!(),
        }
        gst::debug!(CAT, imp = self, "{} = {:?}", pspec.name(), value);
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.settings.lock().unwrap();
        match pspec.name() {
            "header-copies" => s.header_copies.to_value(),
            "interleave" => s.interleave.to_value(),
            "model" => s.model.to_value(),
            _ => unreachable!(),
        }
    }
}

impl GstObjectImpl for LimitNetPay {}

impl ElementImpl for LimitNetPay {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "RTP LimitNet payloader",
                "Codec/Payloader/Network/RTP",
                "Splits LimitNet frames into RTP packets that each decode on their own, so a frame survives lost packets (docs/rtp-payload.md)",
                "gst-limitnet developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            // Frames (stream-format=frame or absent: from limitnetenc or limitnetparse).
            let sink = gst::Caps::new_empty_simple(CAPS_NAME);
            let src = gst::Caps::builder("application/x-rtp")
                .field("media", "video")
                .field("clock-rate", 90_000i32)
                .field("encoding-name", RTP_ENCODING_NAME)
                .build();
            crate::elements::sink_src_templates(&sink, &src)
        });
        TEMPLATES.as_ref()
    }

    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        if transition == gst::StateChange::PausedToReady {
            *self.state.lock().unwrap() = None;
        }
        self.parent_change_state(transition)
    }
}

impl RTPBasePayloadImpl for LimitNetPay {
    fn set_caps(&self, caps: &gst::Caps) -> Result<(), gst::LoggableError> {
        let (params, format) = stream_params(caps).map_err(|missing| {
            gst::element_imp_error!(
                self,
                gst::StreamError::Format,
                ["Stream caps {} have no {}: LimitNet streams carry width, height and model-id (from limitnetenc or limitnetparse)", caps, missing]
            );
            gst::loggable_error!(CAT, "caps without {}", missing)
        })?;
        if format != StreamFormat::Frame {
            gst::element_imp_error!(
                self,
                gst::StreamError::Format,
                [
                    "limitnetpay takes whole frames (from limitnetenc or limitnetparse), not {}",
                    caps
                ]
            );
            return Err(gst::loggable_error!(CAT, "not frames"));
        }
        let model = self.settings.lock().unwrap().model.clone();
        let bundle = bundle_for_stream(
            &params.model_id,
            model.as_deref().map(PathBuf::from).as_deref(),
        )
        .map_err(|e| {
            self.post_error_message(e);
            gst::loggable_error!(CAT, "no bundle for model {}", params.model_id)
        })?;
        gst::info!(
            CAT,
            imp = self,
            "stream {}x{} of model {} ({}), mtu {}",
            params.width,
            params.height,
            bundle.name,
            params.model_id,
            self.obj().mtu()
        );
        let obj = self.obj();
        obj.set_options("video", true, RTP_ENCODING_NAME, 90_000);
        let out = gst::Structure::builder("application/x-rtp")
            .field("width", params.width.to_string())
            .field("height", params.height.to_string())
            .field("model-id", params.model_id.as_str())
            .build();
        obj.set_outcaps(Some(&out))
            .map_err(|_| gst::loggable_error!(CAT, "downstream refused the RTP caps"))?;
        *self.state.lock().unwrap() = Some(State {
            params,
            bundle,
            frames: 0,
        });
        Ok(())
    }

    fn handle_buffer(&self, buffer: gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError> {
        let settings = self.settings.lock().unwrap().clone();
        let obj = self.obj();
        let max_packet = gst_rtp::calc_payload_len(obj.mtu(), 0, 0) as usize;
        let packets = {
            let mut guard = self.state.lock().unwrap();
            let state = guard.as_mut().ok_or(gst::FlowError::NotNegotiated)?;
            let map = buffer.map_readable().map_err(|_| gst::FlowError::Error)?;
            let options = PacketOptions {
                max_packet,
                header_copies: settings.header_copies as usize,
                interleave: settings.interleave as usize,
                frame_number: state.frames,
            };
            match packet::packetize_frame(&state.bundle.tables, &state.params, &map, &options) {
                Ok(packets) => {
                    state.frames = state.frames.wrapping_add(1);
                    packets
                }
                Err(e @ (PacketError::Frame(_) | PacketError::NoSaliency)) => {
                    gst::element_imp_warning!(
                        self,
                        gst::StreamError::Decode,
                        ["Frame of {} bytes not sent: {}", map.len(), e]
                    );
                    return Ok(gst::FlowSuccess::Ok);
                }
                Err(e) => {
                    gst::element_imp_error!(
                        self,
                        gst::ResourceError::Settings,
                        [
                            "Cannot packetize with mtu {}: {} (the mtu includes the 12-byte RTP header)",
                            obj.mtu(),
                            e
                        ]
                    );
                    return Err(gst::FlowError::Error);
                }
            }
        };
        gst::log!(
            CAT,
            imp = self,
            "frame of {} bytes -> {} packets, {} bytes",
            buffer.size(),
            packets.len(),
            packets.iter().map(Vec::len).sum::<usize>()
        );
        let mut list = gst::BufferList::new_sized(packets.len());
        {
            let list = list.get_mut().unwrap();
            let last = packets.len() - 1;
            for (i, payload) in packets.into_iter().enumerate() {
                let mut out = gst::Buffer::new_rtp_with_sizes(payload.len() as u32, 0, 0)
                    .map_err(|_| gst::FlowError::Error)?;
                {
                    let out = out.get_mut().unwrap();
                    let mut rtp = gst_rtp::RTPBuffer::from_buffer_writable(out)
                        .map_err(|_| gst::FlowError::Error)?;
                    rtp.payload_mut()
                        .map_err(|_| gst::FlowError::Error)?
                        .copy_from_slice(&payload);
                    rtp.set_marker(i == last);
                }
                let out_ref = out.get_mut().unwrap();
                out_ref.set_pts(buffer.pts());
                out_ref.set_dts(buffer.dts());
                list.add(out);
            }
        }
        obj.push_list(list)
    }
}
