//! `limitnetdepacketizer`: LimitNet packets as they came off a raw link -> one packet set per
//! frame, for `limitnetdec` (docs/rtp-payload.md "Raw LPWAN links").

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct LimitNetDepacketizer(ObjectSubclass<imp::LimitNetDepacketizer>) @extends gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "limitnetdepacketizer",
        gst::Rank::NONE,
        LimitNetDepacketizer::static_type(),
    )
}
