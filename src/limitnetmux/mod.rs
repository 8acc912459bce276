//! `limitnetmux`: LimitNet frames -> a `.lnet` file stream (header, then one record per frame).

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct LimitNetMux(ObjectSubclass<imp::LimitNetMux>) @extends gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "limitnetmux",
        gst::Rank::PRIMARY,
        LimitNetMux::static_type(),
    )
}
