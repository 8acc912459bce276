//! `limitnetenc`: raw video -> one progressive LimitNet frame per buffer.

use gst::glib;
use gst::prelude::*;

mod imp;

/// What runs `limitnetenc`'s network (its `engine` property).
#[derive(Debug, Default, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstLimitNetEncEngine")]
pub enum EncoderEngine {
    /// The bundle's encoder.onnx through ONNX Runtime.
    #[default]
    #[enum_value(
        name = "The bundle's encoder graph through ONNX Runtime",
        nick = "onnx-runtime"
    )]
    OnnxRuntime = 0,
    /// limitnet-lite's encoder in pure Rust, row by row, as a microcontroller sender runs it.
    #[enum_value(
        name = "limitnet-lite's encoder in pure Rust, row by row, as a microcontroller sender runs it (same frames; no ONNX Runtime needed)",
        nick = "rust"
    )]
    Rust = 1,
    /// The same in fixed point (int8 weights, 8-bit activations), as a core without an FPU runs it.
    #[enum_value(
        name = "limitnet-lite's encoder in pure Rust in fixed point (int8 weights, 8-bit activations, 8.0 KB): frames that decode within 0.3 dB of the others",
        nick = "rust-int8"
    )]
    RustInt8 = 2,
}

impl From<EncoderEngine> for limitnet::Engine {
    fn from(e: EncoderEngine) -> Self {
        match e {
            EncoderEngine::OnnxRuntime => Self::OnnxRuntime,
            EncoderEngine::Rust => Self::Rust,
            EncoderEngine::RustInt8 => Self::RustInt8,
        }
    }
}

glib::wrapper! {
    pub struct LimitNetEnc(ObjectSubclass<imp::LimitNetEnc>) @extends gst_video::VideoEncoder, gst::Element, gst::Object;
}

pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    EncoderEngine::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    gst::Element::register(
        Some(plugin),
        "limitnetenc",
        gst::Rank::PRIMARY,
        LimitNetEnc::static_type(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The property's nicks are the API's engine names (the examples parse the same names).
    #[test]
    fn engine_nicks_are_api_names() {
        let class = glib::EnumClass::with_type(EncoderEngine::static_type()).unwrap();
        for value in class.values() {
            let engine: EncoderEngine = unsafe { glib::translate::from_glib(value.value()) };
            assert_eq!(value.nick(), limitnet::Engine::from(engine).name());
            assert_eq!(value.nick().parse::<limitnet::Engine>(), Ok(engine.into()));
        }
        assert_eq!(class.values().len(), limitnet::Engine::ALL.len());
    }
}
