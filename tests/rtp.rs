//! limitnetpay / limitnetdepay (and the raw limitnetpacketizer / limitnetdepacketizer): the same
//! frames as without packets when nothing is lost, a frame for every frame any packet of which
//! arrived under random and bursty loss, duplicates, reordering and damage, and RTP over UDP on
//! localhost.

mod common;

use common::{init, stream_caps};

use gst::prelude::*;
use gst_check::Harness;
use gst_rtp::prelude::*;

/// A real photo repeated as a short clip, and a moving test pattern, both at 224x224.
const SOURCES: [&str; 2] = [
    "filesrc location={photo} ! pngdec ! imagefreeze num-buffers=4 ! videoconvert",
    "videotestsrc pattern=ball num-buffers=4 ! video/x-raw,width=224,height=224,framerate=10/1 ! videoconvert",
];

fn source(i: usize) -> String {
    SOURCES[i].replace(
        "{photo}",
        common::data_path("astronaut-224.png").to_str().unwrap(),
    )
}

fn frames_of(samples: &[gst::Sample]) -> Vec<(Option<gst::ClockTime>, Vec<u8>)> {
    samples
        .iter()
        .map(|s| {
            let b = s.buffer().unwrap();
            (b.pts(), b.map_readable().unwrap().to_vec())
        })
        .collect()
}

#[test]
fn without_loss_packets_give_the_same_frames() {
    init();
    for i in 0..SOURCES.len() {
        let direct = common::run_pipeline(&format!(
            "{} ! limitnetenc ! limitnetdec ! appsink name=sink sync=false",
            source(i)
        ))
        .unwrap();
        assert_eq!(direct.len(), 4);
        for pay in [
            "limitnetpay mtu=63 ! limitnetdepay",
            "limitnetpay mtu=234 header-copies=1 ! limitnetdepay",
            "limitnetpay mtu=1400 interleave=4 ! limitnetdepay",
            "limitnetpay mtu=63 protect=1024 header-copies=3 ! limitnetdepay",
            "limitnetpacketizer ! limitnetdepacketizer",
            "limitnetpacketizer packet-size=222 interleave=8 ! limitnetdepacketizer",
            "limitnetpacketizer protect=100000 ! limitnetdepacketizer",
        ] {
            let packets = common::run_pipeline(&format!(
                "{} ! limitnetenc ! {pay} ! limitnetdec ! appsink name=sink sync=false",
                source(i)
            ))
            .unwrap();
            assert_eq!(frames_of(&packets), frames_of(&direct), "{pay}, source {i}");
        }
    }
}

/// The RTP packets limitnetpay makes of `frames` encoded frames of a real photo (and a shifted
/// copy, so that frames differ), with their frame index.
fn rtp_packets(frames: u64, mtu: u32) -> Vec<(u64, gst::Buffer)> {
    let (rgb, w, h) = common::photo("chelsea-224.png");
    let bundle = limitnet::ModelBundle::embedded().unwrap();
    let mut enc = limitnet::Encoder::new(bundle, 1).unwrap();
    let mut pay = Harness::new("limitnetpay");
    pay.element().unwrap().set_property("mtu", mtu);
    pay.set_src_caps_str(&stream_caps(w, h));
    let mut out = Vec::new();
    for f in 0..frames {
        let shifted: Vec<u8> = rgb.iter().map(|&v| v.wrapping_add(f as u8 * 9)).collect();
        let image = limitnet::ImageRef::packed(&shifted, w, h, limitnet::PixelLayout::Rgb);
        let data = enc.encode(&image, &Default::default()).unwrap().data;
        pay.push(common::buffer(data, f)).unwrap();
        while let Some(b) = pay.try_pull() {
            out.push((f, b));
        }
    }
    out
}

/// SplitMix64: seeded, portable randomness for loss patterns.
struct Rng(u64);

impl Rng {
    fn uniform(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Pushes `packets` into `limitnetdepay ! limitnetdec`; returns the frames' timestamps (and
/// checks every frame's size) and the warnings and errors posted.
fn receive(packets: Vec<gst::Buffer>) -> (Vec<gst::ClockTime>, Vec<String>, Vec<String>) {
    let mut h = Harness::new_parse("limitnetdepay ! limitnetdec");
    let messages = common::Messages::watch(&h.element().unwrap());
    let caps = h.element().unwrap().downcast::<gst::Bin>().unwrap();
    let depay = caps
        .iterate_elements()
        .into_iter()
        .flatten()
        .find(|e| e.factory().is_some_and(|f| f.name() == "limitnetdepay"));
    assert!(depay.is_some());
    let rtp_caps = format!(
        "application/x-rtp,media=video,clock-rate=90000,encoding-name=X-LIMITNET,payload=96,width=(string)224,height=(string)224,model-id=(string){}",
        common::model_id()
    );
    h.set_src_caps_str(&rtp_caps);
    for p in packets {
        let _ = h.push(p);
    }
    h.push_event(gst::event::Eos::new());
    let mut pts = Vec::new();
    while let Some(b) = h.try_pull() {
        assert_eq!(b.size(), 224 * 224 * 3);
        pts.push(b.pts().unwrap());
    }
    let (warnings, errors) = messages.take();
    (pts, warnings, errors)
}

fn frame_pts(f: u64) -> gst::ClockTime {
    common::buffer(Vec::new(), f).pts().unwrap()
}

#[test]
fn random_and_bursty_loss_give_every_frame_that_sent_anything() {
    init();
    let frames = 6;
    let packets = rtp_packets(frames, 63);
    assert!(packets.len() > 40 * frames as usize);
    for seed in 0..4u64 {
        for pattern in ["random 30 %", "bursty", "lose 90 %"] {
            let mut rng = Rng(seed);
            let mut bad = false;
            let kept: Vec<(u64, gst::Buffer)> = packets
                .iter()
                .filter(|_| match pattern {
                    "random 30 %" => rng.uniform() >= 0.3,
                    "lose 90 %" => rng.uniform() >= 0.9,
                    _ => {
                        // Gilbert-Elliott: bursts of 3.3 packets, 14 % lost.
                        bad = if bad {
                            rng.uniform() >= 0.3
                        } else {
                            rng.uniform() < 0.05
                        };
                        !bad
                    }
                })
                .cloned()
                .collect();
            let mut expected: Vec<gst::ClockTime> =
                kept.iter().map(|(f, _)| frame_pts(*f)).collect();
            expected.dedup();
            let (pts, _, errors) = receive(kept.into_iter().map(|(_, b)| b).collect());
            assert!(errors.is_empty(), "{pattern}, seed {seed}: {errors:?}");
            assert_eq!(pts, expected, "{pattern}, seed {seed}");
        }
    }
}

#[test]
fn duplicated_reordered_truncated_corrupted_and_foreign_packets_give_frames_and_warnings() {
    init();
    let frames = 3;
    let packets = rtp_packets(frames, 63);
    let mut rng = Rng(7);
    let mut damaged = Vec::new();
    for (f, b) in &packets {
        let (payload, rtp_time) = {
            let rtp = gst_rtp::RTPBuffer::from_buffer_readable(b).unwrap();
            (rtp.payload().unwrap().to_vec(), rtp.timestamp())
        };
        let with_payload = |payload: &[u8], marker: bool| {
            let mut out = gst::Buffer::new_rtp_with_sizes(payload.len() as u32, 0, 0).unwrap();
            {
                let out = out.get_mut().unwrap();
                let mut rtp = gst_rtp::RTPBuffer::from_buffer_writable(out).unwrap();
                rtp.payload_mut().unwrap().copy_from_slice(payload);
                rtp.set_marker(marker);
                rtp.set_timestamp(rtp_time);
            }
            out.get_mut().unwrap().set_pts(frame_pts(*f));
            out
        };
        let marker = gst_rtp::RTPBuffer::from_buffer_readable(b)
            .unwrap()
            .is_marker();
        match (rng.uniform() * 8.0) as u32 {
            0 => {
                damaged.push(b.clone());
                damaged.push(b.clone()); // duplicated
            }
            1 => damaged.push(with_payload(&payload[..payload.len() / 2], marker)), // truncated
            2 => {
                let mut flipped = payload.clone();
                let bit = (rng.uniform() * (8 * flipped.len()) as f64) as usize;
                flipped[bit / 8] ^= 1 << (bit % 8);
                damaged.push(with_payload(&flipped, marker)); // corrupted
            }
            3 => {
                let garbage: Vec<u8> = (0..payload.len())
                    .map(|_| (rng.uniform() * 256.0) as u8)
                    .collect();
                damaged.push(with_payload(&garbage, marker)); // foreign
            }
            4 => damaged.push(with_payload(&[], marker)), // empty
            _ => damaged.push(b.clone()),
        }
    }
    // Reordered within each frame (as without a jitterbuffer), the marker packet kept last.
    let mut by_frame: Vec<Vec<gst::Buffer>> = vec![Vec::new(); frames as usize];
    for b in damaged {
        let f = (b.pts().unwrap().nseconds() / frame_pts(1).nseconds()) as usize;
        by_frame[f].push(b);
    }
    let mut reordered = Vec::new();
    for mut packets in by_frame {
        let last = packets.pop().unwrap();
        packets.reverse();
        reordered.extend(packets);
        reordered.push(last);
    }
    let (pts, warnings, errors) = receive(reordered);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(pts, (0..frames).map(frame_pts).collect::<Vec<_>>());
    assert!(!warnings.is_empty(), "damaged packets give warnings");
}

#[test]
fn netsim_random_loss_through_the_elements() {
    init();
    if gst::ElementFactory::find("netsim").is_none() {
        panic!("netsim (gst-plugins-bad) is missing: scripts/setup.sh installs it");
    }
    let samples = common::run_pipeline(&format!(
        "{} ! limitnetenc ! limitnetpay mtu=63 ! netsim drop-probability=0.2 ! limitnetdepay ! limitnetdec ! appsink name=sink sync=false",
        source(1)
    ))
    .unwrap();
    // A frame is ~90 packets: all of one frame lost at 20 % is ~1e-63.
    assert_eq!(samples.len(), 4);
}

#[test]
fn raw_packets_with_random_loss_give_every_frame() {
    init();
    for interleave in [1, 8] {
        let samples = common::run_pipeline(&format!(
            "{} ! limitnetenc ! limitnetpacketizer interleave={interleave} ! identity drop-probability=0.3 ! limitnetdepacketizer ! limitnetdec ! appsink name=sink sync=false",
            source(1)
        ))
        .unwrap();
        assert_eq!(samples.len(), 4);
        // Single packets are not frames: limitnetdec says what to put before it.
        let err = common::run_pipeline(&format!(
            "{} ! limitnetenc ! limitnetpacketizer ! limitnetdec ! fakesink",
            source(1)
        ))
        .unwrap_err();
        assert!(err.contains("limitnetdepacketizer"), "{err}");
    }
}

#[test]
fn rtp_over_udp_on_localhost() {
    init();
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = socket.local_addr().unwrap().port();
    drop(socket);
    let caps = format!(
        "application/x-rtp,media=video,clock-rate=90000,encoding-name=X-LIMITNET,payload=96,width=(string)224,height=(string)224,model-id=(string){}",
        common::model_id()
    );
    let receiver = gst::parse::launch(&format!(
        "udpsrc address=127.0.0.1 port={port} caps=\"{caps}\" ! rtpjitterbuffer latency=100 ! limitnetdepay ! limitnetdec ! appsink name=sink sync=false"
    ))
    .unwrap()
    .downcast::<gst::Pipeline>()
    .unwrap();
    let sink = receiver
        .by_name("sink")
        .unwrap()
        .downcast::<gst_app::AppSink>()
        .unwrap();
    receiver.set_state(gst::State::Playing).unwrap();
    // Sent in real time, so that the jitterbuffer releases frames as they come.
    common::run_pipeline(&format!(
        "{} ! limitnetenc ! limitnetpay mtu=234 ! udpsink host=127.0.0.1 port={port} sync=true",
        source(1)
    ))
    .unwrap();
    let mut frames = 0;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while frames < 3 && std::time::Instant::now() < deadline {
        if let Some(s) = sink.try_pull_sample(gst::ClockTime::from_mseconds(100)) {
            assert_eq!(s.buffer().unwrap().size(), 224 * 224 * 3);
            frames += 1;
        }
    }
    receiver.set_state(gst::State::Null).unwrap();
    // The last frame leaves the depayloader with the next frame's first packet (or EOS, which
    // udpsrc never sends): at least the first three of four arrive.
    assert!(frames >= 3, "{frames} frames over UDP");
}

#[test]
fn the_raw_depacketizer_sends_a_frame_out_after_its_timeout() {
    init();
    // The raw packets of one frame, then nothing: no next frame, no EOS (a radio gone quiet).
    let (rgb, w, h) = common::photo("chelsea-224.png");
    let bundle = limitnet::ModelBundle::embedded().unwrap();
    let mut enc = limitnet::Encoder::new(bundle, 1).unwrap();
    let image = limitnet::ImageRef::packed(&rgb, w, h, limitnet::PixelLayout::Rgb);
    let frame = enc.encode(&image, &Default::default()).unwrap().data;
    let mut packetizer = Harness::new("limitnetpacketizer");
    packetizer.set_src_caps_str(&stream_caps(w, h));
    packetizer.push(common::buffer(frame, 0)).unwrap();
    let mut packets = Vec::new();
    while let Some(p) = packetizer.try_pull() {
        packets.push(p);
    }
    assert!(packets.len() > 40);
    let caps = packetizer.sinkpad().unwrap().current_caps().unwrap();

    // Without a timeout, the frame waits for what ends it: EOS here.
    let collect = |timeout: u32, lose_last: usize| {
        let mut depacketizer = Harness::new("limitnetdepacketizer");
        depacketizer
            .element()
            .unwrap()
            .set_property("timeout", timeout);
        depacketizer.set_src_caps(caps.clone());
        for p in &packets[..packets.len() - lose_last] {
            depacketizer.push(p.clone()).unwrap();
        }
        let out = if timeout == 0 {
            assert!(
                depacketizer.try_pull().is_none(),
                "a frame left without an end"
            );
            depacketizer.push_event(gst::event::Eos::new());
            depacketizer.pull().unwrap()
        } else {
            // pull() waits (up to a minute) for what the timeout thread sends.
            let started = std::time::Instant::now();
            let frame = depacketizer.pull().unwrap();
            assert!(started.elapsed() < std::time::Duration::from_secs(30));
            frame
        };
        out.map_readable().unwrap().to_vec()
    };
    let at_eos = collect(0, 0);
    assert_eq!(
        collect(100, 0),
        at_eos,
        "the same frame, sent by the timeout"
    );
    // The frame's last packets lost: it still leaves, with what arrived.
    let shorter = collect(100, 5);
    assert!(!shorter.is_empty() && shorter.len() < at_eos.len());
}
