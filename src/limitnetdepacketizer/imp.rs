use crate::elements::with_stream_format;
use std::sync::{Arc, Condvar, LazyLock, Mutex};
use std::time::{Duration, Instant};

use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

use crate::elements::{CAPS_NAME, PacketCollector};
use limitnet::api::StreamFormat;
use limitnet::codec::packet;

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "limitnetdepacketizer",
        gst::DebugColorFlags::empty(),
        Some("LimitNet raw depacketizer"),
    )
});

/// Packets of one frame share the frame number (3 bits) and PTS.
type FrameKey = (u8, Option<gst::ClockTime>);

/// `timeout` default: off (a frame leaves with the next frame's first packet, or at EOS).
const DEFAULT_TIMEOUT_MS: u32 = 0;

/// What the streaming thread and the timeout thread share.
#[derive(Default)]
struct Pending {
    collector: PacketCollector<FrameKey>,
    /// When the frame being collected got its last packet.
    last_packet: Option<Instant>,
    /// `timeout`, if set.
    timeout: Option<Duration>,
    /// The timeout thread should end (the element leaves PAUSED).
    stop: bool,
    /// A flow error of a frame the timeout thread pushed, for the streaming thread to return.
    error: Option<gst::FlowError>,
}

pub struct LimitNetDepacketizer {
    sinkpad: gst::Pad,
    srcpad: gst::Pad,
    pending: Arc<(Mutex<Pending>, Condvar)>,
    timer: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl LimitNetDepacketizer {
    fn push_frame(&self, frame: gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError> {
        gst::log!(CAT, imp = self, "frame of {} bytes", frame.size());
        self.srcpad.push(frame)
    }

    fn take_pending(&self) -> Option<gst::Buffer> {
        let mut pending = self.pending.0.lock().unwrap();
        pending.last_packet = None;
        pending.collector.take()
    }

    fn sink_chain(&self, buffer: gst::Buffer) -> Result<gst::FlowSuccess, gst::FlowError> {
        let map = buffer.map_readable().map_err(|_| gst::FlowError::Error)?;
        let Some(frame_number) = packet::frame_number_of(&map) else {
            gst::warning!(CAT, imp = self, "ignoring an empty packet");
            return Ok(gst::FlowSuccess::Ok);
        };
        // A packet of another frame number or timestamp starts a new frame: the previous one
        // leaves with what arrived of it. (The streaming thread holds the sink pad's stream
        // lock here, as the timeout thread does when it pushes: their frames never cross.)
        let finished = {
            let (lock, wake) = &*self.pending;
            let mut pending = lock.lock().unwrap();
            if let Some(e) = pending.error.take() {
                return Err(e);
            }
            let finished = pending
                .collector
                .add((frame_number, buffer.pts()), buffer.pts(), &map);
            pending.last_packet = Some(Instant::now());
            wake.notify_one();
            finished
        };
        match finished {
            Some(frame) => self.push_frame(frame),
            None => Ok(gst::FlowSuccess::Ok),
        }
    }

    fn sink_event(&self, pad: &gst::Pad, event: gst::Event) -> bool {
        match event.view() {
            gst::EventView::Caps(c) => {
                let out = with_stream_format(c.caps(), StreamFormat::Packets);
                return self.srcpad.push_event(gst::event::Caps::new(&out));
            }
            gst::EventView::Eos(_) => {
                // The last frame, then EOS (under the stream lock: no frame of the timeout
                // thread in between).
                if let Some(last) = self.take_pending() {
                    if let Err(e) = self.push_frame(last) {
                        gst::debug!(CAT, imp = self, "pushing the last frame at EOS: {:?}", e);
                    }
                }
            }
            gst::EventView::FlushStop(_) => {
                self.take_pending();
                self.pending.0.lock().unwrap().error = None;
            }
            _ => {}
        }
        gst::Pad::event_default(pad, Some(&*self.obj()), event)
    }

    /// The thread that sends a frame out when `timeout` passes without a packet: on a radio
    /// link the next frame may come minutes later, and the frame's last packets may never.
    fn start_timer(&self) {
        self.stop_timer();
        let weak = self.obj().downgrade();
        let pending = self.pending.clone();
        {
            let mut state = pending.0.lock().unwrap();
            state.stop = false;
            state.error = None;
        }
        let handle = std::thread::spawn(move || {
            let (lock, wake) = &*pending;
            let mut state = lock.lock().unwrap();
            loop {
                if state.stop {
                    return;
                }
                let due = match (state.timeout, state.last_packet) {
                    (Some(timeout), Some(last)) => Some(last + timeout),
                    _ => None,
                };
                match due {
                    Some(due) if Instant::now() >= due => {
                        drop(state);
                        let Some(element) = weak.upgrade() else {
                            return;
                        };
                        let imp = element.imp();
                        // Serialized with the streaming thread's frames and events.
                        let stream = imp.sinkpad.stream_lock();
                        // Taken only now: a packet may have come, EOS or a flush taken the
                        // frame, or the timeout been turned off.
                        let frame = {
                            let mut state = lock.lock().unwrap();
                            match (state.last_packet, state.timeout) {
                                (Some(last), Some(timeout)) if last.elapsed() >= timeout => {
                                    state.last_packet = None;
                                    state.collector.take()
                                }
                                _ => None,
                            }
                        };
                        if let Some(frame) = frame {
                            gst::debug!(
                                CAT,
                                imp = imp,
                                "no packet for the timeout: the frame leaves with what arrived"
                            );
                            if let Err(e) = imp.push_frame(frame) {
                                gst::debug!(
                                    CAT,
                                    imp = imp,
                                    "pushing a frame at the timeout: {:?}",
                                    e
                                );
                                if e != gst::FlowError::Flushing {
                                    lock.lock().unwrap().error = Some(e);
                                }
                            }
                        }
                        drop(stream);
                        state = lock.lock().unwrap();
                    }
                    Some(due) => {
                        let wait = due.saturating_duration_since(Instant::now());
                        state = wake.wait_timeout(state, wait).unwrap().0;
                    }
                    None => state = wake.wait(state).unwrap(),
                }
            }
        });
        *self.timer.lock().unwrap() = Some(handle);
    }

    fn stop_timer(&self) {
        {
            let (lock, wake) = &*self.pending;
            lock.lock().unwrap().stop = true;
            wake.notify_all();
        }
        if let Some(handle) = self.timer.lock().unwrap().take() {
            // Not from the thread itself (it may hold the last reference to the element).
            if handle.thread().id() != std::thread::current().id() {
                let _ = handle.join();
            }
        }
    }
}

#[glib::object_subclass]
impl ObjectSubclass for LimitNetDepacketizer {
    const NAME: &'static str = "GstLimitNetDepacketizer";
    type Type = super::LimitNetDepacketizer;
    type ParentType = gst::Element;

    fn with_class(klass: &Self::Class) -> Self {
        let sinkpad = gst::Pad::builder_from_template(&klass.pad_template("sink").unwrap())
            .chain_function(|_pad, parent, buffer| {
                LimitNetDepacketizer::catch_panic_pad_function(
                    parent,
                    || Err(gst::FlowError::Error),
                    |imp| imp.sink_chain(buffer),
                )
            })
            .event_function(|pad, parent, event| {
                LimitNetDepacketizer::catch_panic_pad_function(
                    parent,
                    || false,
                    |imp| imp.sink_event(pad, event),
                )
            })
            .build();
        let srcpad = gst::Pad::builder_from_template(&klass.pad_template("src").unwrap()).build();
        Self {
            sinkpad,
            srcpad,
            pending: Arc::default(),
            timer: Mutex::new(None),
        }
    }
}

impl ObjectImpl for LimitNetDepacketizer {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            vec![glib::ParamSpecUInt::builder("timeout")
                .nick("Timeout (ms)")
                .blurb("Send a frame out with what arrived of it when no packet has come for this many milliseconds (wall clock): on a radio link the next frame, which otherwise ends this one, may be minutes away. 0 = off: a frame ends with the next frame's first packet, or at EOS")
                .default_value(DEFAULT_TIMEOUT_MS)
                .mutable_playing()
                .build()]
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        match pspec.name() {
            "timeout" => {
                let ms: u32 = value.get().expect("type checked upstream");
                gst::info!(CAT, imp = self, "timeout {ms} ms");
                let (lock, wake) = &*self.pending;
                lock.lock().unwrap().timeout = (ms > 0).then(|| Duration::from_millis(ms.into()));
                wake.notify_all();
            }
            _ => unimplemented!(),
        }
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        match pspec.name() {
            "timeout" => {
                let timeout = self.pending.0.lock().unwrap().timeout;
                (timeout.map_or(0, |t| t.as_millis() as u32)).to_value()
            }
            _ => unimplemented!(),
        }
    }

    fn dispose(&self) {
        self.stop_timer();
    }

    fn constructed(&self) {
        self.parent_constructed();
        let obj = self.obj();
        obj.add_pad(&self.sinkpad).unwrap();
        obj.add_pad(&self.srcpad).unwrap();
    }
}

impl GstObjectImpl for LimitNetDepacketizer {}

impl ElementImpl for LimitNetDepacketizer {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "LimitNet raw depacketizer",
                "Codec/Depayloader/Network",
                "Collects the LimitNet packets of each frame that came off a raw link (a frame ends with the first packet of another frame number or timestamp, at EOS, or after `timeout` without packets) for limitnetdec (docs/rtp-payload.md)",
                "gst-limitnet developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let sink = gst::Caps::builder(CAPS_NAME)
                .field("stream-format", StreamFormat::Packet.as_str())
                .build();
            let src = gst::Caps::builder(CAPS_NAME)
                .field("stream-format", StreamFormat::Packets.as_str())
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
            self.stop_timer();
            self.take_pending();
        }
        if transition == gst::StateChange::ReadyToPaused {
            self.start_timer();
        }
        let result = self.parent_change_state(transition);
        if result.is_err() && transition == gst::StateChange::ReadyToPaused {
            self.stop_timer();
        }
        result
    }
}
