//! Packets: a frame's values split into packets of at most N bytes, each decodable on its own
//! (docs/bitstream.md "Packets"), for links that lose packets from the middle of a frame.
//!
//! A frame becomes one or more *header packets* (copies of the frame header: version, stream
//! tag, value count and saliency map, which define the order) and *values packets*, each holding
//! the values of a rank pattern (`first, first + stride, ...`) with its own entropy-coding
//! contexts: a value's neighbours count as known only when they were coded earlier in the same
//! packet, so any subset of a frame's packets decodes to exactly the values those packets carry.

#[allow(unused_imports)]
use crate::codec::prelude::*;

use super::FrameError;
use super::bits::{BitReader, BitWriter};
use super::frame::{
    DecodedFrame, FrameStatus, StreamParams, read_leb128, write_frame_header, write_leb128,
};
use super::order::{ChannelOf, priority_order};
use super::saliency::{self, SaliencyMap};
use super::tables::CodecTables;

/// Packet byte 0, bit 7: set in values packets, clear in header packets.
const VALUES_FLAG: u8 = 0x80;
/// Values packet byte 0, bit 6: a stride follows the first rank (an interleaved packet).
const STRIDE_FLAG: u8 = 0x40;
/// Byte 0, bits 5-3: the frame number modulo 8.
const FRAME_SHIFT: u32 = 3;
const FRAME_MASK: u8 = 0x07;
/// Values packet byte 0, bits 2-0: padding bits at the end of the last byte.
const PAD_MASK: u8 = 0x07;
/// Header packet byte 0: everything but the frame number must be zero.
const HEADER_RESERVED: u8 = !(FRAME_MASK << FRAME_SHIFT);

/// Longest LEB128 rank or stride in a values packet (a u32).
const MAX_RANK_BYTES: usize = 5;

/// How a frame is split into packets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketOptions {
    /// Largest packet in bytes (a LoRaWAN payload, an RTP MTU minus its 12-byte header).
    pub max_packet: usize,
    /// Header packets sent per frame (1..=8): a frame whose header packets are all lost decodes
    /// to nothing. Copies are spread over the frame's packets, so a burst loses fewer of them.
    pub header_copies: usize,
    /// 1: each values packet carries consecutive ranks (a loss removes a run of values of
    /// similar priority; a tail cut keeps the most important ones). G > 1: groups of G packets
    /// share a run of ranks round-robin (a loss thins the run instead of emptying a part of it,
    /// at the cost of the neighbour contexts, which rarely fall into the same packet).
    pub interleave: usize,
    /// Bytes of values packets, from the start of the priority order, sent twice: the values
    /// packets whose running total stays within it get a copy, placed among the later packets
    /// (far from the original, so that a burst rarely takes both). A receiver decodes a copy
    /// like the original and needs nothing new; at 20 % independent loss a protected value is
    /// lost with a 4 % chance instead of 20 %. 0: no copies.
    pub protect: usize,
    /// The frame's number, of which packets carry the last 3 bits so that a receiver without
    /// RTP tells consecutive frames apart.
    pub frame_number: u32,
}

impl Default for PacketOptions {
    fn default() -> Self {
        Self {
            max_packet: 51,
            header_copies: 2,
            interleave: 1,
            protect: 0,
            frame_number: 0,
        }
    }
}

/// Why a frame cannot be split into packets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PacketError {
    /// The packet size cannot hold the header packet (or one value with its packet header).
    TooSmall { max_packet: usize, needed: usize },
    /// The frame is not one of this stream.
    Frame(FrameError),
    /// The frame is cut before the end of its saliency map: it has nothing to send.
    NoSaliency,
    /// `levels` does not hold one level per latent value of the stream.
    LatentSize { expected: usize, got: usize },
}

impl core::fmt::Display for PacketError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::TooSmall { max_packet, needed } => write!(
                f,
                "packets of {max_packet} bytes are too small: this stream's header packet needs {needed}"
            ),
            Self::Frame(e) => e.fmt(f),
            Self::NoSaliency => write!(f, "the frame is cut before the end of its saliency map"),
            Self::LatentSize { expected, got } => write!(
                f,
                "{got} levels given for a latent of {expected} values (one level per value, not per item)"
            ),
        }
    }
}

impl core::error::Error for PacketError {}

impl From<FrameError> for PacketError {
    fn from(e: FrameError) -> Self {
        Self::Frame(e)
    }
}

/// The neighbour contexts inside one packet: the one rule encoder and decoder share. A value's
/// left and upper neighbours (same channel) are known when they were coded earlier in the same
/// packet, which also means they come earlier in the priority order.
struct PacketContexts {
    /// Per latent index: the serial of the packet that last coded it (0: none yet).
    coded_in: Vec<u32>,
    /// Per latent index: its level, valid where `coded_in` is the packet asked about.
    levels: Vec<u8>,
    last_serial: u32,
    /// Per packet serial - 1: the latent index coded last in it.
    last_coded: Vec<Option<usize>>,
    plane: usize,
    w: usize,
}

impl PacketContexts {
    fn new(total: usize, plane: usize, w: usize) -> Self {
        Self {
            coded_in: vec![0; total],
            levels: vec![0; total],
            last_serial: 0,
            last_coded: Vec::new(),
            plane,
            w,
        }
    }

    /// The serial of a new packet, in which nothing is known yet.
    fn new_packet(&mut self) -> u32 {
        self.last_serial += 1;
        self.last_coded.push(None);
        self.last_serial
    }

    /// The context of latent value `index` in packet `serial`. In an interleaved packet
    /// (`stride > 1`) the left neighbour is rarely in the packet: the value coded just before
    /// in the packet, if of the same channel, stands in for it.
    fn context(&self, tables: &CodecTables, index: usize, serial: u32, stride: usize) -> usize {
        let p = index % self.plane;
        let known = |i: usize| (self.coded_in[i] == serial).then(|| self.levels[i]);
        let left = if stride > 1 {
            self.last_coded[serial as usize - 1]
                .filter(|&i| i / self.plane == index / self.plane)
                .map(|i| self.levels[i])
        } else if p % self.w > 0 {
            known(index - 1)
        } else {
            None
        };
        let up = if p >= self.w {
            known(index - self.w)
        } else {
            None
        };
        tables.context(left, up)
    }

    fn record(&mut self, index: usize, level: u8, serial: u32) {
        self.coded_in[index] = serial;
        self.levels[index] = level;
        self.last_coded[serial as usize - 1] = Some(index);
    }
}

/// The header packet of a frame: byte 0 (frame number), then the frame header exactly as in a
/// frame (version, stream tag, value count, saliency map).
pub fn header_packet(
    tables: &CodecTables,
    params: &StreamParams,
    saliency: &SaliencyMap,
    count: usize,
    frame_number: u32,
) -> Vec<u8> {
    let byte0 = (frame_number as u8 & FRAME_MASK) << FRAME_SHIFT;
    write_frame_header(tables, params, saliency, count, vec![byte0]).finish()
}

/// Splits a frame's first `count` values in priority order (`levels`: the quantized latent,
/// `C x h x w`) into packets of at most `options.max_packet` bytes: values packets in priority
/// order, with the header packets spread among them (the first one first).
pub fn packetize(
    tables: &CodecTables,
    params: &StreamParams,
    saliency: &SaliencyMap,
    levels: &[u8],
    count: usize,
    options: &PacketOptions,
) -> Result<Vec<Vec<u8>>, PacketError> {
    let (h, w) = params.latent_dims();
    let total = tables.channels() * h * w;
    if levels.len() != total {
        return Err(PacketError::LatentSize {
            expected: total,
            got: levels.len(),
        });
    }
    let count = count.min(tables.items(total));
    let refinement = tables.refinement();
    let header = header_packet(tables, params, saliency, count, options.frame_number);
    // A values packet needs its byte 0, a rank, a stride and one code of up to 15 bits.
    let needed = header.len().max(1 + 2 * MAX_RANK_BYTES + 2);
    if options.max_packet < needed {
        return Err(PacketError::TooSmall {
            max_packet: options.max_packet,
            needed,
        });
    }
    let order = priority_order(saliency, tables.priority_rule(), h, w);
    let order = &order[..count];
    let stride = options.interleave.max(1);
    let frame_bits = (options.frame_number as u8 & FRAME_MASK) << FRAME_SHIFT;
    let channel_of = ChannelOf::new(h * w);
    let mut contexts = PacketContexts::new(total, h * w, w);
    let mut values = Vec::new();
    let mut start = 0;
    while start < count {
        // One group: `stride` packets sharing the ranks from `start` round-robin, packet `j`
        // holding `start + j, start + j + stride, ...`, up to the first value that does not fit.
        let mut group: Vec<(BitWriter, usize, usize, u32)> = (0..stride.min(count - start))
            .map(|j| {
                let mut head = vec![VALUES_FLAG | frame_bits];
                write_leb128(&mut head, (start + j) as u64);
                if stride > 1 {
                    head[0] |= STRIDE_FLAG;
                    write_leb128(&mut head, stride as u64);
                }
                let budget = (options.max_packet - head.len()) * 8;
                (BitWriter::with_buffer(head), budget, 0, 0)
            })
            .collect();
        let mut end = start;
        while end < count {
            let j = (end - start) % stride;
            let (bits, budget, used, serial) = &mut group[j];
            if *serial == 0 {
                *serial = contexts.new_packet();
            }
            let item = order[end] as usize;
            let (index, stage) = (item % total, item / total);
            let q = levels[index];
            let (code, len, coarse) = if stage == 0 {
                let coarse = refinement.coarse(q);
                let c = channel_of.of(index as u32);
                let (code, len) = tables
                    .code(c, contexts.context(tables, index, *serial, stride))
                    .code(coarse);
                (code, len, Some(coarse))
            } else {
                // A refinement bit is always one bit in a packet (0 when the value's level is
                // already known exactly): its receiver may not have the coarse level.
                // (`bit_of` is 0 for an exact interval: q is its lowest level.)
                let bit = refinement.interval_before(q, stage).bit_of(q);
                (bit, 1, None)
            };
            if *used + usize::from(len) > *budget {
                break;
            }
            bits.write(code, u32::from(len));
            *used += usize::from(len);
            if let Some(coarse) = coarse {
                contexts.record(index, coarse, *serial);
            }
            end += 1;
        }
        for (bits, _, used, serial) in group {
            if serial == 0 {
                continue; // no value of this group's run fell into it
            }
            let pad = ((8 - used % 8) % 8) as u8;
            let mut packet = bits.finish();
            packet[0] |= pad;
            values.push(packet);
        }
        start = end;
    }
    let copies = values[..protected_count(&values, options.protect)].to_vec();
    let packets = with_header_copies(header, values, options.header_copies);
    Ok(with_protected_copies(packets, copies))
}

/// Whether `packet` is a values packet (not a header packet, not empty).
fn is_values_packet(packet: &[u8]) -> bool {
    packet.first().is_some_and(|b| b & VALUES_FLAG != 0)
}

/// How many leading values packets fit into `protect` bytes.
fn protected_count(values: &[Vec<u8>], protect: usize) -> usize {
    let mut total = 0;
    values
        .iter()
        .take_while(|p| {
            total += p.len();
            total <= protect
        })
        .count()
}

/// `packets` with `copies` (of its first values packets) spread evenly over the packets after
/// the last protected original (at the end if there are none): a copy is then as far from its
/// original as the frame allows, in the same order.
fn with_protected_copies(packets: Vec<Vec<u8>>, copies: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    let protected = copies.len();
    if protected == 0 {
        return packets;
    }
    // Index just after the last protected original.
    let mut seen = 0;
    let split = packets
        .iter()
        .position(|p| {
            seen += usize::from(is_values_packet(p));
            seen == protected
        })
        .map_or(packets.len(), |i| i + 1);
    let rest = packets.len() - split;
    let mut out = Vec::with_capacity(packets.len() + copies.len());
    let mut copies = copies.into_iter().enumerate().peekable();
    for (i, packet) in packets.into_iter().enumerate() {
        if i >= split {
            // Copy k goes before packet split + floor(k * rest / protected).
            while let Some((_, copy)) = copies.next_if(|(k, _)| split + k * rest / protected <= i) {
                out.push(copy);
            }
        }
        out.push(packet);
    }
    out.extend(copies.map(|(_, copy)| copy));
    out
}

/// [`packetize`] for an encoded frame (or any prefix of one): the values it carries, in packets.
/// Errors when the frame is not one of this stream, or cut before its saliency map (nothing to
/// send), or when the packets are too small.
pub fn packetize_frame(
    tables: &CodecTables,
    params: &StreamParams,
    frame: &[u8],
    options: &PacketOptions,
) -> Result<Vec<Vec<u8>>, PacketError> {
    let decoded = super::decode_frame(tables, params, frame, usize::MAX)?;
    let saliency = decoded.saliency.ok_or(PacketError::NoSaliency)?;
    let (h, w) = params.latent_dims();
    let levels = decoded.levels_by_index(tables, tables.channels() * h * w);
    packetize(
        tables,
        params,
        &saliency,
        &levels,
        decoded.levels.len(),
        options,
    )
}

/// The frame number (modulo 8) a packet belongs to, if it has a first byte.
pub fn frame_number_of(packet: &[u8]) -> Option<u8> {
    packet.first().map(|b| (b >> FRAME_SHIFT) & FRAME_MASK)
}

/// `values` with `copies` (1..=8) header packets: one first, the others spread evenly.
fn with_header_copies(header: Vec<u8>, values: Vec<Vec<u8>>, copies: usize) -> Vec<Vec<u8>> {
    let copies = copies.clamp(1, 8);
    let n = values.len();
    let mut out = Vec::with_capacity(n + copies);
    let mut placed = 0;
    for (i, packet) in values.into_iter().enumerate() {
        // Copy k goes before values packet floor(k * n / copies).
        while placed < copies && placed * n / copies <= i {
            out.push(header.clone());
            placed += 1;
        }
        out.push(packet);
    }
    while placed < copies {
        out.push(header.clone());
        placed += 1;
    }
    out
}

/// What [`decode_packets`] made of a frame's packets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PacketStats {
    pub header_packets: usize,
    pub values_packets: usize,
    /// Packets not used: malformed, another frame's (frame number), claiming values beyond the
    /// frame, header packets that disagree with the first one, or cut short in a packet set.
    pub dropped: usize,
}

/// The parts of a values packet: frame number, padding bits, first rank, stride, codes.
fn parse_values_packet(packet: &[u8]) -> Option<(u8, usize, usize, usize, &[u8])> {
    let byte0 = *packet.first()?;
    let (first, n) = read_leb128(&packet[1..])?;
    let mut at = 1 + n;
    let stride = if byte0 & STRIDE_FLAG != 0 {
        let (stride, n) = read_leb128(&packet[at..])?;
        at += n;
        stride
    } else {
        1
    };
    if stride == 0 {
        return None;
    }
    Some((
        (byte0 >> FRAME_SHIFT) & FRAME_MASK,
        usize::from(byte0 & PAD_MASK),
        usize::try_from(first).ok()?,
        usize::try_from(stride).ok()?,
        &packet[at..],
    ))
}

/// The header of a header packet: (frame number, value count, saliency map); `Ok(None)` when
/// it is malformed or cut short.
fn parse_header_packet(
    tables: &CodecTables,
    params: &StreamParams,
    packet: &[u8],
    total: usize,
) -> Result<Option<(u8, usize, SaliencyMap)>, FrameError> {
    let Some(&byte0) = packet.first() else {
        return Ok(None);
    };
    if byte0 & HEADER_RESERVED != 0 || packet.len() < 3 {
        return Ok(None);
    }
    if packet[1] != tables.frame_version() {
        return Err(FrameError::UnsupportedVersion {
            found: packet[1],
            expected: tables.frame_version(),
        });
    }
    if packet[2] != params.tag() {
        return Err(FrameError::WrongStream {
            expected: params.tag(),
            found: packet[2],
        });
    }
    let Some((count, n)) = read_leb128(&packet[3..]) else {
        return Ok(None);
    };
    if count > total as u64 {
        return Err(FrameError::BadCount { count, total });
    }
    let mut bits = BitReader::new(&packet[3 + n..]);
    let Some(map) = SaliencyMap::read(&mut bits) else {
        return Ok(None);
    };
    // Exactly the map and its padding: anything else is not a header packet of this format.
    if packet.len() != 3 + n + saliency::ENCODED_BYTES {
        return Ok(None);
    }
    Ok(Some((
        (byte0 >> FRAME_SHIFT) & FRAME_MASK,
        count as usize,
        map,
    )))
}

/// Decodes whatever packets of one frame arrived, in any order, duplicates included. Values not
/// carried by a usable packet are missing (zero in the latent), and at most the first
/// `max_values` ranks are used. Errors only when every header packet is of another stream;
/// without a usable header packet nothing can be placed and the frame has no saliency map.
pub fn decode_packets<'a>(
    tables: &CodecTables,
    params: &StreamParams,
    packets: impl IntoIterator<Item = &'a [u8]> + Clone,
    max_values: usize,
) -> Result<(DecodedFrame, PacketStats), FrameError> {
    let channels = tables.channels();
    let (h, w) = params.latent_dims();
    let total = channels * h * w;
    let mut stats = PacketStats::default();
    let mut frame = DecodedFrame {
        saliency: None,
        declared: 0,
        levels: Vec::new(),
        order: Vec::new(),
        lost: Vec::new(),
        status: FrameStatus::NoSaliency,
        channels,
    };
    // The first usable header packet defines the frame; a copy that differs is dropped.
    let mut header: Option<(u8, usize, SaliencyMap)> = None;
    let mut refusal = None;
    for packet in packets.clone() {
        if packet.first().is_none_or(|b| b & VALUES_FLAG != 0) {
            continue;
        }
        match parse_header_packet(tables, params, packet, tables.items(total)) {
            Ok(Some(parsed)) if header.is_none() || header == Some(parsed) => {
                header = Some(parsed);
                stats.header_packets += 1;
            }
            Ok(_) => stats.dropped += 1,
            Err(e) => {
                stats.dropped += 1;
                refusal.get_or_insert(e);
            }
        }
    }
    let Some((frame_number, count, saliency)) = header else {
        stats.dropped += packets.into_iter().filter(|p| is_values_packet(p)).count();
        return match refusal {
            Some(e) => Err(e),
            None => Ok((frame, stats)),
        };
    };
    frame.saliency = Some(saliency);
    frame.declared = count;
    let order = priority_order(&saliency, tables.priority_rule(), h, w);
    let usable = count.min(max_values);
    let channel_of = ChannelOf::new(h * w);
    let mut contexts = PacketContexts::new(total, h * w, w);
    let mut received: Vec<Option<u8>> = vec![None; usable];
    let mut values = Vec::new(); // (rank, level) of the packet being decoded
    for packet in packets {
        match packet.first() {
            None => {
                stats.dropped += 1;
                continue;
            }
            Some(b) if b & VALUES_FLAG == 0 => continue,
            Some(_) => {}
        }
        let Some((number, pad, first, stride, codes)) = parse_values_packet(packet) else {
            stats.dropped += 1;
            continue;
        };
        if number != frame_number || first >= count {
            stats.dropped += 1;
            continue;
        }
        let serial = contexts.new_packet();
        values.clear();
        let mut bits = BitReader::new(codes);
        let mut rank = first;
        let mut valid = true;
        while bits.bits_left() > pad {
            if rank >= count {
                valid = false; // claims values beyond the frame
                break;
            }
            let item = order[rank] as usize;
            let level = if item >= total {
                // A refinement bit (version 3): one bit.
                let Some(bit) = bits.read_bit() else {
                    valid = false;
                    break;
                };
                bit as u8
            } else {
                let c = channel_of.of(item as u32);
                let Some(level) = tables
                    .code(c, contexts.context(tables, item, serial, stride))
                    .decode(&mut bits)
                else {
                    valid = false;
                    break;
                };
                contexts.record(item, level, serial);
                level
            };
            values.push((rank, level));
            rank += stride;
        }
        // The codes must end exactly at the padding, which is all 1 bits.
        if !valid
            || bits.bits_left() != pad
            || bits.read(pad as u32) != Some((1 << pad) - 1)
            || values.is_empty()
        {
            stats.dropped += 1;
            continue;
        }
        stats.values_packets += 1;
        for &(rank, level) in &values {
            if let Some(slot) = received.get_mut(rank) {
                slot.get_or_insert(level);
            }
        }
    }
    for (rank, level) in received.iter().enumerate() {
        match *level {
            Some(level) => {
                frame.order.push(order[rank]);
                frame.levels.push(level);
            }
            None => frame.lost.push(order[rank]),
        }
    }
    frame.status = if frame.levels.len() == usable {
        FrameStatus::Complete
    } else {
        FrameStatus::Truncated
    };
    Ok((frame, stats))
}

/// How [`conceal_holes`] treats values lost from the middle of a frame.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Concealment {
    /// Lost values stay zero, like values never sent.
    Zero,
    /// Lost values take the mean of their known neighbours in the same channel, filled in
    /// passes from the edges of each hole inwards, then smoothed ([`SMOOTHING_PASSES`]).
    #[default]
    Interpolate,
}

/// Passes of neighbour averaging over the concealed values after they are filled in, so that
/// a hole's fill is smooth rather than copied in from its edges. Chosen on validation frames
/// (20 frames of the demo clip between the evaluation's, and the 3 test photos): 0 passes
/// gave 20.10 dB at 20 % loss of 51-byte packets, 20 gave 20.27, 100 gave 20.28.
pub const SMOOTHING_PASSES: usize = 20;

/// Conceals the values of `frame` lost on the way ([`DecodedFrame::lost`]) in `latent`
/// (`C x h x w`, already filled by [`DecodedFrame::fill_latent`]). Values never sent stay zero.
pub fn conceal_holes(
    frame: &DecodedFrame,
    h: usize,
    w: usize,
    mode: Concealment,
    latent: &mut [f32],
) {
    if frame.lost.is_empty() {
        return; // nothing lost: a frame (prefix), or every packet arrived
    }
    let plane = h * w;
    // 0: not received (stays zero), 1: received (or concealed), 2: lost.
    let mut state = vec![0u8; frame.channels * plane];
    // Items beyond the latent are refinement bits (version 3): a value whose coarse level
    // arrived is known, whatever became of its refinement bits.
    for &index in &frame.order {
        if let Some(s) = state.get_mut(index as usize) {
            *s = 1;
        }
    }
    for &index in &frame.lost {
        if let Some(s) = state.get_mut(index as usize) {
            *s = 2;
        }
    }
    match mode {
        Concealment::Zero => {}
        Concealment::Interpolate => {
            let holes: Vec<usize> = frame
                .lost
                .iter()
                .map(|&i| i as usize)
                .filter(|&i| i < state.len())
                .collect();
            let neighbours = |i: usize| {
                let p = i % plane;
                let (y, x) = (p / w, p % w);
                [
                    (x > 0).then(|| i - 1),
                    (x + 1 < w).then(|| i + 1),
                    (y > 0).then(|| i - w),
                    (y + 1 < h).then(|| i + w),
                ]
            };
            // Onion peeling: each pass fills the holes next to known values.
            let mut fill = Vec::new();
            loop {
                fill.clear();
                for &i in &holes {
                    if state[i] != 2 {
                        continue;
                    }
                    let (mut sum, mut n) = (0.0, 0);
                    for j in neighbours(i).into_iter().flatten() {
                        if state[j] == 1 {
                            sum += latent[j];
                            n += 1;
                        }
                    }
                    if n > 0 {
                        fill.push((i, sum / n as f32));
                    }
                }
                if fill.is_empty() {
                    break;
                }
                for &(i, v) in &fill {
                    latent[i] = v;
                    state[i] = 1;
                }
            }
            for _ in 0..SMOOTHING_PASSES {
                for &i in &holes {
                    let (mut sum, mut n) = (0.0, 0);
                    for j in neighbours(i).into_iter().flatten() {
                        if state[j] == 1 {
                            sum += latent[j];
                            n += 1;
                        }
                    }
                    if n > 0 {
                        latent[i] = sum / n as f32;
                    }
                }
            }
        }
    }
}

/// A packet set (`stream-format=packets`, what a depayloader hands the decoder): each packet
/// preceded by its length as u16 little-endian.
pub fn push_to_set(set: &mut Vec<u8>, packet: &[u8]) {
    let len = u16::try_from(packet.len()).expect("packets are at most 65535 bytes");
    set.extend_from_slice(&len.to_le_bytes());
    set.extend_from_slice(packet);
}

/// The packets of a packet set; a record cut short at the end is left out (and counted by
/// [`set_is_whole`] being false).
pub fn packets_of_set(set: &[u8]) -> impl Iterator<Item = &[u8]> + Clone {
    let mut rest = set;
    core::iter::from_fn(move || {
        let len = usize::from(u16::from_le_bytes(rest.get(..2)?.try_into().ok()?));
        let packet = rest.get(2..2 + len)?;
        rest = &rest[2 + len..];
        Some(packet)
    })
}

/// Whether a packet set ends exactly after its last whole packet.
pub fn set_is_whole(set: &[u8]) -> bool {
    let used: usize = packets_of_set(set).map(|p| 2 + p.len()).sum();
    used == set.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::decode_frame;
    use crate::codec::frame::encode_frame;

    /// Version 2 tables (values whole), which these tests' value checks assume; version 3 has
    /// its own test (`version_3_packets_carry_items`).
    fn tables() -> CodecTables {
        CodecTables::from_json(include_bytes!("../../../models/limitnet-paper/codec.json")).unwrap()
    }

    fn frame_of(width: u32, height: u32, seed: usize) -> (StreamParams, SaliencyMap, Vec<u8>) {
        let params = StreamParams {
            width,
            height,
            model_id: "test".into(),
        };
        let (h, w) = params.latent_dims();
        // Smooth planes with some noise, like real latents (neighbour contexts matter).
        let levels = (0..12 * h * w)
            .map(|i| {
                let (y, x) = ((i / w) % h, i % w);
                ((32 + (y * 3 + x * 2 + seed) % 9 + (i * 7919 + seed) % 5) % 64) as u8
            })
            .collect();
        let mut map = SaliencyMap::default();
        for (cell, s) in map.0.iter_mut().enumerate() {
            *s = ((cell * 13 + seed) % 32) as u8;
        }
        (params, map, levels)
    }

    /// All of `packets`, decoded (every rank of the frame allowed).
    fn decode_all(
        tables: &CodecTables,
        params: &StreamParams,
        packets: &[Vec<u8>],
    ) -> (DecodedFrame, PacketStats) {
        decode_packets(
            tables,
            params,
            packets.iter().map(Vec::as_slice),
            usize::MAX,
        )
        .unwrap()
    }

    /// The values of `levels` at the decoded positions, by index.
    fn check_values(frame: &DecodedFrame, levels: &[u8]) {
        for (&i, &q) in frame.order.iter().zip(&frame.levels) {
            assert_eq!(levels[i as usize], q, "value {i}");
        }
    }

    #[test]
    fn all_packets_give_the_whole_frame() {
        let tables = tables();
        for interleave in [1, 3] {
            let (params, map, levels) = frame_of(224, 224, interleave);
            let options = PacketOptions {
                interleave,
                ..PacketOptions::default()
            };
            let packets =
                packetize(&tables, &params, &map, &levels, levels.len(), &options).unwrap();
            assert!(packets.iter().all(|p| p.len() <= 51));
            let (frame, stats) = decode_all(&tables, &params, &packets);
            assert_eq!(frame.status, FrameStatus::Complete);
            assert_eq!(frame.levels.len(), levels.len());
            assert_eq!(stats.dropped, 0);
            assert_eq!(stats.header_packets, 2);
            check_values(&frame, &levels);
            // The same values, in the same order, as the one-prefix frame.
            let data = encode_frame(&tables, &params, &map, &levels, levels.len());
            let whole = decode_frame(&tables, &params, &data, usize::MAX).unwrap();
            assert_eq!(whole.order, frame.order);
            assert_eq!(whole.levels, frame.levels);
        }
    }

    /// Every subset of a small frame's packets decodes to exactly the values those packets
    /// carry, whatever the packet order.
    #[test]
    fn levels_of_another_latent_size_are_an_error() {
        let tables = tables();
        let (params, map, levels) = frame_of(64, 40, 1);
        let short = &levels[..levels.len() - 1];
        let result = packetize(
            &tables,
            &params,
            &map,
            short,
            short.len(),
            &PacketOptions::default(),
        );
        assert_eq!(
            result.unwrap_err(),
            PacketError::LatentSize {
                expected: levels.len(),
                got: levels.len() - 1
            }
        );
    }

    #[test]
    fn every_subset_decodes_to_its_values() {
        let tables = tables();
        for interleave in [1, 2] {
            let (params, map, levels) = frame_of(64, 40, interleave);
            let options = PacketOptions {
                max_packet: 48,
                header_copies: 1,
                interleave,
                protect: 0,
                frame_number: 5,
            };
            let packets =
                packetize(&tables, &params, &map, &levels, levels.len(), &options).unwrap();
            let n = packets.len();
            assert!((5..=13).contains(&n), "{n} packets");
            // What each packet carries, from decoding it with the header alone.
            let carried: Vec<Vec<u32>> = packets
                .iter()
                .map(|p| {
                    let (f, _) =
                        decode_packets(&tables, &params, [&packets[0][..], p], usize::MAX).unwrap();
                    f.order
                })
                .collect();
            for subset in 0u32..(1 << n) {
                let chosen: Vec<&[u8]> = (0..n)
                    .rev() // reversed: order must not matter
                    .filter(|&k| subset & (1 << k) != 0)
                    .map(|k| &packets[k][..])
                    .collect();
                let (frame, _) =
                    decode_packets(&tables, &params, chosen.iter().copied(), usize::MAX).unwrap();
                if subset & 1 == 0 {
                    assert!(frame.saliency.is_none() && frame.levels.is_empty());
                    continue;
                }
                let mut expected: Vec<u32> = (0..n)
                    .filter(|&k| subset & (1 << k) != 0)
                    .flat_map(|k| carried[k].iter().copied())
                    .collect();
                expected.sort_unstable();
                expected.dedup();
                let mut got = frame.order.clone();
                got.sort_unstable();
                assert_eq!(got, expected, "subset {subset:#b}");
                check_values(&frame, &levels);
            }
        }
    }

    /// Version 3 (coarse levels, then refinement bits): all packets give the one-prefix
    /// frame's items; any subset gives the items its packets carry, and each value's interval
    /// (refinement bits whose coarse level or earlier bits were lost tell nothing) holds its
    /// level; a re-packetized frame prefix carries the same items.
    #[test]
    fn version_3_packets_carry_items() {
        use crate::codec::tables::tests::{with_range_coding, with_refinement};
        // Version 4 (range coded frames) packets are version 3's: Huffman codes.
        for (json, interleave) in [
            (with_refinement(2, 62), 1),
            (with_refinement(2, 62), 3),
            (with_range_coding(2, 31), 1),
            (with_range_coding(2, 31), 3),
        ] {
            let tables = CodecTables::from_json(&json).unwrap();
            let (params, map, levels) = frame_of(96, 64, interleave);
            let levels: Vec<u8> = levels
                .iter()
                .enumerate()
                .map(|(i, &q)| if i % 3 == 0 { 0 } else { q })
                .collect();
            let items = tables.items(levels.len());
            let options = PacketOptions {
                interleave,
                ..PacketOptions::default()
            };
            let packets = packetize(&tables, &params, &map, &levels, items, &options).unwrap();
            let (frame, stats) = decode_all(&tables, &params, &packets);
            assert_eq!((frame.status, stats.dropped), (FrameStatus::Complete, 0));
            let data = encode_frame(&tables, &params, &map, &levels, items);
            let whole = decode_frame(&tables, &params, &data, usize::MAX).unwrap();
            assert_eq!((&whole.order, &whole.levels), (&frame.order, &frame.levels));
            // Every third values packet lost.
            let mut k = 0;
            let kept: Vec<Vec<u8>> = packets
                .iter()
                .filter(|p| {
                    k += usize::from(is_values_packet(p));
                    !is_values_packet(p) || k % 3 != 0
                })
                .cloned()
                .collect();
            let (part, _) = decode_all(&tables, &params, &kept);
            assert!(part.levels.len() < items && !part.lost.is_empty());
            let mut exact = 0;
            let known = part.known_intervals(&tables, levels.len());
            for (known, &q) in known.iter().zip(&levels) {
                if let Some(interval) = known {
                    assert!(interval.lo <= q && q <= interval.hi);
                    exact += usize::from(interval.is_exact());
                }
            }
            assert!(exact > 0);
            // A frame prefix, packetized again: the same items.
            let prefix = &data[..data.len() / 2];
            let cut = decode_frame(&tables, &params, prefix, usize::MAX).unwrap();
            let repacked = packetize_frame(&tables, &params, prefix, &options).unwrap();
            let (again, _) = decode_all(&tables, &params, &repacked);
            assert_eq!((&again.order, &again.levels), (&cut.order, &cut.levels));
        }
    }

    /// Tables of fewer levels (here 32) code frames and packets alike, bit-exactly.
    #[test]
    fn fewer_levels_code_the_same_way() {
        let tables = CodecTables::from_json(&crate::codec::tables::tests::with_levels(32)).unwrap();
        let (params, map, levels) = frame_of(224, 224, 4);
        let levels: Vec<u8> = levels.iter().map(|q| q % 32).collect();
        let data = encode_frame(&tables, &params, &map, &levels, levels.len());
        let whole = decode_frame(&tables, &params, &data, usize::MAX).unwrap();
        assert_eq!(whole.levels.len(), levels.len());
        let packets = packetize(
            &tables,
            &params,
            &map,
            &levels,
            levels.len(),
            &PacketOptions::default(),
        )
        .unwrap();
        let (frame, _) = decode_all(&tables, &params, &packets);
        assert_eq!((&frame.order, &frame.levels), (&whole.order, &whole.levels));
        check_values(&frame, &levels);
    }

    /// `protect`: the first values packets, up to that many bytes, are sent twice, each copy
    /// after every protected original; the frame decodes the same with or without them.
    #[test]
    fn protected_packets_are_sent_twice() {
        let tables = tables();
        for interleave in [1, 4] {
            let (params, map, levels) = frame_of(224, 224, interleave);
            let plain_options = PacketOptions {
                interleave,
                ..PacketOptions::default()
            };
            let plain = packetize(
                &tables,
                &params,
                &map,
                &levels,
                levels.len(),
                &plain_options,
            )
            .unwrap();
            let values: Vec<&Vec<u8>> = plain.iter().filter(|p| is_values_packet(p)).collect();
            let protect = values[..5].iter().map(|p| p.len()).sum::<usize>() + 1;
            let options = PacketOptions {
                protect,
                ..plain_options
            };
            let packets =
                packetize(&tables, &params, &map, &levels, levels.len(), &options).unwrap();
            assert_eq!(packets.len(), plain.len() + 5);
            for original in &values[..5] {
                let at: Vec<usize> = (0..packets.len())
                    .filter(|&i| packets[i] == **original)
                    .collect();
                assert_eq!(at.len(), 2);
                let last_original = packets.iter().position(|p| p == values[4]).unwrap();
                assert!(at[1] > last_original);
            }
            for original in &values[5..] {
                assert_eq!(packets.iter().filter(|p| p == original).count(), 1);
            }
            let decode = |packets: &[Vec<u8>]| {
                let (frame, _) = decode_all(&tables, &params, packets);
                (frame.order, frame.levels, frame.status)
            };
            assert_eq!(decode(&packets), decode(&plain));
            // Without the originals, the copies still carry the protected values.
            let copies_only: Vec<Vec<u8>> = packets
                .iter()
                .enumerate()
                .filter(|&(i, p)| !values[..5].contains(&p) || packets[..i].contains(p))
                .map(|(_, p)| p.clone())
                .collect();
            assert_eq!(decode(&copies_only), decode(&plain));
            // Everything protected: the copies follow at the end.
            let all = PacketOptions {
                protect: usize::MAX,
                ..plain_options
            };
            let packets = packetize(&tables, &params, &map, &levels, levels.len(), &all).unwrap();
            assert_eq!(packets.len(), plain.len() + values.len());
            assert_eq!(decode(&packets), decode(&plain));
        }
    }

    #[test]
    fn cut_frames_and_limits() {
        let tables = tables();
        let (params, map, levels) = frame_of(64, 48, 1);
        let packets = packetize(
            &tables,
            &params,
            &map,
            &levels,
            100,
            &PacketOptions::default(),
        )
        .unwrap();
        let (frame, _) =
            decode_packets(&tables, &params, packets.iter().map(Vec::as_slice), 40).unwrap();
        assert_eq!((frame.declared, frame.levels.len()), (100, 40));
        assert_eq!(frame.status, FrameStatus::Complete);
        check_values(&frame, &levels);
    }

    #[test]
    fn bad_packets_are_dropped() {
        let tables = tables();
        let (params, map, levels) = frame_of(64, 48, 2);
        let packets = packetize(
            &tables,
            &params,
            &map,
            &levels,
            200,
            &PacketOptions::default(),
        )
        .unwrap();
        let good = decode_packets(&tables, &params, packets.iter().map(Vec::as_slice), 1000)
            .unwrap()
            .0;
        // A values packet whose first rank is beyond the frame; one of another frame; one cut
        // short; an empty one; garbage.
        let mut beyond = vec![VALUES_FLAG];
        write_leb128(&mut beyond, 199);
        beyond.extend([0u8; 20]);
        let mut other = packets[1].clone();
        other[0] ^= 1 << FRAME_SHIFT;
        let cut = &packets[1][..packets[1].len() - 1];
        let mut all: Vec<&[u8]> = packets.iter().map(Vec::as_slice).collect();
        all.extend([&beyond[..], &other[..], cut, &[], &[0xff, 0xff, 0xff]]);
        let (frame, stats) = decode_packets(&tables, &params, all.iter().copied(), 1000).unwrap();
        assert_eq!(frame.order, good.order);
        assert_eq!(frame.levels, good.levels);
        // The cut packet may end where a code ends: then it carries a true prefix of its values.
        assert!((4..=5).contains(&stats.dropped), "{stats:?}");
        // Header packets of another stream only: refused.
        let other_stream = StreamParams {
            width: 64,
            height: 40,
            ..params.clone()
        };
        let header = header_packet(&tables, &other_stream, &map, 10, 0);
        assert!(matches!(
            decode_packets(&tables, &params, [&header[..]], 1000),
            Err(FrameError::WrongStream { .. })
        ));
        assert!(matches!(
            packetize(
                &tables,
                &params,
                &map,
                &levels,
                10,
                &PacketOptions {
                    max_packet: 20,
                    ..PacketOptions::default()
                }
            ),
            Err(PacketError::TooSmall { needed: 44, .. })
        ));
    }

    #[test]
    fn packet_sets() {
        let mut set = Vec::new();
        push_to_set(&mut set, b"abc");
        push_to_set(&mut set, b"");
        push_to_set(&mut set, b"de");
        assert!(set_is_whole(&set));
        let packets: Vec<&[u8]> = packets_of_set(&set).collect();
        assert_eq!(packets, [&b"abc"[..], b"", b"de"]);
        assert!(!set_is_whole(&set[..set.len() - 1]));
        assert_eq!(packets_of_set(&set[..set.len() - 1]).count(), 2);
    }
}
