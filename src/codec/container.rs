//! The `.lnet` file: LimitNet frames with their timestamps on disk (docs/bitstream.md "File").
//!
//! `"LNET" | version u8 | caps length u16 LE | caps (UTF-8) | records...`, each record
//! `payload length u32 LE | pts u64 LE | duration u64 LE | payload`; `u64::MAX` = no timestamp.

/// File magic, also what the typefinder looks for.
pub const MAGIC: &[u8; 4] = b"LNET";
pub const VERSION: u8 = 1;
const RECORD_HEADER: usize = 4 + 8 + 8;
/// Larger records are treated as corrupt (a 4096x4096 frame is far smaller).
pub const MAX_RECORD: usize = 64 << 20;

pub fn file_header(caps: &str) -> Vec<u8> {
    let caps = caps.as_bytes();
    let len = caps.len().min(u16::MAX as usize);
    let mut out = Vec::with_capacity(7 + len);
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.extend_from_slice(&(len as u16).to_le_bytes());
    out.extend_from_slice(&caps[..len]);
    out
}

pub fn record(pts: Option<u64>, duration: Option<u64>, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(RECORD_HEADER + payload.len());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&pts.unwrap_or(u64::MAX).to_le_bytes());
    out.extend_from_slice(&duration.unwrap_or(u64::MAX).to_le_bytes());
    out.extend_from_slice(payload);
    out
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub pts: Option<u64>,
    pub duration: Option<u64>,
    pub payload: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Header { caps: String },
    Frame(Record),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContainerError {
    NotLnet,
    UnsupportedVersion(u8),
    BadCaps,
    RecordTooLarge(usize),
}

impl std::fmt::Display for ContainerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotLnet => write!(f, "not a .lnet file (no LNET magic)"),
            Self::UnsupportedVersion(v) => {
                write!(f, ".lnet version {v} is not supported (expected {VERSION})")
            }
            Self::BadCaps => write!(f, ".lnet header caps are not UTF-8"),
            Self::RecordTooLarge(n) => write!(f, ".lnet record of {n} bytes: the file is corrupt"),
        }
    }
}

impl std::error::Error for ContainerError {}

/// Incremental reader: feed bytes as they arrive, take items out.
#[derive(Debug, Default)]
pub struct Reader {
    buf: Vec<u8>,
    header_done: bool,
}

fn time(v: u64) -> Option<u64> {
    (v != u64::MAX).then_some(v)
}

impl Reader {
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next complete item, `Ok(None)` if more bytes are needed.
    pub fn next_item(&mut self) -> Result<Option<Item>, ContainerError> {
        if !self.header_done {
            if self.buf.len() < 7 {
                return Ok(None);
            }
            if &self.buf[..4] != MAGIC {
                return Err(ContainerError::NotLnet);
            }
            if self.buf[4] != VERSION {
                return Err(ContainerError::UnsupportedVersion(self.buf[4]));
            }
            let len = u16::from_le_bytes([self.buf[5], self.buf[6]]) as usize;
            if self.buf.len() < 7 + len {
                return Ok(None);
            }
            let caps = std::str::from_utf8(&self.buf[7..7 + len])
                .map_err(|_| ContainerError::BadCaps)?
                .to_string();
            self.buf.drain(..7 + len);
            self.header_done = true;
            return Ok(Some(Item::Header { caps }));
        }
        if self.buf.len() < RECORD_HEADER {
            return Ok(None);
        }
        let len = u32::from_le_bytes(self.buf[..4].try_into().unwrap()) as usize;
        if len > MAX_RECORD {
            return Err(ContainerError::RecordTooLarge(len));
        }
        if self.buf.len() < RECORD_HEADER + len {
            return Ok(None);
        }
        let pts = time(u64::from_le_bytes(self.buf[4..12].try_into().unwrap()));
        let duration = time(u64::from_le_bytes(self.buf[12..20].try_into().unwrap()));
        let payload = self.buf[RECORD_HEADER..RECORD_HEADER + len].to_vec();
        self.buf.drain(..RECORD_HEADER + len);
        Ok(Some(Item::Frame(Record {
            pts,
            duration,
            payload,
        })))
    }

    /// At end of file: a last record cut short still gives its bytes (any prefix of a frame
    /// decodes), if its record header is complete.
    pub fn finish(&mut self) -> Option<Record> {
        if !self.header_done || self.buf.len() < RECORD_HEADER {
            return None;
        }
        let pts = time(u64::from_le_bytes(self.buf[4..12].try_into().unwrap()));
        let duration = time(u64::from_le_bytes(self.buf[12..20].try_into().unwrap()));
        let payload = self.buf[RECORD_HEADER..].to_vec();
        self.buf.clear();
        Some(Record {
            pts,
            duration,
            payload,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_in_any_chunks() {
        let mut file = file_header("image/x-limitnet, width=(int)4");
        file.extend(record(Some(0), Some(100), b"abc"));
        file.extend(record(None, None, b""));
        file.extend(record(Some(200), Some(100), b"defgh"));
        for chunk in [1, 3, 7, 1000] {
            let mut r = Reader::default();
            let mut items = Vec::new();
            for part in file.chunks(chunk) {
                r.push(part);
                while let Some(item) = r.next_item().unwrap() {
                    items.push(item);
                }
            }
            assert_eq!(items.len(), 4);
            assert_eq!(
                items[0],
                Item::Header {
                    caps: "image/x-limitnet, width=(int)4".into()
                }
            );
            assert_eq!(
                items[2],
                Item::Frame(Record {
                    pts: None,
                    duration: None,
                    payload: vec![]
                })
            );
            assert_eq!(
                items[3],
                Item::Frame(Record {
                    pts: Some(200),
                    duration: Some(100),
                    payload: b"defgh".to_vec()
                })
            );
            assert_eq!(r.finish(), None);
        }
        // Cut inside the last payload: its prefix survives.
        let mut r = Reader::default();
        r.push(&file[..file.len() - 2]);
        while r.next_item().unwrap().is_some() {}
        assert_eq!(r.finish().unwrap().payload, b"def".to_vec());
    }

    #[test]
    fn rejects_other_files() {
        let mut r = Reader::default();
        r.push(b"\x89PNG\r\n\x1a\n");
        assert_eq!(r.next_item(), Err(ContainerError::NotLnet));
        let mut r = Reader::default();
        let mut f = file_header("x");
        f.extend_from_slice(&u32::MAX.to_le_bytes());
        f.extend_from_slice(&[0; 16]);
        r.push(&f);
        assert!(r.next_item().unwrap().is_some());
        assert!(matches!(
            r.next_item(),
            Err(ContainerError::RecordTooLarge(_))
        ));
    }
}
