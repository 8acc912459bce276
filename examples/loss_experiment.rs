//! The loss experiment (pipelines/loss-experiment.sh): every 224x224 PNG of a folder is encoded
//! once and sent as LPWAN-sized packets through seeded loss patterns, and what arrives is
//! decoded, for several ways of sending the same frame:
//!
//! * `packets`: limitnetpay's packets (consecutive values in priority order, 2 header packets),
//!   lost values concealed (the decoder's default);
//! * `zeros`: the same packets, lost values left at zero (`Concealment::Zero`);
//! * `interleaved`: limitnetpay's packets with `interleave=8`, concealed;
//! * `protected`: limitnetpay's packets with `protect=1024 header-copies=3`: the values packets
//!   of the first 1024 bytes sent twice, concealed;
//! * `prefix`: the one-prefix frame cut into payload-sized pieces: everything after the first
//!   lost piece is lost (what a frame sent without packets gives);
//! * `rtpjpeg`: JPEG at the best quality whose `rtpjpegpay` packets (the real element's) take
//!   no more bytes than `packets`, decoded only when all of a frame's packets arrive (what
//!   `rtpjpegdepay` does); a lost frame counts as mid-grey in the mean PSNR. rtpjpegpay needs
//!   an MTU of at least 152 bytes (its first packet carries 140 bytes of RFC 2435 headers and
//!   quantization tables; GStreamer 1.22 corrupts memory below that), so it has no 51-byte row.
//!
//! Beside them, `cut1024`: the loss-free frame cut at 1024 bytes (the reference).
//! Losses: independent (Bernoulli) at 0, 5, 10, 20 and 30 %, and bursty: a Gilbert-Elliott
//! channel (good -> bad 5 %, bad -> good 30 %, all packets lost in the bad state: 14.3 % of
//! packets, bursts of 3.3 on average). The same loss sequence hits every way of sending.
//!
//! cargo run --release --example loss_experiment -- IN_DIR OUT_DIR [SEEDS]
//! writes OUT_DIR/results.csv (one row per image, payload size, loss, seed and way of sending),
//! OUT_DIR/summary.md, and for seed 0 the decoded images OUT_DIR/img/<way>_<payload>_<loss>/
//! (and OUT_DIR/img/original) for pipelines/loss_agreement.py.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use gst::prelude::*;
use limitnet::codec::packet::{self, PacketOptions};
use limitnet::{
    Concealment, DecodeOptions, Decoder, EncodeOptions, Encoder, ImageRef, ModelBundle,
    PixelLayout, StreamFormat,
};

type Res<T> = Result<T, Box<dyn std::error::Error>>;

const SIZE: u32 = 224;
/// LoRaWAN EU868 DR0-2 and DR4-7 payloads.
const PAYLOADS: [usize; 2] = [51, 222];
const RTP_HEADER: usize = 12;
/// limitnetpay's `interleave` for the `interleaved` way (8 did better than 2 and 4 on the
/// validation frames at every loss, at about the same cost).
const INTERLEAVE: usize = 8;
/// The `protected` way's (interleave, protect, header-copies): the cheapest of interleave 1 or 8,
/// protect 512-2048 bytes and 3 header copies that beat the loss-free frame cut at 1024 bytes
/// at 20 % loss of 51-byte packets on the validation frames, with a margin (21.57 dB against
/// 21.11; `pipelines/loss-experiment.sh --validation --way NAME=I,P,H` reruns the sweep).
const PROTECTED: (usize, usize, usize) = (1, 1024, 3);
/// Smallest payload rtpjpegpay works with: its 8-byte JPEG header, 4-byte quantization table
/// header and 128 bytes of tables in the first packet.
const RTP_JPEG_MIN_PAYLOAD: usize = 140;

/// One way of sending a frame as packets: limitnetpay's settings and the decoder's concealment.
struct Way {
    name: String,
    interleave: usize,
    protect: usize,
    header_copies: usize,
    concealment: Concealment,
}

impl Way {
    fn new(name: &str, interleave: usize, protect: usize, header_copies: usize) -> Self {
        Self {
            name: name.into(),
            interleave,
            protect,
            header_copies,
            concealment: Concealment::Interpolate,
        }
    }

    /// limitnetpay's defaults, then the settings for lossy links (chosen on the validation
    /// frames: `pipelines/loss-experiment.sh --validation`).
    fn defaults() -> Vec<Self> {
        vec![
            Self::new("packets", 1, 0, 2),
            Self {
                concealment: Concealment::Zero,
                ..Self::new("zeros", 1, 0, 2)
            },
            Self::new("interleaved", INTERLEAVE, 0, 2),
            Self::new("protected", PROTECTED.0, PROTECTED.1, PROTECTED.2),
        ]
    }

    /// `NAME=INTERLEAVE,PROTECT,HEADER_COPIES` (a `--way` argument).
    fn parse(spec: &str) -> Res<Self> {
        let (name, settings) = spec.split_once('=').ok_or("--way NAME=I,P,H")?;
        let n: Vec<usize> = settings
            .split(',')
            .map(str::parse)
            .collect::<Result<_, _>>()?;
        match n[..] {
            [i, p, h] => Ok(Self::new(name, i, p, h)),
            _ => Err("--way NAME=INTERLEAVE,PROTECT,HEADER_COPIES".into()),
        }
    }
}

#[derive(Clone, Copy)]
enum Loss {
    Bernoulli(f64),
    GilbertElliott { to_bad: f64, to_good: f64 },
}

impl Loss {
    fn name(self) -> String {
        match self {
            Self::Bernoulli(p) => format!("bern{:02}", (p * 100.0).round() as u32),
            Self::GilbertElliott { .. } => "ge".into(),
        }
    }

    /// Which of `n` packets are lost.
    fn mask(self, n: usize, rng: &mut SplitMix) -> Vec<bool> {
        match self {
            Self::Bernoulli(p) => (0..n).map(|_| rng.uniform() < p).collect(),
            Self::GilbertElliott { to_bad, to_good } => {
                // Start in the stationary distribution.
                let mut bad = rng.uniform() < to_bad / (to_bad + to_good);
                (0..n)
                    .map(|_| {
                        let lost = bad;
                        bad = if bad {
                            rng.uniform() >= to_good
                        } else {
                            rng.uniform() < to_bad
                        };
                        lost
                    })
                    .collect()
            }
        }
    }
}

const LOSSES: [Loss; 6] = [
    Loss::Bernoulli(0.0),
    Loss::Bernoulli(0.05),
    Loss::Bernoulli(0.10),
    Loss::Bernoulli(0.20),
    Loss::Bernoulli(0.30),
    Loss::GilbertElliott {
        to_bad: 0.05,
        to_good: 0.30,
    },
];

/// SplitMix64 (Steele, Lea and Flood 2014): a seeded, portable random sequence.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn uniform(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn read_rgb_png(path: &Path) -> Res<Vec<u8>> {
    let mut decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(path)?));
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info()?;
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf)?;
    if info.color_type != png::ColorType::Rgb || (info.width, info.height) != (SIZE, SIZE) {
        return Err(format!("{}: expected a {SIZE}x{SIZE} RGB PNG", path.display()).into());
    }
    buf.truncate((SIZE * SIZE * 3) as usize);
    Ok(buf)
}

fn write_png(path: &Path, rgb: &[u8]) -> Res<()> {
    let mut enc = png::Encoder::new(
        std::io::BufWriter::new(std::fs::File::create(path)?),
        SIZE,
        SIZE,
    );
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

/// Runs `description` (with an appsrc named `src` and an appsink named `sink`) on `input`
/// buffers and returns every output buffer's bytes.
fn run_pipeline(description: &str, input: &[u8]) -> Res<Vec<Vec<u8>>> {
    let pipeline = gst::parse::launch(description)?
        .downcast::<gst::Pipeline>()
        .map_err(|_| "not a pipeline")?;
    let src = pipeline
        .by_name("src")
        .ok_or("no src")?
        .downcast::<gst_app::AppSrc>()
        .map_err(|_| "src is no appsrc")?;
    let sink = pipeline
        .by_name("sink")
        .ok_or("no sink")?
        .downcast::<gst_app::AppSink>()
        .map_err(|_| "sink is no appsink")?;
    pipeline.set_state(gst::State::Playing)?;
    let mut buffer = gst::Buffer::from_slice(input.to_vec());
    buffer.get_mut().unwrap().set_pts(gst::ClockTime::ZERO);
    src.push_buffer(buffer)?;
    src.end_of_stream()?;
    let mut out = Vec::new();
    while let Ok(sample) = sink.pull_sample() {
        if let Some(buffer) = sample.buffer() {
            out.push(buffer.map_readable()?.to_vec());
        }
    }
    let bus = pipeline.bus().ok_or("no bus")?;
    let error = bus.pop_filtered(&[gst::MessageType::Error]);
    pipeline.set_state(gst::State::Null)?;
    if let Some(msg) = error {
        if let gst::MessageView::Error(e) = msg.view() {
            return Err(format!("{description}: {}", e.error()).into());
        }
    }
    Ok(out)
}

/// JPEG at the best quality whose rtpjpegpay packets (payload `payload` bytes) carry at most
/// `budget` bytes: (packet count, payload bytes, decoded RGB), or `None` if none fits.
fn rtp_jpeg(rgb: &[u8], payload: usize, budget: usize) -> Res<Option<(usize, usize, Vec<u8>)>> {
    let mtu = payload + RTP_HEADER;
    let raw = format!(
        "appsrc name=src format=time caps=video/x-raw,format=RGB,width={SIZE},height={SIZE},framerate=0/1 ! videoconvert ! video/x-raw,format=I420"
    );
    let packets_at = |quality: u32| -> Res<(Vec<u8>, usize, usize)> {
        let jpeg = run_pipeline(
            &format!("{raw} ! jpegenc quality={quality} ! appsink name=sink sync=false"),
            rgb,
        )?
        .concat();
        let packets = run_pipeline(
            &format!(
                "appsrc name=src format=time caps=image/jpeg,width={SIZE},height={SIZE},framerate=0/1 ! rtpjpegpay mtu={mtu} ! appsink name=sink sync=false"
            ),
            &jpeg,
        )?;
        let bytes = packets.iter().map(|p| p.len() - RTP_HEADER).sum();
        Ok((jpeg, packets.len(), bytes))
    };
    // Packet bytes grow with the quality: the highest that fits, by bisection.
    let (mut lo, mut hi) = (0u32, 101u32); // lo fits (0 = none), hi does not
    let mut best = None;
    while hi - lo > 1 {
        let q = (lo + hi) / 2;
        let (jpeg, count, bytes) = packets_at(q)?;
        if bytes <= budget {
            lo = q;
            best = Some((jpeg, count, bytes));
        } else {
            hi = q;
        }
    }
    let Some((jpeg, count, bytes)) = best else {
        return Ok(None);
    };
    let decoded = run_pipeline(
        &format!(
            "appsrc name=src format=time caps=image/jpeg,width={SIZE},height={SIZE},framerate=0/1 ! jpegdec ! videoconvert ! video/x-raw,format=RGB ! appsink name=sink sync=false"
        ),
        &jpeg,
    )?
    .concat();
    Ok(Some((count, bytes, decoded)))
}

/// Mean of a slice (NaN if empty).
fn mean(values: impl IntoIterator<Item = f64>) -> f64 {
    let (n, s) = values
        .into_iter()
        .fold((0usize, 0.0), |(n, s), v| (n + 1, s + v));
    s / n as f64
}

struct Row {
    image: String,
    payload: usize,
    loss: String,
    seed: u32,
    way: String,
    packets_sent: usize,
    bytes_sent: usize,
    bytes_delivered: usize,
    values: usize,
    frame_out: bool,
    psnr: f64,
}

fn main() -> Res<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut ways = Way::defaults();
    while let Some(at) = args.iter().position(|a| a == "--way") {
        let spec = args.get(at + 1).ok_or("--way needs NAME=I,P,H")?.clone();
        let way = Way::parse(&spec)?;
        // Names become CSV fields and folder names, and must not merge with another way's rows.
        let taken = ways.iter().any(|w| w.name == way.name)
            || ["prefix", "rtpjpeg"].contains(&way.name.as_str());
        let plain = !way.name.is_empty()
            && way
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-');
        if taken || !plain {
            return Err(format!(
                "--way {spec}: the name must be new and of letters, digits and '-'"
            )
            .into());
        }
        ways.push(way);
        args.drain(at..at + 2);
    }
    let (input, output, seeds) = match &args[..] {
        [i, o] => (PathBuf::from(i), PathBuf::from(o), 5),
        [i, o, s] => (PathBuf::from(i), PathBuf::from(o), s.parse()?),
        _ => {
            return Err(
                "usage: loss_experiment IN_DIR OUT_DIR [SEEDS] [--way NAME=INTERLEAVE,PROTECT,HEADER_COPIES]..."
                    .into(),
            )
        }
    };
    gst::init()?;
    let bundle = ModelBundle::embedded()?;
    eprintln!("model {} ({})", bundle.name, bundle.id);
    let mut encoder = Encoder::new(bundle.clone(), 1)?;
    let mut decoder = Decoder::new(bundle.clone(), 0)?;
    let mut names: Vec<PathBuf> = std::fs::read_dir(&input)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "png"))
        .collect();
    names.sort();
    if names.is_empty() {
        return Err(format!("no PNG in {}", input.display()).into());
    }
    let images = output.join("img");
    std::fs::create_dir_all(images.join("original"))?;
    let params = encoder.stream_params(SIZE, SIZE);
    let grey = vec![128u8; (SIZE * SIZE * 3) as usize];
    let mut rows: Vec<Row> = Vec::new();
    let mut cut1024 = Vec::new();
    let mut overhead = Vec::new(); // (payload, way, packet bytes / frame bytes)
    for (image_index, path) in names.iter().enumerate() {
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        let rgb = read_rgb_png(path)?;
        write_png(&images.join("original").join(format!("{name}.png")), &rgb)?;
        let image = ImageRef::packed(&rgb, SIZE, SIZE, PixelLayout::Rgb);
        let frame = encoder.encode(&image, &EncodeOptions::default())?;
        let decode_frame = |decoder: &mut Decoder, data: &[u8]| {
            decoder.decode(&params, data, &DecodeOptions::default())
        };
        let (reference, _) = decode_frame(&mut decoder, &frame.data[..frame.data.len().min(1024)])?;
        cut1024.push(psnr(&rgb, &reference));
        let save = |way: &str, payload: usize, loss: Loss, decoded: &[u8]| -> Res<()> {
            let dir = images.join(format!("{way}_{payload}_{}", loss.name()));
            std::fs::create_dir_all(&dir)?;
            write_png(&dir.join(format!("{name}.png")), decoded)
        };
        // The frame's values, for the packetizer.
        let (values, _, _) = decoder.decode_values(&params, &frame.data, &DecodeOptions::default());
        let values = values?;
        let saliency = values.saliency.ok_or("frame without saliency")?;
        // One level per latent value (the frame's items: coarse levels and refinement bits with
        // version 3 tables), which the packetizer splits into the same items again.
        let (h, w) = params.latent_dims();
        let levels = values.levels_by_index(&bundle.tables, bundle.tables.channels() * h * w);
        for payload in PAYLOADS {
            let packetize = |way: &Way| {
                packet::packetize(
                    &bundle.tables,
                    &params,
                    &saliency,
                    &levels,
                    values.levels.len(),
                    &PacketOptions {
                        max_packet: payload,
                        header_copies: way.header_copies,
                        interleave: way.interleave,
                        protect: way.protect,
                        frame_number: 0,
                    },
                )
            };
            let sent: Vec<Vec<Vec<u8>>> = ways.iter().map(packetize).collect::<Result<_, _>>()?;
            for (way, packets) in ways.iter().zip(&sent) {
                let bytes: usize = packets.iter().map(Vec::len).sum();
                overhead.push((
                    payload,
                    way.name.clone(),
                    bytes as f64 / frame.data.len() as f64,
                ));
            }
            let budget: usize = sent[0].iter().map(Vec::len).sum();
            let jpeg = if payload >= RTP_JPEG_MIN_PAYLOAD {
                rtp_jpeg(&rgb, payload, budget)?
            } else {
                None
            };
            let pieces: Vec<&[u8]> = frame.data.chunks(payload).collect();
            for loss in LOSSES {
                for seed in 0..seeds {
                    // A loss sequence per image, seed and payload size: every way of sending
                    // meets the same one.
                    let mut rng = SplitMix(
                        (image_index as u64 * 1_000 + u64::from(seed)) * 1_000_003 + payload as u64,
                    );
                    let mask = loss.mask(4096, &mut rng);
                    let row =
                        |way: &str, sent: usize, bytes_sent, delivered, values, out, psnr| Row {
                            image: name.clone(),
                            payload,
                            loss: loss.name(),
                            seed,
                            way: way.to_string(),
                            packets_sent: sent,
                            bytes_sent,
                            bytes_delivered: delivered,
                            values,
                            frame_out: out,
                            psnr,
                        };
                    for (way, packets) in ways.iter().zip(&sent) {
                        let mut set = Vec::new();
                        let mut delivered = 0;
                        for (p, &lost) in packets.iter().zip(&mask) {
                            if !lost {
                                packet::push_to_set(&mut set, p);
                                delivered += p.len();
                            }
                        }
                        let options = DecodeOptions {
                            format: StreamFormat::Packets,
                            concealment: way.concealment,
                            ..DecodeOptions::default()
                        };
                        let (decoded, report) = decoder.decode(&params, &set, &options)?;
                        if seed == 0 {
                            save(&way.name, payload, loss, &decoded)?;
                        }
                        let sent = packets.iter().map(Vec::len).sum();
                        rows.push(row(
                            &way.name,
                            packets.len(),
                            sent,
                            delivered,
                            report.values,
                            true,
                            psnr(&rgb, &decoded),
                        ));
                    }
                    let kept = mask.iter().take(pieces.len()).take_while(|&&l| !l).count();
                    let prefix_len = pieces[..kept].iter().map(|p| p.len()).sum::<usize>();
                    let (decoded, report) = decode_frame(&mut decoder, &frame.data[..prefix_len])?;
                    if seed == 0 {
                        save("prefix", payload, loss, &decoded)?;
                    }
                    rows.push(row(
                        "prefix",
                        pieces.len(),
                        frame.data.len(),
                        prefix_len,
                        report.values,
                        true,
                        psnr(&rgb, &decoded),
                    ));
                    if let Some((count, bytes, decoded)) = &jpeg {
                        let whole = mask.iter().take(*count).all(|&l| !l);
                        let delivered = if whole { *bytes } else { 0 };
                        let shown = if whole { decoded } else { &grey };
                        if seed == 0 {
                            // A lost frame leaves no image: the folder exists all the same, so
                            // that loss_agreement.py counts it as missing.
                            let dir = images.join(format!("rtpjpeg_{payload}_{}", loss.name()));
                            std::fs::create_dir_all(dir)?;
                            if whole {
                                save("rtpjpeg", payload, loss, decoded)?;
                            }
                        }
                        rows.push(row(
                            "rtpjpeg",
                            *count,
                            *bytes,
                            delivered,
                            0,
                            whole,
                            psnr(&rgb, shown),
                        ));
                    }
                }
            }
        }
        eprintln!("{name}: {} bytes", frame.data.len());
    }
    let mut csv = std::fs::File::create(output.join("results.csv"))?;
    writeln!(
        csv,
        "image,payload,loss,seed,way,packets_sent,bytes_sent,bytes_delivered,values,frame_out,psnr"
    )?;
    for r in &rows {
        writeln!(
            csv,
            "{},{},{},{},{},{},{},{},{},{},{:.3}",
            r.image,
            r.payload,
            r.loss,
            r.seed,
            r.way,
            r.packets_sent,
            r.bytes_sent,
            r.bytes_delivered,
            r.values,
            u8::from(r.frame_out),
            r.psnr
        )?;
    }
    let mut md = String::new();
    writeln!(
        md,
        "{} images ({}), model {}, {seeds} loss sequences each; loss-free frame cut at 1024 bytes: {:.2} dB.\n",
        names.len(),
        input.display(),
        bundle.name,
        mean(cut1024.iter().copied())
    )?;
    for payload in PAYLOADS {
        for way in ways
            .iter()
            .filter(|w| w.concealment == Concealment::Interpolate)
        {
            let o = mean(
                overhead
                    .iter()
                    .filter(|o| o.0 == payload && o.1 == way.name)
                    .map(|o| o.2),
            );
            let way = format!(
                "{} (interleave={}, protect={}, header-copies={})",
                way.name, way.interleave, way.protect, way.header_copies
            );
            writeln!(
                md,
                "{payload}-byte packets, {way}: {:+.1} % bytes against the one-prefix frame for the same values.",
                (o - 1.0) * 100.0
            )?;
        }
    }
    writeln!(
        md,
        "\nMean PSNR in dB (mean bytes delivered per frame; for rtpjpeg, the share of frames that came out)\n"
    )?;
    let columns: Vec<&str> = ways
        .iter()
        .map(|w| w.name.as_str())
        .chain(["prefix", "rtpjpeg"])
        .collect();
    writeln!(
        md,
        "| payload | loss | {} |\n|---|---|{}",
        columns.join(" | "),
        "---|".repeat(columns.len())
    )?;
    for payload in PAYLOADS {
        for loss in LOSSES {
            let select = |way: &str| {
                rows.iter()
                    .filter(|r| r.payload == payload && r.loss == loss.name() && r.way == way)
                    .collect::<Vec<_>>()
            };
            let cell = |way: &str| {
                let rs = select(way);
                if rs.is_empty() {
                    return "-".to_string();
                }
                let p = mean(rs.iter().map(|r| r.psnr));
                let b = mean(rs.iter().map(|r| r.bytes_delivered as f64));
                if way == "rtpjpeg" {
                    let out = mean(rs.iter().map(|r| f64::from(u8::from(r.frame_out))));
                    format!("{p:.2} ({b:.0} B, {:.0} % out)", out * 100.0)
                } else {
                    format!("{p:.2} ({b:.0} B)")
                }
            };
            let cells: Vec<String> = columns.iter().map(|c| cell(c)).collect();
            writeln!(
                md,
                "| {payload} | {} | {} |",
                loss.name(),
                cells.join(" | ")
            )?;
        }
    }
    std::fs::write(output.join("summary.md"), &md)?;
    print!("{md}");
    Ok(())
}
