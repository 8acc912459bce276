//! Soak test: memory must stay flat and every element must be freed.
//!
//! Phase 1 pushes `--frames` frames of moving content through `limitnetenc ! limitnetdec` in one
//! pipeline (the decoder's `percentage` changes every 100 frames, so frames and cuts vary) and
//! samples memory after `--warmup` frames and every `--every` frames. Phase 2 runs `--instances`
//! encoder/decoder pairs one pipeline after another; phase 3 runs `--rounds` pipelines of
//! `--concurrent` pairs side by side; all share the process's one ONNX Runtime environment,
//! and after each pipeline every one of its elements must have been freed. Each sample holds
//! VmRSS and VmHWM. Fails (exit 1) when VmRSS grows more than `--max-growth-mb` from a phase's
//! warmed-up sample to its end, or when an element outlives its pipeline.
//!
//! `--malloc fixed` (the default) first pins glibc's mmap threshold at 128 KiB (what
//! `MALLOC_MMAP_THRESHOLD_=131072` does), so RSS shows the memory the code holds. With
//! `--malloc glibc` (glibc's defaults) every free of a large block raises the threshold to that
//! block's size; ONNX Runtime's tensors then come from malloc's per-thread arenas, which keep
//! freed memory: with many decoders side by side RSS wanders by tens of MB, without a leak.
//!
//! cargo run --release --example soak -- [--frames 10000] [--size 224x224] [--instances 32]
//!   [--concurrent 8] [--rounds 8] [--instance-frames 20] [--warmup 200] [--every 1000]
//!   [--max-growth-mb 10] [--malloc fixed|glibc] [--model BUNDLE_DIR]
//! (scripts/soak.sh runs it.)

use std::sync::{Arc, Mutex};
use std::time::Instant;

use gst::prelude::*;

#[derive(Debug, Clone)]
pub struct Config {
    pub frames: u64,
    pub width: u32,
    pub height: u32,
    pub warmup: u64,
    pub every: u64,
    pub instances: usize,
    pub concurrent: usize,
    pub rounds: usize,
    pub instance_frames: u64,
    pub max_growth_kb: u64,
    /// Pin glibc's mmap threshold first (see the top of this file).
    pub fixed_malloc: bool,
    /// The elements' `model` property (a bundle directory); unset: the embedded default.
    pub model: Option<String>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            frames: 10_000,
            width: 224,
            height: 224,
            warmup: 200,
            every: 1000,
            instances: 32,
            concurrent: 8,
            rounds: 8,
            instance_frames: 20,
            max_growth_kb: 10 * 1024,
            fixed_malloc: true,
            model: None,
        }
    }
}

impl Config {
    pub fn from_args(args: impl Iterator<Item = String>) -> Result<Self, String> {
        let mut c = Self::default();
        let mut args = args.peekable();
        while let Some(flag) = args.next() {
            let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
            let number = || {
                value
                    .parse::<u64>()
                    .map_err(|_| format!("{flag}: not a number: {value}"))
            };
            match flag.as_str() {
                "--frames" => c.frames = number()?,
                "--size" => {
                    let (w, h) = value
                        .split_once('x')
                        .and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)))
                        .ok_or_else(|| format!("--size: expected WxH, got {value}"))?;
                    (c.width, c.height) = (w, h);
                }
                "--warmup" => c.warmup = number()?,
                "--every" => c.every = number()?.max(1),
                "--instances" => c.instances = number()? as usize,
                "--concurrent" => c.concurrent = number()? as usize,
                "--rounds" => c.rounds = number()? as usize,
                "--instance-frames" => c.instance_frames = number()?,
                "--max-growth-mb" => c.max_growth_kb = number()? * 1024,
                "--model" => c.model = Some(value),
                "--malloc" => {
                    c.fixed_malloc = match value.as_str() {
                        "fixed" => true,
                        "glibc" => false,
                        _ => return Err(format!("--malloc: fixed or glibc, not {value}")),
                    }
                }
                _ => return Err(format!("unknown option {flag}")),
            }
        }
        if c.instances == 0 || c.concurrent == 0 || c.rounds == 0 || c.warmup == 0 {
            return Err(
                "--instances, --concurrent, --rounds and --warmup must be at least 1".into(),
            );
        }
        if c.warmup >= c.frames {
            return Err(format!(
                "--warmup ({}) must be below --frames ({})",
                c.warmup, c.frames
            ));
        }
        Ok(c)
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
unsafe extern "C" {
    fn mallopt(param: i32, value: i32) -> i32;
}

/// Pins glibc's mmap threshold at 128 KiB (its initial value, no longer raised by frees);
/// false where that is not possible.
fn fix_malloc() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        const M_MMAP_THRESHOLD: i32 = -3;
        // SAFETY: mallopt only changes allocator tuning; called before the pipelines' threads.
        unsafe { mallopt(M_MMAP_THRESHOLD, 128 * 1024) == 1 }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    false
}

/// (VmRSS, VmHWM) of this process in kB, from /proc/self/status.
fn status_kb() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

/// Memory at one point of a phase, in kB.
#[derive(Debug, Clone)]
pub struct Sample {
    pub label: String,
    pub rss_kb: u64,
    /// Peak resident memory so far.
    pub hwm_kb: u64,
    pub seconds: f64,
}

impl Sample {
    fn now(label: String, started: Instant) -> Self {
        let (rss_kb, hwm_kb) = status_kb();
        let sample = Self {
            label,
            rss_kb,
            hwm_kb,
            seconds: started.elapsed().as_secs_f64(),
        };
        // Progress while it runs; the tables come at the end.
        eprintln!("{}", sample.row(""));
        sample
    }

    /// A row of the table that [`Phase::print`] prints.
    fn row(&self, mark: &str) -> String {
        format!(
            "| {}{mark} | {:.1} | {:.1} | {:.1} |",
            self.label,
            mb(self.rss_kb as i64),
            mb(self.hwm_kb as i64),
            self.seconds
        )
    }
}

/// One phase's samples; `baseline` is the (warmed-up) sample growth is measured from.
#[derive(Debug, Clone)]
pub struct Phase {
    pub name: String,
    pub samples: Vec<Sample>,
    pub baseline: usize,
}

fn mb(kb: i64) -> f64 {
    kb as f64 / 1024.0
}

impl Phase {
    /// VmRSS at the end minus VmRSS at the baseline, in kB (negative: it shrank).
    pub fn growth_kb(&self) -> i64 {
        let start = self.samples[self.baseline].rss_kb as i64;
        self.samples.last().map_or(0, |s| s.rss_kb as i64 - start)
    }

    pub fn print(&self) {
        println!("\n{}", self.name);
        println!("| sample | VmRSS MB | VmHWM MB | seconds |");
        println!("|---|---|---|---|");
        for (i, s) in self.samples.iter().enumerate() {
            let mark = if i == self.baseline { " (start)" } else { "" };
            println!("{}", s.row(mark));
        }
        let (start, end) = (&self.samples[self.baseline], self.samples.last().unwrap());
        println!(
            "start RSS {:.1} MB, end RSS {:.1} MB ({:+.1} MB)",
            mb(start.rss_kb as i64),
            mb(end.rss_kb as i64),
            mb(self.growth_kb())
        );
    }
}

/// Moving test content (the SMPTE bars scroll 3 pixels a frame) through an encoder and a decoder.
fn branch(c: &Config, frames: u64, sink: &str) -> String {
    let model = c
        .model
        .as_ref()
        .map(|m| format!("model=\"{m}\""))
        .unwrap_or_default();
    format!(
        "videotestsrc pattern=smpte horizontal-speed=3 num-buffers={frames} ! \
         video/x-raw,format=RGB,width={},height={},framerate=30/1 ! limitnetenc {model} ! \
         limitnetdec {model} ! fakesink {sink} sync=false",
        c.width, c.height
    )
}

/// Runs a pipeline to EOS, then drops it and checks that every element of it was freed; the
/// error message if it fails.
fn run(pipeline: gst::Pipeline) -> Result<(), String> {
    let elements: Vec<_> = pipeline
        .iterate_recurse()
        .into_iter()
        .filter_map(Result::ok)
        .map(|e| e.downgrade())
        .collect();
    let bus = pipeline.bus().unwrap();
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| format!("cannot start: {e}"))?;
    let msg = bus.timed_pop_filtered(
        gst::ClockTime::NONE,
        &[gst::MessageType::Eos, gst::MessageType::Error],
    );
    let _ = pipeline.set_state(gst::State::Null);
    if let Some(gst::MessageView::Error(e)) = msg.as_ref().map(|m| m.view()) {
        return Err(format!("{} ({:?})", e.error(), e.debug()));
    }
    drop((msg, bus, pipeline));
    let alive: Vec<_> = elements
        .iter()
        .filter_map(|e| e.upgrade())
        .map(|e| e.name())
        .collect();
    if !alive.is_empty() {
        return Err(format!(
            "elements still alive after their pipeline was dropped: {alive:?}"
        ));
    }
    Ok(())
}

fn parse(description: &str) -> gst::Pipeline {
    gst::parse::launch(description)
        .unwrap()
        .downcast::<gst::Pipeline>()
        .unwrap()
}

/// Phase 1: `frames` frames through one encoder and decoder.
pub fn frames_phase(c: &Config) -> Result<Phase, String> {
    let pipeline = parse(&branch(c, c.frames, "name=sink"));
    let decoder = pipeline
        .iterate_all_by_element_factory_name("limitnetdec")
        .next()
        .unwrap()
        .unwrap()
        .downgrade();
    let started = Instant::now();
    let samples = Arc::new(Mutex::new(Vec::new()));
    let (warmup, every, total) = (c.warmup, c.every, c.frames);
    let count = std::sync::atomic::AtomicU64::new(0);
    {
        let samples = samples.clone();
        pipeline
            .by_name("sink")
            .unwrap()
            .static_pad("sink")
            .unwrap()
            .add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                let n = count.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                if n % 100 == 0 {
                    // Vary what the decoder does: whole frames, then half, then a tenth.
                    if let Some(d) = decoder.upgrade() {
                        d.set_property(
                            "percentage",
                            [100.0f64, 50.0, 10.0][(n / 100 % 3) as usize],
                        );
                    }
                }
                if n == warmup || (n > warmup && n % every == 0) || n == total {
                    let sample = Sample::now(format!("frame {n}"), started);
                    samples.lock().unwrap().push(sample);
                }
                gst::PadProbeReturn::Ok
            });
    }
    run(pipeline)?;
    let samples = samples.lock().unwrap().clone();
    let expected = format!("frame {}", c.frames);
    if samples.last().map(|s| &s.label) != Some(&expected) {
        return Err(format!(
            "only {} of {} frames came out",
            samples.last().map_or("none", |s| &s.label),
            c.frames
        ));
    }
    Ok(Phase {
        name: format!(
            "Phase 1: {} frames of {}x{} through limitnetenc ! limitnetdec",
            c.frames, c.width, c.height
        ),
        samples,
        baseline: 0,
    })
}

/// Phase 2: `instances` encoder/decoder pairs, one pipeline after another.
pub fn one_after_another_phase(c: &Config) -> Result<Phase, String> {
    let started = Instant::now();
    let (mut samples, mut pairs) = (Vec::new(), Vec::new());
    for i in 1..=c.instances {
        run(parse(&branch(c, c.instance_frames, "")))?;
        if i == 1 || i % 4 == 0 || i == c.instances {
            samples.push(Sample::now(format!("pair {i}"), started));
            pairs.push(i);
        }
    }
    // Growth is measured from the first sample after a quarter of the pairs (warm-up).
    let warm = (c.instances / 4).max(1);
    let baseline = pairs.iter().position(|&i| i >= warm).unwrap_or(0);
    Ok(Phase {
        name: format!(
            "Phase 2: {} encoder/decoder pairs, one pipeline after another ({} frames each, {}x{})",
            c.instances, c.instance_frames, c.width, c.height
        ),
        samples,
        baseline,
    })
}

/// Phase 3: `rounds` pipelines of `concurrent` pairs running side by side.
pub fn side_by_side_phase(c: &Config) -> Result<Phase, String> {
    let started = Instant::now();
    let side_by_side = vec![branch(c, c.instance_frames, ""); c.concurrent].join("  ");
    let mut samples = Vec::new();
    for round in 1..=c.rounds {
        run(parse(&side_by_side))?;
        samples.push(Sample::now(format!("round {round}"), started));
    }
    // Measured from the round after a quarter of them, at least the second: the first rounds
    // start the streaming and ONNX Runtime threads whose arenas later rounds reuse.
    let baseline = (c.rounds / 4).max(2).min(c.rounds) - 1;
    Ok(Phase {
        name: format!(
            "Phase 3: {} rounds of {} encoder/decoder pairs side by side in one pipeline ({} frames each, {}x{})",
            c.rounds, c.concurrent, c.instance_frames, c.width, c.height
        ),
        samples,
        baseline,
    })
}

/// All phases; the phases and whether VmRSS stayed within `max_growth_kb` in each.
pub fn soak(c: &Config) -> Result<(Vec<Phase>, bool), String> {
    if c.fixed_malloc && !fix_malloc() {
        return Err("cannot set the malloc tuning (not glibc?): use --malloc glibc".into());
    }
    gst::init().map_err(|e| e.to_string())?;
    gstlimitnet::plugin_register_static().map_err(|e| e.to_string())?;
    let phases = vec![
        frames_phase(c)?,
        one_after_another_phase(c)?,
        side_by_side_phase(c)?,
    ];
    let flat = phases
        .iter()
        .all(|p| p.growth_kb() <= c.max_growth_kb as i64);
    Ok((phases, flat))
}

fn main() {
    let config = match Config::from_args(std::env::args().skip(1)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("soak: {e}");
            std::process::exit(2);
        }
    };
    println!("soak: {config:?}");
    match limitnet::ModelBundle::load(config.model.as_deref().map(std::path::Path::new)) {
        Ok(bundle) => println!("model: {} ({})", bundle.name, bundle.id),
        Err(e) => {
            eprintln!("soak: {e}");
            std::process::exit(2);
        }
    }
    match soak(&config) {
        Ok((phases, flat)) => {
            for p in &phases {
                p.print();
            }
            let limit = config.max_growth_kb as f64 / 1024.0;
            if flat {
                println!(
                    "\nsoak: PASS (RSS grew less than {limit:.0} MB in every phase; every element freed)"
                );
            } else {
                println!("\nsoak: FAIL (RSS grew more than {limit:.0} MB)");
                std::process::exit(1);
            }
        }
        Err(e) => {
            eprintln!("soak: FAIL: {e}");
            std::process::exit(1);
        }
    }
}
