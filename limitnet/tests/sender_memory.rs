//! Peak heap of the sender for one 224x224 frame, everything a device runs after the camera:
//! the row encoder (its buffers made at construction), the priority order and the entropy
//! coding into the frame's bytes. (Its own test binary with one test: it counts the process's
//! allocations.) docs/sender.md lists the figures; this fails above them, and when a frame
//! after the first allocates at all.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use limitnet::codec::{FrameEncoder, StreamParams};
use limitnet::sender::{FixedRowEncoder, LITE_NETWORK, LITE_NETWORK_FIXED, RowEncoder, RowSender};

struct Counting;

static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        let now = CURRENT.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
        PEAK.fetch_max(now, Ordering::SeqCst);
        // SAFETY: forwarded to the system allocator with the caller's layout.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        CURRENT.fetch_sub(layout.size(), Ordering::SeqCst);
        // SAFETY: ptr was allocated by System.alloc with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::SeqCst);
        let now = CURRENT.fetch_add(new_size, Ordering::SeqCst) + new_size;
        PEAK.fetch_max(now, Ordering::SeqCst);
        CURRENT.fetch_sub(layout.size(), Ordering::SeqCst);
        // SAFETY: forwarded to the system allocator with the caller's pointer and layout.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Peak heap bytes, from a 224x224 frame's first row to its bytes, documented in
/// docs/sender.md: the f32 sender, and the fixed-point one a device without an FPU runs.
const PEAK_LIMIT: usize = 96 * 1024;
const PEAK_LIMIT_FIXED: usize = 64 * 1024;

#[test]
fn one_frame_fits_the_documented_heap() {
    // The codec tables are parsed from codec.json (a device would keep them in flash).
    let json = include_bytes!("../../models/limitnet-lite/codec.json");
    let tables = limitnet::codec::CodecTables::from_json(json).unwrap();
    let (w, h) = (224, 224);
    for (what, limit) in [("f32", PEAK_LIMIT), ("fixed point", PEAK_LIMIT_FIXED)] {
        let before = CURRENT.load(Ordering::SeqCst);
        PEAK.store(before, Ordering::SeqCst);
        let mut sender: Box<dyn RowSender> = if what == "f32" {
            Box::new(RowEncoder::new(
                LITE_NETWORK,
                tables.quantizer().clone(),
                w,
                h,
            ))
        } else {
            Box::new(FixedRowEncoder::new(LITE_NETWORK_FIXED, w, h))
        };
        let (bytes, allocations_per_frame) = frames(&mut *sender, &tables, w, h);
        let peak = PEAK.load(Ordering::SeqCst) - before;
        eprintln!(
            "{what}: peak heap {peak} bytes for a {w}x{h} frame of {bytes} bytes; allocations per frame {allocations_per_frame:?}"
        );
        assert!(peak <= limit, "{what}: peak heap {peak} > {limit}");
        // Everything is allocated by the first frame (the order's buffers and the frame's
        // bytes grow to their size once); from then on a frame touches no allocator.
        assert_eq!(
            allocations_per_frame[1..],
            [0, 0],
            "{what}: frames after the first allocated"
        );
    }
}

/// Three frames through `sender`, the priority order and the entropy coding: the last frame's
/// size and the allocations each frame made.
fn frames(
    sender: &mut dyn RowSender,
    tables: &limitnet::codec::CodecTables,
    w: usize,
    h: usize,
) -> (usize, Vec<usize>) {
    let row: Vec<u8> = (0..3 * w).map(|i| (i * 37 % 251) as u8).collect();
    let params = StreamParams {
        width: w as u32,
        height: h as u32,
        model_id: "device".into(),
    };
    let mut frames = FrameEncoder::default();
    let mut frame = Vec::new();
    let mut shifted = vec![0u8; row.len()];
    let mut allocations_per_frame = Vec::new();
    for _ in 0..3 {
        let start = ALLOCATIONS.load(Ordering::SeqCst);
        for y in 0..h {
            for (s, &b) in shifted.iter_mut().zip(&row) {
                *s = b.wrapping_add(y as u8);
            }
            sender.push_row(&shifted);
        }
        let out = sender.finish();
        frames.encode_into(
            tables,
            &params,
            &out.saliency,
            out.levels,
            tables.items(out.levels.len()),
            &mut frame,
        );
        allocations_per_frame.push(ALLOCATIONS.load(Ordering::SeqCst) - start);
    }
    (frame.len(), allocations_per_frame)
}
