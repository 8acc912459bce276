//! The row-by-row sender (limitnet::sender) on a photo, f32 and fixed point: its buffers and
//! weights (peak heap is in tests/sender_memory.rs) and the time per frame against the ONNX
//! Runtime encoder, median of `runs` runs of `frames` frames each, one thread, on this machine.
//!
//! cargo run --release -p limitnet --example sender -- [photo.png] [frames] [runs]

use limitnet::codec::{FrameEncoder, StreamParams};
use limitnet::sender::{FixedRowEncoder, LITE_NETWORK, LITE_NETWORK_FIXED, RowEncoder, RowSender};
use limitnet::{Encoder, ImageRef, ModelBundle, PixelLayout};

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let path = args
        .first()
        .map(String::as_str)
        .unwrap_or("tests/data/coffee-224.png");
    let frames: usize = args.get(1).map_or(Ok(200), |s| s.parse())?;
    let runs: usize = args.get(2).map_or(Ok(5), |s| s.parse())?;
    let mut reader =
        png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path)?)).read_info()?;
    let mut rgb = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut rgb)?;
    let (w, h) = (info.width as usize, info.height as usize);
    rgb.truncate(w * h * 3);
    let bundle = ModelBundle::load(Some("limitnet-lite".as_ref()))?;
    let params = StreamParams {
        width: w as u32,
        height: h as u32,
        model_id: bundle.id.clone(),
    };
    let mut float = RowEncoder::new(LITE_NETWORK, bundle.tables.quantizer().clone(), w, h);
    let mut fixed = FixedRowEncoder::new(LITE_NETWORK_FIXED, w, h);
    let mut frames_out = FrameEncoder::default();
    let mut onnx = Encoder::new(bundle.clone(), 1)?;
    let (mut f32_ms, mut fixed_ms, mut theirs) = (Vec::new(), Vec::new(), Vec::new());
    let mut same = true;
    let mut frame = Vec::new();
    for _ in 0..runs {
        for (is_f32, sender, times) in [
            (true, &mut float as &mut dyn RowSender, &mut f32_ms),
            (false, &mut fixed, &mut fixed_ms),
        ] {
            let t = std::time::Instant::now();
            for _ in 0..frames {
                for row in rgb.chunks_exact(3 * w) {
                    sender.push_row(row);
                }
                let out = sender.finish();
                frames_out.encode_into(
                    &bundle.tables,
                    &params,
                    &out.saliency,
                    out.levels,
                    bundle.tables.items(out.levels.len()),
                    &mut frame,
                );
            }
            times.push(t.elapsed().as_secs_f64() * 1e3 / frames as f64);
            if is_f32 {
                same &= {
                    let image = ImageRef::packed(&rgb, w as u32, h as u32, PixelLayout::Rgb);
                    frame == onnx.encode(&image, &Default::default())?.data
                };
            }
        }
        let t = std::time::Instant::now();
        for _ in 0..frames {
            let image = ImageRef::packed(&rgb, w as u32, h as u32, PixelLayout::Rgb);
            onnx.encode(&image, &Default::default())?;
        }
        theirs.push(t.elapsed().as_secs_f64() * 1e3 / frames as f64);
    }
    println!(
        "{path} {w}x{h}, ms/frame (medians of {runs} x {frames} frames, 1 thread): sender f32 {:.2}, fixed point {:.2}, ONNX Runtime encoder {:.2}; f32 frames identical to ONNX Runtime's: {same}",
        median(f32_ms),
        median(fixed_ms),
        median(theirs)
    );
    println!(
        "f32: {} parameters ({} bytes), {} bytes of buffers; fixed point: {} bytes of weights and tables, {} bytes of buffers",
        LITE_NETWORK.parameters(),
        LITE_NETWORK.weight_bytes(),
        float.buffer_bytes(),
        LITE_NETWORK_FIXED.weight_bytes(),
        fixed.buffer_bytes()
    );
    Ok(())
}
