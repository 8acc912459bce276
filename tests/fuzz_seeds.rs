//! Writes the fuzzers' seed corpus (fuzz/seeds/<target>/) from real streams: frames of the photos
//! in tests/data encoded by the default model (limitnet-lite), cut at several points, a .lnet file written by
//! limitnetmux, and the bundle's codec.json. Each seed starts with the selector bytes its target
//! reads first (see the doc comment of each fuzz/fuzz_targets/*.rs).
//!
//! cargo test --release --test fuzz_seeds -- --ignored

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use limitnet::codec::StreamParams;
use limitnet::{EncodeOptions, Encoder, ImageRef, ModelBundle, PixelLayout};

/// Model id of the stream the `frame` target decodes (fuzz/fuzz_targets/frame.rs).
const FRAME_TARGET_MODEL_ID: &str = "fuzz";

fn seed_dir(target: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/seeds")
        .join(target);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).unwrap();
    }
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn write(dir: &Path, name: &str, parts: &[&[u8]]) {
    std::fs::write(dir.join(name), parts.concat()).unwrap();
}

/// A real frame of `photo` at `w` x `h` (at most 256 x 256).
fn encode(encoder: &mut Encoder, photo: &str, w: u32, h: u32, percentage: f64) -> Vec<u8> {
    let (rgb, pw, ph) = common::photo(photo);
    let rgb = common::resize(&rgb, pw, ph, w, h);
    let options = EncodeOptions {
        percentage,
        max_bytes: 0,
    };
    encoder
        .encode(&ImageRef::packed(&rgb, w, h, PixelLayout::Rgb), &options)
        .unwrap()
        .data
}

/// `frame` target seeds: `width - 1 | height - 1 | value limit | cut | frame`, the frame's stream
/// tag set to the target's stream (the only byte changed).
fn frame_seeds(encoder: &mut Encoder) -> Vec<u8> {
    let dir = seed_dir("frame");
    let mut payload_sample = Vec::new();
    for (photo, stem) in [
        ("chelsea-224.png", "chelsea"),
        ("coffee-224.png", "coffee"),
        ("astronaut-224.png", "astronaut"),
    ] {
        // Odd and tiny sizes (latent grids below the 8x8 saliency grid) from one photo.
        let sizes: &[(u32, u32)] = if stem == "chelsea" {
            &[(224, 224), (250, 190), (64, 48), (13, 7), (1, 1)]
        } else {
            &[(224, 224), (250, 190)]
        };
        for &(w, h) in sizes {
            for percentage in [100.0, 10.0] {
                if (w, h) == (250, 190) && percentage != 100.0 {
                    continue;
                }
                let mut frame = encode(encoder, photo, w, h, percentage);
                let params = StreamParams {
                    width: w,
                    height: h,
                    model_id: FRAME_TARGET_MODEL_ID.into(),
                };
                frame[1] = params.tag();
                let selectors = [(w - 1) as u8, (h - 1) as u8];
                let name = format!("{stem}-{w}x{h}-{percentage}pct");
                write(&dir, &name, &[&selectors, &[255, 128], &frame]);
                if w == 224 && percentage == 100.0 {
                    payload_sample = frame[44..].to_vec();
                    // Cut by the link inside the map, just after it, and in the payload; decoded
                    // with a 20 % value limit.
                    for cut in [20, 44, 300, 1000] {
                        let name = format!("{name}-cut{cut}");
                        write(&dir, &name, &[&selectors, &[51, 200], &frame[..cut]]);
                    }
                }
            }
        }
    }
    payload_sample
}

/// `packets` target seeds: `width - 1 | height - 1 | value limit | packet set`, the packets of
/// real frames of the default model (whose tables the target decodes with), whole, with
/// packets lost, reordered and duplicated.
fn packets_seeds(encoder: &mut Encoder) {
    use limitnet::codec::packet::{self, PacketOptions};
    let dir = seed_dir("packets");
    let tables = &encoder.bundle().tables.clone();
    for (photo, w, h) in [
        ("coffee-224.png", 224, 224),
        ("astronaut-224.png", 64, 48),
        ("chelsea-224.png", 13, 7),
    ] {
        let frame = encode(encoder, photo, w, h, 100.0);
        let real = encoder.stream_params(w, h);
        let decoded = limitnet::codec::decode_frame(tables, &real, &frame, usize::MAX).unwrap();
        let params = StreamParams {
            width: w,
            height: h,
            model_id: FRAME_TARGET_MODEL_ID.into(),
        };
        let levels = decoded.levels_by_index(
            tables,
            decoded.channels * params.latent_dims().0 * params.latent_dims().1,
        );
        let selectors = [(w - 1) as u8, (h - 1) as u8];
        for (interleave, max_packet) in [(1, 51), (8, 222)] {
            let options = PacketOptions {
                max_packet,
                interleave,
                ..PacketOptions::default()
            };
            let packets = packet::packetize(
                tables,
                &params,
                decoded.saliency.as_ref().unwrap(),
                &levels,
                decoded.levels.len(),
                &options,
            )
            .unwrap();
            let set_of = |chosen: &mut dyn Iterator<Item = &Vec<u8>>| {
                let mut set = Vec::new();
                for p in chosen {
                    packet::push_to_set(&mut set, p);
                }
                set
            };
            let name = format!(
                "{}-{w}x{h}-{max_packet}-g{interleave}",
                photo.trim_end_matches("-224.png")
            );
            write(
                &dir,
                &name,
                &[&selectors, &[255], &set_of(&mut packets.iter())],
            );
            // Every third packet lost, the rest reversed, one duplicated; a 30 % value limit.
            let mut lossy: Vec<&Vec<u8>> = packets
                .iter()
                .enumerate()
                .filter(|(i, _)| i % 3 != 1)
                .map(|(_, p)| p)
                .collect();
            lossy.reverse();
            lossy.push(&packets[0]);
            write(
                &dir,
                &format!("{name}-lossy"),
                &[&selectors, &[77], &set_of(&mut lossy.into_iter())],
            );
        }
    }
}

/// `container` target seeds: `chunk selector | file`, a real .lnet file and cuts of it.
fn container_seeds(models: &Path) {
    gst::init().unwrap();
    gstlimitnet::plugin_register_static().unwrap();
    let dir = seed_dir("container");
    let tmp = std::env::temp_dir().join(format!("limitnet-fuzz-seeds-{}.lnet", std::process::id()));
    common::run_pipeline(&format!(
        "multifilesrc location={} loop=true num-buffers=3 caps=image/png,framerate=10/1 ! pngdec ! \
         videoconvert ! videoscale ! video/x-raw,width=64,height=48 ! \
         limitnetenc percentage=40 model={} ! limitnetmux ! filesink location={}",
        common::data_path("coffee-224.png").display(),
        models.display(),
        tmp.display()
    ))
    .unwrap();
    let file = std::fs::read(&tmp).unwrap();
    std::fs::remove_file(&tmp).unwrap();
    assert!(file.len() < 4096, "seed .lnet of {} bytes", file.len());
    write(&dir, "coffee-64x48", &[&[0], &file]);
    write(&dir, "coffee-64x48-chunks7", &[&[6], &file]);
    // Cut inside the caps, the first record header, and the last payload.
    for cut in [20, file.len() / 2, file.len() - 50] {
        write(
            &dir,
            &format!("coffee-64x48-cut{cut}"),
            &[&[2], &file[..cut]],
        );
    }
}

/// `tables` target seeds: the real codec.json (and a broken one), and code lengths of some
/// channels with real payload bits to decode.
fn tables_seeds(codec_json: &[u8], payload: &[u8]) {
    let dir = seed_dir("tables");
    write(&dir, "codec-json", &[&[0], codec_json]);
    let mut json: serde_json::Value = serde_json::from_slice(codec_json).unwrap();
    // Regression: a range whose width overflows f32 (src/codec/tables.rs tests).
    let real = json.clone();
    json["latent_min"][0] = (-3e38).into();
    json["latent_max"][0] = 3e38.into();
    write(
        &dir,
        "range-overflow",
        &[&[0], &serde_json::to_vec(&json).unwrap()],
    );
    let json = real;
    // Version 2 tables: code_lengths[channel][context][level].
    let lengths = json["code_lengths"].as_array().unwrap();
    let last = lengths.len() - 1;
    for (c, k) in [(0, 0), (0, 3), (5, 1), (last, 2)] {
        let code: Vec<u8> = lengths[c][k]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l.as_u64().unwrap() as u8)
            .collect();
        let n = [(code.len() - 1) as u8];
        let bits = &payload[..payload.len().min(256)];
        write(
            &dir,
            &format!("lengths-channel{c}-context{k}"),
            &[&[1], &n, &code, bits],
        );
    }
}

/// `bundle` target seeds: `encoder length | decoder length | graphs | codec.json`, with the
/// start of the real graphs (the hash is all the loader does with them).
fn bundle_seeds(codec_json: &[u8]) {
    let dir = seed_dir("bundle");
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/limitnet-lite");
    let encoder = std::fs::read(models.join("encoder.onnx")).unwrap();
    let decoder = std::fs::read(models.join("decoder.onnx")).unwrap();
    let (encoder, decoder) = (&encoder[..256], &decoder[..256]);
    let len = |b: &[u8]| (b.len() as u16).to_le_bytes();
    write(
        &dir,
        "limitnet-lite",
        &[&len(encoder), &len(decoder), encoder, decoder, codec_json],
    );
    write(&dir, "no-graphs", &[&[0; 4], codec_json]);
}

#[test]
#[ignore = "writes fuzz/seeds; run by hand when the formats change"]
fn write_fuzz_seeds() {
    // The default bundle, whose codec.json the frame target decodes with.
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/limitnet-lite");
    let bundle = ModelBundle::from_dir(&dir).unwrap();
    let codec_json = std::fs::read(dir.join("codec.json")).unwrap();
    let mut encoder = Encoder::new(Arc::new(bundle), 1).unwrap();
    let payload = frame_seeds(&mut encoder);
    container_seeds(&dir);
    tables_seeds(&codec_json, &payload);
    bundle_seeds(&codec_json);
    packets_seeds(&mut Encoder::new(ModelBundle::embedded().unwrap(), 1).unwrap());
    normalize_seeds();
}

/// `normalize` target seeds: the real encoder graphs (whose normalisation folds) and a decoder
/// graph (which has none).
fn normalize_seeds() {
    let dir = seed_dir("normalize");
    let models = Path::new(env!("CARGO_MANIFEST_DIR")).join("models");
    for (name, file) in [
        ("lite-encoder", "limitnet-lite/encoder.onnx"),
        ("paper-encoder", "limitnet-paper/encoder.onnx"),
        ("lite-decoder", "limitnet-lite/decoder.onnx"),
    ] {
        write(&dir, name, &[&std::fs::read(models.join(file)).unwrap()]);
    }
}
