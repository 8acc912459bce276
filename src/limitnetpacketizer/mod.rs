//! `limitnetpacketizer`: LimitNet frames -> one buffer per packet, for raw LPWAN radios without
//! RTP (docs/rtp-payload.md "Raw LPWAN links").

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct LimitNetPacketizer(ObjectSubclass<imp::LimitNetPacketizer>) @extends gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "limitnetpacketizer",
        gst::Rank::NONE,
        LimitNetPacketizer::static_type(),
    )
}
