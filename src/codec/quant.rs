//! Per-channel uniform quantization of latent values to `levels` levels.

/// Fixed per-channel ranges from the model bundle (no per-frame side information).
#[derive(Debug, Clone)]
pub struct Quantizer {
    min: Vec<f32>,
    step: Vec<f32>,
    levels: u32,
}

impl Quantizer {
    /// `min[c] < max[c]` and finite, checked by [`super::CodecTables`].
    pub fn new(min: &[f32], max: &[f32], levels: u32) -> Self {
        let step = min
            .iter()
            .zip(max)
            .map(|(lo, hi)| (hi - lo) / (levels - 1) as f32)
            .collect();
        Self {
            min: min.to_vec(),
            step,
            levels,
        }
    }

    /// Level of value `v` of channel `c`: round((v - min) / step), clamped; NaN maps to 0.
    #[inline]
    pub fn quantize(&self, c: usize, v: f32) -> u8 {
        let q = ((v - self.min[c]) / self.step[c]).round();
        if q.is_nan() {
            0
        } else {
            q.clamp(0.0, (self.levels - 1) as f32) as u8
        }
    }

    /// Value of level `q` of channel `c`. Only the decoder calls this, so float rounding here
    /// cannot make encoder and decoder disagree.
    #[inline]
    pub fn dequantize(&self, c: usize, q: u8) -> f32 {
        self.min[c] + f32::from(q) * self.step[c]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_and_clamping() {
        let q = Quantizer::new(&[0.0], &[6.3], 64);
        assert_eq!(q.quantize(0, 0.0), 0);
        assert_eq!(q.quantize(0, -1.0), 0);
        assert_eq!(q.quantize(0, 0.16), 2);
        assert_eq!(q.quantize(0, 100.0), 63);
        assert_eq!(q.quantize(0, f32::NAN), 0);
        assert!((q.dequantize(0, 63) - 6.3).abs() < 1e-5);
        assert_eq!(q.dequantize(0, 0), 0.0);
    }
}
