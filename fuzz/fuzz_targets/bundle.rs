//! Model bundle loading short of ONNX Runtime: `ModelBundle::from_parts`, which `from_dir` and
//! the embedded bundle use (codec.json validated, the three files hashed into the model id).
//! ONNX Runtime's own parser is not fuzzed here.
//!
//! Input: `encoder length u16 LE | decoder length u16 LE | encoder.onnx | decoder.onnx |
//! codec.json` (lengths clamped to what is there).

#![no_main]

use std::borrow::Cow;

use limitnet::ModelBundle;
use limitnet::codec::{CodecError, CodecTables};
use libfuzzer_sys::fuzz_target;

fn load(encoder: &[u8], decoder: &[u8], codec: &[u8]) -> Result<ModelBundle, CodecError> {
    ModelBundle::from_parts(
        "fuzz".into(),
        Cow::Owned(encoder.to_vec()),
        Cow::Owned(decoder.to_vec()),
        codec,
    )
}

fuzz_target!(|input: &[u8]| {
    let [e0, e1, d0, d1, rest @ ..] = input else {
        return;
    };
    let (encoder, rest) =
        rest.split_at(usize::from(u16::from_le_bytes([*e0, *e1])).min(rest.len()));
    let (decoder, codec) =
        rest.split_at(usize::from(u16::from_le_bytes([*d0, *d1])).min(rest.len()));

    let bundle = load(encoder, decoder, codec);
    assert_eq!(bundle.as_ref().err(), CodecTables::from_json(codec).err().as_ref());
    let Ok(bundle) = bundle else {
        return;
    };
    assert_eq!(bundle.id.len(), 16);
    assert!(
        bundle
            .id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    );
    assert_eq!(bundle.encoder_onnx[..], encoder[..]);
    assert_eq!(bundle.decoder_onnx[..], decoder[..]);
    // The lengths in the hash keep the files apart: moving a byte from one graph to the other
    // is another model.
    if let Some((&last, head)) = encoder.split_last() {
        let moved: Vec<u8> = std::iter::once(last)
            .chain(decoder.iter().copied())
            .collect();
        let other = load(head, &moved, codec).expect("same codec.json");
        assert_ne!(other.id, bundle.id);
    }
});
