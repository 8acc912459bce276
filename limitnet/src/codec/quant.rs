//! Per-channel uniform quantization of latent values to `levels` levels.

#[allow(unused_imports)]
use crate::codec::prelude::*;

/// `x.round().clamp(0.0, top) as u8` (NaN gives 0) for `top` in 0..=255, without a call to
/// `round` (a library call on baseline x86-64), so loops over it vectorize.
#[inline]
pub fn round_to_u8(x: f32, top: f32) -> u8 {
    // NaN stays NaN through clamp and becomes 0 in the casts.
    let x = x.clamp(0.0, top);
    let whole = x as i32;
    // x - whole is exact for x in 0..=255: this rounds half away from zero, as round() does.
    (whole + i32::from(x - whole as f32 >= 0.5)) as u8
}

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

    /// Channel `c`'s range start and step (the value of level `l` is `min + l * step`).
    pub fn range(&self, c: usize) -> (f32, f32) {
        (self.min[c], self.step[c])
    }

    /// Number of levels.
    pub fn levels(&self) -> u32 {
        self.levels
    }

    /// Level of value `v` of channel `c`: round((v - min) / step), clamped; NaN maps to 0.
    #[inline]
    pub fn quantize(&self, c: usize, v: f32) -> u8 {
        let q = libm::roundf((v - self.min[c]) / self.step[c]);
        if q.is_nan() {
            0
        } else {
            q.clamp(0.0, (self.levels - 1) as f32) as u8
        }
    }

    /// Quantizes a whole latent (`C x h x w`, channel-major) into `out`, which is resized to
    /// match and reused across frames. Same levels as [`Self::quantize`] value by value, but
    /// one channel at a time and without a rounding call per value, so it vectorizes.
    pub fn quantize_latent(&self, latent: &[f32], out: &mut Vec<u8>) {
        out.resize(latent.len(), 0);
        let plane = latent.len() / self.min.len().max(1);
        if plane == 0 {
            return;
        }
        let top = (self.levels - 1) as f32;
        let ranges = self.min.iter().zip(&self.step);
        for ((values, levels), (&min, &step)) in
            latent.chunks(plane).zip(out.chunks_mut(plane)).zip(ranges)
        {
            for (level, &v) in levels.iter_mut().zip(values) {
                *level = round_to_u8((v - min) / step, top);
            }
        }
    }

    /// Value of level `q` of channel `c`. Only the decoder calls this, so float rounding here
    /// cannot make encoder and decoder disagree.
    #[inline]
    pub fn dequantize(&self, c: usize, q: u8) -> f32 {
        self.min[c] + f32::from(q) * self.step[c]
    }

    /// Value of the middle of level interval `interval` of channel `c` (decoder only).
    #[inline]
    pub fn dequantize_between(&self, c: usize, interval: &super::refine::Interval) -> f32 {
        self.min[c] + interval.midpoint() * self.step[c]
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

    #[test]
    fn round_to_u8_matches_round() {
        // Neighbours one ulp away (x > 0 here, so +-1 on the bits moves up/down).
        let ulp = |v: f32, d: i32| f32::from_bits(v.to_bits().wrapping_add_signed(d));
        let mut x = 0.25f32;
        while x < 260.0 {
            for v in [
                x,
                -x,
                ulp(x, 1),
                ulp(x, -1),
                x + 0.5,
                ulp(x + 0.5, -1),
                ulp(x + 0.5, 1),
            ] {
                assert_eq!(
                    round_to_u8(v, 255.0),
                    v.round().clamp(0.0, 255.0) as u8,
                    "{v}"
                );
                assert_eq!(
                    round_to_u8(v, 63.0),
                    v.round().clamp(0.0, 63.0) as u8,
                    "{v}"
                );
            }
            x += 0.25;
        }
        assert_eq!(round_to_u8(f32::NAN, 255.0), 0);
        assert_eq!(round_to_u8(f32::INFINITY, 255.0), 255);
        assert_eq!(round_to_u8(f32::NEG_INFINITY, 255.0), 0);
    }

    #[test]
    fn latent_matches_value_by_value() {
        let q = Quantizer::new(&[-1.0, 0.0, 0.5], &[2.0, 6.3, 0.75], 64);
        let plane = 1000;
        // Values around every level boundary of each channel, out of range, NaN and infinities.
        let mut latent: Vec<f32> = (0..3 * plane)
            .map(|i| {
                let c = i / plane;
                let (lo, hi) = [(-1.0f32, 2.0f32), (0.0, 6.3), (0.5, 0.75)][c];
                lo - 0.1 * (hi - lo) + (i % plane) as f32 * 1.2 * (hi - lo) / plane as f32
            })
            .collect();
        latent[5] = f32::NAN;
        latent[6] = f32::INFINITY;
        latent[7] = f32::NEG_INFINITY;
        for c in 0..3 {
            // Exactly on half-way points between levels.
            let step = ([3.0f32, 6.3, 0.25][c]) / 63.0;
            latent[c * plane + 999] = [-1.0f32, 0.0, 0.5][c] + 10.5 * step;
        }
        let mut levels = Vec::new();
        q.quantize_latent(&latent, &mut levels);
        for (i, (&v, &level)) in latent.iter().zip(&levels).enumerate() {
            assert_eq!(level, q.quantize(i / plane, v), "value {i}: {v}");
        }
    }
}
