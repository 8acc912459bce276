//! The codec as a library, without GStreamer: RGB frame -> progressive bytes -> RGB frame.
//!
//! ```no_run
//! use limitnet::{Cut, Decoder, DecodeOptions, Encoder, EncodeOptions, ImageRef, ModelBundle, PixelLayout};
//!
//! let bundle = ModelBundle::embedded()?;
//! let mut encoder = Encoder::new(bundle.clone(), 1)?;
//! let mut decoder = Decoder::new(bundle, 2)?;
//! let (w, h) = (224u32, 224u32);
//! let rgb = vec![128u8; (w * h * 3) as usize];
//! let frame = encoder.encode(&ImageRef::packed(&rgb, w, h, PixelLayout::Rgb), &EncodeOptions::default())?;
//! // Any prefix decodes: here the first 512 bytes, or 20 % of the values.
//! let params = encoder.stream_params(w, h);
//! let (image, report) = decoder.decode(&params, &frame.data[..512.min(frame.data.len())], &DecodeOptions::default())?;
//! let (image20, _) = decoder.decode(&params, &frame.data, &Cut::percentage(20.0).into())?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::sync::Arc;

pub use crate::codec::packet::Concealment;
use crate::codec::packet::{self, PacketStats};
use crate::codec::quant::round_to_u8;
use crate::codec::{self, DecodedFrame, FrameError, FrameStatus, SaliencyMap, StreamParams};
use crate::model::{
    BundleError, DecoderSession, EncoderSession, ModelBundle, RuntimeUnavailable, SessionError,
    tiles,
};
use crate::sender::{FixedRowEncoder, RowEncoder, RowSender};

/// Largest frame side accepted (the decoder's full-resolution feature maps grow with the area).
pub const MAX_DIMENSION: u32 = 4096;

/// Why the codec could not run (frame damage is never an error: see [`DecodeReport`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// ONNX Runtime could not be loaded (what was tried, and how to install it).
    RuntimeUnavailable(RuntimeUnavailable),
    /// A network of the bundle could not be loaded or run.
    Network(SessionError),
    /// The model bundle is missing or invalid.
    Bundle(BundleError),
    /// The stream was encoded with model `stream`, not this decoder's.
    WrongModel {
        stream: String,
        decoder: String,
        decoder_name: String,
    },
    /// The caller's image or parameters are unusable.
    Input(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::RuntimeUnavailable(e) => e.fmt(f),
            Self::Network(e) => write!(f, "model: {e}"),
            Self::Bundle(e) => e.fmt(f),
            Self::WrongModel {
                stream,
                decoder,
                decoder_name,
            } => write!(
                f,
                "stream was encoded with model {stream} but the decoder has model {decoder} ({decoder_name})"
            ),
            Self::Input(m) => write!(f, "input: {m}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::RuntimeUnavailable(e) => Some(e),
            Self::Network(e) => Some(e),
            Self::Bundle(e) => Some(e),
            _ => None,
        }
    }
}

impl From<SessionError> for Error {
    fn from(e: SessionError) -> Self {
        match e {
            SessionError::Runtime(e) => Self::RuntimeUnavailable(e),
            other => Self::Network(other),
        }
    }
}

impl From<RuntimeUnavailable> for Error {
    fn from(e: RuntimeUnavailable) -> Self {
        Self::RuntimeUnavailable(e)
    }
}

impl From<BundleError> for Error {
    fn from(e: BundleError) -> Self {
        Self::Bundle(e)
    }
}

/// Byte layout of a packed 8-bit RGB pixel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelLayout {
    Rgb,
    Bgr,
    Rgbx,
    Bgrx,
    Xrgb,
    Xbgr,
}

impl PixelLayout {
    /// (red, green, blue offsets, bytes per pixel). Alpha variants share the x layouts.
    pub fn offsets(self) -> ([usize; 3], usize) {
        match self {
            Self::Rgb => ([0, 1, 2], 3),
            Self::Bgr => ([2, 1, 0], 3),
            Self::Rgbx => ([0, 1, 2], 4),
            Self::Bgrx => ([2, 1, 0], 4),
            Self::Xrgb => ([1, 2, 3], 4),
            Self::Xbgr => ([3, 2, 1], 4),
        }
    }
}

/// A borrowed packed RGB image.
#[derive(Debug, Clone, Copy)]
pub struct ImageRef<'a> {
    pub data: &'a [u8],
    pub width: u32,
    pub height: u32,
    /// Bytes from one row to the next.
    pub stride: usize,
    pub layout: PixelLayout,
}

impl<'a> ImageRef<'a> {
    /// Rows without padding.
    pub fn packed(data: &'a [u8], width: u32, height: u32, layout: PixelLayout) -> Self {
        Self {
            data,
            width,
            height,
            stride: width as usize * layout.offsets().1,
            layout,
        }
    }
}

fn check_size(width: u32, height: u32) -> Result<(), Error> {
    if width == 0 || height == 0 || width > MAX_DIMENSION || height > MAX_DIMENSION {
        return Err(Error::Input(format!(
            "frame size {width}x{height} outside 1..={MAX_DIMENSION}"
        )));
    }
    Ok(())
}

/// Bytes per frame that a bit rate allows at a frame rate: `bitrate / 8 / (fps_n / fps_d)`,
/// rounded down but at least 1. `None` when there is no budget: `bitrate` 0 (off), or a frame
/// rate that is unknown or variable (`0/1`) or invalid.
pub fn frame_budget(bitrate: u32, fps_n: i32, fps_d: i32) -> Option<usize> {
    if bitrate == 0 || fps_n <= 0 || fps_d <= 0 {
        return None;
    }
    let bytes = u64::from(bitrate) * fps_d as u64 / (8 * fps_n as u64);
    Some(bytes.clamp(1, usize::MAX as u64) as usize)
}

/// The tighter of two byte limits where 0 means "no limit".
pub fn min_limit(a: usize, b: usize) -> usize {
    match (a, b) {
        (0, b) => b,
        (a, 0) => a,
        (a, b) => a.min(b),
    }
}

/// How much of a frame to send or to decode: the first `percentage` % of its values in
/// priority order (of its items, with version 3 tables: coarse levels and refinement bits,
/// docs/bitstream.md "Refinement"), and at most `max_bytes` bytes. The one cut both sides understand; a cut
/// at the sender and the same cut at the receiver give the same image.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cut {
    /// Only the first `percentage` % of latent values (priority order), 0..=100.
    pub percentage: f64,
    /// At most this many bytes (0: no limit). Of a frame, its first `max_bytes` bytes; of a
    /// packet set, the packets that end within its first `max_bytes` bytes (the length fields
    /// not counted).
    pub max_bytes: usize,
}

impl Cut {
    /// Everything: 100 % of the values, no byte limit.
    pub const WHOLE: Cut = Cut {
        percentage: 100.0,
        max_bytes: 0,
    };

    /// The first `percentage` % of the values.
    pub fn percentage(percentage: f64) -> Self {
        Cut {
            percentage,
            ..Self::WHOLE
        }
    }

    /// The first `max_bytes` bytes.
    pub fn max_bytes(max_bytes: usize) -> Self {
        Cut {
            max_bytes,
            ..Self::WHOLE
        }
    }

    /// Values (items) kept of a latent of `total` values (items).
    pub fn values(&self, total: usize) -> usize {
        codec::values_for_percentage(total, self.percentage)
    }

    /// The byte limit (`usize::MAX` when there is none).
    pub fn byte_limit(&self) -> usize {
        if self.max_bytes > 0 {
            self.max_bytes
        } else {
            usize::MAX
        }
    }
}

impl Default for Cut {
    fn default() -> Self {
        Self::WHOLE
    }
}

/// What [`Encoder::encode`] sends of a frame.
pub type EncodeOptions = Cut;

#[derive(Debug, Clone)]
pub struct EncodedFrame {
    pub data: Vec<u8>,
    /// Values announced in the frame (before any `max_bytes` cut); items of the priority
    /// order with version 3 tables, as in every count here.
    pub values: usize,
    /// Values (items) in the latent.
    pub total_values: usize,
    pub saliency: SaliencyMap,
}

/// Encodes frames of any size with one bundle (one ONNX session, buffers reused).
pub struct Encoder {
    bundle: Arc<ModelBundle>,
    network: EncoderNetwork,
    /// The network's input: planar RGB of the padded frame (see
    /// [`EncoderSession::input_table`]). Reused, so a frame of the same
    /// size as the last one allocates nothing but its output bytes.
    input: Vec<f32>,
    levels: Vec<u8>,
    frames: codec::FrameEncoder,
}

/// What runs the encoder network.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Engine {
    /// The bundle's `encoder.onnx` through ONNX Runtime.
    #[default]
    OnnxRuntime,
    /// [`crate::sender`]: limitnet-lite's encoder in pure Rust, row by row, as a
    /// microcontroller runs it (no ONNX Runtime needed); its frames are the same.
    Rust,
    /// The same in fixed point, as a microcontroller without an FPU runs it
    /// ([`crate::sender::fixed`]: int8 weights, 8-bit activations, 8.0 KB of weights): frames
    /// that decode within 0.3 dB.
    RustInt8,
}

impl Engine {
    /// Every engine, in the order the element's `engine` property lists them.
    pub const ALL: [Engine; 3] = [Engine::OnnxRuntime, Engine::Rust, Engine::RustInt8];

    /// The engine's name, as `limitnetenc engine=NAME` and the examples' `--engine=NAME` take it.
    pub fn name(self) -> &'static str {
        match self {
            Engine::OnnxRuntime => "onnx-runtime",
            Engine::Rust => "rust",
            Engine::RustInt8 => "rust-int8",
        }
    }
}

impl core::str::FromStr for Engine {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Engine::ALL
            .into_iter()
            .find(|e| e.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Engine::ALL.iter().map(|e| e.name()).collect();
                format!("unknown engine {s:?} (one of {})", names.join(", "))
            })
    }
}

enum EncoderNetwork {
    Onnx(Box<EncoderSession>),
    /// Which Rust encoder, and its row encoder for the last frame size.
    Rust(Engine, Option<Box<dyn RowSender + Send>>),
}

/// Writes a packed frame into the three planes of `input` (`pw` x `ph` each, `pw >= w`,
/// `ph >= h`), each byte mapped through its channel's `table` (the network's input value per
/// byte), replicating the last column and row into the padding (cheaper to code than black).
/// `BPP` is the bytes per pixel, a constant so the row loop is specialised.
fn fill_planes<const BPP: usize>(
    image: &ImageRef<'_>,
    offsets: [usize; 3],
    table: &[[f32; 256]; 3],
    input: &mut [f32],
    pw: usize,
    ph: usize,
) {
    let (w, h) = (image.width as usize, image.height as usize);
    let (red, rest) = input.split_at_mut(pw * ph);
    let (green, blue) = rest.split_at_mut(pw * ph);
    for y in 0..h {
        let pixels = image.data[y * image.stride..][..w * BPP].chunks_exact(BPP);
        let rows = (
            &mut red[y * pw..][..pw],
            &mut green[y * pw..][..pw],
            &mut blue[y * pw..][..pw],
        );
        for (((px, r), g), b) in pixels
            .zip(rows.0.iter_mut())
            .zip(rows.1.iter_mut())
            .zip(rows.2.iter_mut())
        {
            *r = table[0][usize::from(px[offsets[0]])];
            *g = table[1][usize::from(px[offsets[1]])];
            *b = table[2][usize::from(px[offsets[2]])];
        }
        for row in [rows.0, rows.1, rows.2] {
            let last = row[w - 1];
            row[w..].fill(last);
        }
    }
    for plane in [red, green, blue] {
        for y in h..ph {
            plane.copy_within((h - 1) * pw..h * pw, y * pw);
        }
    }
}

impl Encoder {
    /// `threads`: ONNX Runtime intra-op threads (0: its default).
    pub fn new(bundle: Arc<ModelBundle>, threads: usize) -> Result<Self, Error> {
        Self::with_engine(bundle, threads, Engine::OnnxRuntime)
    }

    /// An encoder whose network runs on `engine`. [`Engine::Rust`] runs limitnet-lite only
    /// (its weights are compiled in) and needs no ONNX Runtime.
    pub fn with_engine(
        bundle: Arc<ModelBundle>,
        threads: usize,
        engine: Engine,
    ) -> Result<Self, Error> {
        let network = match engine {
            Engine::OnnxRuntime => {
                EncoderNetwork::Onnx(Box::new(EncoderSession::new(&bundle, threads)?))
            }
            Engine::Rust | Engine::RustInt8 => {
                let lite =
                    ModelBundle::embedded_named(crate::sender::BUNDLE_NAME).and_then(Result::ok);
                if lite.is_none_or(|lite| lite.id != bundle.id) {
                    return Err(Error::Input(format!(
                        "the Rust encoder runs {} only (this bundle is {} ({}))",
                        crate::sender::BUNDLE_NAME,
                        bundle.name,
                        bundle.id
                    )));
                }
                EncoderNetwork::Rust(engine, None)
            }
        };
        Ok(Self {
            bundle,
            network,
            input: Vec::new(),
            levels: Vec::new(),
            frames: codec::FrameEncoder::default(),
        })
    }

    pub fn bundle(&self) -> &Arc<ModelBundle> {
        &self.bundle
    }

    /// The stream parameters of frames of this size (what the caps carry).
    pub fn stream_params(&self, width: u32, height: u32) -> StreamParams {
        StreamParams {
            width,
            height,
            model_id: self.bundle.id.clone(),
        }
    }

    /// Bytes of the header and saliency map of a whole frame of this size: a cut below this
    /// sends no value.
    pub fn header_bytes(&self, width: u32, height: u32) -> usize {
        let (lh, lw) = self.stream_params(width, height).latent_dims();
        codec::header_bytes(
            self.bundle
                .tables
                .items(self.bundle.tables.channels() * lh * lw),
        )
    }

    pub fn encode(
        &mut self,
        image: &ImageRef<'_>,
        options: &EncodeOptions,
    ) -> Result<EncodedFrame, Error> {
        check_size(image.width, image.height)?;
        let (w, h) = (image.width as usize, image.height as usize);
        let (offsets, bpp) = image.layout.offsets();
        if image.stride < w * bpp || image.data.len() < image.stride * (h - 1) + w * bpp {
            return Err(Error::Input(format!(
                "{} bytes with stride {} are too few for {w}x{h}",
                image.data.len(),
                image.stride
            )));
        }
        let params = self.stream_params(image.width, image.height);
        let (pw, ph) = params.padded_size();
        let (pw, ph) = (pw as usize, ph as usize);
        let (lh, lw) = params.latent_dims();
        let quantizer = self.bundle.tables.quantizer();
        let saliency = match &mut self.network {
            EncoderNetwork::Onnx(session) => {
                self.input.resize(3 * pw * ph, 0.0);
                let table = session.input_table();
                if bpp == 3 {
                    fill_planes::<3>(image, offsets, table, &mut self.input, pw, ph);
                } else {
                    fill_planes::<4>(image, offsets, table, &mut self.input, pw, ph);
                }
                let levels = &mut self.levels;
                // Quantize and pool straight from the runtime's output tensors: no copies.
                session.run(&self.input, pw, ph, |latent, saliency| {
                    quantizer.quantize_latent(latent, levels);
                    SaliencyMap::pool(saliency, lh, lw)
                })?
            }
            EncoderNetwork::Rust(engine, rows) => {
                let encoder = match rows {
                    Some(e) if e.size() == (w, h) => e,
                    _ => rows.insert(if *engine == Engine::Rust {
                        let net = crate::sender::LITE_NETWORK;
                        Box::new(RowEncoder::new(net, quantizer.clone(), w, h))
                    } else {
                        let net = crate::sender::LITE_NETWORK_FIXED;
                        Box::new(FixedRowEncoder::new(net, w, h))
                    }),
                };
                let mut row = vec![0u8; 3 * w];
                for y in 0..h {
                    let pixels = image.data[y * image.stride..][..w * bpp].chunks_exact(bpp);
                    for (rgb, px) in row.chunks_exact_mut(3).zip(pixels) {
                        rgb.copy_from_slice(&[px[offsets[0]], px[offsets[1]], px[offsets[2]]]);
                    }
                    encoder.push_row(&row);
                }
                let out = encoder.finish();
                self.levels.clear();
                self.levels.extend_from_slice(out.levels);
                out.saliency
            }
        };
        // Items of the order: values, or coarse levels and refinement bits (version 3).
        let total = self.bundle.tables.items(self.levels.len());
        let values = options.values(total);
        let data = self.frames.encode_within(
            &self.bundle.tables,
            &params,
            &saliency,
            &self.levels,
            values,
            options.byte_limit(),
        );
        Ok(EncodedFrame {
            data,
            values,
            total_values: total,
            saliency,
        })
    }
}

/// How the bytes handed to the decoder are laid out (the caps' `stream-format`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum StreamFormat {
    /// One frame, or any prefix of one (`stream-format=frame`, the default).
    #[default]
    Frame,
    /// The packets of one frame that arrived, in any order, each preceded by its length as u16
    /// little-endian (`stream-format=packets`, from `limitnetdepay`; docs/bitstream.md "Packets").
    Packets,
    /// One packet per buffer (`stream-format=packet`, what `limitnetpacketizer` makes for raw
    /// radios); decoded as a packet set of one, which alone gives nothing: `limitnetdepacketizer`
    /// gathers a frame's packets into a packet set first.
    Packet,
}

impl StreamFormat {
    /// The caps field value.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Frame => "frame",
            Self::Packets => "packets",
            Self::Packet => "packet",
        }
    }

    /// From the caps field value (absent: a frame).
    pub fn from_caps_value(value: Option<&str>) -> Option<Self> {
        match value {
            None | Some("frame") => Some(Self::Frame),
            Some("packets") => Some(Self::Packets),
            Some("packet") => Some(Self::Packet),
            Some(_) => None,
        }
    }
}

/// What [`Decoder::decode`] uses of the data it is given, and how.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DecodeOptions {
    /// How much of it to decode.
    pub cut: Cut,
    /// What the data is: a frame (prefix) or a packet set.
    pub format: StreamFormat,
    /// What a packet set's lost values become (docs/bitstream.md "Packets").
    pub concealment: Concealment,
}

impl From<Cut> for DecodeOptions {
    /// A frame decoded with `cut` (lost values concealed, should it be a packet set).
    fn from(cut: Cut) -> Self {
        DecodeOptions {
            cut,
            ..Default::default()
        }
    }
}

/// What a decode could use of its frame. A frame always decodes to an image; this says how.
#[derive(Debug, Clone)]
pub struct DecodeReport {
    pub status: FrameStatus,
    /// Values decoded (the rest of the latent is zero).
    pub values: usize,
    /// Values the encoder sent.
    pub declared: usize,
    pub total_values: usize,
    /// Bytes of the frame that were used.
    pub bytes: usize,
    pub saliency: Option<SaliencyMap>,
    /// Set when the frame is not of this stream: nothing of it was used.
    pub rejected: Option<FrameError>,
    /// For a packet set: which packets were used and how many were dropped.
    pub packets: Option<PacketStats>,
}

/// Writes the pixels `ys` x `xs` (frame coordinates) of planar RGB in 0..1 (`3` planes of
/// `pw` x `ph`, whose top-left pixel is the frame's `origin` (row, column)) into packed RGB.
#[allow(clippy::too_many_arguments)]
fn write_rgb(
    rgb: &[f32],
    pw: usize,
    ph: usize,
    origin: (usize, usize),
    ys: std::ops::Range<usize>,
    xs: std::ops::Range<usize>,
    out: &mut [u8],
    stride: usize,
) {
    let plane = pw * ph;
    let (red, rest) = rgb.split_at(plane);
    let (green, blue) = rest.split_at(plane);
    let columns = xs.start - origin.1..xs.end - origin.1;
    for y in ys {
        let at = (y - origin.0) * pw;
        let planes = (
            &red[at..][columns.clone()],
            &green[at..][columns.clone()],
            &blue[at..][columns.clone()],
        );
        let row = out[y * stride + 3 * xs.start..][..3 * xs.len()].chunks_exact_mut(3);
        for (((px, &r), &g), &b) in row.zip(planes.0).zip(planes.1).zip(planes.2) {
            px[0] = round_to_u8(r * 255.0, 255.0);
            px[1] = round_to_u8(g * 255.0, 255.0);
            px[2] = round_to_u8(b * 255.0, 255.0);
        }
    }
}

/// Loads ONNX Runtime (once per process) and says whether it is usable, without creating a
/// session: what an element checks at start when its bundle is only known later.
pub fn check_runtime() -> Result<(), Error> {
    crate::model::runtime::runtime()?;
    Ok(())
}

/// Latent cells of context around each decoder tile, beyond every bundle's receptive field
/// (the sub-pixel decoder of limitnet-fast and -lite reaches beyond 8 cells, limitnet-layered's
/// refiner 2 cells more, limitnet-paper's at most 4), so a tiled decode gives the whole-frame
/// decode's pixels exactly (docs/memory.md).
pub const DECODER_HALO: usize = 12;

/// Latent cells per side of a decoder tile's core for bundle `name`, so that decoding any frame
/// size stays within about 0.7 GB (docs/memory.md). limitnet-paper's decoder keeps 64-channel
/// maps at full resolution (about 3.6 KB a pixel); the sub-pixel decoders need about 30 times
/// less. Bundles from a directory get the paper's size, which is safe for any of them.
pub fn decoder_tile_cells(name: &str) -> usize {
    match name {
        "limitnet-lite" | "limitnet-layered" | "limitnet-fast" => 192,
        _ => 32,
    }
}

/// Decodes frames of one bundle (one ONNX session, buffers reused). Frames larger than a tile
/// ([`decoder_tile_cells`]) are decoded in overlapping tiles, so memory does not grow with the
/// frame size.
pub struct Decoder {
    bundle: Arc<ModelBundle>,
    session: DecoderSession,
    latent: Vec<f32>,
    /// The latent of one tile, when a frame is decoded in tiles.
    tile_latent: Vec<f32>,
    /// Latent cells per side of a tile's core (0: never tile).
    tile_cells: usize,
}

impl Decoder {
    pub fn new(bundle: Arc<ModelBundle>, threads: usize) -> Result<Self, Error> {
        let session = DecoderSession::new(&bundle, threads)?;
        Ok(Self {
            tile_cells: decoder_tile_cells(&bundle.name),
            bundle,
            session,
            latent: Vec::new(),
            tile_latent: Vec::new(),
        })
    }

    /// Latent cells per side of a decoder tile's core; 0 decodes every frame whole. Smaller
    /// tiles use less memory and repeat more work at their overlaps.
    pub fn set_tile_cells(&mut self, cells: usize) {
        self.tile_cells = cells;
    }

    pub fn tile_cells(&self) -> usize {
        self.tile_cells
    }

    pub fn bundle(&self) -> &Arc<ModelBundle> {
        &self.bundle
    }

    /// Only the entropy decoding, no network: which values (a prefix of) `data` gives, the
    /// bytes used and, for a packet set, what became of its packets.
    pub fn decode_values(
        &self,
        params: &StreamParams,
        data: &[u8],
        options: &DecodeOptions,
    ) -> (Result<DecodedFrame, FrameError>, usize, Option<PacketStats>) {
        let (lh, lw) = params.latent_dims();
        let total = self.bundle.tables.channels() * lh * lw;
        let max_values = options.cut.values(self.bundle.tables.items(total));
        let tables = &self.bundle.tables;
        match options.format {
            StreamFormat::Frame => {
                let used = data.len().min(options.cut.byte_limit());
                let frame = codec::decode_frame(tables, params, &data[..used], max_values);
                (frame, used, None)
            }
            StreamFormat::Packets | StreamFormat::Packet => {
                let limit = options.cut.byte_limit();
                let all: Vec<&[u8]> = if options.format == StreamFormat::Packet {
                    vec![data]
                } else {
                    packet::packets_of_set(data).collect()
                };
                let mut used = 0;
                let packets: Vec<&[u8]> = all
                    .into_iter()
                    .take_while(|p| {
                        used += p.len();
                        used <= limit
                    })
                    .collect();
                let used = packets.iter().map(|p| p.len()).sum();
                let cut_short = usize::from(
                    options.format == StreamFormat::Packets && !packet::set_is_whole(data),
                );
                match packet::decode_packets(tables, params, packets.iter().copied(), max_values) {
                    Ok((frame, mut stats)) => {
                        stats.dropped += cut_short;
                        (Ok(frame), used, Some(stats))
                    }
                    Err(e) => (Err(e), used, None),
                }
            }
        }
    }

    /// The checks shared by every decode into a caller's buffer.
    fn check_output(&self, params: &StreamParams, out: &[u8], stride: usize) -> Result<(), Error> {
        check_size(params.width, params.height)?;
        if params.model_id != self.bundle.id {
            return Err(Error::WrongModel {
                stream: params.model_id.clone(),
                decoder: self.bundle.id.clone(),
                decoder_name: self.bundle.name.clone(),
            });
        }
        let (w, h) = (params.width as usize, params.height as usize);
        if stride < 3 * w || out.len() < stride * (h - 1) + 3 * w {
            return Err(Error::Input(format!(
                "output of {} bytes with stride {stride} is too small for {w}x{h}",
                out.len()
            )));
        }
        Ok(())
    }

    /// Entropy-decodes (a prefix of) a frame; with `latent`, also writes the dequantized latent
    /// (all zero when the frame is rejected).
    fn decode_report(
        &self,
        params: &StreamParams,
        data: &[u8],
        options: &DecodeOptions,
        latent: Option<&mut Vec<f32>>,
    ) -> DecodeReport {
        let (lh, lw) = params.latent_dims();
        let total = self.bundle.tables.channels() * lh * lw;
        // Reports count items (coarse levels and refinement bits with version 3 tables).
        let total_items = self.bundle.tables.items(total);
        let (frame, used, packets) = self.decode_values(params, data, options);
        match frame {
            Ok(frame) => {
                if let Some(latent) = latent {
                    latent.resize(total, 0.0);
                    frame.fill_latent(&self.bundle.tables, latent);
                    packet::conceal_holes(&frame, lh, lw, options.concealment, latent);
                }
                DecodeReport {
                    status: frame.status,
                    values: frame.levels.len(),
                    declared: frame.declared,
                    total_values: total_items,
                    bytes: used,
                    saliency: frame.saliency,
                    rejected: None,
                    packets,
                }
            }
            Err(e) => {
                if let Some(latent) = latent {
                    latent.clear();
                    latent.resize(total, 0.0);
                }
                DecodeReport {
                    status: FrameStatus::NoSaliency,
                    values: 0,
                    declared: 0,
                    total_values: total_items,
                    bytes: used,
                    saliency: None,
                    rejected: Some(e),
                    packets,
                }
            }
        }
    }

    /// Decodes into packed RGB (`out`, rows `stride` bytes apart) at the stream's true size.
    pub fn decode_into(
        &mut self,
        params: &StreamParams,
        data: &[u8],
        options: &DecodeOptions,
        out: &mut [u8],
        stride: usize,
    ) -> Result<DecodeReport, Error> {
        self.check_output(params, out, stride)?;
        let (w, h) = (params.width as usize, params.height as usize);
        let (lh, lw) = params.latent_dims();
        let mut latent = std::mem::take(&mut self.latent);
        let report = self.decode_report(params, data, options, Some(&mut latent));
        self.latent = latent;
        let channels = self.bundle.tables.channels();
        let rows = tiles::spans(lh, self.tile_cells, DECODER_HALO);
        let columns = tiles::spans(lw, self.tile_cells, DECODER_HALO);
        for row in &rows {
            for column in &columns {
                let (rh, rw) = (row.region.len(), column.region.len());
                let whole = rh == lh && rw == lw;
                if !whole {
                    self.tile_latent.clear();
                    for plane in self.latent.chunks_exact(lh * lw).take(channels) {
                        for y in row.region.clone() {
                            self.tile_latent
                                .extend_from_slice(&plane[y * lw..][column.region.clone()]);
                        }
                    }
                }
                let input = if whole {
                    &self.latent
                } else {
                    &self.tile_latent
                };
                // The core's pixels, clipped to the frame, and where the tile's output starts.
                let ys = row.core.start * 8..(row.core.end * 8).min(h);
                let xs = column.core.start * 8..(column.core.end * 8).min(w);
                let origin = (row.region.start * 8, column.region.start * 8);
                self.session.run(input, rh, rw, |rgb| {
                    write_rgb(rgb, rw * 8, rh * 8, origin, ys, xs, out, stride)
                })?;
            }
        }
        Ok(report)
    }

    /// Draws the frame's received saliency map instead of decoding the image (no network run):
    /// a grey packed-RGB image at the stream's true size, see [`SaliencyMap::render_rgb`].
    /// A frame cut before its map, or rejected, draws black.
    pub fn saliency_into(
        &self,
        params: &StreamParams,
        data: &[u8],
        options: &DecodeOptions,
        out: &mut [u8],
        stride: usize,
    ) -> Result<DecodeReport, Error> {
        self.check_output(params, out, stride)?;
        let report = self.decode_report(params, data, options, None);
        SaliencyMap::render_rgb(
            report.saliency.as_ref(),
            params.width as usize,
            params.height as usize,
            out,
            stride,
        );
        Ok(report)
    }

    /// Decodes into a new packed RGB buffer (`3 * width * height` bytes).
    pub fn decode(
        &mut self,
        params: &StreamParams,
        data: &[u8],
        options: &DecodeOptions,
    ) -> Result<(Vec<u8>, DecodeReport), Error> {
        check_size(params.width, params.height)?;
        let stride = 3 * params.width as usize;
        let mut out = vec![0u8; stride * params.height as usize];
        let report = self.decode_into(params, data, options, &mut out, stride)?;
        Ok((out, report))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_budget_from_bitrate_and_framerate() {
        assert_eq!(frame_budget(0, 10, 1), None);
        assert_eq!(frame_budget(40_000, 10, 1), Some(500));
        // 30000/1001 fps: 1001 * 64000 / (8 * 30000) = 266.93
        assert_eq!(frame_budget(64_000, 30_000, 1_001), Some(266));
        assert_eq!(
            frame_budget(8, 25, 1),
            Some(1),
            "never 0: that would mean no cut"
        );
        assert_eq!(frame_budget(u32::MAX, 1, 1), Some(536_870_911));
        assert_eq!(frame_budget(40_000, 0, 1), None, "variable frame rate");
        assert_eq!(frame_budget(40_000, 10, 0), None);
        assert_eq!(frame_budget(40_000, -1, 1), None);
    }

    #[test]
    fn min_limit_ignores_zero() {
        assert_eq!(min_limit(0, 0), 0);
        assert_eq!(min_limit(0, 300), 300);
        assert_eq!(min_limit(512, 0), 512);
        assert_eq!(min_limit(512, 300), 300);
    }
}
