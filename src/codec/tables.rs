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
        let quantizer = Quantizer::new(&j.latent_min, &j.latent_max, j.levels);
        // A range too wide for f32 (hi - lo overflows: NaN and infinite latent values) or so
        // narrow that the step underflows to 0 (every level the same value) is unusable.
        let top = (j.levels - 1) as u8;
        for (c, (lo, hi)) in j.latent_min.iter().zip(&j.latent_max).enumerate() {
            let (bottom, top) = (quantizer.dequantize(c, 0), quantizer.dequantize(c, top));
            if !(top.is_finite() && bottom.is_finite() && top > bottom) {
                return bad(format!(
                    "quantization range [{lo}, {hi}] has no {} distinct finite levels in f32",
                    j.levels
                ));
            }
        }
        Ok(Self {
            channels: j.channels,
            quantizer,
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

#[cfg(test)]
mod tests {
    use super::*;

    const EMBEDDED: &[u8] = include_bytes!("../../models/limitnet-paper/codec.json");

    fn with_range(channel: usize, lo: f64, hi: f64) -> Vec<u8> {
        let mut j: serde_json::Value = serde_json::from_slice(EMBEDDED).unwrap();
        j["latent_min"][channel] = lo.into();
        j["latent_max"][channel] = hi.into();
        serde_json::to_vec(&j).unwrap()
    }

    #[test]
    fn embedded_tables_are_valid() {
        let t = CodecTables::from_json(EMBEDDED).unwrap();
        assert_eq!(t.channels(), 12);
    }

    /// A range whose width overflows f32 gave an infinite step, so level 0 dequantized to NaN
    /// (0 * inf) and the others to infinity; the `tables` fuzz target checks every level of
    /// accepted tables is finite (fuzz/seeds/tables/range-overflow).
    #[test]
    fn rejects_ranges_without_finite_levels() {
        for (lo, hi) in [(-3e38, 3e38), (-1e38, 3e38), (0.0, 1e-45)] {
            let err = CodecTables::from_json(&with_range(3, lo, hi)).unwrap_err();
            assert!(
                err.to_string().contains("quantization range"),
                "[{lo}, {hi}]: {err}"
            );
        }
        let t = CodecTables::from_json(&with_range(3, -1e30, 1e30)).unwrap();
        assert!((0..64).all(|q| t.quantizer().dequantize(3, q).is_finite()));
    }
}
