//! The sender's encoder network in pure Rust, fed row by row, for devices without ONNX Runtime
//! or an operating system (the paper's microcontroller camera): `no_std`, no float tensor of
//! the whole frame, and every buffer allocated once when the encoder is made.
//!
//! It runs limitnet-lite's encoder and saliency branch (models/limitnet-lite, weights in
//! [`lite_weights`], generated from the bundle's `encoder.onnx`) as line buffers: each camera
//! row is folded into the first convolution's partial sums as it arrives, and every later layer
//! keeps only the few rows its kernel reaches (3 or 5). What is kept whole is what the bitstream
//! needs anyway: the latent's levels (one byte per value) and the saliency map at latent
//! resolution, before the priority order and entropy coding of [`crate::codec`].
//!
//! The arithmetic is f32, as in the ONNX graph (Cortex-M4F/M7 have a single-precision FPU);
//! the frames it makes decode like those of the ONNX Runtime encoder (docs/sender.md).

#[allow(unused_imports)]
use crate::codec::prelude::*;

use crate::codec::quant::Quantizer;
use crate::codec::saliency::SaliencyMap;
use crate::codec::tables::DOWNSAMPLE;

#[rustfmt::skip]
pub mod lite_weights;
#[rustfmt::skip]
pub mod lite_weights_int8;
#[rustfmt::skip]
pub mod lite_weights_fixed;
pub mod fixed;

pub use fixed::{FixedNetwork, FixedRowEncoder};
/// limitnet-lite's network in fixed point (int8 weights, 8-bit activations; see [`fixed`]).
pub use lite_weights_fixed::LITE as LITE_NETWORK_FIXED;

/// The compiled-in bundle whose encoder this is.
pub const BUNDLE_NAME: &str = "limitnet-lite";

/// limitnet-lite's network, compiled in (from [`lite_weights`]).
pub use lite_weights::LITE as LITE_NETWORK;
/// limitnet-lite's network with int8 weights (a quarter of the flash; see docs/sender.md).
pub use lite_weights_int8::LITE as LITE_NETWORK_INT8;

/// A convolution's weights, `out x in x kernel x kernel`, row-major.
#[derive(Debug, Clone, Copy)]
pub enum Weights {
    F32(&'static [f32]),
    /// Symmetric int8 with one scale per output channel: weight = value * scale.
    Int8 {
        values: &'static [i8],
        scales: &'static [f32],
    },
}

impl Weights {
    pub fn len(&self) -> usize {
        match self {
            Self::F32(w) => w.len(),
            Self::Int8 { values, .. } => values.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Bytes the weights take (with the int8 scales).
    pub fn bytes(&self) -> usize {
        match self {
            Self::F32(w) => 4 * w.len(),
            Self::Int8 { values, scales } => values.len() + 4 * scales.len(),
        }
    }

    /// The `N` weights from `start` (all of output channel `o`), as f32.
    #[inline]
    fn get<const N: usize>(&self, o: usize, start: usize, n: usize) -> [f32; N] {
        let mut out = [0.0; N];
        match self {
            Self::F32(w) => out[..n].copy_from_slice(&w[start..][..n]),
            Self::Int8 { values, scales } => {
                for (v, &q) in out.iter_mut().zip(&values[start..][..n]) {
                    *v = f32::from(q) * scales[o];
                }
            }
        }
        out
    }
}

/// One convolution.
#[derive(Debug, Clone, Copy)]
pub struct Conv {
    pub out_channels: usize,
    pub in_channels: usize,
    pub kernel: usize,
    pub weight: Weights,
    pub bias: &'static [f32],
}

/// The weights of limitnet-lite's encoder and saliency branch.
#[derive(Debug, Clone, Copy)]
pub struct LiteNetwork {
    /// Input normalisation: `(byte / 255 - mean) / std` per channel (red, green, blue).
    pub mean: [f32; 3],
    pub std: [f32; 3],
    /// 3 -> 16, 4x4, stride 4.
    pub conv1: Conv,
    /// 16 -> 16, 3x3, stride 2, padding 1.
    pub conv2: Conv,
    /// 16 -> 12 (the latent), 3x3, padding 1.
    pub conv3: Conv,
    /// Saliency: 12 -> 16, 3x3, padding 1.
    pub saliency1: Conv,
    /// Saliency: 16 -> 1, 3x3, dilation 2, padding 2, then a sigmoid.
    pub saliency2: Conv,
}

impl LiteNetwork {
    fn convs(&self) -> [Conv; 5] {
        [
            self.conv1,
            self.conv2,
            self.conv3,
            self.saliency1,
            self.saliency2,
        ]
    }

    /// Number of weights (and biases).
    pub fn parameters(&self) -> usize {
        self.convs()
            .iter()
            .map(|c| c.weight.len() + c.bias.len())
            .sum()
    }

    /// Bytes of weights and biases (what sits in flash).
    pub fn weight_bytes(&self) -> usize {
        self.convs()
            .iter()
            .map(|c| c.weight.bytes() + 4 * c.bias.len())
            .sum()
    }
}

/// How an output row of a convolution reads its input rows.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Geometry {
    pub(crate) stride: usize,
    pub(crate) padding: usize,
    pub(crate) dilation: usize,
}

impl Geometry {
    /// The output columns `first..last` whose input column `x * stride + offset` (offset =
    /// `kx * dilation - padding`) lies inside a row of `in_width`, and that offset.
    #[inline]
    pub(crate) fn columns(
        &self,
        kx: usize,
        in_width: usize,
        out_width: usize,
    ) -> (usize, usize, isize) {
        let offset = (kx * self.dilation) as isize - self.padding as isize;
        let first = usize::try_from(-offset)
            .map_or(0, |need| need.div_ceil(self.stride))
            .min(out_width);
        let last = usize::try_from(in_width as isize - 1 - offset)
            .map_or(0, |room| room / self.stride + 1)
            .min(out_width);
        (first, last, offset)
    }
}

/// One output row of `conv` (`out_channels x out_width`, into `out`) from its input rows
/// (`rows[ky]`, each `in_channels x in_width`; `None` is zero padding), then ReLU if `relu`.
/// Weight by weight over the whole row (an axpy), so the inner loop has no bounds or padding
/// test and vectorizes at stride 1.
fn conv_row(
    conv: &Conv,
    g: Geometry,
    rows: &[Option<&[f32]>],
    in_width: usize,
    out: &mut [f32],
    out_width: usize,
    relu: bool,
) {
    let k = conv.kernel;
    for (o, out) in out.chunks_exact_mut(out_width).enumerate() {
        out.fill(conv.bias[o]);
        for (ky, row) in rows.iter().enumerate() {
            let Some(row) = row else { continue };
            for c in 0..conv.in_channels {
                let weights: [f32; 8] =
                    conv.weight
                        .get(o, ((o * conv.in_channels + c) * k + ky) * k, k);
                let input = &row[c * in_width..][..in_width];
                for (kx, &w) in weights[..k].iter().enumerate() {
                    // Output x reads input x * stride + offset; keep the x that land inside.
                    let (first, last, offset) = g.columns(kx, in_width, out_width);
                    if first >= last {
                        continue;
                    }
                    let start = (first * g.stride) as isize + offset;
                    let input = &input[start as usize..];
                    let out = &mut out[first..last];
                    if g.stride == 1 {
                        for (o, &i) in out.iter_mut().zip(input) {
                            *o += w * i;
                        }
                    } else {
                        for (o, &i) in out.iter_mut().zip(input.iter().step_by(g.stride)) {
                            *o += w * i;
                        }
                    }
                }
            }
        }
        if relu {
            for v in out.iter_mut() {
                *v = v.max(0.0);
            }
        }
    }
}

/// A ring of the last `N` rows of a layer's output (`channels x width` each).
pub(crate) struct Rows<T, const N: usize> {
    data: Vec<T>,
    size: usize,
    /// Which row each slot holds.
    held: [Option<usize>; N],
}

impl<T: Copy + Default, const N: usize> Rows<T, N> {
    pub(crate) fn new(channels: usize, width: usize) -> Self {
        Self {
            data: vec![T::default(); N * channels * width],
            size: channels * width,
            held: [None; N],
        }
    }

    /// Forgets every row (a new frame starts).
    pub(crate) fn clear(&mut self) {
        self.held = [None; N];
    }

    pub(crate) fn slot_mut(&mut self, row: usize) -> &mut [T] {
        self.held[row % N] = Some(row);
        &mut self.data[(row % N) * self.size..][..self.size]
    }

    /// Row `row` (a signed index: rows before the first are padding), if held.
    pub(crate) fn get(&self, row: isize) -> Option<&[T]> {
        let r = usize::try_from(row).ok()?;
        (self.held[r % N] == Some(r)).then(|| &self.data[(r % N) * self.size..][..self.size])
    }

    /// Bytes of the ring.
    pub(crate) fn bytes(&self) -> usize {
        self.data.len() * core::mem::size_of::<T>()
    }
}

/// What the encoder made of a frame: the quantized latent and the pooled saliency map, ready
/// for [`crate::codec::FrameEncoder`].
/// Borrowed from the encoder, so that a frame costs no allocation: encode it before the next.
#[derive(Debug, Clone, Copy)]
pub struct SenderOutput<'a> {
    /// Levels, `12 x h/8 x w/8`, channel-major.
    pub levels: &'a [u8],
    pub saliency: SaliencyMap,
}

/// What a row-by-row encoder does, whatever its arithmetic ([`RowEncoder`]: f32,
/// [`FixedRowEncoder`]: fixed point).
pub trait RowSender {
    /// Feeds the next row: `width` pixels of 8-bit RGB. Rows beyond the frame are ignored.
    fn push_row(&mut self, rgb: &[u8]);
    /// After the frame's last row: the frame's levels and saliency map.
    fn finish(&mut self) -> SenderOutput<'_>;
    /// The frame size (width, height) it takes.
    fn size(&self) -> (usize, usize);
}

impl RowSender for RowEncoder {
    fn push_row(&mut self, rgb: &[u8]) {
        RowEncoder::push_row(self, rgb);
    }
    fn finish(&mut self) -> SenderOutput<'_> {
        RowEncoder::finish(self)
    }
    fn size(&self) -> (usize, usize) {
        RowEncoder::size(self)
    }
}

impl RowSender for FixedRowEncoder {
    fn push_row(&mut self, rgb: &[u8]) {
        FixedRowEncoder::push_row(self, rgb);
    }
    fn finish(&mut self) -> SenderOutput<'_> {
        FixedRowEncoder::finish(self)
    }
    fn size(&self) -> (usize, usize) {
        FixedRowEncoder::size(self)
    }
}

/// limitnet-lite's encoder for one frame size, fed one RGB row at a time.
pub struct RowEncoder {
    net: LiteNetwork,
    quantizer: Quantizer,
    /// Frame size and the padded size the network runs at (multiples of 8).
    width: usize,
    height: usize,
    padded_width: usize,
    padded_height: usize,
    /// Rows pushed so far.
    rows_in: usize,
    /// One normalised input row, planar (3 x padded width).
    input: Vec<f32>,
    /// The first convolution's partial sums for its current output row (16 x width/4).
    conv1_sums: Vec<f32>,
    conv1_rows: Rows<f32, 3>,
    conv2_rows: Rows<f32, 3>,
    latent_rows: Rows<f32, 3>,
    saliency1_rows: Rows<f32, 5>,
    /// One output row of a layer before it goes into its ring.
    scratch: Vec<f32>,
    /// The latent's levels and the saliency map at latent resolution, filled row by row.
    levels: Vec<u8>,
    saliency: Vec<f32>,
}

impl RowEncoder {
    /// An encoder for `width x height` frames (both at least 1) of `net`, quantizing with
    /// `quantizer` (the bundle's codec tables). All buffers are allocated here.
    pub fn new(net: LiteNetwork, quantizer: Quantizer, width: usize, height: usize) -> Self {
        let d = DOWNSAMPLE as usize;
        let (padded_width, padded_height) = (width.div_ceil(d) * d, height.div_ceil(d) * d);
        let (lw, lh) = (padded_width / d, padded_height / d);
        let w4 = padded_width / 4;
        let latent = net.conv3.out_channels;
        Self {
            net,
            quantizer,
            width,
            height,
            padded_width,
            padded_height,
            rows_in: 0,
            input: vec![0.0; 3 * padded_width],
            conv1_sums: vec![0.0; net.conv1.out_channels * w4],
            conv1_rows: Rows::new(net.conv1.out_channels, w4),
            conv2_rows: Rows::new(net.conv2.out_channels, lw),
            latent_rows: Rows::new(latent, lw),
            saliency1_rows: Rows::new(net.saliency1.out_channels, lw),
            scratch: vec![0.0; net.conv1.out_channels.max(latent) * w4],
            levels: vec![0; latent * lh * lw],
            saliency: vec![0.0; lh * lw],
        }
    }

    /// Bytes this encoder holds for its frame size (its buffers, not counting the weights,
    /// which stay in flash): what a device needs in RAM besides the frame's bytes.
    pub fn buffer_bytes(&self) -> usize {
        4 * (self.input.len() + self.conv1_sums.len() + self.scratch.len() + self.saliency.len())
            + self.conv1_rows.bytes()
            + self.conv2_rows.bytes()
            + self.latent_rows.bytes()
            + self.saliency1_rows.bytes()
            + self.levels.len()
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

    /// Feeds the next row: `width` pixels of 8-bit RGB (red, green, blue). Rows beyond the
    /// frame's height are ignored.
    pub fn push_row(&mut self, rgb: &[u8]) {
        if self.rows_in >= self.height {
            return;
        }
        assert!(
            rgb.len() >= 3 * self.width,
            "a row of {} pixels",
            self.width
        );
        self.feed(rgb);
    }

    /// The padded frame's row from a camera row: normalised, the last pixel repeated into the
    /// padding (as the ONNX Runtime encoder pads).
    fn feed(&mut self, rgb: &[u8]) {
        let pw = self.padded_width;
        for c in 0..3 {
            let (mean, std) = (self.net.mean[c], self.net.std[c]);
            let plane = &mut self.input[c * pw..][..pw];
            for (x, v) in plane.iter_mut().enumerate() {
                let byte = rgb[3 * x.min(self.width - 1) + c];
                *v = (f32::from(byte) / 255.0 - mean) / std;
            }
        }
        self.accumulate_conv1();
        self.rows_in += 1;
    }

    /// Adds this input row's share to the first convolution (4x4, stride 4: each input row is
    /// one kernel row of one output row), and completes that output row on its fourth.
    fn accumulate_conv1(&mut self) {
        let conv = self.net.conv1;
        let (pw, w4) = (self.padded_width, self.padded_width / 4);
        let ky = self.rows_in % 4;
        if ky == 0 {
            for (o, sums) in self.conv1_sums.chunks_exact_mut(w4).enumerate() {
                sums.fill(conv.bias[o]);
            }
        }
        for (o, sums) in self.conv1_sums.chunks_exact_mut(w4).enumerate() {
            for c in 0..3 {
                let weights: [f32; 4] = conv.weight.get(o, ((o * 3 + c) * 4 + ky) * 4, 4);
                let input = &self.input[c * pw..][..pw];
                for (x, sum) in sums.iter_mut().enumerate() {
                    let pixels = &input[4 * x..][..4];
                    *sum += weights[0] * pixels[0]
                        + weights[1] * pixels[1]
                        + weights[2] * pixels[2]
                        + weights[3] * pixels[3];
                }
            }
        }
        if ky == 3 {
            let r1 = self.rows_in / 4;
            let row = self.conv1_rows.slot_mut(r1);
            for (out, &sum) in row.iter_mut().zip(&self.conv1_sums) {
                *out = sum.max(0.0);
            }
            // The second convolution (stride 2) completes a row with every odd row of this one.
            if r1 % 2 == 1 {
                self.conv2_row((r1 - 1) / 2);
            }
        }
    }

    fn conv2_row(&mut self, r2: usize) {
        let (w4, lw) = (self.padded_width / 4, self.latent_width());
        let first = 2 * r2 as isize - 1;
        let rows = [
            self.conv1_rows.get(first),
            self.conv1_rows.get(first + 1),
            self.conv1_rows.get(first + 2),
        ];
        let g = Geometry {
            stride: 2,
            padding: 1,
            dilation: 1,
        };
        let out = &mut self.scratch[..self.net.conv2.out_channels * lw];
        conv_row(&self.net.conv2, g, &rows, w4, out, lw, true);
        self.conv2_rows.slot_mut(r2).copy_from_slice(out);
        if r2 >= 1 {
            self.conv3_row(r2 - 1);
        }
    }

    /// A latent row: quantized into the levels, and kept for the saliency branch.
    fn conv3_row(&mut self, r3: usize) {
        let (lw, lh) = (self.latent_width(), self.latent_height());
        let r = r3 as isize;
        let rows = [
            self.conv2_rows.get(r - 1),
            self.conv2_rows.get(r),
            self.conv2_rows.get(r + 1),
        ];
        let g = Geometry {
            stride: 1,
            padding: 1,
            dilation: 1,
        };
        let channels = self.net.conv3.out_channels;
        let out = &mut self.scratch[..channels * lw];
        conv_row(&self.net.conv3, g, &rows, lw, out, lw, true);
        for (c, values) in out.chunks_exact(lw).enumerate() {
            let levels = &mut self.levels[(c * lh + r3) * lw..][..lw];
            for (level, &v) in levels.iter_mut().zip(values) {
                *level = self.quantizer.quantize(c, v);
            }
        }
        self.latent_rows.slot_mut(r3).copy_from_slice(out);
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
        let g = Geometry {
            stride: 1,
            padding: 1,
            dilation: 1,
        };
        let out = &mut self.scratch[..self.net.saliency1.out_channels * lw];
        conv_row(&self.net.saliency1, g, &rows, lw, out, lw, true);
        self.saliency1_rows.slot_mut(s).copy_from_slice(out);
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
        let out = &mut self.saliency[t * lw..][..lw];
        conv_row(&self.net.saliency2, g, &rows, lw, out, lw, false);
        for v in out.iter_mut() {
            *v = 1.0 / (1.0 + libm::expf(-*v));
        }
    }

    /// After the frame's last row: the padding rows (the last row repeated), the layers' last
    /// rows, and the output. The encoder is then ready for the next frame.
    pub fn finish(&mut self) -> SenderOutput<'_> {
        assert!(self.rows_in >= self.height, "finish before the last row");
        while self.rows_in < self.padded_height {
            // The input buffer still holds the last row, normalised: feed it again.
            self.accumulate_conv1();
            self.rows_in += 1;
        }
        let lh = self.latent_height();
        self.conv3_row(lh - 1);
        self.saliency1_row(lh - 1);
        for t in lh.saturating_sub(2)..lh {
            self.saliency2_row(t);
        }
        let saliency = SaliencyMap::pool(&self.saliency, lh, self.latent_width());
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

/// Appends `static NAME: [TY; N] = [...];` of `values` to generated weight source, 8 a line.
#[cfg(feature = "onnx")]
fn write_array<T: core::fmt::Debug>(out: &mut String, name: &str, ty: &str, values: &[T]) {
    use core::fmt::Write;
    let _ = writeln!(out, "static {name}: [{ty}; {}] = [", values.len());
    for chunk in values.chunks(8) {
        let line: Vec<String> = chunk.iter().map(|v| format!("{v:?}")).collect();
        let _ = writeln!(out, "    {},", line.join(", "));
    }
    out.push_str("];\n\n");
}

/// The Rust source of [`lite_weights`] (`int8`: of [`lite_weights_int8`]) from a bundle's
/// `encoder.onnx` (its float initializers, by name): how those files are made, and how a test
/// checks they still match the bundle. int8 weights are symmetric per output channel:
/// scale = max |weight| / 127, value = round(weight / scale).
#[cfg(feature = "onnx")]
pub fn lite_weights_source(encoder_onnx: &[u8], int8: bool) -> Option<String> {
    use core::fmt::Write;
    let initializers = crate::model::normalize::float_initializers(encoder_onnx)?;
    let get = |name: &str| initializers.iter().find(|i| i.name == name);
    let (what, file) = if int8 {
        ("weights as int8 (biases f32)", "lite_weights_int8.rs")
    } else {
        ("weights", "lite_weights.rs")
    };
    let mut out = format!(
        "//! limitnet-lite's encoder and saliency {what}, generated from\n\
         //! models/limitnet-lite/encoder.onnx by `LIMITNET_WRITE_SENDER_WEIGHTS=1 cargo test -p limitnet\n\
         //! sender` (the test fails when {file} no longer matches the bundle). Do not edit.\n\n\
         use super::{{Conv, LiteNetwork, Weights}};\n\n"
    );
    let mut convs = String::new();
    for (field, prefix) in [
        ("conv1", "encoder.conv1"),
        ("conv2", "encoder.conv2"),
        ("conv3", "encoder.conv3"),
        ("saliency1", "saliency.conv1"),
        ("saliency2", "saliency.conv2"),
    ] {
        let weight = get(&format!("{prefix}.weight"))?;
        let bias = get(&format!("{prefix}.bias"))?;
        let [o, i, k, k2] = weight.dims[..] else {
            return None;
        };
        if k != k2 || bias.values.len() as u64 != o {
            return None;
        }
        let upper = field.to_uppercase();
        let weights = if int8 {
            let per_out = weight.values.len() / o as usize;
            let mut values = Vec::with_capacity(weight.values.len());
            let mut scales = Vec::with_capacity(o as usize);
            for channel in weight.values.chunks_exact(per_out) {
                let max = channel.iter().fold(0f32, |m, w| m.max(w.abs()));
                let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
                scales.push(scale);
                values.extend(
                    channel
                        .iter()
                        .map(|w| libm::roundf(w / scale).clamp(-127.0, 127.0) as i8),
                );
            }
            write_array(&mut out, &format!("{upper}_WEIGHT"), "i8", &values);
            write_array(&mut out, &format!("{upper}_SCALE"), "f32", &scales);
            format!(
                "Weights::Int8 {{\n            values: &{upper}_WEIGHT,\n            scales: &{upper}_SCALE,\n        }}"
            )
        } else {
            write_array(&mut out, &format!("{upper}_WEIGHT"), "f32", &weight.values);
            format!("Weights::F32(&{upper}_WEIGHT)")
        };
        write_array(&mut out, &format!("{upper}_BIAS"), "f32", &bias.values);
        let _ = writeln!(
            convs,
            "    {field}: Conv {{\n        out_channels: {o},\n        in_channels: {i},\n        kernel: {k},\n        weight: {weights},\n        bias: &{upper}_BIAS,\n    }},"
        );
    }
    let mean = &get("encoder.mean")?.values;
    let std = &get("encoder.std")?.values;
    let _ = write!(
        out,
        "/// limitnet-lite's encoder network.\npub static LITE: LiteNetwork = LiteNetwork {{\n    mean: {:?},\n    std: {:?},\n{convs}}};\n",
        mean.as_slice(),
        std.as_slice()
    );
    Some(out)
}

/// The Rust source of [`lite_weights_fixed`] from a bundle's `encoder.onnx`, its quantizer
/// (the codec's levels) and its `sender-calibration.json` (activation ranges measured on
/// training photos by `python -m limitnet_train.calibrate`). Weights are symmetric int8 per
/// output channel; the input normalisation is folded into the first convolution; every
/// activation scale is its calibrated range / 255.
#[cfg(feature = "onnx")]
pub fn fixed_weights_source(
    encoder_onnx: &[u8],
    quantizer: &crate::codec::quant::Quantizer,
    calibration_json: &[u8],
) -> Option<String> {
    use core::fmt::Write;
    use fixed::Requant;
    let initializers = crate::model::normalize::float_initializers(encoder_onnx)?;
    let get = |name: &str| initializers.iter().find(|i| i.name == name);
    let calibration: serde_json::Value = serde_json::from_slice(calibration_json).ok()?;
    let range = |layer: &str| -> Option<f64> {
        calibration["activations"][layer]["range"]
            .as_f64()
            .filter(|r| *r > 0.0)
    };
    let mean = &get("encoder.mean")?.values;
    let std = &get("encoder.std")?.values;
    // The fixed-point encoder reads RGB.
    if mean.len() != 3 || std.len() != 3 {
        return None;
    }
    let mut out = String::from(
        "//! limitnet-lite's encoder and saliency branch in fixed point, generated from\n\
         //! models/limitnet-lite/{encoder.onnx, codec.json, sender-calibration.json} by\n\
         //! `LIMITNET_WRITE_SENDER_WEIGHTS=1 cargo test -p limitnet sender` (the test fails when this\n\
         //! file no longer matches the bundle). Do not edit.\n\n\
         use super::fixed::{FixedConv, FixedNetwork, Requant};\n\n",
    );
    fn requants(out: &mut String, name: &str, values: &[Requant]) {
        let _ = writeln!(out, "static {name}: [Requant; {}] = [", values.len());
        for r in values {
            let _ = writeln!(
                out,
                "    Requant {{ multiplier: {}, shift: {} }},",
                r.multiplier, r.shift
            );
        }
        out.push_str("];\n\n");
    }
    // (field, ONNX prefix, input scale name, output: scale of the next activation)
    let act = |layer: &str| range(layer).map(|r| r / 255.0);
    let (a1, a2, a3, s1) = (
        act("conv1")?,
        act("conv2")?,
        act("conv3")?,
        act("saliency1")?,
    );
    let layers = [
        ("conv1", "encoder.conv1", 1.0, a1),
        ("conv2", "encoder.conv2", a1, a2),
        ("conv3", "encoder.conv3", a2, a3),
        ("saliency1", "saliency.conv1", a3, s1),
        // The saliency logit in sixteenths.
        ("saliency2", "saliency.conv2", s1, 1.0 / 16.0),
    ];
    let mut convs = String::new();
    let mut level_requants = Vec::new();
    for (field, prefix, in_scale, out_scale) in layers {
        let weight = get(&format!("{prefix}.weight"))?;
        let bias = get(&format!("{prefix}.bias"))?;
        let [o, i, k, k2] = weight.dims[..] else {
            return None;
        };
        let (o, i, k) = (o as usize, i as usize, k as usize);
        if k != k2 as usize || bias.values.len() != o {
            return None;
        }
        let per_out = i * k * k;
        let mut w: Vec<f64> = weight.values.iter().map(|&v| f64::from(v)).collect();
        let mut b: Vec<f64> = bias.values.iter().map(|&v| f64::from(v)).collect();
        if field == "conv1" {
            // (byte / 255 - mean) / std, folded in: the layer reads the camera's bytes.
            for (oc, bias) in b.iter_mut().enumerate() {
                for c in 0..i {
                    let (m, s) = (f64::from(mean[c]), f64::from(std[c]));
                    for tap in &mut w[oc * per_out + c * k * k..][..k * k] {
                        *bias -= *tap * m / s;
                        *tap /= 255.0 * s;
                    }
                }
            }
        }
        let mut values = Vec::with_capacity(w.len());
        let mut biases = Vec::with_capacity(o);
        let mut to_next = Vec::with_capacity(o);
        for (oc, taps) in w.chunks_exact(per_out).enumerate() {
            let max = taps.iter().fold(0f64, |m, t| m.max(t.abs()));
            let w_scale = if max > 0.0 { max / 127.0 } else { 1.0 };
            values.extend(
                taps.iter()
                    .map(|t| libm::round(t / w_scale).clamp(-127.0, 127.0) as i8),
            );
            let acc_scale = in_scale * w_scale;
            biases.push(libm::round(b[oc] / acc_scale) as i32);
            to_next.push(Requant::from_factor(acc_scale / out_scale)?);
            if field == "conv3" {
                let (min, step) = quantizer.range(oc);
                if min != 0.0 {
                    return None; // ReLU latents: ranges start at 0 (docs/bitstream.md)
                }
                level_requants.push(Requant::from_factor(acc_scale / f64::from(step))?);
            }
        }
        let upper = field.to_uppercase();
        write_array(&mut out, &format!("{upper}_WEIGHT"), "i8", &values);
        write_array(&mut out, &format!("{upper}_BIAS"), "i32", &biases);
        requants(&mut out, &format!("{upper}_REQUANT"), &to_next);
        let _ = writeln!(
            convs,
            "    {field}: FixedConv {{\n        out_channels: {o},\n        in_channels: {i},\n        kernel: {k},\n        weight: &{upper}_WEIGHT,\n        bias: &{upper}_BIAS,\n        requant: &{upper}_REQUANT,\n    }},"
        );
    }
    requants(&mut out, "LEVELS", &level_requants);
    let sigmoid: Vec<u16> = (0..=256)
        .map(|i| {
            let x = (f64::from(i) - 128.0) / 16.0;
            libm::round(65535.0 / (1.0 + libm::exp(-x))) as u16
        })
        .collect();
    write_array(&mut out, "SIGMOID", "u16", &sigmoid);
    let _ = write!(
        out,
        "/// limitnet-lite's encoder network in fixed point.\npub static LITE: FixedNetwork = FixedNetwork {{\n{convs}    levels: &LEVELS,\n    top_level: {},\n    sigmoid: &SIGMOID,\n}};\n",
        quantizer.levels() - 1
    );
    Some(out)
}

#[cfg(all(test, feature = "onnx"))]
mod tests {
    use super::*;
    use crate::model::ModelBundle;

    #[test]
    fn lite_weights_match_the_bundle() {
        let bundle = ModelBundle::load(Some("limitnet-lite".as_ref())).unwrap();
        for (int8, file) in [(false, "lite_weights.rs"), (true, "lite_weights_int8.rs")] {
            let source =
                lite_weights_source(&bundle.encoder_onnx, int8).expect("a limitnet-lite graph");
            check_generated(file, &source);
        }
    }

    /// `src/sender/FILE` must be `source` (with LIMITNET_WRITE_SENDER_WEIGHTS set, it is
    /// written first).
    fn check_generated(file: &str, source: &str) {
        let path = format!("{}/src/sender/{file}", env!("CARGO_MANIFEST_DIR"));
        if std::env::var_os("LIMITNET_WRITE_SENDER_WEIGHTS").is_some() {
            std::fs::write(&path, source).unwrap();
        }
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            committed == source,
            "src/sender/{file} does not match models/limitnet-lite: regenerate it with \
             LIMITNET_WRITE_SENDER_WEIGHTS=1 cargo test -p limitnet sender"
        );
    }

    #[test]
    fn fixed_weights_match_the_bundle_and_its_calibration() {
        let bundle = ModelBundle::load(Some("limitnet-lite".as_ref())).unwrap();
        let calibration = include_bytes!("../../../models/limitnet-lite/sender-calibration.json");
        // The ranges were measured on this encoder, not an earlier one.
        use sha2::{Digest, Sha256};
        let encoder_sha256: String = Sha256::digest(&bundle.encoder_onnx)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let json: serde_json::Value = serde_json::from_slice(calibration).unwrap();
        assert_eq!(
            json["encoder_sha256"].as_str(),
            Some(encoder_sha256.as_str()),
            "models/limitnet-lite/sender-calibration.json was made for another encoder.onnx: \
             rerun `python -m limitnet_train.calibrate`, then regenerate the weights"
        );
        let source =
            fixed_weights_source(&bundle.encoder_onnx, bundle.tables.quantizer(), calibration)
                .expect("a limitnet-lite graph and its calibration");
        check_generated("lite_weights_fixed.rs", &source);
    }
}
