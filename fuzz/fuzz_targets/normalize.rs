//! The ONNX graph reader that folds an encoder's input normalisation
//! (`model::normalize::fold_input_normalization`), which reads any `encoder.onnx` a user gives,
//! on arbitrary bytes.
//!
//! Input: an ONNX file (the seeds are the real graphs). Beyond "never panics": the folded
//! normalisation has no zero std, and the folded graph is read back by the same reader.

#![no_main]

use limitnet::model::normalize::fold_input_normalization;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|model: &[u8]| {
    let Some((folded, norm)) = fold_input_normalization(model, "image") else {
        return;
    };
    assert!(norm.std.iter().all(|&s| s != 0.0), "{norm:?}");
    let _ = norm.table();
    // A graph normalised twice folds again; either way reading it back must not panic.
    let _ = fold_input_normalization(&folded, "image");
});
