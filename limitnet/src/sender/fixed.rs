//! The sender's encoder in fixed point: int8 weights, 8-bit activations, 32-bit accumulators,
//! no floating point per frame, for cores without an FPU.
//!
//! The same network and row-by-row schedule as [`super::RowEncoder`]. Each layer's output is
//! stored as `round(a / scale)` in 0..255 (ReLU outputs are never negative, so no zero point),
//! with per-layer scales calibrated on training photos (`python -m limitnet_train.calibrate`,
//! models/limitnet-lite/sender-calibration.json). The input normalisation is folded into the
//! first convolution, which reads the camera's bytes as they are. A convolution sums
//! `weight x activation` in i32 and goes to the next layer's scale with one multiply and shift
//! per output channel ([`Requant`]); the last convolution goes straight to the codec's 64
//! levels, and the saliency logit through a 257-entry sigmoid table to the 5-bit map.
//! docs/sender.md has the figures.

#[allow(unused_imports)]
use crate::codec::prelude::*;

use super::{Geometry, Rows, SenderOutput};
use crate::codec::saliency::{self, GRID, SaliencyMap};
use crate::codec::tables::DOWNSAMPLE;

/// `acc x multiplier / 2^shift`, rounded: a real factor applied in integers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Requant {
    pub multiplier: i32,
    pub shift: u8,
}

impl Requant {
    /// The integer nearest to `acc x factor`.
    #[inline]
    pub fn apply(self, acc: i32) -> i64 {
        let product = i64::from(acc) * i64::from(self.multiplier);
        match u32::from(self.shift) {
            0 => product,
            shift => (product + (1i64 << (shift - 1))) >> shift,
        }
    }

    /// The multiplier (in [2^30, 2^31)) and shift (2..=61) closest to `factor`; `None` outside
    /// 2^-31..2^28, which no layer of a sane network needs.
    pub fn from_factor(factor: f64) -> Option<Self> {
        let in_range = factor > libm::ldexp(1.0, -31) && factor < libm::ldexp(1.0, 28);
        if !(factor.is_finite() && in_range) {
            return None;
        }
        let mut shift = 0u8;
        let mut m = factor;
        while m < (1u64 << 30) as f64 {
            m *= 2.0;
            shift += 1;
        }
        Some(Self {
            multiplier: libm::round(m).min(i32::MAX as f64) as i32,
            shift,
        })
    }

    #[inline]
    fn to_u8(self, acc: i32) -> u8 {
        self.apply(acc.max(0)).clamp(0, 255) as u8
    }
}

const REQUANT_BYTES: usize = core::mem::size_of::<Requant>();

/// One convolution in fixed point: `out x in x kernel x kernel` int8 weights, biases in
/// accumulator units, and the requantization of each output channel.
#[derive(Debug, Clone, Copy)]
pub struct FixedConv {
    pub out_channels: usize,
    pub in_channels: usize,
    pub kernel: usize,
    pub weight: &'static [i8],
    pub bias: &'static [i32],
    /// Per output channel: accumulator -> the next layer's 8-bit activation (for `conv3`,
    /// the saliency branch's input; for `saliency2`, the logit in sixteenths).
    pub requant: &'static [Requant],
}

/// limitnet-lite's encoder and saliency branch in fixed point.
#[derive(Debug, Clone, Copy)]
pub struct FixedNetwork {
    /// 3 -> 16, 4x4, stride 4, on the camera's bytes (normalisation folded in).
    pub conv1: FixedConv,
    pub conv2: FixedConv,
    pub conv3: FixedConv,
    pub saliency1: FixedConv,
    pub saliency2: FixedConv,
    /// Per latent channel: `conv3`'s accumulator -> the codec's level (0..=top_level).
    pub levels: &'static [Requant],
    /// The codec's highest level (its level count - 1).
    pub top_level: u8,
    /// `sigmoid((i - 128) / 16) x 65535` for i in 0..=256.
    pub sigmoid: &'static [u16; 257],
}

impl FixedNetwork {
    fn convs(&self) -> [FixedConv; 5] {
        [
            self.conv1,
            self.conv2,
            self.conv3,
            self.saliency1,
            self.saliency2,
        ]
    }

    /// Bytes of weights, biases, requantization factors and the sigmoid table (flash).
    pub fn weight_bytes(&self) -> usize {
        self.convs()
            .iter()
            .map(|c| c.weight.len() + 4 * c.bias.len() + REQUANT_BYTES * c.requant.len())
            .sum::<usize>()
            + REQUANT_BYTES * self.levels.len()
            + 2 * self.sigmoid.len()
    }
}

/// Accumulators of one output row of `conv` from its 8-bit input rows (`None`: padding).
fn conv_row(
    conv: &FixedConv,
    g: Geometry,
    rows: &[Option<&[u8]>],
    in_width: usize,
    acc: &mut [i32],
    out_width: usize,
) {
    let k = conv.kernel;
    for (o, acc) in acc.chunks_exact_mut(out_width).enumerate() {
        acc.fill(conv.bias[o]);
        for (ky, row) in rows.iter().enumerate() {
            let Some(row) = row else { continue };
            for c in 0..conv.in_channels {
                let weights = &conv.weight[((o * conv.in_channels + c) * k + ky) * k..][..k];
                let input = &row[c * in_width..][..in_width];
                for (kx, &w) in weights.iter().enumerate() {
                    let (first, last, offset) = g.columns(kx, in_width, out_width);
                    if first >= last {
                        continue;
                    }
                    let start = ((first * g.stride) as isize + offset) as usize;
                    let w = i32::from(w);
                    let out = &mut acc[first..last];
                    if g.stride == 1 {
                        // Contiguous: the loop vectorizes.
                        for (a, &i) in out.iter_mut().zip(&input[start..]) {
                            *a += w * i32::from(i);
                        }
                    } else {
                        for (a, &i) in out.iter_mut().zip(input[start..].iter().step_by(g.stride)) {
                            *a += w * i32::from(i);
                        }
                    }
                }
            }
        }
    }
}

/// The fixed-point twin of [`super::RowEncoder`]: the same interface and schedule, half the
/// buffer bytes (8-bit rows instead of f32).
pub struct FixedRowEncoder {
    net: FixedNetwork,
    width: usize,
    height: usize,
    padded_width: usize,
    padded_height: usize,
    rows_in: usize,
    /// One camera row, planar (3 x padded width), the last pixel repeated into the padding.
    input: Vec<u8>,
    conv1_acc: Vec<i32>,
    conv1_rows: Rows<u8, 3>,
    conv2_rows: Rows<u8, 3>,
    latent_rows: Rows<u8, 3>,
    saliency1_rows: Rows<u8, 5>,
    /// One output row's accumulators.
    acc: Vec<i32>,
    levels: Vec<u8>,
    /// Sigmoid of the saliency logit, x 65535, at latent resolution.
    saliency: Vec<u16>,
}

impl FixedRowEncoder {
    /// An encoder for `width x height` frames (both at least 1). All buffers are allocated here.
    pub fn new(net: FixedNetwork, width: usize, height: usize) -> Self {
        let d = DOWNSAMPLE as usize;
        let (padded_width, padded_height) = (width.div_ceil(d) * d, height.div_ceil(d) * d);
        let (lw, lh) = (padded_width / d, padded_height / d);
        let w4 = padded_width / 4;
        let latent = net.conv3.out_channels;
        Self {
            net,
            width,
            height,
            padded_width,
            padded_height,
            rows_in: 0,
            input: vec![0; 3 * padded_width],
            conv1_acc: vec![0; net.conv1.out_channels * w4],
            conv1_rows: Rows::new(net.conv1.out_channels, w4),
            conv2_rows: Rows::new(net.conv2.out_channels, lw),
            latent_rows: Rows::new(latent, lw),
            saliency1_rows: Rows::new(net.saliency1.out_channels, lw),
            // Rows at latent width (conv1 has its own accumulators).
            acc: vec![
                0;
                net.conv2
                    .out_channels
                    .max(latent)
                    .max(net.saliency1.out_channels)
                    * lw
            ],
            levels: vec![0; latent * lh * lw],
            saliency: vec![0; lh * lw],
        }
    }

    /// Bytes of this encoder's buffers for its frame size.
    pub fn buffer_bytes(&self) -> usize {
        self.input.len()
            + 4 * (self.conv1_acc.len() + self.acc.len())
            + self.conv1_rows.bytes()
            + self.conv2_rows.bytes()
            + self.latent_rows.bytes()
            + self.saliency1_rows.bytes()
            + self.levels.len()
            + 2 * self.saliency.len()
    }

    /// The frame size (width, height) this encoder takes.
    pub fn size(&self) -> (usize, usize) {
        (self.width, self.height)
    }

    fn latent_width(&self) -> usize {
        self.padded_width / DOWNSAMPLE as usize
    }

    fn latent_height(&self) -> usize {
        self.padded_height / DOWNSAMPLE as usize
    }

    /// Feeds the next row: `width` pixels of 8-bit RGB. Rows beyond the frame are ignored.
    pub fn push_row(&mut self, rgb: &[u8]) {
        if self.rows_in >= self.height {
            return;
        }
        assert!(
            rgb.len() >= 3 * self.width,
            "a row of {} pixels",
            self.width
        );
        let pw = self.padded_width;
        for c in 0..3 {
            for (x, v) in self.input[c * pw..][..pw].iter_mut().enumerate() {
                *v = rgb[3 * x.min(self.width - 1) + c];
            }
        }
        self.accumulate_conv1();
        self.rows_in += 1;
    }

    fn accumulate_conv1(&mut self) {
        let conv = self.net.conv1;
        let (pw, w4) = (self.padded_width, self.padded_width / 4);
        let ky = self.rows_in % 4;
        if ky == 0 {
            for (o, acc) in self.conv1_acc.chunks_exact_mut(w4).enumerate() {
                acc.fill(conv.bias[o]);
            }
        }
        for (o, acc) in self.conv1_acc.chunks_exact_mut(w4).enumerate() {
            for c in 0..3 {
                let w = &conv.weight[((o * 3 + c) * 4 + ky) * 4..][..4];
                let w = [w[0], w[1], w[2], w[3]].map(i32::from);
                let input = &self.input[c * pw..][..pw];
                for (a, px) in acc.iter_mut().zip(input.chunks_exact(4)) {
                    *a += w[0] * i32::from(px[0])
                        + w[1] * i32::from(px[1])
                        + w[2] * i32::from(px[2])
                        + w[3] * i32::from(px[3]);
                }
            }
        }
        if ky == 3 {
            let r1 = self.rows_in / 4;
            let row = self.conv1_rows.slot_mut(r1);
            for (o, (out, acc)) in row
                .chunks_exact_mut(w4)
                .zip(self.conv1_acc.chunks_exact(w4))
                .enumerate()
            {
                let rq = conv.requant[o];
                for (v, &a) in out.iter_mut().zip(acc) {
                    *v = rq.to_u8(a);
                }
            }
            if r1 % 2 == 1 {
                self.conv2_row((r1 - 1) / 2);
            }
        }
    }

    /// `conv`'s output row from `rows`, requantized to 8 bits into `out`.
    fn layer_row(
        conv: &FixedConv,
        g: Geometry,
        rows: &[Option<&[u8]>],
        in_width: usize,
        acc: &mut [i32],
        out: &mut [u8],
        out_width: usize,
    ) {
        let acc = &mut acc[..conv.out_channels * out_width];
        conv_row(conv, g, rows, in_width, acc, out_width);
        for (o, (out, acc)) in out
            .chunks_exact_mut(out_width)
            .zip(acc.chunks_exact(out_width))
            .enumerate()
        {
            let rq = conv.requant[o];
            for (v, &a) in out.iter_mut().zip(acc) {
                *v = rq.to_u8(a);
            }
        }
    }

    fn conv2_row(&mut self, r2: usize) {
        let (w4, lw) = (self.padded_width / 4, self.latent_width());
        let first = 2 * r2 as isize - 1;
        let g = Geometry {
            stride: 2,
            padding: 1,
            dilation: 1,
        };
        let rows = [
            self.conv1_rows.get(first),
            self.conv1_rows.get(first + 1),
            self.conv1_rows.get(first + 2),
        ];
        let out = self.conv2_rows.slot_mut(r2);
        Self::layer_row(&self.net.conv2, g, &rows, w4, &mut self.acc, out, lw);
        if r2 >= 1 {
            self.conv3_row(r2 - 1);
        }
    }

    fn conv3_row(&mut self, r3: usize) {
        let (lw, lh) = (self.latent_width(), self.latent_height());
        let r = r3 as isize;
        let g = SAME_3X3;
        let rows = [
            self.conv2_rows.get(r - 1),
            self.conv2_rows.get(r),
            self.conv2_rows.get(r + 1),
        ];
        let conv = self.net.conv3;
        let acc = &mut self.acc[..conv.out_channels * lw];
        conv_row(&conv, g, &rows, lw, acc, lw);
        let latent = self.latent_rows.slot_mut(r3);
        for (c, (acc, out)) in acc
            .chunks_exact(lw)
            .zip(latent.chunks_exact_mut(lw))
            .enumerate()
        {
            let (to_level, to_u8) = (self.net.levels[c], conv.requant[c]);
            let levels = &mut self.levels[(c * lh + r3) * lw..][..lw];
            for ((level, v), &a) in levels.iter_mut().zip(out.iter_mut()).zip(acc) {
                *level = to_level
                    .apply(a.max(0))
                    .clamp(0, i64::from(self.net.top_level)) as u8;
                *v = to_u8.to_u8(a);
            }
        }
        if r3 >= 1 {
            self.saliency1_row(r3 - 1);
        }
    }

    fn saliency1_row(&mut self, s: usize) {
        let lw = self.latent_width();
        let r = s as isize;
        let rows = [
            self.latent_rows.get(r - 1),
            self.latent_rows.get(r),
            self.latent_rows.get(r + 1),
        ];
        let out = self.saliency1_rows.slot_mut(s);
        Self::layer_row(
            &self.net.saliency1,
            SAME_3X3,
            &rows,
            lw,
            &mut self.acc,
            out,
            lw,
        );
        if s >= 2 {
            self.saliency2_row(s - 2);
        }
    }

    fn saliency2_row(&mut self, t: usize) {
        let lw = self.latent_width();
        let r = t as isize;
        let rows = [
            self.saliency1_rows.get(r - 2),
            self.saliency1_rows.get(r),
            self.saliency1_rows.get(r + 2),
        ];
        let g = Geometry {
            stride: 1,
            padding: 2,
            dilation: 2,
        };
        let conv = self.net.saliency2;
        let acc = &mut self.acc[..lw];
        conv_row(&conv, g, &rows, lw, acc, lw);
        let rq = conv.requant[0];
        for (s, &a) in self.saliency[t * lw..][..lw].iter_mut().zip(acc.iter()) {
            let sixteenths = rq.apply(a).clamp(-128, 128);
            *s = self.net.sigmoid[(sixteenths + 128) as usize];
        }
    }

    /// After the frame's last row: the padding rows, the layers' last rows, and the output.
    /// The encoder is then ready for the next frame.
    pub fn finish(&mut self) -> SenderOutput<'_> {
        assert!(self.rows_in >= self.height, "finish before the last row");
        while self.rows_in < self.padded_height {
            self.accumulate_conv1();
            self.rows_in += 1;
        }
        let (lh, lw) = (self.latent_height(), self.latent_width());
        self.conv3_row(lh - 1);
        self.saliency1_row(lh - 1);
        for t in lh.saturating_sub(2)..lh {
            self.saliency2_row(t);
        }
        let saliency = pool(&self.saliency, lh, lw);
        self.rows_in = 0;
        self.conv1_rows.clear();
        self.conv2_rows.clear();
        self.latent_rows.clear();
        self.saliency1_rows.clear();
        SenderOutput {
            levels: &self.levels,
            saliency,
        }
    }
}

const SAME_3X3: Geometry = Geometry {
    stride: 1,
    padding: 1,
    dilation: 1,
};

/// [`SaliencyMap::pool`] in integers: each cell's mean of `sigmoid x 65535`, to 5 bits.
fn pool(saliency: &[u16], h: usize, w: usize) -> SaliencyMap {
    let mut sum = [0u64; GRID * GRID];
    let mut count = [0u64; GRID * GRID];
    for y in 0..h {
        let row = saliency::cell_of(y, h) * GRID;
        for x in 0..w {
            let cell = row + saliency::cell_of(x, w);
            sum[cell] += u64::from(saliency[y * w + x]);
            count[cell] += 1;
        }
    }
    let mut cells = [0u8; GRID * GRID];
    let top = u64::from(saliency::MAX);
    for (i, c) in cells.iter_mut().enumerate() {
        if count[i] > 0 {
            let denominator = 2 * count[i] * 65535;
            *c = ((2 * top * sum[i] + count[i] * 65535) / denominator).min(top) as u8;
        }
    }
    SaliencyMap(cells)
}
