use std::sync::{LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

use crate::api::StreamFormat;
use crate::codec::packet;
use crate::elements::CAPS_NAME;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "limitnetdepacketizer",
        gst::DebugColorFlags::empty(),
        Some("LimitNet raw depacketizer"),
    )
});

/// The frame being collected.
struct Pending {
    frame_number: u8,
    pts: Option<gst::ClockTime>,
    duration: Option<gst::ClockTime>,
    /// Packet set: length-prefixed packets as they came.
    set: Vec<u8>,
    packets: usize,
}

pub struct LimitNetDepacketizer {
    sinkpad: gst::Pad,
    srcpad: gst::Pad,
    pending: Mutex<Option<Pending>>,
}

impl LimitNetDepacketizer {
    fn take_pending(&self) -> Option<gst::Buffer> {
        let pending = self.pending.lock().unwrap().take()?;
        gst::log!(
            CAT,
            imp = self,
            "frame {} (mod 8): {} packets, {} bytes",
            pending.frame_number,
            pending.packets,
            pending.set.len()
        );
        let mut buffer = gst::Buffer::from_mut_slice(pending.set);
        let b = buffer.get_mut().unwrap();
        b.set_pts(pending.pts);
        b.set_duration(pending.duration);
        Some(buffer)
    }

    fn sink_chain(&self, buffer: gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError> {
        let map = buffer.map_readable().map_err(|_| gst::FlowError::Error)?;
        let Some(frame_number) = packet::frame_number_of(&map) else {
            gst::warning!(CAT, imp = self, "ignoring an empty packet");
            return Ok(gst::FlowSuccess::Ok);
        };
        if map.len() > usize::from(u16::MAX) {
            gst::warning!(CAT, imp = self, "ignoring a packet of {} bytes", map.len());
            return Ok(gst::FlowSuccess::Ok);
        }
        // A packet of another frame number, or with another timestamp, starts a new frame: the
        // previous one leaves with what arrived of it.
        let ends_previous = self.pending.lock().unwrap().as_ref().is_some_and(|p| {
            p.frame_number != frame_number
                || (p.pts.is_some() && buffer.pts().is_some() && p.pts != buffer.pts())
        });
        if ends_previous {
            if let Some(previous) = self.take_pending() {
                self.srcpad.push(previous)?;
            }
        }
        let mut guard = self.pending.lock().unwrap();
        let pending = guard.get_or_insert_with(|| Pending {
            frame_number,
            pts: buffer.pts(),
            duration: buffer.duration(),
            set: Vec::new(),
            packets: 0,
        });
        packet::push_to_set(&mut pending.set, &map);
        pending.packets += 1;
        Ok(gst::FlowSuccess::Ok)
    }

    fn sink_event(&self, pad: &gst::Pad, event: gst::Event) -> bool {
        match event.view() {
            gst::EventView::Caps(c) => {
                let mut out = c.caps_owned().copy();
                out.make_mut()
                    .set("stream-format", StreamFormat::Packets.as_str());
                return self.srcpad.push_event(gst::event::Caps::new(&out));
            }
            gst::EventView::Eos(_) => {
                if let Some(last) = self.take_pending() {
                    if let Err(e) = self.srcpad.push(last) {
                        gst::debug!(CAT, imp = self, "pushing the last frame at EOS: {:?}", e);
                    }
                }
            }
            gst::EventView::FlushStop(_) => {
                *self.pending.lock().unwrap() = None;
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
            pending: Mutex::new(None),
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
            *self.pending.lock().unwrap() = None;
        }
        self.parent_change_state(transition)
    }
}
