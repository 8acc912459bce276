//! Model bundles: encoder and decoder ONNX graphs plus the codec tables, with a content-hash id.
//!
//! A bundle is a directory holding `encoder.onnx`, `decoder.onnx` and `codec.json`
//! (docs/bitstream.md "Model bundle"). Three bundles are compiled into the plugin:
//! `limitnet-lite` (the default: a cheaper encoder stem and a sub-pixel decoder),
//! `limitnet-fast` (the paper's encoder with that decoder) and `limitnet-paper` (the paper's
//! architecture throughout), all trained with the same recipe (models/*/MODEL_CARD.md).

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};

use sha2::{Digest, Sha256};

use crate::codec::{CodecError, CodecTables};

/// The bundles compiled into the plugin, by name; the first is the default.
macro_rules! embedded_files {
    ($($name:literal),+) => {
        [$((
            $name,
            include_bytes!(concat!("../../../models/", $name, "/encoder.onnx")).as_slice(),
            include_bytes!(concat!("../../../models/", $name, "/decoder.onnx")).as_slice(),
            include_bytes!(concat!("../../../models/", $name, "/codec.json")).as_slice(),
        )),+]
    };
}

type EmbeddedFiles = (&'static str, &'static [u8], &'static [u8], &'static [u8]);

static EMBEDDED_FILES: [EmbeddedFiles; 4] = embedded_files!(
    "limitnet-lite",
    "limitnet-layered",
    "limitnet-fast",
    "limitnet-paper"
);

/// Name of the default bundle (the one used when no `model` is set).
pub const EMBEDDED_NAME: &str = EMBEDDED_FILES[0].0;

/// Why a model bundle cannot be had.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BundleError {
    /// `model` is neither a compiled-in bundle's name nor a directory (most often a typo).
    Unknown { model: PathBuf },
    /// A file of the bundle directory `dir` could not be read.
    Read {
        dir: PathBuf,
        file: &'static str,
        reason: String,
    },
    /// The codec tables (`codec.json`) of bundle `bundle` are invalid.
    Tables { bundle: String, error: CodecError },
}

impl std::fmt::Display for BundleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unknown { model } => write!(
                f,
                "{} is neither a compiled-in bundle ({}) nor a bundle directory",
                model.display(),
                ModelBundle::embedded_names().collect::<Vec<_>>().join(", ")
            ),
            Self::Read { dir, file, reason } => write!(
                f,
                "model bundle {}: cannot read {file}: {reason}",
                dir.display()
            ),
            Self::Tables { bundle, error } => write!(f, "model bundle {bundle}: {error}"),
        }
    }
}

impl std::error::Error for BundleError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Tables { error, .. } => Some(error),
            _ => None,
        }
    }
}

/// Validated lazily, once per process; each entry is the bundle or why it is unusable.
static EMBEDDED: LazyLock<Vec<Result<Arc<ModelBundle>, BundleError>>> = LazyLock::new(|| {
    EMBEDDED_FILES
        .iter()
        .map(|&(name, encoder, decoder, codec)| {
            ModelBundle::from_parts(
                name.into(),
                Cow::Borrowed(encoder),
                Cow::Borrowed(decoder),
                codec,
            )
            .map(Arc::new)
            .map_err(|error| BundleError::Tables {
                bundle: name.into(),
                error,
            })
        })
        .collect()
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
    /// The default bundle compiled into the plugin.
    pub fn embedded() -> Result<Arc<Self>, BundleError> {
        EMBEDDED[0].clone()
    }

    /// Names of the bundles compiled into the plugin, the default first.
    pub fn embedded_names() -> impl Iterator<Item = &'static str> {
        EMBEDDED_FILES.iter().map(|f| f.0)
    }

    /// The compiled-in bundle called `name`, if there is one.
    pub fn embedded_named(name: &str) -> Option<Result<Arc<Self>, BundleError>> {
        let i = EMBEDDED_FILES.iter().position(|f| f.0 == name)?;
        Some(EMBEDDED[i].clone())
    }

    /// The compiled-in bundle whose id is `id` (a stream's `model-id`), if any is usable.
    pub fn embedded_with_id(id: &str) -> Option<Arc<Self>> {
        EMBEDDED
            .iter()
            .flatten()
            .find(|bundle| bundle.id == id)
            .cloned()
    }

    /// Loads a bundle directory.
    pub fn from_dir(dir: &Path) -> Result<Self, BundleError> {
        let read = |file: &'static str| {
            std::fs::read(dir.join(file)).map_err(|e| BundleError::Read {
                dir: dir.to_path_buf(),
                file,
                reason: e.to_string(),
            })
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
        Self::from_parts(name, Cow::Owned(encoder), Cow::Owned(decoder), &codec).map_err(|error| {
            BundleError::Tables {
                bundle: dir.display().to_string(),
                error,
            }
        })
    }

    /// Loads `model`: the name of a compiled-in bundle (`limitnet-lite`, `limitnet-fast`,
    /// `limitnet-paper`), else a bundle directory (write `./limitnet-paper` for a directory of
    /// that name); `None` is the default bundle.
    pub fn load(model: Option<&Path>) -> Result<Arc<Self>, BundleError> {
        let Some(model) = model else {
            return Self::embedded();
        };
        if let Some(bundle) = model.to_str().and_then(Self::embedded_named) {
            return bundle;
        }
        if !model.is_dir() {
            // Most often a mistyped name: the error says which names there are.
            return Err(BundleError::Unknown {
                model: model.to_path_buf(),
            });
        }
        Self::from_dir(model).map(Arc::new)
    }

    /// Validates and identifies a bundle from its three files' bytes, without creating any
    /// ONNX Runtime session (the graphs are only hashed here). [`Self::from_dir`] and the
    /// embedded bundle go through this; fuzz/fuzz_targets/bundle.rs fuzzes it.
    pub fn from_parts(
        name: String,
        encoder_onnx: Cow<'static, [u8]>,
        decoder_onnx: Cow<'static, [u8]>,
        codec_json: &[u8],
    ) -> Result<Self, CodecError> {
        let tables = CodecTables::from_json(codec_json)?;
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
