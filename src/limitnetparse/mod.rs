//! `limitnetparse`: a `.lnet` file stream -> LimitNet frames with their timestamps and caps.

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct LimitNetParse(ObjectSubclass<imp::LimitNetParse>) @extends gst_base::BaseParse, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "limitnetparse",
        gst::Rank::PRIMARY,
        LimitNetParse::static_type(),
    )
}
