//! `limitnetdec`: LimitNet frames (or any prefix of them) -> RGB video at the original size.

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct LimitNetDec(ObjectSubclass<imp::LimitNetDec>) @extends gst_video::VideoDecoder, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "limitnetdec",
        gst::Rank::PRIMARY,
        LimitNetDec::static_type(),
    )
}
