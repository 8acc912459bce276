//! The row-by-row sender (limitnet::sender) on a photo: its buffers, weights, peak heap is in
//! tests/sender_memory.rs; here the time per frame against the ONNX Runtime encoder, median of
//! `runs` runs of `frames` frames each, one thread, on this machine.
//!
//! cargo run --release -p limitnet --example sender -- [photo.png] [frames] [runs]

use limitnet::codec::{FrameEncoder, StreamParams};
use limitnet::sender::{LITE_NETWORK, RowEncoder};
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
    let mut sender = RowEncoder::new(LITE_NETWORK, bundle.tables.quantizer().clone(), w, h);
    let mut frames_out = FrameEncoder::default();
    let mut onnx = Encoder::new(bundle.clone(), 1)?;
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    let mut same = true;
    for _ in 0..runs {
        let t = std::time::Instant::now();
        let mut frame = Vec::new();
        for _ in 0..frames {
            for row in rgb.chunks_exact(3 * w) {
                sender.push_row(row);
            }
            let out = sender.finish();
            frame = frames_out.encode(
                &bundle.tables,
                &params,
                &out.saliency,
                out.levels,
                out.levels.len(),
            );
        }
        ours.push(t.elapsed().as_secs_f64() * 1e3 / frames as f64);
        let t = std::time::Instant::now();
        let mut reference = Vec::new();
        for _ in 0..frames {
            let image = ImageRef::packed(&rgb, w as u32, h as u32, PixelLayout::Rgb);
            reference = onnx.encode(&image, &Default::default())?.data;
        }
        theirs.push(t.elapsed().as_secs_f64() * 1e3 / frames as f64);
        same &= frame == reference;
    }
    println!(
        "{path} {w}x{h}: sender {:.2} ms/frame, ONNX Runtime encoder {:.2} ms/frame (medians of {runs} x {frames} frames, 1 thread); frames identical: {same}",
        median(ours),
        median(theirs)
    );
    println!(
        "sender: {} parameters ({} bytes as f32), {} bytes of buffers at {w}x{h}",
        LITE_NETWORK.parameters(),
        4 * LITE_NETWORK.parameters(),
        sender.buffer_bytes()
    );
    Ok(())
}
