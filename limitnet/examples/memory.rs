//! Peak memory of encoding and decoding one frame: `cargo run --release -p limitnet --example memory -- MODEL W H`.
use limitnet::{DecodeOptions, Decoder, Encoder, ImageRef, ModelBundle, PixelLayout};
fn hwm() -> String {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .filter(|l| l.starts_with("VmHWM") || l.starts_with("VmPeak"))
        .collect::<Vec<_>>()
        .join(" ")
}
fn main() {
    let a: Vec<String> = std::env::args().collect();
    let bundle = ModelBundle::load(Some(a[1].as_ref())).unwrap();
    let (w, h): (u32, u32) = (a[2].parse().unwrap(), a[3].parse().unwrap());
    let rgb: Vec<u8> = (0..w as usize * h as usize * 3)
        .map(|i| ((i * 7919) >> 5) as u8)
        .collect();
    let t = std::time::Instant::now();
    if a.get(4).map(|s| s.as_str()) != Some("dec") {
        let mut enc = Encoder::new(bundle.clone(), 2).unwrap();
        let f = enc
            .encode(
                &ImageRef::packed(&rgb, w, h, PixelLayout::Rgb),
                &Default::default(),
            )
            .unwrap();
        eprintln!(
            "encoded {} bytes in {:?}; {}",
            f.data.len(),
            t.elapsed(),
            hwm()
        );
    }
    let t = std::time::Instant::now();
    let mut dec = Decoder::new(bundle.clone(), 2).unwrap();
    let params = limitnet::StreamParams {
        width: w,
        height: h,
        model_id: bundle.id.clone(),
    };
    let (out, _) = dec.decode(&params, &[], &DecodeOptions::default()).unwrap();
    eprintln!(
        "decoded {} bytes in {:?}; {}",
        out.len(),
        t.elapsed(),
        hwm()
    );
}
