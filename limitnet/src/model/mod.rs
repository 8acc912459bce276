//! The model runtime: ONNX Runtime loading, model bundles and inference sessions.

pub mod bundle;
pub mod normalize;
pub mod runtime;
pub mod session;
pub mod tiles;

pub use bundle::{BundleError, ModelBundle};
pub use runtime::RuntimeUnavailable;
pub use session::{DecoderSession, EncoderSession, SessionError};
