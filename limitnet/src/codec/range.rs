//! The range coder of version 4 frames (docs/bitstream.md "Range coding").
//!
//! A carry-propagating byte-wise range coder (LZMA's, with its always-zero first byte left
//! out) over static frequency tables of [`PROB_BITS`] bits. Huffman codes spend at least one
//! bit on every value, and whole bits on each; this coder spends `-log2(p)`, so a value that is
//! nearly always 0 (limitnet-lite's dead channel 11, or a sparse second layer) costs nearly
//! nothing.
//!
//! **Prefixes.** A byte prefix pins the code value to the interval between the prefix followed
//! by all-zero bytes and the prefix followed by all-one bytes. Decoding is monotone in the code
//! value (each step splits the current interval into contiguous symbol intervals), so a symbol
//! that both ends of that interval decode to is the symbol of every continuation, the full
//! frame's included. [`PrefixDecoder`] runs the two ends in lockstep once the data runs out and
//! stops at the first symbol they disagree on: every prefix decodes to exactly the full frame's
//! first symbols, and a longer prefix to at least as many.

#[allow(unused_imports)]
use crate::codec::prelude::*;

/// Frequencies of a table add up to `1 << PROB_BITS`.
pub const PROB_BITS: u32 = 15;
/// Total of every frequency table.
pub const PROB_TOTAL: u32 = 1 << PROB_BITS;
/// The range is renormalized (a byte shifted out) whenever it drops below this.
const TOP: u32 = 1 << 24;

/// A static frequency table: symbol `s` has probability `freq[s] / PROB_TOTAL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrequencyTable {
    /// `cumulative[s]` = sum of the frequencies below `s`; `cumulative[symbols] = PROB_TOTAL`.
    cumulative: Vec<u32>,
}

impl FrequencyTable {
    /// `None` unless every frequency is at least 1 and they add up to [`PROB_TOTAL`] (and
    /// there are 1..=256 symbols).
    pub fn new(frequencies: &[u32]) -> Option<Self> {
        if frequencies.is_empty() || frequencies.len() > 256 || frequencies.contains(&0) {
            return None;
        }
        let mut cumulative = Vec::with_capacity(frequencies.len() + 1);
        let mut sum = 0u32;
        cumulative.push(0);
        for &f in frequencies {
            sum = sum.checked_add(f)?;
            cumulative.push(sum);
        }
        (sum == PROB_TOTAL).then_some(Self { cumulative })
    }

    pub fn symbols(&self) -> usize {
        self.cumulative.len() - 1
    }

    /// (low end, width) of `symbol`'s interval.
    #[inline]
    fn interval(&self, symbol: usize) -> (u32, u32) {
        let low = self.cumulative[symbol];
        (low, self.cumulative[symbol + 1] - low)
    }

    /// The symbol whose interval holds `value` (< PROB_TOTAL).
    #[inline]
    fn symbol_at(&self, value: u32) -> usize {
        // The tables are short (at most 64 symbols): a binary search over the cumulative sums.
        self.cumulative[1..].partition_point(|&c| c <= value)
    }
}

/// Encodes symbols into bytes appended to a buffer.
#[derive(Debug)]
pub struct RangeEncoder {
    /// Low end of the interval; bit 32 is a carry into the bytes not yet written.
    low: u64,
    range: u32,
    /// The last byte not yet written (a carry may still change it) and how many 0xFF bytes
    /// follow it (`pending - 1`).
    cache: u8,
    pending: u64,
    /// The first byte a carry-propagating range coder makes is always 0: it is not written.
    first: bool,
    out: Vec<u8>,
}

impl RangeEncoder {
    /// A coder appending to `out`.
    pub fn new(out: Vec<u8>) -> Self {
        Self {
            low: 0,
            range: u32::MAX,
            cache: 0,
            pending: 1,
            first: true,
            out,
        }
    }

    /// Bytes written so far; they are final (a later carry only changes bytes not written yet).
    pub fn bytes_written(&self) -> usize {
        self.out.len()
    }

    #[inline]
    fn shift_low(&mut self) {
        if self.low < 0xFF00_0000 || self.low >= 1 << 32 {
            let carry = (self.low >> 32) as u8;
            let mut byte = self.cache;
            loop {
                if self.first {
                    self.first = false;
                } else {
                    self.out.push(byte.wrapping_add(carry));
                }
                byte = 0xFF;
                self.pending -= 1;
                if self.pending == 0 {
                    break;
                }
            }
            self.cache = (self.low >> 24) as u8;
        }
        self.pending += 1;
        self.low = (self.low & 0x00FF_FFFF) << 8;
    }

    #[inline]
    fn normalize(&mut self) {
        while self.range < TOP {
            self.range <<= 8;
            self.shift_low();
        }
    }

    /// Codes `symbol` of `table`.
    #[inline]
    pub fn encode(&mut self, table: &FrequencyTable, symbol: usize) {
        let (low, width) = table.interval(symbol);
        let r = self.range >> PROB_BITS;
        self.low += u64::from(r * low);
        // The last symbol also takes what the rounding of `r` leaves at the top.
        self.range = if symbol + 1 == table.symbols() {
            self.range - r * low
        } else {
            r * width
        };
        self.normalize();
    }

    /// Codes a bit that is 0 with probability `zero / PROB_TOTAL` (`zero` in 1..PROB_TOTAL).
    #[inline]
    pub fn encode_bit(&mut self, zero: u32, bit: bool) {
        let bound = (self.range >> PROB_BITS) * zero;
        if bit {
            self.low += u64::from(bound);
            self.range -= bound;
        } else {
            self.range = bound;
        }
        self.normalize();
    }

    /// Writes the fewest bytes that let every symbol coded so far decode whatever follows them
    /// (or is cut), and returns the buffer.
    pub fn finish(mut self) -> Vec<u8> {
        if self.first && self.low == 0 && self.range == u32::MAX {
            // Nothing coded: nothing to determine (a frame of 0 items has no payload).
            return self.out;
        }
        // The shortest k (0..=4) such that some k-byte continuation v gives an interval
        // [v 00.., v FF..] inside [low, low + range): then every continuation decodes the same.
        let end = self.low + u64::from(self.range);
        let mut bytes = 4;
        for k in 0..=4u32 {
            let unit = 1u64 << (32 - 8 * k);
            let v = self.low.div_ceil(unit);
            if (v + 1) * unit <= end {
                self.low = v * unit;
                bytes = k;
                break;
            }
        }
        // The cache byte and the pending 0xFF run, then `bytes` bytes of low.
        for _ in 0..=bytes {
            self.shift_low();
        }
        self.out
    }
}

/// One end of a [`PrefixDecoder`]: a range decoder reading `fill` past the end of the data.
#[derive(Debug, Clone, Copy)]
struct EndDecoder {
    /// Wide enough for the all-ones end, which may run above the valid range.
    code: u64,
    range: u32,
    fill: u8,
}

impl EndDecoder {
    #[inline]
    fn symbol(&mut self, table: &FrequencyTable) -> usize {
        let r = self.range >> PROB_BITS;
        let value = (self.code / u64::from(r)).min(u64::from(PROB_TOTAL - 1)) as u32;
        let symbol = table.symbol_at(value);
        let (low, width) = table.interval(symbol);
        self.code -= u64::from(r * low);
        self.range = if symbol + 1 == table.symbols() {
            self.range - r * low
        } else {
            r * width
        };
        symbol
    }

    #[inline]
    fn bit(&mut self, zero: u32) -> bool {
        let bound = (self.range >> PROB_BITS) * zero;
        let bit = self.code >= u64::from(bound);
        if bit {
            self.code -= u64::from(bound);
            self.range -= bound;
        } else {
            self.range = bound;
        }
        bit
    }

    #[inline]
    fn normalize(&mut self, byte: Option<u8>) {
        self.range <<= 8;
        self.code = (self.code << 8) | u64::from(byte.unwrap_or(self.fill));
    }
}

/// Decodes the symbols a (possibly cut) range-coded payload determines; see the module
/// comment.
#[derive(Debug)]
pub struct PrefixDecoder<'a> {
    data: &'a [u8],
    /// Bytes read, counting the fill bytes read past the end.
    pos: usize,
    /// The all-zeros and all-ones ends; identical until the data runs out.
    low_end: EndDecoder,
    high_end: EndDecoder,
    /// Set once the ends disagreed: nothing more is decoded.
    stopped: bool,
}

/// Past the data, the ends read fill bytes; after this many the prefix determines nothing the
/// 64-bit registers could still hold exactly, so decoding stops.
const MAX_FILL_BYTES: usize = 4;

impl<'a> PrefixDecoder<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        let end = |fill| EndDecoder {
            code: 0,
            range: u32::MAX,
            fill,
        };
        let mut d = Self {
            data,
            pos: 0,
            low_end: end(0x00),
            high_end: end(0xFF),
            stopped: false,
        };
        for _ in 0..4 {
            let byte = d.next_byte();
            d.low_end.code = (d.low_end.code << 8) | u64::from(byte.unwrap_or(0x00));
            d.high_end.code = (d.high_end.code << 8) | u64::from(byte.unwrap_or(0xFF));
        }
        d
    }

    #[inline]
    fn next_byte(&mut self) -> Option<u8> {
        let byte = self.data.get(self.pos).copied();
        self.pos += 1;
        byte
    }

    #[inline]
    fn normalize(&mut self) {
        while self.low_end.range < TOP {
            let byte = self.next_byte();
            self.low_end.normalize(byte);
            self.high_end.normalize(byte);
        }
        if self.pos > self.data.len() + MAX_FILL_BYTES {
            self.stopped = true;
        }
    }

    /// The next symbol of `table`, or `None` once the data does not determine it.
    #[inline]
    pub fn symbol(&mut self, table: &FrequencyTable) -> Option<usize> {
        if self.stopped {
            return None;
        }
        let a = self.low_end.symbol(table);
        let b = self.high_end.symbol(table);
        if a != b {
            self.stopped = true;
            return None;
        }
        self.normalize();
        Some(a)
    }

    /// The next bit, 0 with probability `zero / PROB_TOTAL`, or `None` once the data does not
    /// determine it.
    #[inline]
    pub fn bit(&mut self, zero: u32) -> Option<bool> {
        if self.stopped {
            return None;
        }
        let (a, b) = (self.low_end.bit(zero), self.high_end.bit(zero));
        if a != b {
            self.stopped = true;
            return None;
        }
        self.normalize();
        Some(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(freqs: &[u32]) -> FrequencyTable {
        FrequencyTable::new(freqs).unwrap()
    }

    /// A skewed table (a symbol nearly always), a flat one and one with the rarest frequency.
    fn tables() -> Vec<FrequencyTable> {
        vec![
            table(&[PROB_TOTAL - 3, 1, 1, 1]),
            table(&[PROB_TOTAL / 4; 4]),
            table(&[1, PROB_TOTAL - 2, 1]),
            table(&[PROB_TOTAL]),
        ]
    }

    /// Symbols (table index, symbol, or a bit as table index `usize::MAX`) from a small LCG.
    fn symbols(n: usize, seed: u64) -> Vec<(usize, usize)> {
        let tables = tables();
        let mut x = seed;
        (0..n)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let t = (x >> 33) as usize % (tables.len() + 1);
                if t == tables.len() {
                    // A bit, 0 with probability zero / PROB_TOTAL: (bit, zero) packed.
                    let zero = [1, PROB_TOTAL / 2, PROB_TOTAL - 1, 1000][(x >> 24) as usize % 4];
                    return (usize::MAX, (((x >> 20) as usize & 1) << 16) | zero as usize);
                }
                // Mostly the likeliest symbol, sometimes any.
                let s = if (x >> 40) % 8 == 0 {
                    (x >> 45) as usize % tables[t].symbols()
                } else {
                    (0..tables[t].symbols())
                        .max_by_key(|&s| tables[t].interval(s).1)
                        .unwrap()
                };
                (t, s)
            })
            .collect()
    }

    fn encode(items: &[(usize, usize)]) -> Vec<u8> {
        let tables = tables();
        let mut e = RangeEncoder::new(Vec::new());
        for &(t, s) in items {
            if t == usize::MAX {
                e.encode_bit((s & 0xFFFF) as u32, s >> 16 == 1);
            } else {
                e.encode(&tables[t], s);
            }
        }
        e.finish()
    }

    fn decode(data: &[u8], items: &[(usize, usize)]) -> usize {
        let tables = tables();
        let mut d = PrefixDecoder::new(data);
        for (i, &(t, s)) in items.iter().enumerate() {
            let got = if t == usize::MAX {
                d.bit((s & 0xFFFF) as u32)
                    .map(|b| (usize::from(b) << 16) | (s & 0xFFFF))
            } else {
                d.symbol(&tables[t])
            };
            match got {
                Some(g) => assert_eq!(g, s, "symbol {i}"),
                None => return i,
            }
        }
        items.len()
    }

    #[test]
    fn whole_payloads_decode_and_every_prefix_gives_the_first_symbols() {
        for (n, seed) in [(0, 1), (1, 2), (5, 3), (300, 4), (3000, 5)] {
            let items = symbols(n, seed);
            let data = encode(&items);
            assert_eq!(data.is_empty(), n == 0, "{n} symbols: {} bytes", data.len());
            assert_eq!(decode(&data, &items), n, "{n} symbols");
            let mut previous = 0;
            for cut in 0..data.len() {
                let got = decode(&data[..cut], &items);
                assert!(got >= previous, "cut {cut}: {got} < {previous}");
                previous = got;
            }
        }
    }

    /// A symbol of probability ~1 costs next to nothing: 10 000 of them take a few bytes.
    #[test]
    fn certain_symbols_are_nearly_free() {
        let t = table(&[PROB_TOTAL - 1, 1]);
        let mut e = RangeEncoder::new(Vec::new());
        for _ in 0..10_000 {
            e.encode(&t, 0);
        }
        let data = e.finish();
        assert!(data.len() <= 4, "{} bytes", data.len());
        let mut d = PrefixDecoder::new(&data);
        assert!((0..10_000).all(|_| d.symbol(&t) == Some(0)));
    }

    #[test]
    fn rejects_bad_tables() {
        assert!(FrequencyTable::new(&[]).is_none());
        assert!(FrequencyTable::new(&[0, PROB_TOTAL]).is_none());
        assert!(FrequencyTable::new(&[1, PROB_TOTAL]).is_none());
        assert!(FrequencyTable::new(&[u32::MAX, 2]).is_none());
    }
}
