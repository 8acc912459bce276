//! The codec tables of a model bundle (`codec.json`, docs/bitstream.md "Codec tables").

use serde::Deserialize;

use super::huffman::HuffmanCode;
use super::quant::Quantizer;
use super::{CodecError, saliency};

/// Downsampling factor of the encoder: a W x H frame gives a ceil(W/8) x ceil(H/8) latent grid.
pub const DOWNSAMPLE: u32 = 8;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CodecJson {
    format: String,
    version: u32,
    channels: usize,
    downsample: u32,
    levels: u32,
    saliency_grid: usize,
    saliency_bits: u32,
    latent_min: Vec<f32>,
    latent_max: Vec<f32>,
    code_lengths: Vec<Vec<u8>>,
}

/// Quantization ranges and per-channel entropy codes, validated.
#[derive(Debug, Clone)]
pub struct CodecTables {
    channels: usize,
    quantizer: Quantizer,
    codes: Vec<HuffmanCode>,
}

impl CodecTables {
    pub fn from_json(bytes: &[u8]) -> Result<Self, CodecError> {
        let j: CodecJson = serde_json::from_slice(bytes)
            .map_err(|e| CodecError::BadTables(format!("codec.json: {e}")))?;
        let bad = |m: String| Err(CodecError::BadTables(m));
        if j.format != "limitnet-codec" || j.version != 1 {
            return bad(format!(
                "unsupported codec tables {:?} version {}",
                j.format, j.version
            ));
        }
        if !(1..=64).contains(&j.channels) {
            return bad(format!("{} channels (1..=64 supported)", j.channels));
        }
        if j.downsample != DOWNSAMPLE
            || j.levels != 64
            || j.saliency_grid != saliency::GRID
            || j.saliency_bits != saliency::BITS
        {
            return bad(
                "downsample 8, 64 levels and an 8x8 5-bit saliency grid are required".into(),
            );
        }
        if j.latent_min.len() != j.channels
            || j.latent_max.len() != j.channels
            || j.code_lengths.len() != j.channels
        {
            return bad("per-channel arrays do not match the channel count".into());
        }
        for (lo, hi) in j.latent_min.iter().zip(&j.latent_max) {
            if !(lo.is_finite() && hi.is_finite() && lo < hi) {
                return bad(format!("bad quantization range [{lo}, {hi}]"));
            }
        }
        let codes = j
            .code_lengths
            .iter()
            .map(|l| {
                if l.len() != j.levels as usize {
                    return Err(CodecError::BadTables(
                        "code table size differs from the level count".into(),
                    ));
                }
                HuffmanCode::from_lengths(l)
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self {
            channels: j.channels,
            quantizer: Quantizer::new(&j.latent_min, &j.latent_max, j.levels),
            codes,
        })
    }

    pub fn channels(&self) -> usize {
        self.channels
    }

    pub fn quantizer(&self) -> &Quantizer {
        &self.quantizer
    }

    pub fn code(&self, channel: usize) -> &HuffmanCode {
        &self.codes[channel]
    }
}
