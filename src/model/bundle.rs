//! Model bundles: encoder and decoder ONNX graphs plus the codec tables, with a content-hash id.
//!
//! A bundle is a directory holding `encoder.onnx`, `decoder.onnx` and `codec.json`
//! (docs/bitstream.md "Model bundle"). The default bundle is compiled into the plugin.

use std::borrow::Cow;
use std::path::Path;
use std::sync::{Arc, LazyLock};

use sha2::{Digest, Sha256};

use crate::codec::CodecTables;

/// Name of the bundle compiled into the plugin.
pub const EMBEDDED_NAME: &str = "limitnet-paper";

static EMBEDDED_ENCODER: &[u8] = include_bytes!("../../models/limitnet-paper/encoder.onnx");
static EMBEDDED_DECODER: &[u8] = include_bytes!("../../models/limitnet-paper/decoder.onnx");
static EMBEDDED_CODEC: &[u8] = include_bytes!("../../models/limitnet-paper/codec.json");

static EMBEDDED: LazyLock<Result<Arc<ModelBundle>, String>> = LazyLock::new(|| {
    ModelBundle::from_parts(
        EMBEDDED_NAME.into(),
        Cow::Borrowed(EMBEDDED_ENCODER),
        Cow::Borrowed(EMBEDDED_DECODER),
        EMBEDDED_CODEC,
    )
    .map(Arc::new)
});

#[derive(Debug)]
pub struct ModelBundle {
    /// Directory name (or the embedded bundle's name).
    pub name: String,
    /// First 16 hex digits of the SHA-256 of the three files; goes into the caps as `model-id`.
    pub id: String,
    pub tables: CodecTables,
    pub encoder_onnx: Cow<'static, [u8]>,
    pub decoder_onnx: Cow<'static, [u8]>,
}

impl ModelBundle {
    /// The bundle compiled into the plugin.
    pub fn embedded() -> Result<Arc<Self>, String> {
        EMBEDDED.clone()
    }

    /// Loads a bundle directory.
    pub fn from_dir(dir: &Path) -> Result<Self, String> {
        let read = |f: &str| {
            std::fs::read(dir.join(f))
                .map_err(|e| format!("model bundle {}: cannot read {f}: {e}", dir.display()))
        };
        let (encoder, decoder, codec) = (
            read("encoder.onnx")?,
            read("decoder.onnx")?,
            read("codec.json")?,
        );
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| dir.display().to_string());
        Self::from_parts(name, Cow::Owned(encoder), Cow::Owned(decoder), &codec)
            .map_err(|e| format!("model bundle {}: {e}", dir.display()))
    }

    /// Loads `path` if given, else the embedded bundle.
    pub fn load(path: Option<&Path>) -> Result<Arc<Self>, String> {
        match path {
            Some(p) => Self::from_dir(p).map(Arc::new),
            None => Self::embedded(),
        }
    }

    /// Validates and identifies a bundle from its three files' bytes, without creating any
    /// ONNX Runtime session (the graphs are only hashed here). [`Self::from_dir`] and the
    /// embedded bundle go through this; fuzz/fuzz_targets/bundle.rs fuzzes it.
    pub fn from_parts(
        name: String,
        encoder_onnx: Cow<'static, [u8]>,
        decoder_onnx: Cow<'static, [u8]>,
        codec_json: &[u8],
    ) -> Result<Self, String> {
        let tables = CodecTables::from_json(codec_json).map_err(|e| e.to_string())?;
        let mut h = Sha256::new();
        for part in [&encoder_onnx[..], &decoder_onnx[..], codec_json] {
            h.update((part.len() as u64).to_le_bytes());
            h.update(part);
        }
        let id = h.finalize()[..8]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(Self {
            name,
            id,
            tables,
            encoder_onnx,
            decoder_onnx,
        })
    }
}
