//! `limitnetdepay`: RTP packets -> one packet set per frame of whatever arrived
//! (docs/rtp-payload.md), for `limitnetdec`.

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct LimitNetDepay(ObjectSubclass<imp::LimitNetDepay>)
        @extends gst_rtp::RTPBaseDepayload, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "limitnetdepay",
        gst::Rank::MARGINAL,
        LimitNetDepay::static_type(),
    )
}
