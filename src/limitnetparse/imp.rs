use std::sync::{LazyLock, Mutex};

use gst::glib;
use gst::subclass::prelude::*;
use gst_base::prelude::*;
use gst_base::subclass::prelude::*;

use crate::elements::{CAPS_NAME, FILE_CAPS_NAME};
use limitnet::codec::container::{self, Damage, Record, Scanner, Step};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "limitnetparse",
        gst::DebugColorFlags::empty(),
        Some("LimitNet file reader"),
    )
});

/// The tails read from the end of a file to find its duration, each larger than the last.
const TAIL_SIZES: [u64; 3] = [64 << 10, 1 << 20, 16 << 20];

#[derive(Default)]
struct State {
    scanner: Scanner,
    /// Where the damage being skipped began, so one warning covers one damaged stretch.
    skipping_since: Option<u64>,
    /// An error was posted.
    failed: bool,
}

#[derive(Default)]
pub struct LimitNetParse {
    state: Mutex<State>,
}

fn clock(t: Option<u64>) -> Option<gst::ClockTime> {
    t.map(gst::ClockTime::from_nseconds)
}

impl LimitNetParse {
    /// The caps of the file header go downstream; in pull mode the file's end tells its
    /// duration (version 2: the last record whose header checksum holds).
    fn start_stream(&self, caps: &str, version: u8) -> Result<(), gst::FlowError> {
        let caps = caps
            .parse::<gst::Caps>()
            .ok()
            .filter(|c| c.structure(0).is_some_and(|s| s.name() == CAPS_NAME));
        let Some(caps) = caps else {
            gst::element_imp_error!(
                self,
                gst::StreamError::Demux,
                ["The .lnet header does not hold LimitNet caps"]
            );
            return Err(gst::FlowError::Error);
        };
        gst::debug!(
            CAT,
            imp = self,
            "version {} file, stream caps {}",
            version,
            caps
        );
        let obj = self.obj();
        obj.src_pad().push_event(gst::event::Caps::new(&caps));
        if version >= 2
            && let Some(duration) = self.duration_from_the_end()
        {
            gst::info!(CAT, imp = self, "duration {}", duration);
            obj.set_duration(duration, 0);
        }
        Ok(())
    }

    fn duration_from_the_end(&self) -> Option<gst::ClockTime> {
        let sink = self.obj().sink_pad().clone();
        if sink.mode() != gst::PadMode::Pull {
            return None;
        }
        let size = *sink.peer_query_duration::<gst::format::Bytes>()?;
        for tail in TAIL_SIZES {
            let tail = tail.min(size);
            let buffer = sink
                .pull_range(size - tail, tail as u32)
                .inspect_err(|e| gst::debug!(CAT, imp = self, "cannot read the end: {:?}", e))
                .ok()?;
            let map = buffer.map_readable().ok()?;
            if let Some(end) = container::last_record_end_time(&map) {
                return Some(gst::ClockTime::from_nseconds(end));
            }
            if tail == size {
                break;
            }
        }
        None
    }

    fn finish_record(
        &self,
        mut frame: gst_base::BaseParseFrame,
        record: Record,
        len: usize,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let offset = frame.offset();
        match record.damage {
            Some(Damage::Checksum) => gst::element_imp_warning!(
                self,
                gst::StreamError::Demux,
                [
                    "The frame at byte {} (pts {}) does not match its checksum: passed on as corrupted",
                    offset,
                    clock(record.pts).display()
                ]
            ),
            Some(Damage::CutShort) => gst::element_imp_warning!(
                self,
                gst::StreamError::Demux,
                [
                    "The file ends inside a frame: passing on its first {} bytes",
                    record.payload.len()
                ]
            ),
            None => {}
        }
        gst::log!(
            CAT,
            imp = self,
            "frame of {} bytes at byte {}, pts {}",
            record.payload.len(),
            offset,
            clock(record.pts).display()
        );
        let mut buffer = gst::Buffer::from_mut_slice(record.payload);
        {
            let b = buffer.get_mut().unwrap();
            b.set_pts(clock(record.pts));
            b.set_duration(clock(record.duration));
            if record.damage == Some(Damage::Checksum) {
                b.set_flags(gst::BufferFlags::CORRUPTED);
            }
        }
        frame.set_output_buffer(buffer);
        self.obj().finish_frame(frame, len as u32)
    }
}

#[glib::object_subclass]
impl ObjectSubclass for LimitNetParse {
    const NAME: &'static str = "GstLimitNetParse";
    type Type = super::LimitNetParse;
    type ParentType = gst_base::BaseParse;
}

impl ObjectImpl for LimitNetParse {}

impl GstObjectImpl for LimitNetParse {}

impl ElementImpl for LimitNetParse {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static META: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "LimitNet file reader",
                "Codec/Parser/Video",
                "Reads .lnet files (docs/bitstream.md) into LimitNet frames with their timestamps; seekable, and damage loses only the frames it touches",
                "gst-limitnet developers",
            )
        });
        Some(&*META)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let sink = gst::Caps::new_empty_simple(FILE_CAPS_NAME);
            let src = gst::Caps::new_empty_simple(CAPS_NAME);
            crate::elements::sink_src_templates(&sink, &src)
        });
        TEMPLATES.as_ref()
    }
}

impl BaseParseImpl for LimitNetParse {
    fn start(&self) -> Result<(), gst::ErrorMessage> {
        *self.state.lock().unwrap() = State::default();
        let obj = self.obj();
        obj.set_min_frame_size(5);
        // Records carry their own timestamps; any record start is a place to resume.
        obj.set_pts_interpolation(false);
        obj.set_has_timing_info(true);
        obj.set_syncable(true);
        Ok(())
    }

    fn stop(&self) -> Result<(), gst::ErrorMessage> {
        *self.state.lock().unwrap() = State::default();
        Ok(())
    }

    fn handle_frame(
        &self,
        frame: gst_base::BaseParseFrame,
    ) -> Result<(gst::FlowSuccess, u32), gst::FlowError> {
        let obj = self.obj();
        let at_end = obj.is_draining();
        let step = {
            let input = frame.buffer().ok_or(gst::FlowError::Error)?;
            let map = input.map_readable().map_err(|_| gst::FlowError::Error)?;
            self.state.lock().unwrap().scanner.step(&map, at_end)
        };
        if !matches!(step, Step::Skip(_) | Step::NeedMore(_)) {
            let since = self.state.lock().unwrap().skipping_since.take();
            if let Some(since) = since {
                gst::debug!(
                    CAT,
                    imp = self,
                    "resynchronised at byte {} after {} damaged bytes",
                    frame.offset(),
                    frame.offset().saturating_sub(since)
                );
            }
        }
        match step {
            Step::NeedMore(n) => {
                obj.set_min_frame_size(n as u32);
                Ok((gst::FlowSuccess::Ok, 0))
            }
            Step::Header { caps, version, len } => {
                self.start_stream(&caps, version)?;
                obj.set_min_frame_size(5);
                Ok((gst::FlowSuccess::Ok, len as u32))
            }
            Step::HeaderCopy(len) => Ok((gst::FlowSuccess::Ok, len as u32)),
            Step::Frame { record, len } => {
                obj.set_min_frame_size(5);
                self.finish_record(frame, record, len)?;
                Ok((gst::FlowSuccess::Ok, 0))
            }
            Step::Skip(len) => {
                let mut state = self.state.lock().unwrap();
                let header_known = state.scanner.version().is_some();
                if state.skipping_since.is_none() && header_known {
                    state.skipping_since = Some(frame.offset());
                    drop(state);
                    gst::element_imp_warning!(
                        self,
                        gst::StreamError::Demux,
                        [
                            "Damaged data at byte {}: skipping to the next whole record",
                            frame.offset()
                        ]
                    );
                }
                obj.set_min_frame_size(5);
                Ok((gst::FlowSuccess::Ok, len as u32))
            }
            Step::Error(e) => {
                self.state.lock().unwrap().failed = true;
                gst::element_imp_error!(self, gst::StreamError::Demux, ["{}", e]);
                Err(gst::FlowError::Error)
            }
        }
    }

    fn sink_event(&self, event: gst::Event) -> bool {
        let eos = matches!(event.view(), gst::EventView::Eos(_));
        // The base class drains first: a file cut short gives its last prefix.
        let handled = self.parent_sink_event(event);
        let state = self.state.lock().unwrap();
        if eos && state.scanner.version().is_none() && !state.failed {
            drop(state);
            // An empty stream never reached handle_frame.
            gst::element_imp_error!(
                self,
                gst::StreamError::Demux,
                ["{}", container::ContainerError::NoHeader]
            );
        }
        handled
    }
}
