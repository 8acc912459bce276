//! The quantized saliency map: an 8x8 grid of 5-bit values over the latent grid.

use super::bits::{BitReader, BitWriter};

/// Cells per side of the saliency grid, whatever the frame size.
pub const GRID: usize = 8;
/// Bits per cell.
pub const BITS: u32 = 5;
/// Largest cell value.
pub const MAX: u8 = (1 << BITS) - 1;
/// Bytes the map takes in a frame (64 cells x 5 bits).
pub const ENCODED_BYTES: usize = GRID * GRID * BITS as usize / 8;

/// Cell index of latent row (or column) `i` of `n`: `i * 8 / n`, the same on both sides.
#[inline]
pub fn cell_of(i: usize, n: usize) -> usize {
    i * GRID / n
}

/// Saliency per grid cell, 0..=31, row-major.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SaliencyMap(pub [u8; GRID * GRID]);

impl Default for SaliencyMap {
    fn default() -> Self {
        Self([0; GRID * GRID])
    }
}

impl SaliencyMap {
    /// Averages a saliency map at latent resolution (`h` x `w`, values 0..1) over each cell and
    /// quantizes to 5 bits. Encoder side only: the decoder never recomputes this.
    pub fn pool(saliency: &[f32], h: usize, w: usize) -> Self {
        debug_assert_eq!(saliency.len(), h * w);
        let mut sum = [0f32; GRID * GRID];
        let mut count = [0u32; GRID * GRID];
        for y in 0..h {
            let row = cell_of(y, h) * GRID;
            for x in 0..w {
                let cell = row + cell_of(x, w);
                sum[cell] += saliency[y * w + x];
                count[cell] += 1;
            }
        }
        let mut cells = [0u8; GRID * GRID];
        for (i, c) in cells.iter_mut().enumerate() {
            if count[i] > 0 {
                let mean = (sum[i] / count[i] as f32).clamp(0.0, 1.0);
                *c = (mean * f32::from(MAX)).round() as u8;
            }
        }
        Self(cells)
    }

    /// Cell value at latent position (`y`, `x`) of an `h` x `w` grid.
    #[inline]
    pub fn at(&self, y: usize, h: usize, x: usize, w: usize) -> u8 {
        self.0[cell_of(y, h) * GRID + cell_of(x, w)]
    }

    pub fn write(&self, w: &mut BitWriter) {
        for &c in &self.0 {
            w.write(u32::from(c), BITS);
        }
    }

    /// `None` if the input ends inside the map.
    pub fn read(r: &mut BitReader<'_>) -> Option<Self> {
        let mut cells = [0u8; GRID * GRID];
        for c in cells.iter_mut() {
            *c = r.read(BITS)? as u8;
        }
        Some(Self(cells))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_cover_grid() {
        assert_eq!((0..28).map(|i| cell_of(i, 28)).max(), Some(7));
        assert_eq!(cell_of(3, 28), 0);
        assert_eq!(cell_of(4, 28), 1);
        // Latent grids smaller than 8 leave some cells empty.
        assert_eq!(
            (0..3).map(|i| cell_of(i, 3)).collect::<Vec<_>>(),
            vec![0, 2, 5]
        );
    }

    #[test]
    fn pool_and_round_trip() {
        let (h, w) = (28, 28);
        let sal: Vec<f32> = (0..h * w)
            .map(|i| if (i % w) < 14 { 1.0 } else { 0.0 })
            .collect();
        let map = SaliencyMap::pool(&sal, h, w);
        assert_eq!(map.0[0], 31);
        assert_eq!(map.0[7], 0);
        let mut wr = BitWriter::default();
        map.write(&mut wr);
        let bytes = wr.finish();
        assert_eq!(bytes.len(), ENCODED_BYTES);
        assert_eq!(SaliencyMap::read(&mut BitReader::new(&bytes)), Some(map));
        assert_eq!(SaliencyMap::read(&mut BitReader::new(&bytes[..39])), None);
    }
}
