//! The encoder's input normalisation, folded out of the graph into a lookup table
//! (src/model/normalize.rs), gives the network bit-identical input: the same latent and
//! saliency, so the same frames, as the graph with its own Sub and Div nodes.

mod common;

use limitnet::model::EncoderSession;
use limitnet::model::ModelBundle;

/// Planar `3 x h x w` network input of a packed RGB image, each byte through `table`.
fn planes(rgb: &[u8], table: &[[f32; 256]; 3]) -> Vec<f32> {
    let n = rgb.len() / 3;
    let mut out = vec![0f32; 3 * n];
    for (i, px) in rgb.chunks_exact(3).enumerate() {
        for c in 0..3 {
            out[c * n + i] = table[c][usize::from(px[c])];
        }
    }
    out
}

fn run(session: &mut EncoderSession, rgb: &[u8], w: usize, h: usize) -> (Vec<u32>, Vec<u32>) {
    let input = planes(rgb, session.input_table());
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    session
        .run(&input, w, h, |latent, saliency| {
            (bits(latent), bits(saliency))
        })
        .unwrap()
}

#[test]
fn folded_normalization_gives_the_same_latent_and_saliency_bit_for_bit() {
    let bundle = ModelBundle::embedded().unwrap();
    let mut folded = EncoderSession::with_folding(&bundle, 1, true).unwrap();
    let mut graph = EncoderSession::with_folding(&bundle, 1, false).unwrap();
    assert_ne!(
        folded.input_table(),
        graph.input_table(),
        "the embedded encoder has a normalisation to fold"
    );
    for name in ["coffee-224.png", "astronaut-224.png", "chelsea-224.png"] {
        let (rgb, w, h) = common::photo(name);
        let (w, h) = (w as usize, h as usize);
        assert_eq!(
            run(&mut folded, &rgb, w, h),
            run(&mut graph, &rgb, w, h),
            "{name}"
        );
        // Another size through the same sessions (new output shapes).
        let small = common::resize(&rgb, w as u32, h as u32, 64, 48);
        assert_eq!(
            run(&mut folded, &small, 64, 48),
            run(&mut graph, &small, 64, 48),
            "{name} at 64x48"
        );
    }
}
