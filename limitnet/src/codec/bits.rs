//! MSB-first bit packing shared by the saliency map and the entropy-coded payload.

#[allow(unused_imports)]
use crate::codec::prelude::*;

/// Appends bits most-significant first.
#[derive(Debug, Default)]
pub struct BitWriter {
    bytes: Vec<u8>,
    acc: u64,
    nbits: u32,
}

impl BitWriter {
    pub fn with_buffer(bytes: Vec<u8>) -> Self {
        Self {
            bytes,
            acc: 0,
            nbits: 0,
        }
    }

    /// Writes the low `len` bits of `value` (len <= 32).
    #[inline]
    pub fn write(&mut self, value: u32, len: u32) {
        debug_assert!(len <= 32);
        if len == 0 {
            return;
        }
        // At most 31 pending bits + 32 new ones: they fit the 64-bit accumulator, and whole
        // 32-bit words leave it at once (one append per ~4 bytes instead of one per byte).
        self.acc = (self.acc << len) | u64::from(value & (u32::MAX >> (32 - len)));
        self.nbits += len;
        if self.nbits >= 32 {
            self.nbits -= 32;
            let word = (self.acc >> self.nbits) as u32;
            self.bytes.extend_from_slice(&word.to_be_bytes());
        }
    }

    /// Bytes complete so far (up to 31 more bits are pending): a byte below this count no
    /// longer changes.
    pub fn bytes_written(&self) -> usize {
        self.bytes.len()
    }

    /// Pads the last byte with 1 bits (docs/bitstream.md: padding never completes a code the
    /// decoder is asked to read, because the value count stops it first) and returns the bytes.
    pub fn finish(mut self) -> Vec<u8> {
        let pad = (8 - self.nbits % 8) % 8;
        self.write((1 << pad) - 1, pad);
        while self.nbits >= 8 {
            self.nbits -= 8;
            self.bytes.push((self.acc >> self.nbits) as u8);
        }
        self.bytes
    }
}

/// Reads bits most-significant first; running out of input is `None`, never a panic.
#[derive(Debug, Clone)]
pub struct BitReader<'a> {
    bytes: &'a [u8],
    pos: usize, // in bits
}

impl<'a> BitReader<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Self { bytes, pos: 0 }
    }

    #[inline]
    pub fn read_bit(&mut self) -> Option<u32> {
        let byte = *self.bytes.get(self.pos / 8)?;
        let bit = (byte >> (7 - (self.pos % 8))) & 1;
        self.pos += 1;
        Some(u32::from(bit))
    }

    /// Reads `len` bits (len <= 32); `None` if fewer remain (the position is then unspecified).
    pub fn read(&mut self, len: u32) -> Option<u32> {
        let mut v = 0u32;
        for _ in 0..len {
            v = (v << 1) | self.read_bit()?;
        }
        Some(v)
    }

    pub fn bits_left(&self) -> usize {
        (self.bytes.len() * 8).saturating_sub(self.pos)
    }

    pub fn position(&self) -> usize {
        self.pos
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_padding() {
        let mut w = BitWriter::default();
        w.write(0b101, 3);
        w.write(0x3ff, 10);
        w.write(0, 1);
        let bytes = w.finish();
        assert_eq!(bytes, vec![0b1011_1111, 0b1111_1011]);
        let mut r = BitReader::new(&bytes);
        assert_eq!(r.read(3), Some(0b101));
        assert_eq!(r.read(10), Some(0x3ff));
        assert_eq!(r.read(1), Some(0));
        assert_eq!(r.read(2), Some(0b11));
        assert_eq!(r.read(1), None);
    }

    #[test]
    fn words_and_bytes_agree_with_bit_by_bit() {
        // Lengths 0..=32 in a pattern that crosses every word boundary offset.
        let mut w = BitWriter::with_buffer(vec![0xAB]);
        let mut expected_bits = Vec::new();
        let mut state = 0x2545_f491_u32;
        for i in 0..500u32 {
            let len = (i * 7 + i / 3) % 33;
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            w.write(state, len);
            expected_bits.extend((0..len).rev().map(|b| (state >> b) & 1));
        }
        let bytes = w.finish();
        assert_eq!(bytes[0], 0xAB, "existing buffer content kept");
        assert_eq!(bytes.len(), 1 + expected_bits.len().div_ceil(8));
        let mut r = BitReader::new(&bytes[1..]);
        for (i, &bit) in expected_bits.iter().enumerate() {
            assert_eq!(r.read_bit(), Some(bit), "bit {i}");
        }
        while r.bits_left() > 0 {
            assert_eq!(r.read_bit(), Some(1), "padding is 1 bits");
        }
    }
}
