//! What the elements share: caps names and fields, properties, packet handling, and how
//! model and runtime failures become element errors.

use std::path::Path;
use std::sync::Arc;

use gst::glib;
use gst::prelude::*;

use limitnet::api::{Error, MAX_DIMENSION, StreamFormat};
use limitnet::codec::StreamParams;
use limitnet::codec::packet::{self, PacketError, PacketOptions};
use limitnet::model::ModelBundle;

/// Media type of a `.lnet` file (limitnetmux output, limitnetparse input).
pub const FILE_CAPS_NAME: &str = "application/x-limitnet-file";

/// Defaults of the properties limitnetenc and limitnetdec both have.
pub const DEFAULT_PERCENTAGE: f64 = 100.0;
pub const DEFAULT_MAX_BYTES: u32 = 0;

/// Media type of a LimitNet stream; fields: width, height, framerate, model-id.
pub const CAPS_NAME: &str = "image/x-limitnet";

/// RTP `encoding-name` of LimitNet packets (docs/rtp-payload.md).
pub const RTP_ENCODING_NAME: &str = "X-LIMITNET";

/// `image/x-limitnet` caps of a stream (the one place they are built): width, height,
/// model-id, the frame rate when known, and `stream-format` unless it is the default (frames).
pub fn stream_caps(
    params: &StreamParams,
    framerate: Option<gst::Fraction>,
    format: StreamFormat,
) -> gst::Caps {
    let mut caps = gst::Caps::builder(CAPS_NAME)
        .field("width", params.width as i32)
        .field("height", params.height as i32);
    if let Some(framerate) = framerate {
        caps = caps.field("framerate", framerate);
    }
    caps = caps.field("model-id", params.model_id.as_str());
    if format != StreamFormat::Frame {
        caps = caps.field("stream-format", format.as_str());
    }
    caps.build()
}

/// `caps` with their `stream-format` set to `format` (the packet elements change only that).
pub fn with_stream_format(caps: &gst::CapsRef, format: StreamFormat) -> gst::Caps {
    let mut out = caps.to_owned();
    out.make_mut().set("stream-format", format.as_str());
    out
}

/// The RTP caps fields (SDP fmtp parameters, strings) that carry a stream's parameters
/// (docs/rtp-payload.md).
pub fn rtp_fmtp_fields(params: &StreamParams, s: &mut gst::StructureRef) {
    s.set("width", params.width.to_string());
    s.set("height", params.height.to_string());
    s.set("model-id", params.model_id.as_str());
}

/// The stream parameters in RTP caps (see [`rtp_fmtp_fields`]); `None` if one is missing or
/// out of range.
pub fn params_from_rtp_caps(s: &gst::StructureRef) -> Option<StreamParams> {
    let dimension = |name: &str| {
        s.get::<&str>(name)
            .ok()
            .and_then(|v| v.parse::<u32>().ok())
            .filter(|v| (1..=MAX_DIMENSION).contains(v))
    };
    Some(StreamParams {
        width: dimension("width")?,
        height: dimension("height")?,
        model_id: s.get::<&str>("model-id").ok()?.to_string(),
    })
}

/// The stream parameters and format of `image/x-limitnet` caps, or the name of the field they
/// lack (or hold a value of that is not understood).
pub fn stream_params(caps: &gst::CapsRef) -> Result<(StreamParams, StreamFormat), &'static str> {
    let s = caps.structure(0).ok_or("structure")?;
    let format = StreamFormat::from_caps_value(s.get::<&str>("stream-format").ok())
        .ok_or("known stream-format")?;
    let dimension = |name: &'static str| {
        s.get::<i32>(name)
            .ok()
            .and_then(|v| u32::try_from(v).ok())
            .ok_or(name)
    };
    let params = StreamParams {
        width: dimension("width")?,
        height: dimension("height")?,
        model_id: s
            .get::<&str>("model-id")
            .map_err(|_| "model-id")?
            .to_string(),
    };
    Ok((params, format))
}

/// The codec tables of a stream of model `model_id`: the `model` property's bundle (which must
/// be that model), else the compiled-in bundle with that id.
pub fn bundle_for_stream(
    model_id: &str,
    model: Option<&Path>,
) -> Result<Arc<ModelBundle>, gst::ErrorMessage> {
    if model.is_some() {
        let bundle = load_bundle(model)?;
        if bundle.id != model_id {
            return Err(gst::error_msg!(
                gst::StreamError::WrongType,
                [
                    "Stream encoded with model {} but the model property names model {} ({})",
                    model_id,
                    bundle.id,
                    bundle.name
                ]
            ));
        }
        return Ok(bundle);
    }
    ModelBundle::embedded_with_id(model_id).ok_or_else(|| {
        gst::error_msg!(
            gst::StreamError::WrongType,
            [
                "Stream of model {} is not one of the compiled-in bundles ({}): set the model property to its bundle directory",
                model_id,
                ModelBundle::embedded_names().collect::<Vec<_>>().join(", ")
            ]
        )
    })
}

/// Loads the bundle of the `model` property (or the embedded one) as an element error.
pub fn load_bundle(path: Option<&Path>) -> Result<Arc<ModelBundle>, gst::ErrorMessage> {
    ModelBundle::load(path).map_err(|e| init_error(e.into()))
}

/// A failure to create the network sessions, as an element error that says what to do: a
/// missing runtime is a library init error, a bad bundle a settings error.
pub fn init_error(e: Error) -> gst::ErrorMessage {
    match e {
        Error::RuntimeUnavailable(e) => gst::error_msg!(gst::LibraryError::Init, ["{}", e]),
        Error::Bundle(e) => gst::error_msg!(
            gst::ResourceError::OpenRead,
            ["Cannot load the model bundle: {}", e]
        ),
        other => gst::error_msg!(gst::LibraryError::Settings, ["{}", other]),
    }
}

/// `percentage` (0..100, default 100, changeable while playing); `blurb` says what it limits.
pub fn percentage_property(blurb: &str) -> glib::ParamSpec {
    glib::ParamSpecDouble::builder("percentage")
        .nick("Percentage")
        .blurb(blurb)
        .minimum(0.0)
        .maximum(100.0)
        .default_value(DEFAULT_PERCENTAGE)
        .mutable_playing()
        .build()
}

/// `max-bytes` (0 = no limit, changeable while playing).
pub fn max_bytes_property(blurb: &str) -> glib::ParamSpec {
    glib::ParamSpecUInt::builder("max-bytes")
        .nick("Maximum bytes per frame")
        .blurb(blurb)
        .default_value(DEFAULT_MAX_BYTES)
        .mutable_playing()
        .build()
}

/// `model`: a compiled-in bundle's name or a bundle directory; `unset` says what no value means.
pub fn model_property(unset: &str) -> glib::ParamSpec {
    glib::ParamSpecString::builder("model")
        .nick("Model bundle")
        .blurb(&format!("Model bundle: the name of a compiled-in one ({}) or a directory holding encoder.onnx, decoder.onnx and codec.json; unset = {unset}. Encoder and decoder must use the same bundle. Set in the NULL or READY state", ModelBundle::embedded_names().collect::<Vec<_>>().join(", ")))
        .mutable_ready()
        .build()
}

/// What `set_property` does with a property that only takes effect at the next start (the
/// `mutable_ready` ones) while the element runs: keeps the old value and says so, instead of
/// reading back a value that is not in use.
pub fn refuse_while_running(element: &impl IsA<gst::Element>, property: &str) {
    let element = element.as_ref();
    gst::warning!(
        gst::CAT_RUST,
        obj = element,
        "{property} is not changed: it can only be set in the NULL or READY state"
    );
    gst::element_warning!(
        element,
        gst::CoreError::StateChange,
        (
            "Property {} is not changed while {} runs",
            property,
            element.name()
        ),
        ["It takes effect when the element starts: set it in the NULL or READY state"]
    );
}

/// Defaults of the packet properties of limitnetpay and limitnetpacketizer.
pub const DEFAULT_HEADER_COPIES: u32 = 2;
pub const DEFAULT_INTERLEAVE: u32 = 1;
pub const DEFAULT_PROTECT: u32 = 0;

/// The properties limitnetpay and limitnetpacketizer share: how frames become packets.
#[derive(Debug, Clone)]
pub struct PacketSettings {
    pub header_copies: u32,
    pub interleave: u32,
    pub protect: u32,
    pub model: Option<String>,
}

impl Default for PacketSettings {
    fn default() -> Self {
        Self {
            header_copies: DEFAULT_HEADER_COPIES,
            interleave: DEFAULT_INTERLEAVE,
            protect: DEFAULT_PROTECT,
            model: None,
        }
    }
}

impl PacketSettings {
    pub fn properties() -> [glib::ParamSpec; 4] {
        [
            header_copies_property(),
            interleave_property(),
            protect_property(),
            glib::ParamSpecString::builder("model")
                .nick("Model bundle")
                .blurb("Only for a stream of a bundle directory: that directory (its codec tables code the packets); unset = the compiled-in bundle whose id the stream's model-id names")
                .mutable_ready()
                .build(),
        ]
    }

    /// Sets the property `name`; false if it is not one of these.
    pub fn set(&mut self, name: &str, value: &glib::Value) -> bool {
        match name {
            "header-copies" => self.header_copies = value.get().expect("type checked upstream"),
            "interleave" => self.interleave = value.get().expect("type checked upstream"),
            "protect" => self.protect = value.get().expect("type checked upstream"),
            "model" => self.model = value.get().expect("type checked upstream"),
            _ => return false,
        }
        true
    }

    pub fn get(&self, name: &str) -> Option<glib::Value> {
        match name {
            "header-copies" => Some(self.header_copies.to_value()),
            "interleave" => Some(self.interleave.to_value()),
            "protect" => Some(self.protect.to_value()),
            "model" => Some(self.model.to_value()),
            _ => None,
        }
    }
}

/// The stream a packetizing element (limitnetpay, limitnetpacketizer) sends.
pub struct PacketStream {
    pub params: StreamParams,
    pub bundle: Arc<ModelBundle>,
    /// Frames sent so far (packets carry the last 3 bits).
    frames: u32,
}

/// What became of a frame handed to [`PacketStream::packets`].
pub enum FramePackets {
    Packets(Vec<Vec<u8>>),
    /// Not sent (not a frame of this stream, or cut before its saliency map): why, for a warning.
    NotSent(String),
}

impl PacketStream {
    /// From the element's sink caps: whole frames of a stream whose bundle is compiled in (or the
    /// `model` property's).
    pub fn from_caps(
        element: &str,
        caps: &gst::CapsRef,
        model: Option<&str>,
    ) -> Result<Self, gst::ErrorMessage> {
        let (params, format) = stream_params(caps).map_err(|missing| {
            gst::error_msg!(
                gst::StreamError::Format,
                ["Stream caps {} have no {}: LimitNet streams carry width, height and model-id (from limitnetenc or limitnetparse)", caps, missing]
            )
        })?;
        if format != StreamFormat::Frame {
            return Err(gst::error_msg!(
                gst::StreamError::Format,
                [
                    "{} takes whole frames (from limitnetenc or limitnetparse), not {}",
                    element,
                    caps
                ]
            ));
        }
        let bundle = bundle_for_stream(&params.model_id, model.map(Path::new))?;
        Ok(Self {
            params,
            bundle,
            frames: 0,
        })
    }

    /// The packets of the next frame (or prefix of one), of at most `max_packet` bytes.
    pub fn packets(
        &mut self,
        frame: &[u8],
        max_packet: usize,
        settings: &PacketSettings,
    ) -> Result<FramePackets, PacketError> {
        let options = PacketOptions {
            max_packet,
            header_copies: settings.header_copies as usize,
            interleave: settings.interleave as usize,
            protect: settings.protect as usize,
            frame_number: self.frames,
        };
        match packet::packetize_frame(&self.bundle.tables, &self.params, frame, &options) {
            Ok(packets) => {
                self.frames = self.frames.wrapping_add(1);
                Ok(FramePackets::Packets(packets))
            }
            Err(e @ (PacketError::Frame(_) | PacketError::NoSaliency)) => Ok(
                FramePackets::NotSent(format!("Frame of {} bytes not sent: {e}", frame.len())),
            ),
            Err(e) => Err(e),
        }
    }
}

/// The packets of the frame a depayloader (limitnetdepay, limitnetdepacketizer) is collecting,
/// told apart from the next frame's by a key (the RTP timestamp; the frame number and PTS).
pub struct PacketCollector<K> {
    pending: Option<(K, Option<gst::ClockTime>, Vec<u8>)>,
}

impl<K> Default for PacketCollector<K> {
    fn default() -> Self {
        Self { pending: None }
    }
}

impl<K: PartialEq> PacketCollector<K> {
    /// Adds a packet of the frame `key`. A packet of another frame ends the one being collected,
    /// which is returned: it leaves with whatever of it arrived. Packets that cannot be in a
    /// packet set (empty, over 65535 bytes) are left out.
    pub fn add(
        &mut self,
        key: K,
        pts: Option<gst::ClockTime>,
        packet: &[u8],
    ) -> Option<gst::Buffer> {
        let finished = if self.pending.as_ref().is_some_and(|(k, _, _)| *k != key) {
            self.take()
        } else {
            None
        };
        if !packet.is_empty() && packet.len() <= usize::from(u16::MAX) {
            let (_, _, set) = self.pending.get_or_insert_with(|| (key, pts, Vec::new()));
            packet::push_to_set(set, packet);
        }
        finished
    }

    /// The frame being collected as one packet-set buffer with its first packet's PTS, if any.
    pub fn take(&mut self) -> Option<gst::Buffer> {
        let (_, pts, set) = self.pending.take()?;
        let mut buffer = gst::Buffer::from_mut_slice(set);
        buffer.get_mut().unwrap().set_pts(pts);
        Some(buffer)
    }
}

/// `header-copies` (limitnetpay, limitnetpacketizer).
fn header_copies_property() -> glib::ParamSpec {
    glib::ParamSpecUInt::builder("header-copies")
        .nick("Header copies")
        .blurb("Header packets (version, stream tag, value count, saliency map) sent per frame, spread over its packets: a frame whose header packets are all lost decodes to nothing")
        .minimum(1)
        .maximum(8)
        .default_value(DEFAULT_HEADER_COPIES)
        .mutable_playing()
        .build()
}

/// `interleave` (limitnetpay, limitnetpacketizer).
fn interleave_property() -> glib::ParamSpec {
    glib::ParamSpecUInt::builder("interleave")
        .nick("Interleave")
        .blurb("1 = each packet carries consecutive values in priority order (cheapest; a cut keeps the most important); G > 1 = groups of G packets share their values round-robin, so a lost packet thins the picture instead of leaving a hole (far better under loss, 16-18 % more bytes: README \"Packets and packet loss\")")
        .minimum(1)
        .maximum(64)
        .default_value(DEFAULT_INTERLEAVE)
        .mutable_playing()
        .build()
}

/// `protect` (limitnetpay, limitnetpacketizer).
fn protect_property() -> glib::ParamSpec {
    glib::ParamSpecUInt::builder("protect")
        .nick("Protected bytes")
        .blurb("Bytes of values packets, from the most important values on, sent twice (the copies spread over the rest of the frame): under 20 % loss such a value is lost 4 % of the time instead of 20 %, so the picture a cut at about this size gives nearly always arrives; 0 = no copies. Costs these bytes again. For lossy links: protect=1024 header-copies=3 (README \"Packets and packet loss\")")
        .maximum(1 << 20)
        .default_value(DEFAULT_PROTECT)
        .mutable_playing()
        .build()
}

/// `threads` for the element's network (`network`: "encoder" or "decoder").
pub fn threads_property(network: &str, default: u32) -> glib::ParamSpec {
    glib::ParamSpecUInt::builder("threads")
        .nick("Threads")
        .blurb(&format!(
            "ONNX Runtime intra-op threads for the {network} network: 1 = in the streaming thread only, N = with N - 1 pool threads, 0 = ONNX Runtime's default (one per physical core); taken at start"
        ))
        .maximum(256)
        .default_value(default)
        .mutable_ready()
        .build()
}

/// The always-present `sink` and `src` pad templates every element of this plugin has.
pub fn sink_src_templates(sink: &gst::Caps, src: &gst::Caps) -> Vec<gst::PadTemplate> {
    vec![
        gst::PadTemplate::new(
            "sink",
            gst::PadDirection::Sink,
            gst::PadPresence::Always,
            sink,
        )
        .unwrap(),
        gst::PadTemplate::new("src", gst::PadDirection::Src, gst::PadPresence::Always, src)
            .unwrap(),
    ]
}
