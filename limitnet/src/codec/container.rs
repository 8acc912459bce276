//! The `.lnet` file: LimitNet frames with their timestamps on disk (docs/bitstream.md "File").
//!
//! Version 2 (written): the file header twice, each copy
//! `"LNET" | 2 | caps length u16 LE | caps (UTF-8) | CRC-32 of version..caps`, then one record
//! per frame: `sync "LNrc" | payload length u32 LE | pts u64 LE | duration u64 LE |
//! CRC-32 of sync..duration | payload | CRC-32 of payload` (`u64::MAX` = no timestamp).
//! The checksums and the sync word let a reader skip damage and find the next record, so damage
//! loses only the frames it touches. Version 1 (read only): one header copy without a checksum,
//! records `payload length | pts | duration | payload` without sync or checksums.

#[allow(unused_imports)]
use crate::codec::prelude::*;

/// File magic, also what the typefinder looks for.
pub const MAGIC: &[u8; 4] = b"LNET";
/// The version written.
pub const VERSION: u8 = 2;
/// What starts every version 2 record.
pub const RECORD_SYNC: &[u8; 4] = b"LNrc";
/// Record header of version 2: sync, length, pts, duration, header checksum.
pub const RECORD_HEADER: usize = 4 + 4 + 8 + 8 + 4;
/// The payload checksum after each version 2 payload.
const RECORD_TRAILER: usize = 4;
/// Record header of version 1: length, pts, duration.
const RECORD_HEADER_V1: usize = 4 + 8 + 8;
/// Larger records are treated as corrupt (a 4096x4096 frame is far smaller).
pub const MAX_RECORD: usize = 64 << 20;
/// Bytes before the first record within which a valid header copy must be found: two copies
/// of the longest header.
const HEADER_SEARCH: usize = 2 * (7 + u16::MAX as usize + 4);

fn crc32(parts: &[&[u8]]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    for p in parts {
        h.update(p);
    }
    h.finalize()
}

/// One copy of the version 2 file header.
fn header_copy(caps: &[u8]) -> Vec<u8> {
    let len = caps.len().min(u16::MAX as usize);
    let caps = &caps[..len];
    let mut out = Vec::with_capacity(11 + len);
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.extend_from_slice(&(len as u16).to_le_bytes());
    out.extend_from_slice(caps);
    let crc = crc32(&[&out[4..]]);
    out.extend_from_slice(&crc.to_le_bytes());
    out
}

/// The file header: two copies, so that damage to one leaves the caps readable.
pub fn file_header(caps: &str) -> Vec<u8> {
    let copy = header_copy(caps.as_bytes());
    [copy.as_slice(), copy.as_slice()].concat()
}

/// One version 2 record.
pub fn record(pts: Option<u64>, duration: Option<u64>, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(RECORD_HEADER + payload.len() + RECORD_TRAILER);
    out.extend_from_slice(RECORD_SYNC);
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&pts.unwrap_or(u64::MAX).to_le_bytes());
    out.extend_from_slice(&duration.unwrap_or(u64::MAX).to_le_bytes());
    let crc = crc32(&[&out]);
    out.extend_from_slice(&crc.to_le_bytes());
    out.extend_from_slice(payload);
    out.extend_from_slice(&crc32(&[payload]).to_le_bytes());
    out
}

/// Version 1, which readers still accept; only tests write it.
pub mod v1 {
    use crate::codec::prelude::*;

    pub fn file_header(caps: &str) -> Vec<u8> {
        let caps = caps.as_bytes();
        let len = caps.len().min(u16::MAX as usize);
        let mut out = Vec::with_capacity(7 + len);
        out.extend_from_slice(super::MAGIC);
        out.push(1);
        out.extend_from_slice(&(len as u16).to_le_bytes());
        out.extend_from_slice(&caps[..len]);
        out
    }

    pub fn record(pts: Option<u64>, duration: Option<u64>, payload: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(super::RECORD_HEADER_V1 + payload.len());
        out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        out.extend_from_slice(&pts.unwrap_or(u64::MAX).to_le_bytes());
        out.extend_from_slice(&duration.unwrap_or(u64::MAX).to_le_bytes());
        out.extend_from_slice(payload);
        out
    }
}

/// What is wrong with a record that still gives a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Damage {
    /// The payload does not match its checksum (the record's header does): damaged in place.
    Checksum,
    /// The file ends inside the payload: these are its first bytes.
    CutShort,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub pts: Option<u64>,
    pub duration: Option<u64>,
    pub payload: Vec<u8>,
    pub damage: Option<Damage>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContainerError {
    NotLnet,
    UnsupportedVersion(u8),
    BadCaps,
    RecordTooLarge(usize),
    NoHeader,
}

impl core::fmt::Display for ContainerError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::NotLnet => write!(f, "not a .lnet file (no LNET magic)"),
            Self::UnsupportedVersion(v) => {
                write!(f, ".lnet version {v} is not supported (1 and 2 are)")
            }
            Self::BadCaps => write!(f, ".lnet header caps are not UTF-8"),
            Self::RecordTooLarge(n) => write!(f, ".lnet record of {n} bytes: the file is corrupt"),
            Self::NoHeader => write!(f, "No .lnet header before the end of the stream"),
        }
    }
}

impl core::error::Error for ContainerError {}

/// What the bytes at the reader's position are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// At least this many bytes (from the position) are needed to tell.
    NeedMore(usize),
    /// The file header (its first valid copy), `len` bytes.
    Header {
        caps: String,
        version: u8,
        len: usize,
    },
    /// A further copy of the header, `len` bytes: nothing new.
    HeaderCopy(usize),
    /// A frame, `len` bytes of the file.
    Frame { record: Record, len: usize },
    /// This many bytes are neither a header nor a record (damage, or junk): skip them.
    Skip(usize),
    /// The file cannot be read on.
    Error(ContainerError),
}

/// Tells what the bytes at a position of a `.lnet` file are; the caller moves the position
/// by the length of each step. It keeps only what it learnt from the header, so it works on
/// an adapter (GstBaseParse) as well as on a whole buffer ([`Reader`]).
#[derive(Debug, Default)]
pub struct Scanner {
    version: Option<u8>,
    /// Bytes skipped before a header was found.
    skipped: usize,
    /// The reason the first bytes were not a header, reported if none is found.
    first_error: Option<ContainerError>,
}

/// The first position from `from` where one of `patterns` starts, or where the data ends with
/// a beginning of one; `data.len()` if none.
fn find_candidate(data: &[u8], from: usize, patterns: &[&[u8]]) -> usize {
    (from..data.len())
        .find(|&p| {
            patterns.iter().any(|pattern| {
                let n = pattern.len().min(data.len() - p);
                data[p..p + n] == pattern[..n]
            })
        })
        .unwrap_or(data.len())
}

const HEADER_V2_MARK: [u8; 5] = [b'L', b'N', b'E', b'T', VERSION];

impl Scanner {
    /// The version of the file, once its header has been read.
    pub fn version(&self) -> Option<u8> {
        self.version
    }

    /// What `data` (the bytes from the position on; `at_end`: nothing follows them) starts
    /// with. Never `Skip(0)`, `NeedMore` only when not `at_end`, and the length of a step is
    /// at most `data.len()`.
    pub fn step(&mut self, data: &[u8], at_end: bool) -> Step {
        let step = match self.version {
            None => self.header_step(data, at_end),
            Some(1) => record_step_v1(data, at_end),
            Some(_) => self.record_step_v2(data, at_end),
        };
        debug_assert!(!matches!(step, Step::Skip(0)));
        debug_assert!(!(at_end && matches!(step, Step::NeedMore(_))));
        step
    }

    fn need(at_end: bool, n: usize) -> Option<Step> {
        (!at_end).then_some(Step::NeedMore(n))
    }

    fn header_step(&mut self, data: &[u8], at_end: bool) -> Step {
        if data.len() < 5 {
            return Self::need(at_end, 5).unwrap_or(Step::Error(self.no_header()));
        }
        if &data[..4] == MAGIC {
            match data[4] {
                // Version 1 has one header copy, at the start; further on only version 2
                // copies are looked for.
                1 if self.skipped == 0 => return self.header_v1(data, at_end),
                VERSION => {
                    if let Some(step) = parse_header_v2(data, at_end) {
                        if let Step::Header { .. } = step {
                            self.version = Some(VERSION);
                        }
                        return step;
                    }
                }
                v => {
                    if self.skipped == 0 && v != 1 {
                        self.first_error = Some(ContainerError::UnsupportedVersion(v));
                    }
                }
            }
        } else if self.skipped == 0 {
            self.first_error = Some(ContainerError::NotLnet);
        }
        // Not a valid header here: the next copy may be.
        let skip = find_candidate(data, 1, &[&HEADER_V2_MARK]);
        if skip == data.len() && !at_end && self.skipped + skip < HEADER_SEARCH {
            // Keep the last bytes: they may begin a copy.
            return Step::NeedMore(data.len() + 1);
        }
        self.skipped += skip;
        if self.skipped >= HEADER_SEARCH || (at_end && skip == data.len()) {
            return Step::Error(self.no_header());
        }
        Step::Skip(skip)
    }

    fn no_header(&self) -> ContainerError {
        self.first_error.clone().unwrap_or(ContainerError::NoHeader)
    }

    fn header_v1(&mut self, data: &[u8], at_end: bool) -> Step {
        if data.len() < 7 {
            return Self::need(at_end, 7).unwrap_or(Step::Error(ContainerError::NoHeader));
        }
        let len = 7 + usize::from(u16::from_le_bytes([data[5], data[6]]));
        if data.len() < len {
            return Self::need(at_end, len).unwrap_or(Step::Error(ContainerError::NoHeader));
        }
        match core::str::from_utf8(&data[7..len]) {
            Ok(caps) => {
                self.version = Some(1);
                Step::Header {
                    caps: caps.to_string(),
                    version: 1,
                    len,
                }
            }
            Err(_) => Step::Error(ContainerError::BadCaps),
        }
    }

    fn record_step_v2(&mut self, data: &[u8], at_end: bool) -> Step {
        if data.starts_with(&HEADER_V2_MARK) {
            match parse_header_v2(data, at_end) {
                Some(Step::Header { len, .. }) => return Step::HeaderCopy(len),
                Some(step) => return step,
                None => {}
            }
        }
        // A record or a header copy may start at the next candidate.
        let resync = |data: &[u8]| {
            Step::Skip(find_candidate(data, 1, &[RECORD_SYNC, &HEADER_V2_MARK]).max(1))
        };
        if data.len() < RECORD_HEADER {
            let could_start = data[..data.len().min(4)] == RECORD_SYNC[..data.len().min(4)]
                || HEADER_V2_MARK.starts_with(data)
                || data.starts_with(&HEADER_V2_MARK);
            if could_start && !at_end {
                return Step::NeedMore(RECORD_HEADER);
            }
            return if at_end {
                Step::Skip(data.len())
            } else {
                resync(data)
            };
        }
        let Some(RecordHeader { len, pts, duration }) = record_header(data) else {
            return resync(data);
        };
        let total = RECORD_HEADER + len + RECORD_TRAILER;
        if data.len() < total {
            if !at_end {
                return Step::NeedMore(total);
            }
            let end = data.len().min(RECORD_HEADER + len);
            return Step::Frame {
                record: Record {
                    pts,
                    duration,
                    payload: data[RECORD_HEADER..end].to_vec(),
                    damage: Some(Damage::CutShort),
                },
                len: data.len(),
            };
        }
        let payload = &data[RECORD_HEADER..RECORD_HEADER + len];
        let crc = u32::from_le_bytes(data[total - 4..total].try_into().unwrap());
        Step::Frame {
            record: Record {
                pts,
                duration,
                payload: payload.to_vec(),
                damage: (crc32(&[payload]) != crc).then_some(Damage::Checksum),
            },
            len: total,
        }
    }
}

/// A version 2 header copy at the start of `data`: `None` if it is not a valid one.
fn parse_header_v2(data: &[u8], at_end: bool) -> Option<Step> {
    if data.len() < 7 {
        return Scanner::need(at_end, 7);
    }
    let len = 7 + usize::from(u16::from_le_bytes([data[5], data[6]]));
    if data.len() < len + 4 {
        return Scanner::need(at_end, len + 4);
    }
    let crc = u32::from_le_bytes(data[len..len + 4].try_into().unwrap());
    if crc32(&[&data[4..len]]) != crc {
        return None;
    }
    let caps = core::str::from_utf8(&data[7..len]).ok()?;
    Some(Step::Header {
        caps: caps.to_string(),
        version: VERSION,
        len: len + 4,
    })
}

fn times(b: &[u8]) -> (Option<u64>, Option<u64>) {
    let time = |v: u64| (v != u64::MAX).then_some(v);
    (
        time(u64::from_le_bytes(b[..8].try_into().unwrap())),
        time(u64::from_le_bytes(b[8..16].try_into().unwrap())),
    )
}

fn record_step_v1(data: &[u8], at_end: bool) -> Step {
    if data.len() < RECORD_HEADER_V1 {
        // A file cut inside a record header: nothing of that frame.
        return Scanner::need(at_end, RECORD_HEADER_V1).unwrap_or(Step::Skip(data.len().max(1)));
    }
    let len = u32::from_le_bytes(data[..4].try_into().unwrap()) as usize;
    if len > MAX_RECORD {
        return Step::Error(ContainerError::RecordTooLarge(len));
    }
    let (pts, duration) = times(&data[4..RECORD_HEADER_V1]);
    let total = RECORD_HEADER_V1 + len;
    if data.len() < total && !at_end {
        return Step::NeedMore(total);
    }
    let end = data.len().min(total);
    Step::Frame {
        record: Record {
            pts,
            duration,
            payload: data[RECORD_HEADER_V1..end].to_vec(),
            damage: (end < total).then_some(Damage::CutShort),
        },
        len: end,
    }
}

/// A sound version 2 record header at the start of `data` (at least [`RECORD_HEADER`] bytes):
/// its sync word and checksum hold and its length is plausible.
struct RecordHeader {
    len: usize,
    pts: Option<u64>,
    duration: Option<u64>,
}

fn record_header(data: &[u8]) -> Option<RecordHeader> {
    let header = &data[..RECORD_HEADER];
    let crc = u32::from_le_bytes(header[24..28].try_into().unwrap());
    if &header[..4] != RECORD_SYNC || crc32(&[&header[..24]]) != crc {
        return None;
    }
    let len = u32::from_le_bytes(header[4..8].try_into().unwrap()) as usize;
    let (pts, duration) = times(&header[8..24]);
    (len <= MAX_RECORD).then_some(RecordHeader { len, pts, duration })
}

/// When the last whole, sound record in the tail of a version 2 file ends (its pts plus its
/// duration): how long the file plays, read from its end without reading it all. `None` if
/// the tail holds no such record with a timestamp.
pub fn last_record_end_time(tail: &[u8]) -> Option<u64> {
    let mut p = tail.len().checked_sub(RECORD_HEADER + RECORD_TRAILER)?;
    loop {
        if let Some(h) = record_header(&tail[p..])
            && p + RECORD_HEADER + h.len + RECORD_TRAILER <= tail.len()
            && let Some(pts) = h.pts
        {
            return Some(pts + h.duration.unwrap_or(0));
        }
        p = p.checked_sub(1)?;
    }
}

/// What [`Reader`] gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Header {
        caps: String,
    },
    Frame(Record),
    /// Bytes skipped as damage (or a file's junk).
    Skipped(usize),
}

/// Incremental reader over [`Scanner`]: feed bytes as they arrive, take items out. What it
/// gives does not depend on how the bytes arrive: bytes skipped in a row are one
/// [`Item::Skipped`], and the search for the header is silent.
#[derive(Debug, Default)]
pub struct Reader {
    buf: Vec<u8>,
    scanner: Scanner,
    failed: bool,
    /// Damaged bytes skipped since the last item.
    skipped: usize,
    /// An item read after a skip, given out after the [`Item::Skipped`].
    held: Option<Item>,
    /// An error met after a skip, given out after the [`Item::Skipped`].
    held_error: Option<ContainerError>,
}

impl Reader {
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next item, `Ok(None)` if more bytes are needed.
    pub fn next_item(&mut self) -> Result<Option<Item>, ContainerError> {
        self.next(false)
    }

    /// At end of file: the next of the items the rest gives (the prefix of a record cut short
    /// among them), `Ok(None)` when nothing is left.
    pub fn finish(&mut self) -> Result<Option<Item>, ContainerError> {
        self.next(true)
    }

    fn next(&mut self, at_end: bool) -> Result<Option<Item>, ContainerError> {
        if let Some(item) = self.held.take() {
            return Ok(Some(item));
        }
        if let Some(e) = self.held_error.take() {
            return Err(e);
        }
        loop {
            if self.failed || (at_end && self.buf.is_empty() && self.scanner.version.is_some()) {
                return Ok(self.take_skipped());
            }
            let (item, len) = match self.scanner.step(&self.buf, at_end) {
                Step::NeedMore(_) => return Ok(None),
                Step::Header { caps, len, .. } => (Some(Item::Header { caps }), len),
                Step::HeaderCopy(len) => (None, len),
                Step::Frame { record, len } => (Some(Item::Frame(record)), len),
                Step::Skip(len) => {
                    if self.scanner.version.is_some() {
                        self.skipped += len;
                    }
                    (None, len)
                }
                Step::Error(e) => {
                    self.failed = true;
                    if let Some(skipped) = self.take_skipped() {
                        self.held_error = Some(e);
                        return Ok(Some(skipped));
                    }
                    return Err(e);
                }
            };
            self.buf.drain(..len);
            if let Some(item) = item {
                return Ok(Some(match self.take_skipped() {
                    Some(skipped) => {
                        self.held = Some(item);
                        skipped
                    }
                    None => item,
                }));
            }
        }
    }

    fn take_skipped(&mut self) -> Option<Item> {
        (self.skipped > 0).then(|| Item::Skipped(core::mem::take(&mut self.skipped)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(file: &[u8], chunk: usize) -> (Vec<Item>, Option<ContainerError>) {
        let mut r = Reader::default();
        let mut items = Vec::new();
        for part in file.chunks(chunk) {
            r.push(part);
            loop {
                match r.next_item() {
                    Ok(Some(item)) => items.push(item),
                    Ok(None) => break,
                    Err(e) => return (items, Some(e)),
                }
            }
        }
        loop {
            match r.finish() {
                Ok(Some(item)) => items.push(item),
                Ok(None) => return (items, None),
                Err(e) => return (items, Some(e)),
            }
        }
    }

    fn frame(pts: Option<u64>, payload: &[u8]) -> Item {
        Item::Frame(Record {
            pts,
            duration: pts.map(|_| 100),
            payload: payload.to_vec(),
            damage: None,
        })
    }

    fn sample_file() -> Vec<u8> {
        let mut file = file_header("image/x-limitnet, width=(int)4");
        file.extend(record(Some(0), Some(100), b"abc"));
        file.extend(record(None, None, b""));
        file.extend(record(Some(200), Some(100), b"defgh"));
        file
    }

    #[test]
    fn round_trip_in_any_chunks() {
        let file = sample_file();
        for chunk in [1, 3, 7, 1000] {
            let (items, error) = read_all(&file, chunk);
            assert_eq!(error, None);
            assert_eq!(
                items,
                [
                    Item::Header {
                        caps: "image/x-limitnet, width=(int)4".into()
                    },
                    frame(Some(0), b"abc"),
                    Item::Frame(Record {
                        pts: None,
                        duration: None,
                        payload: vec![],
                        damage: None
                    }),
                    frame(Some(200), b"defgh"),
                ]
            );
        }
        // Cut inside the last payload: its prefix survives.
        let (items, _) = read_all(&file[..file.len() - 6], 1000);
        assert_eq!(
            items.last(),
            Some(&Item::Frame(Record {
                pts: Some(200),
                duration: Some(100),
                payload: b"def".to_vec(),
                damage: Some(Damage::CutShort)
            }))
        );
        assert_eq!(last_record_end_time(&file), Some(300));
        assert_eq!(last_record_end_time(&file[..file.len() - 1]), Some(100));
    }

    #[test]
    fn version_1_files_keep_reading() {
        let mut file = v1::file_header("x");
        file.extend(v1::record(Some(0), Some(100), b"abc"));
        file.extend(v1::record(Some(200), Some(100), b"defgh"));
        let (items, error) = read_all(&file[..file.len() - 2], 5);
        assert_eq!(error, None);
        assert_eq!(items[1], frame(Some(0), b"abc"));
        assert_eq!(
            items[2],
            Item::Frame(Record {
                pts: Some(200),
                duration: Some(100),
                payload: b"def".to_vec(),
                damage: Some(Damage::CutShort)
            })
        );
    }

    #[test]
    fn damage_loses_only_the_records_it_touches() {
        let file = sample_file();
        let header = file_header("image/x-limitnet, width=(int)4").len();
        let (clean, _) = read_all(&file, 1000);
        let frames = |items: &[Item]| -> Vec<Item> {
            items
                .iter()
                .filter(|i| matches!(i, Item::Frame(_)))
                .cloned()
                .collect()
        };
        for byte in 0..file.len() {
            for bit in 0..8 {
                let mut damaged = file.clone();
                damaged[byte] ^= 1 << bit;
                let (items, error) = read_all(&damaged, 1000);
                assert_eq!(error, None, "flip at {byte}.{bit}");
                let got = frames(&items);
                if byte < header {
                    let first = items.iter().find(|i| !matches!(i, Item::Skipped(_)));
                    assert_eq!(first, Some(&clean[0]), "flip at {byte}.{bit}");
                    assert_eq!(got, frames(&clean), "flip at {byte}.{bit}");
                } else {
                    // One record touched: it is lost or flagged, the others are intact.
                    let intact = got.iter().filter(|f| frames(&clean).contains(f)).count();
                    assert!(intact >= 2, "flip at {byte}.{bit}: {got:?}");
                }
            }
        }
        // A record length off by one or two: that record is lost, the next ones are read.
        let second = header + record(Some(0), Some(100), b"abc").len();
        for delta in [1u8, 2, 0xff] {
            let mut damaged = file.clone();
            damaged[second + 4] = damaged[second + 4].wrapping_add(delta);
            let (items, _) = read_all(&damaged, 1000);
            assert_eq!(
                frames(&items),
                [frame(Some(0), b"abc"), frame(Some(200), b"defgh")],
                "length + {delta}"
            );
        }
    }

    #[test]
    fn the_reading_does_not_depend_on_how_the_bytes_arrive() {
        let mut damaged_copy = sample_file();
        damaged_copy[40] ^= 1;
        let cases: [&[u8]; 3] = [
            // Found by fuzzing: a version 1 header after junk must not count.
            b"\x93uLNr\x82\x01ima\x93LNExe/T-\x82LNET\x01\x02ima\x93e/x-li\x9e&itlt",
            b"LNimage/x-LNlimit",
            &damaged_copy,
        ];
        for file in cases {
            let whole = read_all(file, file.len().max(1));
            for chunk in 1..8 {
                assert_eq!(read_all(file, chunk), whole, "chunks of {chunk}");
            }
        }
    }

    #[test]
    fn rejects_other_files() {
        let (items, error) = read_all(b"\x89PNG\r\n\x1a\n", 100);
        assert!(items.iter().all(|i| matches!(i, Item::Skipped(_))));
        assert_eq!(error, Some(ContainerError::NotLnet));
        let (_, error) = read_all(b"LNET\x07\x00\x00", 100);
        assert_eq!(error, Some(ContainerError::UnsupportedVersion(7)));
        let (_, error) = read_all(b"", 100);
        assert_eq!(error, Some(ContainerError::NoHeader));
        let mut f = v1::file_header("x");
        f.extend_from_slice(&u32::MAX.to_le_bytes());
        f.extend_from_slice(&[0; 16]);
        let (items, error) = read_all(&f, 100);
        assert_eq!(items.len(), 1);
        assert!(matches!(error, Some(ContainerError::RecordTooLarge(_))));
    }
}
