//! What both elements share: the caps name and how model/runtime failures become element errors.

use std::path::Path;
use std::sync::Arc;

use crate::api::Error;
use crate::model::ModelBundle;

/// Media type of a LimitNet stream; fields: width, height, framerate, model-id.
pub const CAPS_NAME: &str = "image/x-limitnet";

/// Loads the bundle of the `model` property (or the embedded one) as an element error.
pub fn load_bundle(path: Option<&Path>) -> Result<Arc<ModelBundle>, gst::ErrorMessage> {
    ModelBundle::load(path).map_err(|e| {
        gst::error_msg!(
            gst::ResourceError::OpenRead,
            ["Cannot load the model bundle: {}", e]
        )
    })
}

/// A failure to create the network sessions, as an element error that says what to do.
pub fn init_error(e: Error) -> gst::ErrorMessage {
    match e {
        Error::Runtime(m) => gst::error_msg!(gst::LibraryError::Init, ["{}", m]),
        other => gst::error_msg!(gst::LibraryError::Settings, ["{}", other]),
    }
}
