//! A model bundle's codec tables: `CodecTables::from_json` (codec.json) and
//! `HuffmanCode::from_lengths` with decoding.
//!
//! Input: `mode | rest`. Even mode: `rest` is a codec.json. Odd mode: `rest` is
//! `n - 1 | n code lengths | bits to decode`. Accepted tables must give finite, ordered latent values
//! for every level and codes that decode what they encode (version 4: range coder tables too); a
//! code is accepted exactly when its lengths are in 1..=15 and satisfy Kraft's inequality.

#![no_main]

use limitnet::codec::CodecTables;
use limitnet::codec::bits::{BitReader, BitWriter};
use limitnet::codec::huffman::{HuffmanCode, MAX_CODE_LENGTH};
use limitnet::codec::range::{PrefixDecoder, RangeEncoder};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    let Some((&mode, rest)) = input.split_first() else {
        return;
    };
    if mode & 1 == 0 {
        check_json(rest);
    } else if let Some((&n, rest)) = rest.split_first() {
        let n = (usize::from(n) + 1).min(rest.len());
        check_lengths(&rest[..n], &rest[n..]);
    }
});

fn check_json(json: &[u8]) {
    let Ok(tables) = CodecTables::from_json(json) else {
        return;
    };
    for c in 0..tables.channels() {
        let mut previous = f32::NEG_INFINITY;
        let levels = tables.quantizer().levels();
        for q in 0..levels as u8 {
            let v = tables.quantizer().dequantize(c, q);
            assert!(v.is_finite(), "channel {c} level {q} dequantizes to {v}");
            assert!(v >= previous, "channel {c}: level {q} below the one before");
            previous = v;
        }
        for k in 0..tables.contexts() {
            let code = tables.code(c, k);
            // Levels, or coarse levels with version 3 tables.
            assert_eq!(code.symbols(), tables.refinement().coarse_levels() as usize);
            check_code(code, &[]);
        }
        // Version 4: every symbol of every table, and a refinement bit each way, range code and
        // decode back.
        let tables_c = tables.channel_frequencies(c);
        let mut encoder = RangeEncoder::new(Vec::new());
        for table in tables_c {
            for s in 0..table.symbols() {
                encoder.encode(table, s);
                encoder.encode_bit(1 + (s as u32 * 7919) % 32767, s % 2 == 1);
            }
        }
        let data = encoder.finish();
        let mut decoder = PrefixDecoder::new(&data);
        for table in tables_c {
            for s in 0..table.symbols() {
                assert_eq!(decoder.symbol(table), Some(s), "channel {c}");
                assert_eq!(decoder.bit(1 + (s as u32 * 7919) % 32767), Some(s % 2 == 1));
            }
        }
    }
}

fn check_lengths(lengths: &[u8], bits: &[u8]) {
    let valid = !lengths.is_empty()
        && lengths.iter().all(|&l| (1..=MAX_CODE_LENGTH).contains(&l))
        && lengths
            .iter()
            .map(|&l| 0.5f64.powi(i32::from(l)))
            .sum::<f64>()
            <= 1.0;
    match HuffmanCode::from_lengths(lengths) {
        Ok(code) => {
            assert!(valid, "accepted lengths {lengths:?}");
            assert_eq!(code.symbols(), lengths.len());
            for (s, &l) in lengths.iter().enumerate() {
                assert_eq!(code.code(s as u8).1, l, "symbol {s} length");
            }
            check_code(&code, bits);
        }
        Err(_) => assert!(!valid, "rejected lengths {lengths:?}"),
    }
}

/// Every symbol round-trips; arbitrary `bits` decode to symbols whose codes are exactly the bits
/// consumed, until the input ends or matches no code.
fn check_code(code: &HuffmanCode, bits: &[u8]) {
    let mut w = BitWriter::default();
    for s in 0..code.symbols() {
        let (value, len) = code.code(s as u8);
        assert!(
            value < 1 << len,
            "symbol {s}: code {value:#x} longer than {len}"
        );
        w.write(value, u32::from(len));
    }
    let written = w.finish();
    let mut r = BitReader::new(&written);
    for s in 0..code.symbols() {
        assert_eq!(code.decode(&mut r), Some(s as u8));
    }

    let mut r = BitReader::new(bits);
    loop {
        let mut before = r.clone();
        let start = r.position();
        let Some(s) = code.decode(&mut r) else {
            break;
        };
        let (value, len) = code.code(s);
        assert_eq!(r.position() - start, usize::from(len));
        assert_eq!(before.read(u32::from(len)), Some(value));
    }
}
