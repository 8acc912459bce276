//! The quantized saliency map: an 8x8 grid of 5-bit values over the latent grid.

#[allow(unused_imports)]
use crate::codec::prelude::*;

use super::bits::{BitReader, BitWriter};
use super::tables::DOWNSAMPLE;

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
                *c = libm::roundf(mean * f32::from(MAX)) as u8;
            }
        }
        Self(cells)
    }

    /// Cell value at latent position (`y`, `x`) of an `h` x `w` grid.
    #[inline]
    pub fn at(&self, y: usize, h: usize, x: usize, w: usize) -> u8 {
        self.0[cell_of(y, h) * GRID + cell_of(x, w)]
    }

    /// Grey level (0..=255) of a cell value (0..=31): `value * 255 / 31`.
    #[inline]
    pub fn grey(value: u8) -> u8 {
        (u16::from(value.min(MAX)) * 255 / u16::from(MAX)) as u8
    }

    /// Draws the map as a grey packed-RGB image of a `width` x `height` frame (rows `stride`
    /// bytes apart in `out`): pixel (`x`, `y`) lies at latent position (`y / 8`, `x / 8`) of the
    /// `ceil(height / 8)` x `ceil(width / 8)` latent grid and takes the grey level of that
    /// position's cell. `None` (a frame cut before its map) draws black.
    ///
    /// Panics if `out` is too small for the frame.
    pub fn render_rgb(
        map: Option<&Self>,
        width: usize,
        height: usize,
        out: &mut [u8],
        stride: usize,
    ) {
        assert!(stride >= 3 * width, "stride {stride} < 3 * {width}");
        if width == 0 || height == 0 {
            return;
        }
        assert!(
            out.len() >= stride * (height - 1) + 3 * width,
            "{} bytes are too few for {width}x{height} with stride {stride}",
            out.len()
        );
        let down = DOWNSAMPLE as usize;
        let (lh, lw) = (height.div_ceil(down), width.div_ceil(down));
        // One row of grey levels per latent row (cell rows change only every 8 pixel rows).
        let mut row_grey = vec![0u8; width];
        for y in 0..height {
            if let Some(map) = map {
                let gy = cell_of(y / down, lh) * GRID;
                for (x, g) in row_grey.iter_mut().enumerate() {
                    *g = Self::grey(map.0[gy + cell_of(x / down, lw)]);
                }
            }
            let row = &mut out[y * stride..y * stride + 3 * width];
            for (px, &g) in row.chunks_exact_mut(3).zip(&row_grey) {
                px.fill(g);
            }
        }
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

    #[test]
    fn grey_levels() {
        assert_eq!(SaliencyMap::grey(0), 0);
        assert_eq!(SaliencyMap::grey(31), 255);
        assert_eq!(SaliencyMap::grey(16), 131);
        assert_eq!(SaliencyMap::grey(200), 255);
    }

    /// Cell value `gy * 8 + gx` (0..=63 clamped to 31 by `grey`): tells cells apart.
    fn ramp() -> SaliencyMap {
        let mut cells = [0u8; GRID * GRID];
        for (i, c) in cells.iter_mut().enumerate() {
            *c = (i % 32) as u8;
        }
        SaliencyMap(cells)
    }

    #[test]
    fn render_224_follows_cells_of_28_latent_positions() {
        let map = ramp();
        let (w, h, stride) = (224, 224, 3 * 224 + 4);
        let mut out = vec![7u8; stride * h];
        SaliencyMap::render_rgb(Some(&map), w, h, &mut out, stride);
        for y in 0..h {
            for x in 0..w {
                // 28 latent positions per side, 3.5 per cell: pixel x is in cell (x/8)*8/28.
                let cell = (y / 8) * 8 / 28 * GRID + (x / 8) * 8 / 28;
                let px = &out[y * stride + 3 * x..y * stride + 3 * x + 3];
                assert_eq!(px, [SaliencyMap::grey(map.0[cell]); 3], "({x}, {y})");
            }
            // Row padding is left alone.
            assert_eq!(&out[y * stride + 3 * w..(y + 1) * stride], [7; 4]);
        }
        // The top-left 32x32 pixels (latent 0..3, cell 0) are black, the cell right of it grey.
        assert_eq!(out[0], 0);
        assert_eq!(out[3 * 32], SaliencyMap::grey(1));
        assert_eq!(out[3 * 31], 0);
    }

    #[test]
    fn render_odd_sizes_and_small_grids() {
        let map = ramp();
        // 13x7: latent 1 row x 2 columns -> cells (0, 0) and (0, 4); the padding is cropped.
        let (w, h) = (13, 7);
        let mut out = vec![0u8; 3 * w * h];
        SaliencyMap::render_rgb(Some(&map), w, h, &mut out, 3 * w);
        for y in 0..h {
            for x in 0..w {
                let expect = SaliencyMap::grey(if x < 8 { 0 } else { 4 });
                assert_eq!(out[3 * (y * w + x)], expect, "({x}, {y})");
            }
        }
        // 1x1 works, and no map is black.
        let mut one = [9u8; 3];
        SaliencyMap::render_rgb(Some(&SaliencyMap([31; 64])), 1, 1, &mut one, 3);
        assert_eq!(one, [255; 3]);
        let mut black = vec![9u8; 3 * 250 * 190];
        SaliencyMap::render_rgb(None, 250, 190, &mut black, 3 * 250);
        assert!(black.iter().all(|&v| v == 0));
    }
}
