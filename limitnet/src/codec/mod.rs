//! The codec core: priority order, quantization, entropy coding and the frame bitstream.
//!
//! Pure Rust, no GStreamer and no ONNX Runtime. The format is specified in docs/bitstream.md.

/// What `std`'s prelude gives and `no_std` code must import from `alloc`.
pub(crate) mod prelude {
    pub use alloc::string::{String, ToString};
    pub use alloc::vec::Vec;
    pub use alloc::{format, vec};
}

use prelude::*;

pub mod bits;
pub mod container;
pub mod frame;
pub mod huffman;
pub mod order;
pub mod packet;
pub mod quant;
pub mod range;
pub mod refine;
pub mod saliency;
pub mod tables;

pub use frame::{
    DecodedFrame, FrameEncoder, FrameStatus, StreamParams, decode_frame, encode_frame,
    header_bytes, value_contexts, values_for_percentage,
};
pub use order::{PriorityRule, priority_order};
pub use saliency::SaliencyMap;
pub use tables::CodecTables;

/// Invalid codec tables in a model bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CodecError {
    BadTables(String),
}

impl core::fmt::Display for CodecError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::BadTables(m) => write!(f, "invalid codec tables: {m}"),
        }
    }
}

impl core::error::Error for CodecError {}

/// A frame that does not belong to the stream it was given to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    UnsupportedVersion { found: u8, expected: u8 },
    WrongStream { expected: u8, found: u8 },
    BadCount { count: u64, total: usize },
    CountTooLong,
}

impl core::fmt::Display for FrameError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::UnsupportedVersion { found, expected } => write!(
                f,
                "frame format version {found} is not supported (this model's tables code version {expected})"
            ),
            Self::WrongStream { expected, found } => write!(
                f,
                "frame belongs to another stream (tag {found:#04x}, expected {expected:#04x}): different model or frame size"
            ),
            Self::BadCount { count, total } => write!(
                f,
                "frame announces {count} values but the latent has {total}"
            ),
            Self::CountTooLong => write!(f, "frame's value count is longer than 5 bytes"),
        }
    }
}

impl core::error::Error for FrameError {}
