use crate::elements::rtp_fmtp_fields;
use std::sync::{LazyLock, Mutex};

use gst::glib;
use gst::subclass::prelude::*;
use gst_rtp::prelude::*;
use gst_rtp::subclass::prelude::*;

use crate::elements::{CAPS_NAME, FramePackets, PacketSettings, PacketStream, RTP_ENCODING_NAME};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "limitnetpay",
        gst::DebugColorFlags::empty(),
        Some("LimitNet RTP payloader"),
    )
});

#[derive(Default)]
pub struct LimitNetPay {
    settings: Mutex<PacketSettings>,
    state: Mutex<Option<PacketStream>>,
}

#[glib::object_subclass]
impl ObjectSubclass for LimitNetPay {
    const NAME: &'static str = "GstLimitNetPay";
    type Type = super::LimitNetPay;
    type ParentType = gst_rtp::RTPBasePayload;
}

impl ObjectImpl for LimitNetPay {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> =
            LazyLock::new(|| PacketSettings::properties().into());
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let known = self.settings.lock().unwrap().set(pspec.name(), value);
        assert!(known, "property {}", pspec.name());
        gst::debug!(CAT, imp = self, "{} = {:?}", pspec.name(), value);
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let settings = self.settings.lock().unwrap();
        settings.get(pspec.name()).expect("one of the properties")
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
        let model = self.settings.lock().unwrap().model.clone();
        let stream =
            PacketStream::from_caps("limitnetpay", caps, model.as_deref()).map_err(|e| {
                self.post_error_message(e);
                gst::loggable_error!(CAT, "cannot send {}", caps)
            })?;
        let params = &stream.params;
        let obj = self.obj();
        gst::info!(
            CAT,
            imp = self,
            "stream {}x{} of model {} ({}), mtu {}",
            params.width,
            params.height,
            stream.bundle.name,
            params.model_id,
            obj.mtu()
        );
        obj.set_options("video", true, RTP_ENCODING_NAME, 90_000);
        let mut out = gst::Structure::new_empty("application/x-rtp");
        rtp_fmtp_fields(params, &mut out);
        obj.set_outcaps(Some(&out))
            .map_err(|_| gst::loggable_error!(CAT, "downstream refused the RTP caps"))?;
        *self.state.lock().unwrap() = Some(stream);
        Ok(())
    }

    fn handle_buffer(&self, buffer: gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError> {
        let settings = self.settings.lock().unwrap().clone();
        let obj = self.obj();
        let max_packet = gst_rtp::calc_payload_len(obj.mtu(), 0, 0) as usize;
        let sent = {
            let mut guard = self.state.lock().unwrap();
            let stream = guard.as_mut().ok_or(gst::FlowError::NotNegotiated)?;
            let map = buffer.map_readable().map_err(|_| gst::FlowError::Error)?;
            stream.packets(&map, max_packet, &settings).map_err(|e| {
                gst::element_imp_error!(
                    self,
                    gst::ResourceError::Settings,
                    [
                        "Cannot packetize with mtu {}: {} (the mtu includes the 12-byte RTP header)",
                        obj.mtu(),
                        e
                    ]
                );
                gst::FlowError::Error
            })?
        };
        let packets = match sent {
            FramePackets::Packets(packets) => packets,
            FramePackets::NotSent(why) => {
                gst::element_imp_warning!(self, gst::StreamError::Decode, ["{}", why]);
                return Ok(gst::FlowSuccess::Ok);
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
