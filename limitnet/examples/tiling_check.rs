//! Whole-frame against tiled decoding: `cargo run --release -p limitnet --example tiling_check -- W H CORE`.
//! Prints, per bundle, the largest pixel difference and the PSNR between the two decodes.
use limitnet::{DecodeOptions, Decoder, Encoder, ImageRef, ModelBundle, PixelLayout};

fn main() {
    let a: Vec<usize> = std::env::args()
        .skip(1)
        .map(|s| s.parse().unwrap())
        .collect();
    let (w, h, core) = (a[0] as u32, a[1] as u32, a[2]);
    let png = std::fs::File::open(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/data/chelsea-224.png"
    ))
    .unwrap();
    let mut reader = png::Decoder::new(std::io::BufReader::new(png))
        .read_info()
        .unwrap();
    let mut photo = vec![0; reader.output_buffer_size()];
    reader.next_frame(&mut photo).unwrap();
    let rgb: Vec<u8> = (0..h as usize)
        .flat_map(|y| (0..w as usize).map(move |x| (y * 224 / h as usize, x * 224 / w as usize)))
        .flat_map(|(y, x)| photo[(y * 224 + x) * 3..][..3].to_vec())
        .collect();
    for name in ModelBundle::embedded_names() {
        let bundle = ModelBundle::load(Some(name.as_ref())).unwrap();
        let mut enc = Encoder::new(bundle.clone(), 2).unwrap();
        let frame = enc
            .encode(
                &ImageRef::packed(&rgb, w, h, PixelLayout::Rgb),
                &Default::default(),
            )
            .unwrap();
        let params = enc.stream_params(w, h);
        let mut dec = Decoder::new(bundle.clone(), 2).unwrap();
        dec.set_tile_cells(0);
        let t = std::time::Instant::now();
        let (whole, _) = dec
            .decode(&params, &frame.data, &DecodeOptions::default())
            .unwrap();
        let whole_time = t.elapsed();
        dec.set_tile_cells(core);
        let t = std::time::Instant::now();
        let (tiled, _) = dec
            .decode(&params, &frame.data, &DecodeOptions::default())
            .unwrap();
        let tiled_time = t.elapsed();
        let max = whole
            .iter()
            .zip(&tiled)
            .map(|(a, b)| a.abs_diff(*b))
            .max()
            .unwrap();
        let mse = whole
            .iter()
            .zip(&tiled)
            .map(|(a, b)| (*a as f64 - *b as f64).powi(2))
            .sum::<f64>()
            / whole.len() as f64;
        let differ = whole.iter().zip(&tiled).filter(|(a, b)| a != b).count();
        println!(
            "{name} {w}x{h} core {core}: max diff {max}, {differ} of {} bytes differ, PSNR {:.1} dB; whole {whole_time:?}, tiled {tiled_time:?}",
            whole.len(),
            10.0 * (255.0f64.powi(2) / mse.max(1e-12)).log10()
        );
    }
}
