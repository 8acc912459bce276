use std::sync::{LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

use crate::elements::{CAPS_NAME, FILE_CAPS_NAME};
use limitnet::codec::container;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "limitnetmux",
        gst::DebugColorFlags::empty(),
        Some("LimitNet file writer"),
    )
});

#[derive(Default)]
struct State {
    /// The stream caps, written into the file header before the first frame.
    caps: Option<String>,
    header_written: bool,
}

pub struct LimitNetMux {
    sinkpad: gst::Pad,
    srcpad: gst::Pad,
    state: Mutex<State>,
}

impl LimitNetMux {
    fn sink_chain(&self, buffer: gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError> {
        let header = {
            let mut state = self.state.lock().unwrap();
            if state.header_written {
                None
            } else {
                let caps = state.caps.clone().ok_or(gst::FlowError::NotNegotiated)?;
                state.header_written = true;
                Some(container::file_header(&caps))
            }
        };
        if let Some(header) = header {
            gst::debug!(CAT, imp = self, "writing the file header");
            self.srcpad.push(gst::Buffer::from_mut_slice(header))?;
        }
        let map = buffer.map_readable().map_err(|_| gst::FlowError::Error)?;
        let rec = container::record(
            buffer.pts().map(|t| t.nseconds()),
            buffer.duration().map(|t| t.nseconds()),
            &map,
        );
        gst::log!(
            CAT,
            imp = self,
            "record of {} bytes, pts {:?}",
            map.len(),
            buffer.pts()
        );
        self.srcpad.push(gst::Buffer::from_mut_slice(rec))
    }

    fn sink_event(&self, pad: &gst::Pad, event: gst::Event) -> bool {
        match event.view() {
            gst::EventView::Caps(c) => {
                let caps = c.caps();
                let mut state = self.state.lock().unwrap();
                if state.header_written && state.caps.as_deref() != Some(&caps.to_string()) {
                    gst::element_imp_error!(
                        self,
                        gst::StreamError::Format,
                        ["A .lnet file holds one stream: caps changed mid-stream"]
                    );
                    return false;
                }
                state.caps = Some(caps.to_string());
                drop(state);
                self.srcpad
                    .push_event(gst::event::Caps::new(&gst::Caps::new_empty_simple(
                        FILE_CAPS_NAME,
                    )))
            }
            // The file is a byte stream: downstream (filesink) gets a bytes segment.
            gst::EventView::Segment(_) => {
                self.srcpad
                    .push_event(gst::event::Segment::new(&gst::FormattedSegment::<
                        gst::format::Bytes,
                    >::new()))
            }
            _ => gst::Pad::event_default(pad, Some(&*self.obj()), event),
        }
    }
}

#[glib::object_subclass]
impl ObjectSubclass for LimitNetMux {
    const NAME: &'static str = "GstLimitNetMux";
    type Type = super::LimitNetMux;
    type ParentType = gst::Element;

    fn with_class(klass: &Self::Class) -> Self {
        let sinkpad = gst::Pad::builder_from_template(&klass.pad_template("sink").unwrap())
            .chain_function(|_pad, parent, buffer| {
                LimitNetMux::catch_panic_pad_function(
                    parent,
                    || Err(gst::FlowError::Error),
                    |imp| imp.sink_chain(buffer),
                )
            })
            .event_function(|pad, parent, event| {
                LimitNetMux::catch_panic_pad_function(
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

impl ObjectImpl for LimitNetMux {
    fn constructed(&self) {
        self.parent_constructed();
        let obj = self.obj();
        obj.add_pad(&self.sinkpad).unwrap();
        obj.add_pad(&self.srcpad).unwrap();
    }
}

impl GstObjectImpl for LimitNetMux {}

impl ElementImpl for LimitNetMux {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "LimitNet file writer",
                "Codec/Muxer",
                "Frames LimitNet frames with their timestamps for storing as a .lnet file (docs/bitstream.md)",
                "gst-limitnet developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let sink = gst::Caps::new_empty_simple(CAPS_NAME);
            let src = gst::Caps::new_empty_simple(FILE_CAPS_NAME);
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
