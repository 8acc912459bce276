//! Encodes every PNG of a directory and decodes each frame cut at several byte budgets, writing
//! the decoded images for training/limitnet_train/evaluate.py (which scores them against the
//! classical codecs). The cut streams go through the same Rust code as the elements.
//!
//! cargo run --release -p limitnet --example eval_frames -- IN_DIR OUT_DIR [MODEL_DIR] 256,512,1024 [--engine=rust-int8]
//! writes OUT_DIR/<budget>/<name>.png and OUT_DIR/frames.csv (name, full_bytes). `--engine`:
//! onnx-runtime (the default), rust or rust-int8 (the fixed-point sender), as limitnetenc's.

use std::io::Write;
use std::path::{Path, PathBuf};

use limitnet::{
    Cut, DecodeOptions, Decoder, EncodeOptions, Encoder, ImageRef, ModelBundle, PixelLayout,
};

fn read_rgb_png(path: &Path) -> Result<(Vec<u8>, u32, u32), Box<dyn std::error::Error>> {
    let mut decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path)?));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info()?;
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf)?;
    if info.color_type != png::ColorType::Rgb {
        return Err(format!("{}: expected an RGB PNG", path.display()).into());
    }
    buf.truncate((info.width * info.height * 3) as usize);
    Ok((buf, info.width, info.height))
}

fn write_png(path: &Path, rgb: &[u8], w: u32, h: u32) -> Result<(), Box<dyn std::error::Error>> {
    let mut enc = png::Encoder::new(std::io::BufWriter::new(std::fs::File::create(path)?), w, h);
    enc.set_color(png::ColorType::Rgb);
    enc.write_header()?.write_image_data(rgb)?;
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut engine = limitnet::Engine::OnnxRuntime;
    if let Some(i) = args.iter().position(|a| a.starts_with("--engine=")) {
        engine = args.remove(i)["--engine=".len()..].parse()?;
    }
    let [input, output, rest @ ..] = &args[..] else {
        return Err("usage: eval_frames IN_DIR OUT_DIR [MODEL_DIR] BUDGETS".into());
    };
    let (model, budgets) = match rest {
        [b] => (None, b),
        [m, b] => (Some(PathBuf::from(m)), b),
        _ => return Err("usage: eval_frames IN_DIR OUT_DIR [MODEL_DIR] BUDGETS".into()),
    };
    let budgets: Vec<usize> = budgets
        .split(',')
        .map(|b| b.parse())
        .collect::<Result<_, _>>()?;
    let bundle = ModelBundle::load(model.as_deref())?;
    eprintln!("model {} ({})", bundle.name, bundle.id);
    let mut encoder = Encoder::with_engine(bundle.clone(), 1, engine)?;
    let mut decoder = Decoder::new(bundle, 0)?;
    let mut names: Vec<PathBuf> = std::fs::read_dir(input)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    names.sort();
    std::fs::create_dir_all(output)?;
    let mut csv = std::fs::File::create(Path::new(output).join("frames.csv"))?;
    writeln!(csv, "name,full_bytes")?;
    for path in &names {
        let (rgb, w, h) = read_rgb_png(path)?;
        let frame = encoder.encode(
            &ImageRef::packed(&rgb, w, h, PixelLayout::Rgb),
            &EncodeOptions::default(),
        )?;
        let params = encoder.stream_params(w, h);
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        writeln!(csv, "{name},{}", frame.data.len())?;
        for &budget in &budgets {
            let opts = DecodeOptions::from(Cut::max_bytes(budget));
            let (image, _) = decoder.decode(&params, &frame.data, &opts)?;
            let dir = Path::new(output).join(budget.to_string());
            std::fs::create_dir_all(&dir)?;
            write_png(&dir.join(&name), &image, w, h)?;
        }
    }
    eprintln!("{} images x {} budgets", names.len(), budgets.len());
    Ok(())
}
