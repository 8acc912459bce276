use std::sync::{LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

use crate::codec::container::{self, Item, Record};
use crate::elements::{CAPS_NAME, FILE_CAPS_NAME};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "limitnetparse",
        gst::DebugColorFlags::empty(),
        Some("LimitNet file reader"),
    )
});

#[derive(Default)]
struct State {
    reader: container::Reader,
    /// Caps and a time segment go out once the file header is read.
    started: bool,
}

pub struct LimitNetParse {
    sinkpad: gst::Pad,
    srcpad: gst::Pad,
    state: Mutex<State>,
}

fn clock(t: Option<u64>) -> Option<gst::ClockTime> {
    t.map(gst::ClockTime::from_nseconds)
}

impl LimitNetParse {
    fn push_record(&self, rec: Record) -> Result<gst::FlowSuccess, gst::FlowError> {
        let mut buffer = gst::Buffer::from_mut_slice(rec.payload);
        {
            let b = buffer.get_mut().unwrap();
            b.set_pts(clock(rec.pts));
            b.set_duration(clock(rec.duration));
        }
        self.srcpad.push(buffer)
    }

    fn drain(&self) -> Result<gst::FlowSuccess, gst::FlowError> {
        loop {
            let item = self.state.lock().unwrap().reader.next_item();
            match item {
                Ok(None) => return Ok(gst::FlowSuccess::Ok),
                Ok(Some(Item::Header { caps })) => {
                    let caps = caps
                        .parse::<gst::Caps>()
                        .ok()
                        .filter(|c| c.structure(0).is_some_and(|s| s.name() == CAPS_NAME));
                    let Some(caps) = caps else {
                        gst::element_imp_error!(
                            self,
                            gst::StreamError::Demux,
                            ["The .lnet header does not hold LimitNet caps"]
                        );
                        return Err(gst::FlowError::Error);
                    };
                    gst::debug!(CAT, imp = self, "stream caps {}", caps);
                    self.srcpad.push_event(gst::event::Caps::new(&caps));
                    self.srcpad
                        .push_event(gst::event::Segment::new(&gst::FormattedSegment::<
                            gst::ClockTime,
                        >::new()));
                    self.state.lock().unwrap().started = true;
                }
                Ok(Some(Item::Frame(rec))) => {
                    gst::log!(CAT, imp = self, "frame of {} bytes", rec.payload.len());
                    self.push_record(rec)?;
                }
                Err(e) => {
                    gst::element_imp_error!(self, gst::StreamError::Demux, ["{}", e]);
                    return Err(gst::FlowError::Error);
                }
            }
        }
    }

    fn sink_chain(&self, buffer: gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError> {
        let map = buffer.map_readable().map_err(|_| gst::FlowError::Error)?;
        self.state.lock().unwrap().reader.push(&map);
        drop(map);
        self.drain()
    }

    fn sink_event(&self, pad: &gst::Pad, event: gst::Event) -> bool {
        match event.view() {
            // Ours come from the file header.
            gst::EventView::Caps(_) | gst::EventView::Segment(_) => true,
            gst::EventView::Eos(_) => {
                // A file cut inside its last frame still gives that frame's prefix.
                let (last, started) = {
                    let mut s = self.state.lock().unwrap();
                    (s.reader.finish(), s.started)
                };
                if let Some(rec) = last.filter(|_| started) {
                    gst::warning!(
                        CAT,
                        imp = self,
                        "file ends inside a frame: passing on its first {} bytes",
                        rec.payload.len()
                    );
                    let _ = self.push_record(rec);
                }
                if !started {
                    gst::element_imp_error!(
                        self,
                        gst::StreamError::Demux,
                        ["No .lnet header before the end of the stream"]
                    );
                }
                gst::Pad::event_default(pad, Some(&*self.obj()), event)
            }
            gst::EventView::FlushStop(_) => {
                *self.state.lock().unwrap() = State::default();
                gst::Pad::event_default(pad, Some(&*self.obj()), event)
            }
            _ => gst::Pad::event_default(pad, Some(&*self.obj()), event),
        }
    }
}

#[glib::object_subclass]
impl ObjectSubclass for LimitNetParse {
    const NAME: &'static str = "GstLimitNetParse";
    type Type = super::LimitNetParse;
    type ParentType = gst::Element;

    fn with_class(klass: &Self::Class) -> Self {
        let sinkpad = gst::Pad::builder_from_template(&klass.pad_template("sink").unwrap())
            .chain_function(|_pad, parent, buffer| {
                LimitNetParse::catch_panic_pad_function(
                    parent,
                    || Err(gst::FlowError::Error),
                    |imp| imp.sink_chain(buffer),
                )
            })
            .event_function(|pad, parent, event| {
                LimitNetParse::catch_panic_pad_function(
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
            state: Mutex::new(State::default()),
        }
    }
}

impl ObjectImpl for LimitNetParse {
    fn constructed(&self) {
        self.parent_constructed();
        let obj = self.obj();
        obj.add_pad(&self.sinkpad).unwrap();
        obj.add_pad(&self.srcpad).unwrap();
    }
}

impl GstObjectImpl for LimitNetParse {}

impl ElementImpl for LimitNetParse {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "LimitNet file reader",
                "Codec/Parser/Video",
                "Reads .lnet files (docs/bitstream.md) into LimitNet frames with their timestamps",
                "gst-limitnet developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let sink = gst::Caps::new_empty_simple(FILE_CAPS_NAME);
            let src = gst::Caps::new_empty_simple(CAPS_NAME);
            crate::elements::sink_src_templates(&sink, &src)
        });
        TEMPLATES.as_ref()
    }

    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        if transition == gst::StateChange::ReadyToPaused {
            *self.state.lock().unwrap() = State::default();
        }
        self.parent_change_state(transition)
    }
}
