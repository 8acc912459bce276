//! gst-limitnet: the LimitNet progressive learned image codec (Hojjat et al., MobiSys 2024) as
//! GStreamer elements (`limitnetenc`, `limitnetdec`; `limitnetmux`, `limitnetparse` for files;
//! `limitnetpay`, `limitnetdepay`, `limitnetpacketizer`, `limitnetdepacketizer` for lossy links).
//!
//! The elements only adapt the `limitnet` crate (codec core, model bundles, encoder/decoder
//! API; no GStreamer) to GStreamer: caps, properties, buffers and messages.

use gst::glib;

mod elements;
pub mod limitnetdec;
pub mod limitnetdepacketizer;
pub mod limitnetdepay;
pub mod limitnetenc;
pub mod limitnetmux;
pub mod limitnetpacketizer;
pub mod limitnetparse;
pub mod limitnetpay;

fn plugin_init(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    limitnetenc::register(plugin)?;
    limitnetdec::register(plugin)?;
    limitnetmux::register(plugin)?;
    limitnetparse::register(plugin)?;
    limitnetpay::register(plugin)?;
    limitnetdepay::register(plugin)?;
    limitnetpacketizer::register(plugin)?;
    limitnetdepacketizer::register(plugin)?;
    // So that decodebin finds limitnetparse ! limitnetdec for .lnet files. The check is a few
    // bytes, and SECONDARY lets the common formats' typefinders run first.
    let caps = gst::Caps::new_empty_simple(elements::FILE_CAPS_NAME);
    gst::TypeFind::register(
        Some(plugin),
        "limitnet-file",
        gst::Rank::SECONDARY,
        Some("lnet"),
        Some(&caps.clone()),
        move |tf| {
            if let Some(probability) = lnet_probability(tf) {
                tf.suggest(probability, &caps);
            }
        },
    )?;
    Ok(())
}

/// A `.lnet` file starts with its magic; when that copy of the header is damaged, the second
/// copy (version 2) follows within the first bytes.
fn lnet_probability(tf: &mut gst::TypeFind) -> Option<gst::TypeFindProbability> {
    let magic = &limitnet::codec::container::MAGIC[..];
    if tf.peek(0, 4) == Some(magic) {
        return Some(gst::TypeFindProbability::Maximum);
    }
    let second_copy = [magic, &[limitnet::codec::container::VERSION]].concat();
    for window in [4096u32, 512, 64] {
        if let Some(head) = tf.peek(0, window) {
            return head
                .windows(second_copy.len())
                .any(|w| w == second_copy)
                .then_some(gst::TypeFindProbability::Likely);
        }
    }
    None
}

gst::plugin_define!(
    limitnet,
    env!("CARGO_PKG_DESCRIPTION"),
    plugin_init,
    concat!(env!("CARGO_PKG_VERSION"), "-", env!("COMMIT_ID")),
    "MIT/X11",
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_NAME"),
    // The origin GStreamer shows: the project has no public repository (and no URL to invent).
    "gst-limitnet (no public repository); LimitNet: Hojjat et al., MobiSys 2024",
    env!("BUILD_REL_DATE")
);
