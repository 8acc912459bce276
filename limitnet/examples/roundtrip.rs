//! Encode a PNG with LimitNet, decode it from several prefixes, print size and PSNR.
//!
//! cargo run --release -p limitnet --example roundtrip -- photo.png [out-dir|-] [model name or dir]

use std::path::{Path, PathBuf};

use limitnet::{
    Cut, DecodeOptions, Decoder, EncodeOptions, Encoder, ImageRef, ModelBundle, PixelLayout,
};

fn read_png(path: &Path) -> Result<(Vec<u8>, u32, u32), Box<dyn std::error::Error>> {
    let mut decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path)?));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info()?;
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf)?;
    let (w, h) = (info.width, info.height);
    let rgb = match info.color_type {
        png::ColorType::Rgb => buf[..(w * h * 3) as usize].to_vec(),
        png::ColorType::Rgba => buf
            .chunks_exact(4)
            .take((w * h) as usize)
            .flat_map(|p| [p[0], p[1], p[2]])
            .collect(),
        png::ColorType::Grayscale => buf
            .iter()
            .take((w * h) as usize)
            .flat_map(|&g| [g, g, g])
            .collect(),
        png::ColorType::GrayscaleAlpha => buf
            .chunks_exact(2)
            .take((w * h) as usize)
            .flat_map(|p| [p[0], p[0], p[0]])
            .collect(),
        png::ColorType::Indexed => unreachable!("EXPAND turns palettes into RGB"),
    };
    Ok((rgb, w, h))
}

fn write_png(path: &Path, rgb: &[u8], w: u32, h: u32) -> Result<(), Box<dyn std::error::Error>> {
    let mut enc = png::Encoder::new(std::io::BufWriter::new(std::fs::File::create(path)?), w, h);
    enc.set_color(png::ColorType::Rgb);
    enc.write_header()?.write_image_data(rgb)?;
    Ok(())
}

fn psnr(a: &[u8], b: &[u8]) -> f64 {
    let mse = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
        .sum::<f64>()
        / a.len() as f64;
    10.0 * (255.0f64 * 255.0 / mse.max(1e-10)).log10()
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args_os().skip(1);
    let input = PathBuf::from(
        args.next()
            .ok_or("usage: roundtrip PHOTO.png [OUT_DIR|-] [MODEL: bundle name or directory]")?,
    );
    let out_dir = args.next().filter(|d| d != "-").map(PathBuf::from);
    let model = args.next().map(PathBuf::from);
    let (rgb, w, h) = read_png(&input)?;
    let bundle = ModelBundle::load(model.as_deref())?;
    println!("model {} ({}), image {}x{}", bundle.name, bundle.id, w, h);
    let mut encoder = Encoder::new(bundle.clone(), 0)?;
    let mut decoder = Decoder::new(bundle, 0)?;
    let frame = encoder.encode(
        &ImageRef::packed(&rgb, w, h, PixelLayout::Rgb),
        &EncodeOptions::default(),
    )?;
    let params = encoder.stream_params(w, h);
    println!(
        // Items: whole values (bitstream versions 1-2), or coarse levels and refinement bits (3).
        "full frame: {} bytes for {} items",
        frame.data.len(),
        frame.total_values
    );
    println!(
        "{:>10} {:>8} {:>8} {:>9}",
        "decode", "bytes", "items", "PSNR dB"
    );
    let mut cases: Vec<(String, DecodeOptions)> = [5.0, 10.0, 20.0, 50.0, 100.0]
        .iter()
        .map(|&p| (format!("{p}%"), Cut::percentage(p).into()))
        .collect();
    cases.extend(
        [256, 512, 1024]
            .iter()
            .map(|&b| (format!("{b} B"), Cut::max_bytes(b).into())),
    );
    for (label, opts) in cases {
        let (image, report) = decoder.decode(&params, &frame.data, &opts)?;
        // Bytes a sender needs for this many items: the shortest prefix that holds them.
        let bytes = if opts.cut.max_bytes > 0 {
            report.bytes
        } else {
            prefix_len(&decoder, &params, &frame.data, report.values)
        };
        println!(
            "{label:>10} {bytes:>8} {:>8} {:>9.2}",
            report.values,
            psnr(&rgb, &image)
        );
        if let Some(dir) = &out_dir {
            std::fs::create_dir_all(dir)?;
            write_png(
                &dir.join(format!("{}.png", label.replace([' ', '%'], ""))),
                &image,
                w,
                h,
            )?;
        }
    }
    // Speed of the library calls the elements make (median of 15 runs each, this machine).
    let median_ms = |mut f: Box<dyn FnMut()>| {
        let mut t: Vec<f64> = (0..15)
            .map(|_| {
                let start = std::time::Instant::now();
                f();
                start.elapsed().as_secs_f64() * 1e3
            })
            .collect();
        t.sort_by(f64::total_cmp);
        t[t.len() / 2]
    };
    let image = ImageRef::packed(&rgb, w, h, PixelLayout::Rgb);
    let enc_ms = median_ms(Box::new(|| {
        encoder.encode(&image, &EncodeOptions::default()).unwrap();
    }));
    let dec_ms = median_ms(Box::new(|| {
        decoder
            .decode(&params, &frame.data, &DecodeOptions::default())
            .unwrap();
    }));
    println!(
        "encode {enc_ms:.2} ms/frame (1 thread), decode {dec_ms:.1} ms/frame (ONNX Runtime default threads)"
    );
    Ok(())
}

/// Smallest prefix of `data` that decodes `values` items.
fn prefix_len(
    decoder: &Decoder,
    params: &limitnet::StreamParams,
    data: &[u8],
    values: usize,
) -> usize {
    let decoded = |n: usize| {
        decoder
            .decode_values(params, &data[..n], &DecodeOptions::default())
            .0
            .map(|f| f.levels.len())
            .unwrap_or(0)
    };
    let (mut lo, mut hi) = (0, data.len());
    while lo < hi {
        let mid = (lo + hi) / 2;
        if decoded(mid) >= values {
            hi = mid
        } else {
            lo = mid + 1
        }
    }
    lo
}
