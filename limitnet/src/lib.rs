//! LimitNet (Hojjat et al., MobiSys 2024), a progressive, content-aware learned image codec for
//! weak devices and networks: the bitstream, the model bundles and an encoder/decoder API,
//! without GStreamer (the `gst-plugin-limitnet` elements are thin adapters over it).
//!
//! Layers, each depending only on those before it: [`codec`] (the bitstream: priority order,
//! quantization, entropy coding, frames, packets, `.lnet` files; pure Rust, `no_std` with
//! `alloc`), then with the `onnx` feature [`model`] (ONNX Runtime and model bundles) and
//! [`api`] (the two joined).
//!
//! Features: `std` and `onnx`, both on by default. `--no-default-features` builds `#![no_std]`
//! (with `alloc`): the codec core, what a sender needs after its network.

#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

#[cfg(feature = "onnx")]
pub mod api;
pub mod codec;
#[cfg(feature = "onnx")]
pub mod model;
pub mod sender;

#[cfg(feature = "onnx")]
pub use api::{
    Concealment, Cut, DecodeOptions, DecodeReport, Decoder, EncodeOptions, EncodedFrame, Encoder,
    Engine, Error, ImageRef, PixelLayout, StreamFormat, frame_budget,
};
pub use codec::StreamParams;
#[cfg(feature = "onnx")]
pub use model::ModelBundle;
