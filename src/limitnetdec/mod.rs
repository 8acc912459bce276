//! `limitnetdec`: LimitNet frames (or any prefix of them) -> RGB video at the original size.

use gst::glib;
use gst::prelude::*;

mod imp;

/// What `limitnetdec` outputs (its `output` property).
#[derive(Debug, Default, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstLimitNetDecOutput")]
pub enum DecoderOutput {
    /// The decoded picture.
    #[default]
    #[enum_value(name = "The decoded image", nick = "image")]
    Image = 0,
    /// The received 8x8 saliency map, grey (0..31 -> 0..255) at the frame size; no network run.
    #[enum_value(
        name = "The received 8x8 saliency map as a grey image at the frame size (black: no map received); no network run",
        nick = "saliency"
    )]
    Saliency = 1,
}

glib::wrapper! {
    pub struct LimitNetDec(ObjectSubclass<imp::LimitNetDec>) @extends gst_video::VideoDecoder, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    DecoderOutput::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    gst::Element::register(
        Some(plugin),
        "limitnetdec",
        gst::Rank::PRIMARY,
        LimitNetDec::static_type(),
    )
}
