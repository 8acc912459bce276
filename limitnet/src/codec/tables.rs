//! The codec tables of a model bundle (`codec.json`, docs/bitstream.md "Model bundle").

#[allow(unused_imports)]
use crate::codec::prelude::*;

use serde::Deserialize;

use super::huffman::HuffmanCode;
use super::quant::Quantizer;
use super::range::{FrequencyTable, PROB_TOTAL};
use super::refine::{Interval, Refinement};
use super::{CodecError, PriorityRule, saliency};

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
    /// Version 2 only.
    #[serde(default)]
    context_edges: Option<Vec<u8>>,
    /// The priority order's saliency weight (docs/bitstream.md); absent: the paper's 5.
    #[serde(default)]
    saliency_weight: Option<u32>,
    #[serde(default)]
    refinement_bits: Option<u8>,
    #[serde(default)]
    refinement_delay: Option<u32>,
    code_lengths: CodeLengths,
    /// Version 4 only: `[channel][context][coarse level]`, each list adding up to
    /// [`PROB_TOTAL`]: the range coder's tables for frames (packets keep the Huffman codes).
    #[serde(default)]
    frequencies: Option<Vec<Vec<Vec<u32>>>>,
    /// Version 4 only: `[channel][coarse level][refinement node]`, the frequency (1..PROB_TOTAL)
    /// of a 0 bit at each node of a coarse level's refinement tree.
    #[serde(default)]
    refinement_zeros: Option<Vec<Vec<Vec<u32>>>>,
}

/// `[channel][level]` in version 1, `[channel][context][level]` in version 2.
#[derive(Deserialize)]
#[serde(untagged)]
enum CodeLengths {
    PerChannel(Vec<Vec<u8>>),
    PerContext(Vec<Vec<Vec<u8>>>),
}

/// Most context edges a version 2 table may have.
pub const MAX_CONTEXT_EDGES: usize = 8;

/// Most quantization levels a bundle may have (levels are `u8`s, and contexts index a table of
/// this size).
pub const MAX_LEVELS: u32 = 64;

/// Quantization ranges and per-channel (version 1) or per-channel and per-context (version 2)
/// entropy codes, validated.
#[derive(Debug, Clone)]
pub struct CodecTables {
    version: u8,
    channels: usize,
    /// Codes per channel: 1 in version 1, `context_edges + 2` in version 2.
    contexts: usize,
    /// Context of a value whose known neighbours give level `m`: `1 + #{edges <= m}`.
    context_of_level: [u8; MAX_LEVELS as usize],
    quantizer: Quantizer,
    /// `codes[channel * contexts + context]`.
    codes: Vec<HuffmanCode>,
    /// Version 4: the range coder's tables, indexed like `codes`; empty before.
    frequencies: Vec<FrequencyTable>,
    /// Version 4: frequency of a 0 refinement bit by `(channel * coarse levels + coarse level)
    /// * nodes + node`; empty before.
    refinement_zeros: Vec<u16>,
    priority_rule: PriorityRule,
    refinement: Refinement,
}

impl CodecTables {
    pub fn from_json(bytes: &[u8]) -> Result<Self, CodecError> {
        let j: CodecJson = serde_json::from_slice(bytes)
            .map_err(|e| CodecError::BadTables(format!("codec.json: {e}")))?;
        let bad = |m: String| Err(CodecError::BadTables(m));
        if j.format != "limitnet-codec" || !(1..=4).contains(&j.version) {
            return bad(format!(
                "unsupported codec tables {:?} version {}",
                j.format, j.version
            ));
        }
        if !(1..=64).contains(&j.channels) {
            return bad(format!("{} channels (1..=64 supported)", j.channels));
        }
        if j.downsample != DOWNSAMPLE
            || j.saliency_grid != saliency::GRID
            || j.saliency_bits != saliency::BITS
        {
            return bad("downsample 8 and an 8x8 5-bit saliency grid are required".into());
        }
        if !(2..=MAX_LEVELS).contains(&j.levels) {
            return bad(format!("{} levels (2..={MAX_LEVELS} supported)", j.levels));
        }
        let edges = match (j.version, &j.context_edges) {
            (1, None) => Vec::new(),
            (2..=4, Some(edges)) => edges.clone(),
            _ => {
                return bad("context_edges are required from version 2 on and only there".into());
            }
        };
        let refinement = match (j.version, j.refinement_bits, j.refinement_delay) {
            (1 | 2, None, None) => Refinement::whole(j.levels),
            (3 | 4, Some(bits), Some(_)) => match Refinement::new(bits, j.levels) {
                Some(r) if bits > 0 => r,
                _ => {
                    return bad(format!(
                        "refinement_bits {bits}: 1..={} supported",
                        Refinement::MAX_BITS
                    ));
                }
            },
            _ => {
                return bad(
                    "refinement_bits and refinement_delay are required from version 3 on and only there"
                        .into(),
                );
            }
        };
        // Version 3 codes coarse levels: its tables and context edges count those.
        let coded_levels = refinement.coarse_levels();
        if edges.len() > MAX_CONTEXT_EDGES
            || edges.windows(2).any(|p| p[0] >= p[1])
            || edges
                .iter()
                .any(|&e| e == 0 || u32::from(e) >= coded_levels)
        {
            return bad(format!(
                "context_edges {edges:?}: at most {MAX_CONTEXT_EDGES} increasing levels in 1..{coded_levels}"
            ));
        }
        let saliency_weight = j
            .saliency_weight
            .unwrap_or(PriorityRule::PAPER_SALIENCY_WEIGHT);
        let Some(priority_rule) = PriorityRule::new(j.channels, saliency_weight) else {
            return bad(format!(
                "saliency_weight {saliency_weight}: 1..={} supported",
                PriorityRule::MAX_SALIENCY_WEIGHT
            ));
        };
        let delay = j.refinement_delay.unwrap_or(0);
        let Some(priority_rule) = priority_rule.with_refinement(refinement.bits(), delay) else {
            return bad(format!(
                "refinement_delay {delay}: 0..={} supported",
                PriorityRule::MAX_REFINEMENT_DELAY
            ));
        };
        let contexts = if j.version == 1 { 1 } else { edges.len() + 2 };
        // One list of code lengths per (channel, context), channel-major.
        let lengths: Vec<&Vec<u8>> = match (&j.code_lengths, j.version) {
            (CodeLengths::PerChannel(l), 1) if l.len() == j.channels => l.iter().collect(),
            (CodeLengths::PerContext(l), 2..=4)
                if l.len() == j.channels && l.iter().all(|c| c.len() == contexts) =>
            {
                l.iter().flatten().collect()
            }
            _ => {
                return bad(format!(
                    "code_lengths must be [{} channels]{}[{} levels]",
                    j.channels,
                    if j.version == 1 {
                        String::new()
                    } else {
                        format!("[{contexts} contexts]")
                    },
                    coded_levels
                ));
            }
        };
        if j.latent_min.len() != j.channels || j.latent_max.len() != j.channels {
            return bad("per-channel arrays do not match the channel count".into());
        }
        for (lo, hi) in j.latent_min.iter().zip(&j.latent_max) {
            if !(lo.is_finite() && hi.is_finite() && lo < hi) {
                return bad(format!("bad quantization range [{lo}, {hi}]"));
            }
        }
        let codes = lengths
            .iter()
            .map(|l| {
                if l.len() != coded_levels as usize {
                    return Err(CodecError::BadTables(
                        "code table size differs from the level count".into(),
                    ));
                }
                HuffmanCode::from_lengths(l)
            })
            .collect::<Result<Vec<_>, _>>()?;
        let frequencies = match (j.version, &j.frequencies) {
            (1..=3, None) => Vec::new(),
            (4, Some(f)) if f.len() == j.channels && f.iter().all(|c| c.len() == contexts) => f
                .iter()
                .flatten()
                .map(|freqs| match FrequencyTable::new(freqs) {
                    Some(t) if t.symbols() == coded_levels as usize => Ok(t),
                    _ => Err(CodecError::BadTables(format!(
                        "frequencies: each list must have {coded_levels} entries of at least 1 adding up to {PROB_TOTAL}"
                    ))),
                })
                .collect::<Result<Vec<_>, _>>()?,
            _ => {
                return bad(format!(
                    "frequencies [{} channels][{contexts} contexts][{coded_levels} levels] are required in version 4 and only there",
                    j.channels
                ));
            }
        };
        let nodes = refinement.nodes();
        let refinement_zeros = match (j.version, &j.refinement_zeros) {
            (1..=3, None) => Vec::new(),
            (4, Some(z))
                if z.len() == j.channels
                    && z.iter().all(|c| {
                        c.len() == coded_levels as usize
                            && c.iter().all(|n| {
                                n.len() == nodes && n.iter().all(|&f| (1..PROB_TOTAL).contains(&f))
                            })
                    }) =>
            {
                z.iter().flatten().flatten().map(|&f| f as u16).collect()
            }
            _ => {
                return bad(format!(
                    "refinement_zeros [{} channels][{coded_levels} levels][{nodes} nodes] of 1..{PROB_TOTAL} are required in version 4 and only there",
                    j.channels
                ));
            }
        };
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
        let context_of_level = core::array::from_fn(|m| {
            1 + edges.iter().filter(|&&e| usize::from(e) <= m).count() as u8
        });
        Ok(Self {
            version: j.version as u8,
            channels: j.channels,
            contexts,
            context_of_level,
            quantizer,
            codes,
            frequencies,
            refinement_zeros,
            priority_rule,
            refinement,
        })
    }

    /// How values split into a coarse level and refinement bits (none before version 3).
    pub fn refinement(&self) -> Refinement {
        self.refinement
    }

    /// Items in the priority order of a frame of `values` latent values: one per value, or one
    /// per value and refinement bit (version 3). Value counts in frames count these.
    pub fn items(&self, values: usize) -> usize {
        self.priority_rule.items(values)
    }

    /// The frame format version these tables code: frames of version 1 tables use one code per
    /// channel, frames of version 2 tables a code per channel and context, version 3 sends
    /// coarse levels and refinement bits, version 4 range codes version 3's items.
    pub fn frame_version(&self) -> u8 {
        self.version
    }

    /// Codes per channel.
    pub fn contexts(&self) -> usize {
        self.contexts
    }

    /// The context of a value from the levels of its left and upper neighbours in the same
    /// channel, each `None` unless it was sent before the value (docs/bitstream.md "Values").
    #[inline]
    pub fn context(&self, left: Option<u8>, up: Option<u8>) -> usize {
        if self.contexts == 1 {
            return 0;
        }
        let m = match (left, up) {
            (None, None) => return 0,
            (Some(l), Some(u)) => (u16::from(l) + u16::from(u)).div_ceil(2) as u8,
            (Some(m), None) | (None, Some(m)) => m,
        };
        usize::from(self.context_of_level[usize::from(m & 63)])
    }

    pub fn channels(&self) -> usize {
        self.channels
    }

    /// The rule that orders this bundle's values ([`super::priority_order`]).
    pub fn priority_rule(&self) -> PriorityRule {
        self.priority_rule
    }

    pub fn quantizer(&self) -> &Quantizer {
        &self.quantizer
    }

    /// The codes of `channel`, by context.
    #[inline]
    pub fn channel_codes(&self, channel: usize) -> &[HuffmanCode] {
        &self.codes[channel * self.contexts..][..self.contexts]
    }

    /// Whether frames are range coded (version 4) rather than Huffman coded.
    pub fn range_coded(&self) -> bool {
        !self.frequencies.is_empty()
    }

    /// The range coder's tables of `channel`, by context (version 4; empty before).
    #[inline]
    pub fn channel_frequencies(&self, channel: usize) -> &[FrequencyTable] {
        self.frequencies
            .get(channel * self.contexts..(channel + 1) * self.contexts)
            .unwrap_or_default()
    }

    /// Version 4: the frequency of a 0 for the refinement bit of `channel` that narrows
    /// `interval` at `stage` ([`Refinement::node`]).
    #[inline]
    pub fn refinement_zero(&self, channel: usize, interval: Interval, stage: usize) -> u32 {
        let r = self.refinement;
        let coarse = usize::from(r.coarse(interval.lo));
        let at =
            (channel * r.coarse_levels() as usize + coarse) * r.nodes() + r.node(interval, stage);
        u32::from(self.refinement_zeros[at])
    }

    /// The code of `channel` in `context` (0 with version 1 tables).
    #[inline]
    pub fn code(&self, channel: usize, context: usize) -> &HuffmanCode {
        &self.codes[channel * self.contexts + context]
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    const EMBEDDED: &[u8] = include_bytes!("../../../models/limitnet-paper/codec.json");

    /// `base` (a codec.json) with `edit` applied.
    fn edited(base: &[u8], edit: impl FnOnce(&mut serde_json::Value)) -> Vec<u8> {
        let mut j: serde_json::Value = serde_json::from_slice(base).unwrap();
        edit(&mut j);
        serde_json::to_vec(&j).unwrap()
    }

    fn with_range(channel: usize, lo: f64, hi: f64) -> Vec<u8> {
        edited(EMBEDDED, |j| {
            j["latent_min"][channel] = lo.into();
            j["latent_max"][channel] = hi.into();
        })
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

    /// `saliency_weight` is optional (the paper's 5 when absent, as in bundles made before it
    /// existed) and limited to 1..=31: 0 would order a channel by index alone, so the known
    /// neighbours of [`crate::codec::order::neighbours_sent_before`] would not hold.
    #[test]
    fn saliency_weight_defaults_to_the_papers() {
        let absent = edited(EMBEDDED, |j| {
            j.as_object_mut().unwrap().remove("saliency_weight");
        });
        let t = CodecTables::from_json(&absent).unwrap();
        assert_eq!(t.priority_rule(), PriorityRule::paper(12));
        for (weight, ok) in [(0, false), (1, true), (3, true), (31, true), (32, false)] {
            let parsed =
                CodecTables::from_json(&edited(EMBEDDED, |j| j["saliency_weight"] = weight.into()));
            match parsed {
                Ok(t) => {
                    assert!(ok, "weight {weight} accepted");
                    assert_eq!(t.priority_rule().saliency_weight(), weight);
                }
                Err(e) => assert!(!ok && e.to_string().contains("saliency_weight"), "{e}"),
            }
        }
    }

    /// The embedded tables with `levels` levels: each code table cut to its first `levels`
    /// lengths, lengthened by one bit so that Kraft's inequality still holds, edges below
    /// `levels` kept.
    pub(crate) fn with_levels(levels: usize) -> Vec<u8> {
        with_codes_cut(levels, &[1, 2, 4, 8, 16], |j| j["levels"] = levels.into())
    }

    /// The embedded 64-level tables as version 3 tables: coarse levels of `bits` refinement
    /// bits (each code one bit longer and cut to the coarse levels, which keeps them valid).
    pub(crate) fn with_refinement(bits: u8, delay: u32) -> Vec<u8> {
        let coarse = Refinement::new(bits, 64).unwrap().coarse_levels() as usize;
        with_codes_cut(coarse, &[1, 2, 3, 4, 8], |j| {
            j["version"] = 3.into();
            j["refinement_bits"] = bits.into();
            j["refinement_delay"] = delay.into();
        })
    }

    /// [`with_refinement`]'s tables as version 4: range coder frequencies `2^(15 - length)` of
    /// each code's lengths, the rest given to the first level.
    pub(crate) fn with_range_coding(bits: u8, delay: u32) -> Vec<u8> {
        edited(&with_refinement(bits, delay), |j| {
            j["version"] = 4.into();
            let frequencies: Vec<Vec<Vec<u32>>> = j["code_lengths"]
                .as_array()
                .unwrap()
                .iter()
                .map(|contexts| {
                    contexts
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|code| {
                            let mut f: Vec<u32> = code
                                .as_array()
                                .unwrap()
                                .iter()
                                .map(|l| 1 << (15 - l.as_u64().unwrap()))
                                .collect();
                            f[0] += PROB_TOTAL - f.iter().sum::<u32>();
                            f
                        })
                        .collect()
                })
                .collect();
            j["frequencies"] = serde_json::to_value(frequencies).unwrap();
            // Skewed towards 0 bits at even nodes, towards 1 at odd ones.
            let coarse = Refinement::new(bits, 64).unwrap().coarse_levels() as usize;
            let nodes = (1usize << bits) - 1;
            let zeros: Vec<Vec<Vec<u32>>> = (0..12)
                .map(|c| {
                    (0..coarse)
                        .map(|l| {
                            (0..nodes)
                                .map(|n| [PROB_TOTAL - 100, 200, PROB_TOTAL / 2][(c + l + n) % 3])
                                .collect()
                        })
                        .collect()
                })
                .collect();
            j["refinement_zeros"] = serde_json::to_value(zeros).unwrap();
        })
    }

    /// Frequencies are required in version 4 and only there, and each list must be a valid
    /// table of the coarse level count.
    #[test]
    fn version_4_needs_valid_frequencies() {
        let v4 = with_range_coding(2, 31);
        let t = CodecTables::from_json(&v4).unwrap();
        assert!(t.range_coded() && t.frame_version() == 4);
        assert_eq!(t.channel_frequencies(11).len(), t.contexts());
        let v3 = with_refinement(2, 31);
        assert!(!CodecTables::from_json(&v3).unwrap().range_coded());
        for bad in [
            edited(&v4, |j| {
                j.as_object_mut().unwrap().remove("frequencies");
            }),
            edited(&v3, |j| j["frequencies"] = serde_json::json!([])),
            edited(&v4, |j| j["frequencies"][3][2][0] = 0.into()),
            edited(&v4, |j| j["frequencies"][0][0][1] = 40000.into()),
            edited(&v4, |j| {
                j["frequencies"][5].as_array_mut().unwrap().pop();
            }),
        ] {
            let err = CodecTables::from_json(&bad).unwrap_err().to_string();
            assert!(err.contains("frequencies"), "{err}");
        }
        for bad in [
            edited(&v4, |j| {
                j.as_object_mut().unwrap().remove("refinement_zeros");
            }),
            edited(&v4, |j| j["refinement_zeros"][1][2][0] = 0.into()),
            edited(&v4, |j| j["refinement_zeros"][1][2][0] = PROB_TOTAL.into()),
            edited(&v4, |j| {
                j["refinement_zeros"][0].as_array_mut().unwrap().pop();
            }),
        ] {
            let err = CodecTables::from_json(&bad).unwrap_err().to_string();
            assert!(err.contains("refinement_zeros"), "{err}");
        }
    }

    /// The embedded tables edited by `edit`, every code cut to its first `symbols` lengths,
    /// each one bit longer (so they still satisfy Kraft's inequality), with `context_edges`.
    fn with_codes_cut(
        symbols: usize,
        context_edges: &[u8],
        edit: impl FnOnce(&mut serde_json::Value),
    ) -> Vec<u8> {
        edited(EMBEDDED, |j| {
            edit(j);
            for contexts in j["code_lengths"].as_array_mut().unwrap() {
                for code in contexts.as_array_mut().unwrap() {
                    let cut: Vec<serde_json::Value> = code.as_array().unwrap()[..symbols]
                        .iter()
                        .map(|l| (l.as_u64().unwrap() + 1).min(15).into())
                        .collect();
                    *code = cut.into();
                }
            }
            j["context_edges"] = context_edges.into();
        })
    }

    #[test]
    fn version_3_tables() {
        let t = CodecTables::from_json(&with_refinement(2, 62)).unwrap();
        assert_eq!(t.frame_version(), 3);
        assert_eq!((t.refinement().bits(), t.items(10)), (2, 30));
        assert_eq!(t.priority_rule().refinement_delay(), 62);
        // Refinement fields only in version 3, both of them, bits 1..=5.
        let bad = [
            edited(&with_refinement(2, 62), |j| j["version"] = 2.into()),
            edited(&with_refinement(2, 62), |j| {
                j.as_object_mut().unwrap().remove("refinement_delay");
            }),
            edited(&with_refinement(2, 62), |j| j["refinement_bits"] = 0.into()),
            edited(&with_refinement(2, 62), |j| j["refinement_bits"] = 6.into()),
            edited(&with_refinement(2, 62), |j| {
                j["refinement_delay"] = 99_999.into()
            }),
            // Tables of 64 symbols where 17 coarse levels are coded.
            edited(EMBEDDED, |j| {
                j["version"] = 3.into();
                j["refinement_bits"] = 2.into();
                j["refinement_delay"] = 62.into();
            }),
        ];
        for json in bad {
            assert!(CodecTables::from_json(&json).is_err());
        }
    }

    /// A bundle may have 2..=64 levels (limitnet-lite's tables were also measured at 24-48);
    /// the encoder's levels then stay below its count and code with its tables.
    #[test]
    fn level_counts_from_2_to_64() {
        let t = CodecTables::from_json(&with_levels(32)).unwrap();
        assert_eq!(t.quantizer().levels(), 32);
        let (_, step) = t.quantizer().range(0);
        let top = t.quantizer().dequantize(0, 31);
        assert!(t.quantizer().quantize(0, top + 10.0 * step) == 31);
        let relevelled = |levels: u32| edited(&with_levels(32), |j| j["levels"] = levels.into());
        for levels in [1, 65] {
            let err = CodecTables::from_json(&relevelled(levels)).unwrap_err();
            assert!(err.to_string().contains("levels"), "{levels}: {err}");
        }
        // Code tables of another size than the level count are refused.
        assert!(CodecTables::from_json(&relevelled(48)).is_err());
    }

    /// The embedded tables rewritten as version 1: one code per channel (its context 0 code).
    pub(crate) fn version1_json() -> Vec<u8> {
        edited(EMBEDDED, |j| {
            let per_channel: Vec<serde_json::Value> = j["code_lengths"]
                .as_array()
                .unwrap()
                .iter()
                .map(|contexts| contexts[0].clone())
                .collect();
            j["version"] = 1.into();
            j["code_lengths"] = per_channel.into();
            j.as_object_mut().unwrap().remove("context_edges");
        })
    }

    #[test]
    fn version_1_tables_have_one_context() {
        let t = CodecTables::from_json(&version1_json()).unwrap();
        assert_eq!((t.frame_version(), t.contexts()), (1, 1));
        assert_eq!(t.context(Some(40), Some(50)), 0);
    }

    #[test]
    fn contexts_follow_the_edges() {
        let t = CodecTables::from_json(EMBEDDED).unwrap();
        assert_eq!(t.frame_version(), 2);
        let j: serde_json::Value = serde_json::from_slice(EMBEDDED).unwrap();
        let edges: Vec<u8> = serde_json::from_value(j["context_edges"].clone()).unwrap();
        assert_eq!(t.contexts(), edges.len() + 2);
        assert_eq!(t.context(None, None), 0);
        assert_eq!(t.context(Some(0), None), 1);
        assert_eq!(t.context(None, Some(63)), edges.len() + 1);
        // Both known: the mean rounded up, so 0 and 1 give 1, the first edge.
        let first = usize::from(edges[0]);
        assert_eq!(t.context(Some(0), Some(1)), 1 + usize::from(first <= 1));
        for m in 0..64u8 {
            let expected = 1 + edges.iter().filter(|&&e| e <= m).count();
            assert_eq!(t.context(Some(m), Some(m)), expected, "level {m}");
        }
    }

    /// A named edit of a codec.json value.
    type JsonEdit<'a> = (&'a str, &'a dyn Fn(&mut serde_json::Value));

    #[test]
    fn rejects_inconsistent_contexts() {
        let base: serde_json::Value = serde_json::from_slice(EMBEDDED).unwrap();
        let edit = |f: &dyn Fn(&mut serde_json::Value)| {
            let mut j = base.clone();
            f(&mut j);
            CodecTables::from_json(&serde_json::to_vec(&j).unwrap())
        };
        let cases: [JsonEdit; 6] = [
            ("no edges", &|j| {
                j.as_object_mut().unwrap().remove("context_edges");
            }),
            ("decreasing edges", &|j| {
                j["context_edges"] = serde_json::json!([8, 3])
            }),
            ("edge 0", &|j| {
                j["context_edges"] = serde_json::json!([0, 3])
            }),
            ("edge 64", &|j| {
                j["context_edges"] = serde_json::json!([3, 64])
            }),
            ("edges in version 1", &|j| {
                *j = serde_json::from_slice(&version1_json()).unwrap();
                j["context_edges"] = serde_json::json!([1]);
            }),
            ("one context short", &|j| {
                j["code_lengths"][4].as_array_mut().unwrap().pop();
            }),
        ];
        for (what, f) in cases {
            assert!(edit(f).is_err(), "{what} accepted");
        }
    }
}
