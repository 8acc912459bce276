//! Canonical Huffman codes built from code lengths (the model bundle stores lengths only).

#[allow(unused_imports)]
use crate::codec::prelude::*;

use super::CodecError;

/// Longest code the bitstream allows (docs/bitstream.md).
pub const MAX_CODE_LENGTH: u8 = 15;

/// A canonical prefix code over symbols `0..n`: codes are assigned in order of (length, symbol).
#[derive(Debug, Clone)]
pub struct HuffmanCode {
    /// (code, length) per symbol.
    codes: Vec<(u32, u8)>,
    /// Number of codes of each length 0..=15.
    count_per_length: [u16; MAX_CODE_LENGTH as usize + 1],
    /// Symbols sorted by (length, symbol).
    sorted_symbols: Vec<u8>,
}

impl HuffmanCode {
    /// Builds the canonical code. Every symbol must have a length in 1..=15 and the lengths must
    /// satisfy Kraft's inequality, so the code is prefix-free and every value can be sent.
    pub fn from_lengths(lengths: &[u8]) -> Result<Self, CodecError> {
        if lengths.is_empty() || lengths.len() > 256 {
            return Err(CodecError::BadTables(format!(
                "{} code lengths",
                lengths.len()
            )));
        }
        let mut count_per_length = [0u16; MAX_CODE_LENGTH as usize + 1];
        for &l in lengths {
            if l == 0 || l > MAX_CODE_LENGTH {
                return Err(CodecError::BadTables(format!(
                    "code length {l} outside 1..=15"
                )));
            }
            count_per_length[l as usize] += 1;
        }
        // Kraft: sum 2^-l <= 1, in integers scaled by 2^15.
        let kraft: u32 = (1..=MAX_CODE_LENGTH as usize)
            .map(|l| u32::from(count_per_length[l]) << (MAX_CODE_LENGTH as usize - l))
            .sum();
        if kraft > 1 << MAX_CODE_LENGTH {
            return Err(CodecError::BadTables(
                "code lengths violate Kraft's inequality".into(),
            ));
        }
        let mut sorted_symbols: Vec<u8> = (0..lengths.len() as u16).map(|s| s as u8).collect();
        sorted_symbols.sort_by_key(|&s| (lengths[s as usize], s));
        let mut codes = vec![(0u32, 0u8); lengths.len()];
        let mut code = 0u32;
        let mut prev_len = 0u8;
        for &s in &sorted_symbols {
            let l = lengths[s as usize];
            code <<= l - prev_len;
            codes[s as usize] = (code, l);
            code += 1;
            prev_len = l;
        }
        Ok(Self {
            codes,
            count_per_length,
            sorted_symbols,
        })
    }

    pub fn symbols(&self) -> usize {
        self.codes.len()
    }

    /// (code, length) of `symbol`.
    #[inline]
    pub fn code(&self, symbol: u8) -> (u32, u8) {
        self.codes[symbol as usize]
    }

    /// Decodes one symbol; `None` when the input ends inside a code (or the bits match no code,
    /// possible only for an incomplete code).
    #[inline]
    pub fn decode(&self, reader: &mut super::bits::BitReader<'_>) -> Option<u8> {
        let mut code = 0u32; // bits read so far
        let mut first = 0u32; // first canonical code of the current length
        let mut index = 0usize; // index into sorted_symbols of that first code
        for len in 1..=MAX_CODE_LENGTH as usize {
            code |= reader.read_bit()?;
            let count = u32::from(self.count_per_length[len]);
            if code.wrapping_sub(first) < count {
                return Some(self.sorted_symbols[index + (code - first) as usize]);
            }
            index += count as usize;
            first = (first + count) << 1;
            code <<= 1;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::super::bits::{BitReader, BitWriter};
    use super::*;

    #[test]
    fn canonical_codes() {
        let c = HuffmanCode::from_lengths(&[2, 1, 3, 3]).unwrap();
        assert_eq!(c.code(1), (0b0, 1));
        assert_eq!(c.code(0), (0b10, 2));
        assert_eq!(c.code(2), (0b110, 3));
        assert_eq!(c.code(3), (0b111, 3));
    }

    #[test]
    fn round_trip_all_symbols() {
        let lengths: Vec<u8> = (0..64)
            .map(|s| {
                if s < 2 {
                    3
                } else if s < 8 {
                    4
                } else {
                    8 + (s % 2) as u8
                }
            })
            .collect();
        let c = HuffmanCode::from_lengths(&lengths).unwrap();
        let mut w = BitWriter::default();
        let msg: Vec<u8> = (0..64u8).chain((0..64).rev()).collect();
        for &s in &msg {
            let (code, len) = c.code(s);
            w.write(code, u32::from(len));
        }
        let bytes = w.finish();
        let mut r = BitReader::new(&bytes);
        for &s in &msg {
            assert_eq!(c.decode(&mut r), Some(s));
        }
    }

    #[test]
    fn rejects_bad_lengths() {
        assert!(HuffmanCode::from_lengths(&[1, 1, 1]).is_err());
        assert!(HuffmanCode::from_lengths(&[0, 1]).is_err());
        assert!(HuffmanCode::from_lengths(&[16, 1]).is_err());
        assert!(HuffmanCode::from_lengths(&[]).is_err());
    }
}
