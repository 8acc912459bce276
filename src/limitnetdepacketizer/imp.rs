use crate::elements::with_stream_format;
use std::sync::{LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

use crate::elements::{CAPS_NAME, PacketCollector};
use limitnet::api::StreamFormat;
use limitnet::codec::packet;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "limitnetdepacketizer",
        gst::DebugColorFlags::empty(),
        Some("LimitNet raw depacketizer"),
    )
});

/// Packets of one frame share the frame number (3 bits) and PTS.
type FrameKey = (u8, Option<gst::ClockTime>);

pub struct LimitNetDepacketizer {
    sinkpad: gst::Pad,
    srcpad: gst::Pad,
    pending: Mutex<PacketCollector<FrameKey>>,
}

impl LimitNetDepacketizer {
    fn push_frame(&self, frame: gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError> {
        gst::log!(CAT, imp = self, "frame of {} bytes", frame.size());
        self.srcpad.push(frame)
    }

    fn sink_chain(&self, buffer: gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError> {
        let map = buffer.map_readable().map_err(|_| gst::FlowError::Error)?;
        let Some(frame_number) = packet::frame_number_of(&map) else {
            gst::warning!(CAT, imp = self, "ignoring an empty packet");
            return Ok(gst::FlowSuccess::Ok);
        };
        // A packet of another frame number or timestamp starts a new frame: the previous one
        // leaves with what arrived of it.
        let finished =
            self.pending
                .lock()
                .unwrap()
                .add((frame_number, buffer.pts()), buffer.pts(), &map);
        match finished {
            Some(frame) => self.push_frame(frame),
            None => Ok(gst::FlowSuccess::Ok),
        }
    }

    fn sink_event(&self, pad: &gst::Pad, event: gst::Event) -> bool {
        match event.view() {
            gst::EventView::Caps(c) => {
                let out = with_stream_format(c.caps(), StreamFormat::Packets);
                return self.srcpad.push_event(gst::event::Caps::new(&out));
            }
            gst::EventView::Eos(_) => {
                let last = self.pending.lock().unwrap().take();
                if let Some(last) = last {
                    if let Err(e) = self.push_frame(last) {
                        gst::debug!(CAT, imp = self, "pushing the last frame at EOS: {:?}", e);
                    }
                }
            }
            gst::EventView::FlushStop(_) => {
                self.pending.lock().unwrap().take();
            }
            _ => {}
        }
        gst::Pad::event_default(pad, Some(&*self.obj()), event)
    }
}

#[glib::object_subclass]
impl ObjectSubclass for LimitNetDepacketizer {
    const NAME: &'static str = "GstLimitNetDepacketizer";
    type Type = super::LimitNetDepacketizer;
    type ParentType = gst::Element;

    fn with_class(klass: &Self::Class) -> Self {
        let sinkpad = gst::Pad::builder_from_template(&klass.pad_template("sink").unwrap())
            .chain_function(|_pad, parent, buffer| {
                LimitNetDepacketizer::catch_panic_pad_function(
                    parent,
                    || Err(gst::FlowError::Error),
                    |imp| imp.sink_chain(buffer),
                )
            })
            .event_function(|pad, parent, event| {
                LimitNetDepacketizer::catch_panic_pad_function(
                    parent,
                    || false,
                    |imp| imp.sink_event(pad, event),
                )
            })
            .build();
        let srcpad = gst::Pad::builder_from_template(&klass.pad_template("src").unwrap()).build();
        Self {
            sinkpad,
            srcpad,
            pending: Mutex::new(PacketCollector::default()),
        }
    }
}

impl ObjectImpl for LimitNetDepacketizer {
    fn constructed(&self) {
        self.parent_constructed();
        let obj = self.obj();
        obj.add_pad(&self.sinkpad).unwrap();
        obj.add_pad(&self.srcpad).unwrap();
    }
}

impl GstObjectImpl for LimitNetDepacketizer {}

impl ElementImpl for LimitNetDepacketizer {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "LimitNet raw depacketizer",
                "Codec/Depayloader/Network",
                "Collects the LimitNet packets of each frame that came off a raw link (a frame ends with the first packet of another frame number or timestamp, or EOS) for limitnetdec (docs/rtp-payload.md)",
                "gst-limitnet developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let sink = gst::Caps::builder(CAPS_NAME)
                .field("stream-format", StreamFormat::Packet.as_str())
                .build();
            let src = gst::Caps::builder(CAPS_NAME)
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
