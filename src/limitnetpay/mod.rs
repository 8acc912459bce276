//! `limitnetpay`: LimitNet frames -> RTP packets, each decodable on its own (docs/rtp-payload.md).

use gst::glib;
use gst::prelude::*;

mod imp;

glib::wrapper! {
    pub struct LimitNetPay(ObjectSubclass<imp::LimitNetPay>)
        @extends gst_rtp::RTPBasePayload, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    gst::Element::register(
        Some(plugin),
        "limitnetpay",
        gst::Rank::MARGINAL,
        LimitNetPay::static_type(),
    )
}
