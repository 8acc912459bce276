use crate::elements::{params_from_rtp_caps, stream_caps};
use std::sync::{LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;
use gst_rtp::prelude::*;
use gst_rtp::subclass::prelude::*;

use crate::elements::{CAPS_NAME, PacketCollector, RTP_ENCODING_NAME};
use limitnet::api::{MAX_DIMENSION, StreamFormat};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "limitnetdepay",
        gst::DebugColorFlags::empty(),
        Some("LimitNet RTP depayloader"),
    )
});

#[derive(Default)]
pub struct LimitNetDepay {
    /// The frame being collected, by RTP timestamp.
    pending: Mutex<PacketCollector<u32>>,
}

#[glib::object_subclass]
impl ObjectSubclass for LimitNetDepay {
    const NAME: &'static str = "GstLimitNetDepay";
    type Type = super::LimitNetDepay;
    type ParentType = gst_rtp::RTPBaseDepayload;
}

impl ObjectImpl for LimitNetDepay {}

impl GstObjectImpl for LimitNetDepay {}

impl ElementImpl for LimitNetDepay {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "RTP LimitNet depayloader",
                "Codec/Depayloader/Network/RTP",
                "Collects the LimitNet packets of each frame that arrived, lost ones or not, for limitnetdec (docs/rtp-payload.md)",
                "gst-limitnet developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let sink = gst::Caps::builder("application/x-rtp")
                .field("media", "video")
                .field("clock-rate", 90_000i32)
                .field("encoding-name", RTP_ENCODING_NAME)
                .build();
            let max = MAX_DIMENSION as i32;
            let src = gst::Caps::builder(CAPS_NAME)
                .field("width", gst::IntRange::new(1, max))
                .field("height", gst::IntRange::new(1, max))
                .field("stream-format", StreamFormat::Packets.as_str())
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
            self.pending.lock().unwrap().take();
        }
        self.parent_change_state(transition)
    }
}

impl LimitNetDepay {
    /// The frame collected so far, if any, as one buffer: whatever of it arrived. Its PTS is
    /// set here, as the base class would stamp it with the packet being processed, which may
    /// already be of the next frame.
    fn take_pending(&self) -> Option<gst::Buffer> {
        let frame = self.pending.lock().unwrap().take()?;
        gst::log!(CAT, imp = self, "frame of {} bytes", frame.size());
        Some(frame)
    }
}

impl RTPBaseDepayloadImpl for LimitNetDepay {
    fn set_caps(&self, caps: &gst::Caps) -> Result<(), gst::LoggableError> {
        let s = caps
            .structure(0)
            .ok_or_else(|| gst::loggable_error!(CAT, "empty caps"))?;
        let Some(params) = params_from_rtp_caps(s) else {
            gst::element_imp_error!(
                self,
                gst::StreamError::Format,
                [
                    "RTP caps {} lack the width, height or model-id of the LimitNet stream (the SDP fmtp parameters limitnetpay sets)",
                    caps
                ]
            );
            return Err(gst::loggable_error!(CAT, "incomplete RTP caps"));
        };
        let out = stream_caps(&params, None, StreamFormat::Packets);
        gst::info!(CAT, imp = self, "stream caps {}", out);
        self.obj()
            .src_pad()
            .push_event(gst::event::Caps::new(&out))
            .then_some(())
            .ok_or_else(|| gst::loggable_error!(CAT, "downstream refused {}", out))
    }

    fn process_rtp_packet(
        &self,
        rtp: &gst_rtp::RTPBuffer<gst_rtp::rtp_buffer::Readable>,
    ) -> Option<gst::Buffer> {
        let Ok(payload) = rtp.payload() else {
            return None;
        };
        // A new timestamp ends the previous frame, whose marker packet may have been lost.
        let previous =
            self.pending
                .lock()
                .unwrap()
                .add(rtp.timestamp(), rtp.buffer().pts(), payload);
        if let Some(previous) = &previous {
            gst::log!(
                CAT,
                imp = self,
                "frame of {} bytes, marker lost",
                previous.size()
            );
        }
        if !rtp.is_marker() {
            return previous;
        }
        // Returned buffers are pushed by the base class, which also reports their flow return;
        // only a one-packet frame right after a frame without its marker needs a push here.
        if let Some(previous) = previous {
            if let Err(e) = self.obj().push(previous) {
                gst::debug!(CAT, imp = self, "pushing the previous frame: {:?}", e);
            }
        }
        self.take_pending()
    }

    fn handle_event(&self, event: gst::Event) -> bool {
        match event.view() {
            gst::EventView::Eos(_) => {
                if let Some(last) = self.take_pending() {
                    if let Err(e) = self.obj().push(last) {
                        gst::debug!(CAT, imp = self, "pushing the last frame at EOS: {:?}", e);
                    }
                }
            }
            gst::EventView::FlushStop(_) => {
                self.pending.lock().unwrap().take();
            }
            _ => {}
        }
        self.parent_handle_event(event)
    }
}
