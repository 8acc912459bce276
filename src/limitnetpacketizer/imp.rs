use crate::elements::with_stream_format;
use std::sync::{LazyLock, Mutex};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

use crate::elements::{CAPS_NAME, FramePackets, PacketSettings, PacketStream};
use limitnet::api::StreamFormat;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "limitnetpacketizer",
        gst::DebugColorFlags::empty(),
        Some("LimitNet raw packetizer"),
    )
});

/// LoRaWAN EU868 DR0-2.
const DEFAULT_PACKET_SIZE: u32 = 51;

#[derive(Debug, Clone)]
struct Settings {
    packet_size: u32,
    packets: PacketSettings,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            packet_size: DEFAULT_PACKET_SIZE,
            packets: PacketSettings::default(),
        }
    }
}

pub struct LimitNetPacketizer {
    sinkpad: gst::Pad,
    srcpad: gst::Pad,
    settings: Mutex<Settings>,
    state: Mutex<Option<PacketStream>>,
}

impl LimitNetPacketizer {
    fn sink_chain(&self, buffer: gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError> {
        let settings = self.settings.lock().unwrap().clone();
        let sent = {
            let mut guard = self.state.lock().unwrap();
            let stream = guard.as_mut().ok_or(gst::FlowError::NotNegotiated)?;
            let map = buffer.map_readable().map_err(|_| gst::FlowError::Error)?;
            stream
                .packets(&map, settings.packet_size as usize, &settings.packets)
                .map_err(|e| {
                    gst::element_imp_error!(self, gst::ResourceError::Settings, ["{}", e]);
                    gst::FlowError::Error
                })?
        };
        let packets = match sent {
            FramePackets::Packets(packets) => packets,
            FramePackets::NotSent(why) => {
                gst::element_imp_warning!(self, gst::StreamError::Decode, ["{}", why]);
                return Ok(gst::FlowSuccess::Ok);
            }
        };
        gst::log!(
            CAT,
            imp = self,
            "frame of {} bytes -> {} packets",
            buffer.size(),
            packets.len()
        );
        let mut list = gst::BufferList::new_sized(packets.len());
        {
            let list = list.get_mut().unwrap();
            for packet in packets {
                let mut out = gst::Buffer::from_mut_slice(packet);
                let out_ref = out.get_mut().unwrap();
                out_ref.set_pts(buffer.pts());
                out_ref.set_dts(buffer.dts());
                out_ref.set_duration(buffer.duration());
                list.add(out);
            }
        }
        self.srcpad.push_list(list)
    }

    fn sink_event(&self, pad: &gst::Pad, event: gst::Event) -> bool {
        let gst::EventView::Caps(c) = event.view() else {
            return gst::Pad::event_default(pad, Some(&*self.obj()), event);
        };
        let caps = c.caps_owned();
        let model = self.settings.lock().unwrap().packets.model.clone();
        let stream = match PacketStream::from_caps("limitnetpacketizer", &caps, model.as_deref()) {
            Ok(stream) => stream,
            Err(e) => {
                self.post_error_message(e);
                return false;
            }
        };
        gst::info!(
            CAT,
            imp = self,
            "stream {}x{} of model {} ({})",
            stream.params.width,
            stream.params.height,
            stream.bundle.name,
            stream.params.model_id
        );
        let out = with_stream_format(&caps, StreamFormat::Packet);
        *self.state.lock().unwrap() = Some(stream);
        self.srcpad.push_event(gst::event::Caps::new(&out))
    }
}

#[glib::object_subclass]
impl ObjectSubclass for LimitNetPacketizer {
    const NAME: &'static str = "GstLimitNetPacketizer";
    type Type = super::LimitNetPacketizer;
    type ParentType = gst::Element;

    fn with_class(klass: &Self::Class) -> Self {
        let sinkpad = gst::Pad::builder_from_template(&klass.pad_template("sink").unwrap())
            .chain_function(|_pad, parent, buffer| {
                LimitNetPacketizer::catch_panic_pad_function(
                    parent,
                    || Err(gst::FlowError::Error),
                    |imp| imp.sink_chain(buffer),
                )
            })
            .event_function(|pad, parent, event| {
                LimitNetPacketizer::catch_panic_pad_function(
                    parent,
                    || false,
                    |imp| imp.sink_event(pad, event),
                )
            })
            .flags(gst::PadFlags::PROXY_ALLOCATION)
            .build();
        let srcpad = gst::Pad::builder_from_template(&klass.pad_template("src").unwrap()).build();
        Self {
            sinkpad,
            srcpad,
            settings: Mutex::new(Settings::default()),
            state: Mutex::new(None),
        }
    }
}

impl ObjectImpl for LimitNetPacketizer {
    fn constructed(&self) {
        self.parent_constructed();
        let obj = self.obj();
        obj.add_pad(&self.sinkpad).unwrap();
        obj.add_pad(&self.srcpad).unwrap();
    }

    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let packet_size = glib::ParamSpecUInt::builder("packet-size")
                .nick("Packet size")
                .blurb("Largest packet in bytes, all of it payload (51: LoRaWAN EU868 DR0-2, 115: DR3, 222: DR4-7); at least the header packet (45 bytes at 224x224)")
                .minimum(16)
                .maximum(u32::from(u16::MAX))
                .default_value(DEFAULT_PACKET_SIZE)
                .mutable_playing()
                .build();
            std::iter::once(packet_size)
                .chain(PacketSettings::properties())
                .collect()
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let mut s = self.settings.lock().unwrap();
        if pspec.name() == "packet-size" {
            s.packet_size = value.get().expect("type checked upstream");
        } else {
            let known = s.packets.set(pspec.name(), value);
            assert!(known, "property {}", pspec.name());
        }
        gst::debug!(CAT, imp = self, "{} = {:?}", pspec.name(), value);
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let s = self.settings.lock().unwrap();
        if pspec.name() == "packet-size" {
            s.packet_size.to_value()
        } else {
            s.packets.get(pspec.name()).expect("one of the properties")
        }
    }
}

impl GstObjectImpl for LimitNetPacketizer {}

impl ElementImpl for LimitNetPacketizer {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "LimitNet raw packetizer",
                "Codec/Payloader/Network",
                "Splits LimitNet frames into packets of at most packet-size bytes that each decode on their own, one buffer each, for radios without RTP (docs/rtp-payload.md)",
                "gst-limitnet developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let sink = gst::Caps::new_empty_simple(CAPS_NAME);
            let src = gst::Caps::builder(CAPS_NAME)
                .field("stream-format", StreamFormat::Packet.as_str())
                .build();
            crate::elements::sink_src_templates(&sink, &src)
        });
        TEMPLATES.as_ref()
    }

    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        if transition == gst::StateChange::PausedToReady {
            *self.state.lock().unwrap() = None;
        }
        self.parent_change_state(transition)
    }
}
