//! `limitnetenc`: raw video -> one progressive LimitNet frame per buffer.

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct LimitNetEnc(ObjectSubclass<imp::LimitNetEnc>) @extends gst_video::VideoEncoder, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "limitnetenc",
        gst::Rank::PRIMARY,
        LimitNetEnc::static_type(),
    )
}
