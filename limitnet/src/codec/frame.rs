//! One frame of the progressive bitstream (docs/bitstream.md "Frame").
//!
//! `version | stream tag | value count (LEB128) | saliency map (40 bytes) | payload` (Huffman
//! codes, or from version 4 range coded: [`super::range`])
//!
//! Values are sent in [`priority_order`]; every byte prefix of a frame decodes to exactly the
//! values of the full frame on the positions it covers, and the rest are zero. The frame
//! version is the codec tables' version ([`CodecTables::frame_version`]).

#[allow(unused_imports)]
use crate::codec::prelude::*;

use super::FrameError;
use super::bits::{BitReader, BitWriter};
use super::order::{
    ChannelOf, LEFT_BEFORE, OrderScratch, UP_BEFORE, neighbours_sent_before, priority_order,
};
use super::range::{PrefixDecoder, RangeEncoder};
use super::refine::Interval;
use super::saliency::{self, SaliencyMap};
use super::tables::{CodecTables, DOWNSAMPLE};

/// The context of the value at position `p` (`y * w + x`) of a channel whose coded level at a
/// position is `coded_at(position)` (the level, or in version 3 the coarse level), from
/// [`neighbours_sent_before`]'s flags `before`.
#[inline]
fn context_of(
    tables: &CodecTables,
    before: &[u8],
    coded_at: impl Fn(usize) -> u8,
    p: usize,
    w: usize,
) -> usize {
    let flags = before[p];
    let left = (flags & LEFT_BEFORE != 0).then(|| coded_at(p - 1));
    let up = (flags & UP_BEFORE != 0).then(|| coded_at(p - w));
    tables.context(left, up)
}

/// The entropy-coding context of every value of a latent (`levels` by index
/// `c * h * w + y * w + x`), as [`encode_frame`] and [`decode_frame`] use them: the rule that
/// docs/bitstream.md "Values" specifies and the training pipeline's `value_contexts` builds its
/// code tables with (limitnet/tests/training_rules.rs checks that the two agree).
pub fn value_contexts(
    tables: &CodecTables,
    saliency: &SaliencyMap,
    levels: &[u8],
    h: usize,
    w: usize,
) -> Vec<u8> {
    let before = neighbours_sent_before(saliency, h, w);
    let plane = h * w;
    assert!(
        plane > 0 && levels.len() == tables.channels() * plane,
        "{} levels for {} channels of {h}x{w}",
        levels.len(),
        tables.channels()
    );
    levels
        .chunks_exact(plane)
        .flat_map(|plane_levels| {
            let before = &before;
            (0..plane).map(move |p| context_of(tables, before, |i| plane_levels[i], p, w) as u8)
        })
        .collect()
}

/// Stream-level parameters (they travel in the caps, not in frames).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamParams {
    /// True frame size; the encoder pads to a multiple of 8 and the decoder crops back.
    pub width: u32,
    pub height: u32,
    /// Content-hash id of the model bundle.
    pub model_id: String,
}

impl StreamParams {
    /// Latent grid (rows, columns): ceil(H/8) x ceil(W/8).
    pub fn latent_dims(&self) -> (usize, usize) {
        (
            self.height.div_ceil(DOWNSAMPLE) as usize,
            self.width.div_ceil(DOWNSAMPLE) as usize,
        )
    }

    /// Size the model runs at: the frame padded to a multiple of 8.
    pub fn padded_size(&self) -> (u32, u32) {
        (
            self.width.div_ceil(DOWNSAMPLE) * DOWNSAMPLE,
            self.height.div_ceil(DOWNSAMPLE) * DOWNSAMPLE,
        )
    }

    /// One byte in every frame that ties it to its stream: CRC-8 (polynomial 0x07, init 0) of
    /// the model id's bytes, then width and height as u32 little-endian.
    pub fn tag(&self) -> u8 {
        let mut crc = 0u8;
        let bytes = self
            .model_id
            .bytes()
            .chain(self.width.to_le_bytes())
            .chain(self.height.to_le_bytes());
        for b in bytes {
            crc ^= b;
            for _ in 0..8 {
                crc = if crc & 0x80 != 0 {
                    (crc << 1) ^ 0x07
                } else {
                    crc << 1
                };
            }
        }
        crc
    }
}

/// Number of values in the first `percentage` % (0..=100) of `total`, rounded down.
pub fn values_for_percentage(total: usize, percentage: f64) -> usize {
    let p = if percentage.is_nan() {
        100.0
    } else {
        percentage.clamp(0.0, 100.0)
    };
    // Non-negative, so the cast rounds down.
    ((total as f64 * p / 100.0) as usize).min(total)
}

/// Encodes one frame. `levels` holds the quantized latent (channel-major, `C x h x w`);
/// the first `count` values in priority order are coded. (An encoder of many frames keeps a
/// [`FrameEncoder`] instead, which reuses its buffers.)
pub fn encode_frame(
    tables: &CodecTables,
    params: &StreamParams,
    saliency: &SaliencyMap,
    levels: &[u8],
    count: usize,
) -> Vec<u8> {
    FrameEncoder::default().encode(tables, params, saliency, levels, count)
}

/// [`encode_frame`] with the priority order's buffers kept from frame to frame: once frames
/// stop growing, the only allocation per frame is the frame's own bytes.
#[derive(Debug, Default)]
pub struct FrameEncoder {
    scratch: OrderScratch,
}

impl FrameEncoder {
    /// Same as [`encode_frame`].
    pub fn encode(
        &mut self,
        tables: &CodecTables,
        params: &StreamParams,
        saliency: &SaliencyMap,
        levels: &[u8],
        count: usize,
    ) -> Vec<u8> {
        self.encode_within(tables, params, saliency, levels, count, usize::MAX)
    }

    /// [`Self::encode`] cut to its first `max_bytes` bytes, the same bytes as encoding the
    /// whole frame and truncating it, but coding stops once they are written: a frame cut at 1 KB
    /// of a 15 KB frame costs what a 1 KB frame costs.
    pub fn encode_within(
        &mut self,
        tables: &CodecTables,
        params: &StreamParams,
        saliency: &SaliencyMap,
        levels: &[u8],
        count: usize,
        max_bytes: usize,
    ) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_limited(tables, params, saliency, levels, count, max_bytes, &mut out);
        out.truncate(max_bytes);
        out
    }

    /// [`Self::encode`] into `out` (cleared first), reusing its memory: a sender that keeps
    /// one buffer for its frames allocates nothing per frame once the buffers have grown
    /// (limitnet/tests/sender_memory.rs counts it).
    pub fn encode_into(
        &mut self,
        tables: &CodecTables,
        params: &StreamParams,
        saliency: &SaliencyMap,
        levels: &[u8],
        count: usize,
        out: &mut Vec<u8>,
    ) {
        self.encode_limited(tables, params, saliency, levels, count, usize::MAX, out);
    }

    /// [`Self::encode_into`], stopping between runs once `max_bytes` bytes are complete (the
    /// caller cuts the rest).
    #[allow(clippy::too_many_arguments)]
    fn encode_limited(
        &mut self,
        tables: &CodecTables,
        params: &StreamParams,
        saliency: &SaliencyMap,
        levels: &[u8],
        count: usize,
        max_bytes: usize,
        out: &mut Vec<u8>,
    ) {
        let (h, w) = params.latent_dims();
        let channels = tables.channels();
        assert_eq!(
            levels.len(),
            channels * h * w,
            "latent size does not match the stream"
        );
        let count = count.min(tables.items(levels.len()));
        let mut buffer = core::mem::take(out);
        buffer.clear();
        // One allocation for the usual frame (under a byte per value; ~3.7 bits on average)
        // rather than a doubling series whose last step holds both halves at once.
        // Refinement items (version 3) take at most a bit each.
        let values = count.div_ceil(tables.refinement().stages());
        buffer.reserve(2 + 5 + saliency::ENCODED_BYTES + values + (count - values) / 8 + 1);
        let mut bits = write_frame_header(tables, params, saliency, count, buffer);
        self.scratch.fill_neighbours(saliency, h, w);
        self.scratch
            .fill_runs(saliency, tables.priority_rule(), h, w);
        if tables.range_coded() {
            // The header ends on a byte boundary (the saliency map is 40 bytes).
            let mut coder = RangeEncoder::new(bits.finish());
            self.code_runs(tables, levels, w, count, max_bytes, &mut coder);
            *out = coder.finish();
        } else {
            self.code_runs(tables, levels, w, count, max_bytes, &mut bits);
            *out = bits.finish();
        }
    }

    /// Codes the first `count` items of the runs [`OrderScratch::fill_runs`] made with `sink`,
    /// stopping between runs once `max_bytes` bytes are complete.
    fn code_runs(
        &self,
        tables: &CodecTables,
        levels: &[u8],
        w: usize,
        count: usize,
        max_bytes: usize,
        sink: &mut impl ItemSink,
    ) {
        let plane = levels.len() / tables.channels();
        let before = &self.scratch.neighbours;
        let refinement = tables.refinement();
        // Run by run (one stage of one channel each): the channel's levels and codes are
        // looked up once per run, not once per value.
        let mut left = count;
        for (stage, c, positions) in self.scratch.runs() {
            if left == 0 || sink.bytes_written() >= max_bytes {
                break;
            }
            let positions = &positions[..positions.len().min(left)];
            left -= positions.len();
            let levels = &levels[c * plane..][..plane];
            if stage == 0 {
                // The codes code coarse levels (the levels themselves before version 3),
                // mapped here rather than into a buffer: a sender's heap is tight.
                let coded_at = |i: usize| refinement.coarse(levels[i]);
                sink.code_levels(tables, c, positions, |p| {
                    (context_of(tables, before, coded_at, p, w), coded_at(p))
                });
            } else {
                // A refinement bit, where the interval known so far has more than one level.
                for &p in positions {
                    let q = levels[p as usize];
                    let interval = refinement.interval_before(q, stage);
                    if !interval.is_exact() {
                        sink.code_bit(tables, c, interval, stage, interval.bit_of(q) == 1);
                    }
                }
            }
        }
    }
}

/// Where a frame's items go: Huffman codes into bits (versions 1 to 3) or the range coder
/// (version 4).
trait ItemSink {
    fn bytes_written(&self) -> usize;
    /// Codes the (context, coded level) `item(p)` of each position `p` of channel `c`.
    fn code_levels(
        &mut self,
        tables: &CodecTables,
        c: usize,
        positions: &[u32],
        item: impl Fn(usize) -> (usize, u8),
    );
    /// Codes the refinement bit of channel `c` that narrows `interval` at `stage`.
    fn code_bit(
        &mut self,
        tables: &CodecTables,
        c: usize,
        interval: Interval,
        stage: usize,
        bit: bool,
    );
}

impl ItemSink for BitWriter {
    fn bytes_written(&self) -> usize {
        BitWriter::bytes_written(self)
    }

    #[inline]
    fn code_levels(
        &mut self,
        tables: &CodecTables,
        c: usize,
        positions: &[u32],
        item: impl Fn(usize) -> (usize, u8),
    ) {
        let codes = tables.channel_codes(c);
        for &p in positions {
            let (context, level) = item(p as usize);
            let (code, len) = codes[context].code(level);
            self.write(code, u32::from(len));
        }
    }

    #[inline]
    fn code_bit(&mut self, _: &CodecTables, _: usize, _: Interval, _: usize, bit: bool) {
        self.write(u32::from(bit), 1);
    }
}

impl ItemSink for RangeEncoder {
    fn bytes_written(&self) -> usize {
        RangeEncoder::bytes_written(self)
    }

    #[inline]
    fn code_levels(
        &mut self,
        tables: &CodecTables,
        c: usize,
        positions: &[u32],
        item: impl Fn(usize) -> (usize, u8),
    ) {
        let frequencies = tables.channel_frequencies(c);
        for &p in positions {
            let (context, level) = item(p as usize);
            self.encode(&frequencies[context], usize::from(level));
        }
    }

    #[inline]
    fn code_bit(
        &mut self,
        tables: &CodecTables,
        c: usize,
        interval: Interval,
        stage: usize,
        bit: bool,
    ) {
        self.encode_bit(tables.refinement_zero(c, interval, stage), bit);
    }
}

/// Appends the frame header (version, stream tag, value count, saliency map) to `out`; the
/// payload's bits follow. Frames and header packets (docs/bitstream.md "Packets") share it.
pub(crate) fn write_frame_header(
    tables: &CodecTables,
    params: &StreamParams,
    saliency: &SaliencyMap,
    count: usize,
    mut out: Vec<u8>,
) -> BitWriter {
    out.push(tables.frame_version());
    out.push(params.tag());
    write_leb128(&mut out, count as u64);
    let mut bits = BitWriter::with_buffer(out);
    saliency.write(&mut bits);
    bits
}

/// Bytes of a frame's header and saliency map when it announces `count` values: a cut shorter
/// than this carries no value.
pub fn header_bytes(count: usize) -> usize {
    let mut count_field = Vec::new();
    write_leb128(&mut count_field, count as u64);
    2 + count_field.len() + saliency::ENCODED_BYTES
}

/// How much of a frame could be used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FrameStatus {
    /// Every value the header announced was decoded (or the requested limit was reached).
    Complete,
    /// The data ended inside the payload: the values before the cut were decoded.
    Truncated,
    /// The data ended before the saliency map was complete: no value could be decoded.
    NoSaliency,
}

/// The values recovered from (a prefix of) a frame.
#[derive(Debug, Clone)]
pub struct DecodedFrame {
    pub saliency: Option<SaliencyMap>,
    /// Items (values, or coarse levels and refinement bits in version 3) the encoder sent
    /// (from the header; 0 if the header is cut).
    pub declared: usize,
    /// Symbols in priority order: `levels[i]` belongs to item `order[i]` ([`priority_order`]):
    /// the level of a value (versions 1 and 2; items are then latent indices), or in version 3
    /// a coarse level (stage 0) or a refinement bit.
    pub levels: Vec<u8>,
    pub order: Vec<u32>,
    /// Latent indices of values that were sent but lost on the way (below the declared count
    /// and the decoder's limit, in no packet that arrived); empty for a frame (prefix).
    pub lost: Vec<u32>,
    pub status: FrameStatus,
    pub channels: usize,
}

impl DecodedFrame {
    /// Writes the dequantized latent (`C x h x w`) into `out`; values not received are zero.
    /// A value known to a level interval (version 3, refinement bits missing) takes the
    /// interval's middle.
    pub fn fill_latent(&self, tables: &CodecTables, out: &mut [f32]) {
        out.fill(0.0);
        let plane = out.len() / self.channels.max(1);
        if plane == 0 {
            return;
        }
        let channel_of = ChannelOf::new(plane);
        let q = tables.quantizer();
        if tables.refinement().bits() == 0 {
            for (&index, &level) in self.order.iter().zip(&self.levels) {
                out[index as usize] = q.dequantize(channel_of.of(index), level);
            }
            return;
        }
        for (index, known) in self.known_intervals(tables, out.len()).iter().enumerate() {
            if let Some(interval) = known {
                out[index] = q.dequantize_between(channel_of.of(index as u32), interval);
            }
        }
    }

    /// The level interval each of the `values` latent values is known to: its coarse level's
    /// narrowed by the refinement bits received in sequence (a bit whose earlier stages are
    /// missing tells nothing); `None` where the coarse level (or the value) was not received.
    pub fn known_intervals(&self, tables: &CodecTables, values: usize) -> Vec<Option<Interval>> {
        let refinement = tables.refinement();
        // (interval, stages applied) by latent index.
        let mut known: Vec<Option<(Interval, usize)>> = vec![None; values];
        let per_stage = values.max(1);
        for (&item, &symbol) in self.order.iter().zip(&self.levels) {
            let (stage, index) = (item as usize / per_stage, item as usize % per_stage);
            if stage == 0 {
                known[index] = Some((refinement.interval(symbol), 0));
            } else if let Some((interval, applied)) = known[index] {
                if applied + 1 == stage {
                    known[index] = Some((interval.narrowed(u32::from(symbol)), stage));
                }
            }
        }
        known.into_iter().map(|k| k.map(|(i, _)| i)).collect()
    }

    /// A level for each of the `values` latent values that gives back every item received: the
    /// lowest of its [`Self::known_intervals`] interval (its level, for a whole frame), 0 where
    /// nothing was received. What [`encode_frame`] or [`super::packet::packetize`] need to send
    /// the same items again.
    pub fn levels_by_index(&self, tables: &CodecTables, values: usize) -> Vec<u8> {
        lowest_levels(&self.known_intervals(tables, values))
    }
}

/// The lowest level of each interval, 0 where none is known (see
/// [`DecodedFrame::levels_by_index`]).
pub fn lowest_levels(known: &[Option<Interval>]) -> Vec<u8> {
    known
        .iter()
        .map(|k| k.map_or(0, |interval| interval.lo))
        .collect()
}

/// Decodes at most `max_values` values from `data`, which may be any prefix of a frame.
///
/// Errors only when the frame is not one of this stream (unknown version, wrong stream tag);
/// any cut gives a [`DecodedFrame`] with what the prefix holds.
pub fn decode_frame(
    tables: &CodecTables,
    params: &StreamParams,
    data: &[u8],
    max_values: usize,
) -> Result<DecodedFrame, FrameError> {
    let channels = tables.channels();
    let (h, w) = params.latent_dims();
    let total = channels * h * w;
    let items = tables.items(total);
    let mut frame = DecodedFrame {
        saliency: None,
        declared: 0,
        levels: Vec::new(),
        order: Vec::new(),
        lost: Vec::new(),
        status: FrameStatus::NoSaliency,
        channels,
    };
    if let Some(&version) = data.first() {
        if version != tables.frame_version() {
            return Err(FrameError::UnsupportedVersion {
                found: version,
                expected: tables.frame_version(),
            });
        }
    }
    if let Some(&tag) = data.get(1) {
        if tag != params.tag() {
            return Err(FrameError::WrongStream {
                expected: params.tag(),
                found: tag,
            });
        }
    }
    let count_bytes = data.get(2..).unwrap_or_default();
    let Some((declared, header_len)) = read_leb128(count_bytes) else {
        // Cut inside the count, or a count that never ends: not a frame of this stream.
        if count_bytes.len() >= MAX_COUNT_BYTES {
            return Err(FrameError::CountTooLong);
        }
        return Ok(frame);
    };
    if declared > items as u64 {
        return Err(FrameError::BadCount {
            count: declared,
            total: items,
        });
    }
    frame.declared = declared as usize;
    let mut bits = BitReader::new(&data[2 + header_len..]);
    let Some(saliency) = SaliencyMap::read(&mut bits) else {
        return Ok(frame);
    };
    frame.saliency = Some(saliency);
    let wanted = frame.declared.min(max_values);
    let order = priority_order(&saliency, tables.priority_rule(), h, w);
    frame.status = FrameStatus::Complete;
    if tables.range_coded() {
        let payload = &data[2 + header_len + saliency::ENCODED_BYTES..];
        decode_items(
            tables,
            &mut frame,
            &order[..wanted],
            total,
            h,
            w,
            PrefixDecoder::new(payload),
        );
    } else {
        decode_items(tables, &mut frame, &order[..wanted], total, h, w, bits);
    }
    frame.order = order;
    frame.order.truncate(frame.levels.len());
    Ok(frame)
}

/// Decodes the items of `order` from `source` into `frame` (its levels, and its status when
/// the data ends first).
fn decode_items(
    tables: &CodecTables,
    frame: &mut DecodedFrame,
    order: &[u32],
    total: usize,
    h: usize,
    w: usize,
    mut source: impl ItemSource,
) {
    let Some(saliency) = frame.saliency else {
        return;
    };
    let plane = h * w;
    let channel_of = ChannelOf::new(plane);
    let before = neighbours_sent_before(&saliency, h, w);
    let refinement = tables.refinement();
    // The coded (coarse, from version 3 on) levels by index, for the contexts.
    let mut levels_by_index = vec![0u8; total];
    // From version 3: the interval each value is known to so far.
    let mut intervals =
        vec![Interval { lo: 0, hi: 0 }; if refinement.bits() > 0 { total } else { 0 }];
    frame.levels.reserve(order.len());
    for &item in order {
        if item as usize >= total {
            // A refinement bit: one bit unless the value's level is already known exactly.
            let (stage, index) = (item as usize / total, item as usize % total);
            let interval = intervals[index];
            let bit = if interval.is_exact() {
                0
            } else {
                match source.read_bit(tables, channel_of.of(index as u32), interval, stage) {
                    Some(bit) => bit,
                    None => {
                        frame.status = FrameStatus::Truncated;
                        break;
                    }
                }
            };
            intervals[index] = interval.narrowed(bit);
            frame.levels.push(bit as u8);
            continue;
        }
        let index = item;
        let c = channel_of.of(index);
        let (plane_levels, p) = (
            &mut levels_by_index[c * plane..][..plane],
            index as usize - c * plane,
        );
        let context = context_of(tables, &before, |i| plane_levels[i], p, w);
        match source.read_level(tables, c, context) {
            Some(level) => {
                plane_levels[p] = level;
                frame.levels.push(level);
                if let Some(interval) = intervals.get_mut(index as usize) {
                    *interval = refinement.interval(level);
                }
            }
            None => {
                frame.status = FrameStatus::Truncated;
                break;
            }
        }
    }
}

/// Where a frame's items come from: Huffman codes (versions 1 to 3) or the range coder
/// (version 4). `None`: the data does not hold the item.
trait ItemSource {
    fn read_level(&mut self, tables: &CodecTables, c: usize, context: usize) -> Option<u8>;
    /// The refinement bit of channel `c` that narrows `interval` at `stage`.
    fn read_bit(
        &mut self,
        tables: &CodecTables,
        c: usize,
        interval: Interval,
        stage: usize,
    ) -> Option<u32>;
}

impl ItemSource for BitReader<'_> {
    #[inline]
    fn read_level(&mut self, tables: &CodecTables, c: usize, context: usize) -> Option<u8> {
        tables.code(c, context).decode(self)
    }

    #[inline]
    fn read_bit(&mut self, _: &CodecTables, _: usize, _: Interval, _: usize) -> Option<u32> {
        BitReader::read_bit(self)
    }
}

impl ItemSource for PrefixDecoder<'_> {
    #[inline]
    fn read_level(&mut self, tables: &CodecTables, c: usize, context: usize) -> Option<u8> {
        self.symbol(&tables.channel_frequencies(c)[context])
            .map(|s| s as u8)
    }

    #[inline]
    fn read_bit(
        &mut self,
        tables: &CodecTables,
        c: usize,
        interval: Interval,
        stage: usize,
    ) -> Option<u32> {
        self.bit(tables.refinement_zero(c, interval, stage))
            .map(u32::from)
    }
}

pub(crate) fn write_leb128(out: &mut Vec<u8>, mut v: u64) {
    loop {
        let byte = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

/// Longest value count field (LEB128 of a u32-range count).
const MAX_COUNT_BYTES: usize = 5;

/// (value, bytes used); `None` if the input ends inside the number or it is over 5 bytes.
pub(crate) fn read_leb128(data: &[u8]) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for (i, &b) in data.iter().enumerate().take(MAX_COUNT_BYTES) {
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leb128() {
        for v in [0u64, 1, 127, 128, 9408, 1 << 20] {
            let mut b = Vec::new();
            write_leb128(&mut b, v);
            assert_eq!(read_leb128(&b), Some((v, b.len())));
            assert_eq!(read_leb128(&b[..b.len() - 1]), None);
        }
        assert_eq!(read_leb128(&[0x80; 6]), None);
    }

    #[test]
    fn percentage() {
        assert_eq!(values_for_percentage(9408, 100.0), 9408);
        assert_eq!(values_for_percentage(9408, 20.0), 1881);
        assert_eq!(values_for_percentage(9408, 0.0), 0);
        assert_eq!(values_for_percentage(9408, 250.0), 9408);
        assert_eq!(values_for_percentage(9408, f64::NAN), 9408);
    }

    #[test]
    fn header_bytes_grow_with_the_count_field() {
        assert_eq!(header_bytes(0), 2 + 1 + saliency::ENCODED_BYTES);
        assert_eq!(header_bytes(127), 43);
        assert_eq!(header_bytes(128), 44);
        assert_eq!(header_bytes(12 * 28 * 28), 44);
    }

    #[test]
    fn tag_depends_on_stream() {
        let a = StreamParams {
            width: 224,
            height: 224,
            model_id: "abc".into(),
        };
        let b = StreamParams {
            width: 224,
            height: 225,
            model_id: "abc".into(),
        };
        assert_ne!(a.tag(), b.tag());
        assert_eq!(a.latent_dims(), (28, 28));
        assert_eq!(b.latent_dims(), (29, 28));
        assert_eq!(b.padded_size(), (224, 232));
    }

    /// A 40x24 stream (a 5x3 latent) whose saliency map has one salient cell.
    fn small_stream() -> (StreamParams, SaliencyMap) {
        let params = StreamParams {
            width: 40,
            height: 24,
            model_id: "test".into(),
        };
        let mut map = SaliencyMap::default();
        map.0[9] = 31;
        (params, map)
    }

    /// Frames of version 1 tables (one code per channel) still encode and decode, every prefix
    /// giving the full frame's first values, and a version 2 decoder refuses them.
    #[test]
    fn version_1_frames_round_trip() {
        let v1 = CodecTables::from_json(&crate::codec::tables::tests::version1_json()).unwrap();
        let v2 =
            CodecTables::from_json(include_bytes!("../../../models/limitnet-paper/codec.json"))
                .unwrap();
        let (params, map) = small_stream();
        let (h, w) = params.latent_dims();
        let levels: Vec<u8> = (0..12 * h * w).map(|i| ((i * 37) % 64) as u8).collect();
        for (tables, version) in [(&v1, 1), (&v2, 2)] {
            let data = encode_frame(tables, &params, &map, &levels, levels.len());
            assert_eq!(data[0], version);
            let full = decode_frame(tables, &params, &data, usize::MAX).unwrap();
            assert_eq!(full.status, FrameStatus::Complete);
            for (&i, &q) in full.order.iter().zip(&full.levels) {
                assert_eq!(levels[i as usize], q);
            }
            for cut in 0..data.len() {
                let part = decode_frame(tables, &params, &data[..cut], usize::MAX).unwrap();
                assert_eq!(part.levels[..], full.levels[..part.levels.len()]);
            }
        }
        let v1_frame = encode_frame(&v1, &params, &map, &levels, 10);
        assert_eq!(
            decode_frame(&v2, &params, &v1_frame, usize::MAX).unwrap_err(),
            FrameError::UnsupportedVersion {
                found: 1,
                expected: 2
            }
        );
    }
    /// Version 3 and 4 frames (coarse levels, then refinement bits; Huffman or range coded): the whole frame gives every
    /// level exactly, every prefix gives the whole frame's first items, and what a prefix
    /// leaves of each value is an interval around its level.
    #[test]
    fn version_3_frames_refine_every_prefix() {
        use crate::codec::tables::tests::{with_range_coding, with_refinement};
        for (bits, delay, range_coded) in [
            (1, 0, false),
            (2, 62, false),
            (3, 31, false),
            (2, 31, true),
            (3, 0, true),
        ] {
            let json = if range_coded {
                with_range_coding(bits, delay)
            } else {
                with_refinement(bits, delay)
            };
            let tables = CodecTables::from_json(&json).unwrap();
            let (params, mut map) = small_stream();
            let (h, w) = params.latent_dims();
            let total = 12 * h * w;
            // Zeros, the top level and everything between.
            let levels: Vec<u8> = (0..total)
                .map(|i| [0, 0, 63, ((i * 37) % 64) as u8][i % 4])
                .collect();
            map.0[20] = 12;
            let items = tables.items(total);
            let data = encode_frame(&tables, &params, &map, &levels, items);
            assert_eq!(data[0], if range_coded { 4 } else { 3 });
            let full = decode_frame(&tables, &params, &data, usize::MAX).unwrap();
            assert_eq!(
                (full.status, full.levels.len()),
                (FrameStatus::Complete, items)
            );
            let exact: Vec<Option<Interval>> = levels
                .iter()
                .map(|&q| Some(Interval { lo: q, hi: q }))
                .collect();
            assert_eq!(full.known_intervals(&tables, total), exact);
            let mut latent = vec![0.0; total];
            full.fill_latent(&tables, &mut latent);
            for (i, &q) in levels.iter().enumerate() {
                assert_eq!(latent[i], tables.quantizer().dequantize(i / (h * w), q));
            }
            let mut previous = 0;
            for cut in 0..=data.len() {
                let part = decode_frame(&tables, &params, &data[..cut], usize::MAX).unwrap();
                assert_eq!(part.levels[..], full.levels[..part.levels.len()]);
                assert_eq!(part.order[..], full.order[..part.levels.len()]);
                assert!(part.levels.len() >= previous);
                previous = part.levels.len();
                for (known, &q) in part.known_intervals(&tables, total).iter().zip(&levels) {
                    if let Some(interval) = known {
                        assert!(interval.lo <= q && q <= interval.hi);
                    }
                }
            }
            // A count below the items codes exactly that many; a count above them is refused.
            let cut = encode_frame(&tables, &params, &map, &levels, items / 2);
            let part = decode_frame(&tables, &params, &cut, usize::MAX).unwrap();
            assert_eq!(part.levels[..], full.levels[..items / 2]);
            let mut too_many = data.clone();
            too_many.splice(2..4, [0xff, 0x7f]);
            assert!(matches!(
                decode_frame(&tables, &params, &too_many, usize::MAX),
                Err(FrameError::BadCount { .. })
            ));
        }
    }

    /// One [`FrameEncoder`] coding frames of changing sizes and saliency gives exactly the
    /// bytes of a fresh [`encode_frame`] each time (its reused buffers carry nothing over).
    #[test]
    fn reused_frame_encoder_matches_encode_frame() {
        let tables =
            CodecTables::from_json(include_bytes!("../../../models/limitnet-paper/codec.json"))
                .unwrap();
        let mut encoder = FrameEncoder::default();
        for (i, (width, height)) in [(224, 224), (40, 24), (8, 8), (250, 190), (40, 24)]
            .into_iter()
            .enumerate()
        {
            let params = StreamParams {
                width,
                height,
                model_id: "test".into(),
            };
            let (h, w) = params.latent_dims();
            let levels: Vec<u8> = (0..12 * h * w).map(|j| ((j * 37 + i) % 64) as u8).collect();
            let mut map = SaliencyMap::default();
            for (cell, s) in map.0.iter_mut().enumerate() {
                *s = ((cell * 7 + i * 5) % 32) as u8;
            }
            for count in [levels.len(), levels.len() / 3] {
                assert_eq!(
                    encoder.encode(&tables, &params, &map, &levels, count),
                    encode_frame(&tables, &params, &map, &levels, count),
                    "{width}x{height}, {count} values"
                );
            }
        }
    }

    /// A frame coded only up to a byte budget is the whole frame cut there, for budgets below,
    /// at and above the frame's size, in the layouts of limitnet-lite and limitnet-layered.
    #[test]
    fn encode_within_is_the_whole_frame_cut() {
        for codec in [
            &include_bytes!("../../../models/limitnet-lite/codec.json")[..],
            &include_bytes!("../../../models/limitnet-layered/codec.json")[..],
        ] {
            let tables = CodecTables::from_json(codec).unwrap();
            let params = StreamParams {
                width: 224,
                height: 224,
                model_id: "test".into(),
            };
            let (h, w) = params.latent_dims();
            let channels = tables.channels();
            let levels: Vec<u8> = (0..channels * h * w)
                .map(|j| ((j * 37 / 5) % 64) as u8)
                .collect();
            let mut map = SaliencyMap::default();
            for (cell, s) in map.0.iter_mut().enumerate() {
                *s = ((cell * 7) % 32) as u8;
            }
            let items = tables.items(levels.len());
            let whole = encode_frame(&tables, &params, &map, &levels, items);
            let mut encoder = FrameEncoder::default();
            for max_bytes in [
                0,
                1,
                45,
                46,
                300,
                1024,
                4099,
                whole.len() - 1,
                whole.len(),
                usize::MAX,
            ] {
                let cut = &whole[..whole.len().min(max_bytes)];
                assert_eq!(
                    encoder.encode_within(&tables, &params, &map, &levels, items, max_bytes),
                    cut,
                    "{channels} channels, {max_bytes} bytes"
                );
            }
        }
    }
}
