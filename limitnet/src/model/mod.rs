//! The model runtime: ONNX Runtime loading, model bundles and inference sessions.

pub mod bundle;
pub mod normalize;
pub mod runtime;
pub mod session;
pub mod tiles;

pub use bundle::ModelBundle;
pub use session::{DecoderSession, EncoderSession};
