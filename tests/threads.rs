//! The `threads` property of both elements reaches ONNX Runtime: N intra-op threads run the
//! network in the streaming thread plus N - 1 pool threads, created when the element starts and
//! gone when it stops. (Its own test binary with one test: it counts the process's threads.)
//! limitnetdec is given its model: without one it creates its session with the stream caps.

use gst::prelude::*;

fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task")
        .expect("Linux /proc")
        .count()
}

/// Threads the element adds to the process when it starts (READY -> PAUSED) with `threads`,
/// and how many of them are left after it stops.
fn threads_added_at_start(factory: &str, threads: u32) -> (usize, usize) {
    let element = gst::ElementFactory::make(factory)
        .property("threads", threads)
        .property("model", "limitnet-lite")
        .build()
        .unwrap();
    element.set_state(gst::State::Ready).unwrap();
    let before = thread_count();
    element.set_state(gst::State::Paused).unwrap();
    let after = thread_count();
    element.set_state(gst::State::Null).unwrap();
    (after - before, thread_count() - before)
}

#[test]
fn threads_property_sizes_the_runtime_thread_pool() {
    gst::init().unwrap();
    gstlimitnet::plugin_register_static().unwrap();
    for factory in ["limitnetenc", "limitnetdec"] {
        // A first start loads the runtime (which may start threads of its own once).
        threads_added_at_start(factory, 1);
        for threads in [1u32, 2, 4] {
            assert_eq!(
                threads_added_at_start(factory, threads),
                (threads as usize - 1, 0),
                "{factory} threads={threads}: (added at start, left after stop)"
            );
        }
    }
}
