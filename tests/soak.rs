//! A small run of the soak command (examples/soak.rs, scripts/soak.sh): every frame comes out,
//! every element instance is freed, memory stays flat over the frames. The real soak (10,000
//! frames, 32+ instances) is too slow for the test suite: README "Guarantees on bad input".

#[allow(dead_code)]
#[path = "../examples/soak.rs"]
mod soak;

#[test]
fn small_soak_frees_everything_and_keeps_memory_flat() {
    let config = soak::Config {
        frames: 300,
        width: 32,
        height: 32,
        warmup: 100,
        every: 100,
        instances: 4,
        concurrent: 2,
        rounds: 2,
        instance_frames: 5,
        ..Default::default()
    };
    let (phases, flat) = soak::soak(&config).unwrap();
    for phase in &phases {
        phase.print();
    }
    assert!(
        flat,
        "RSS grew more than {} kB in a phase",
        config.max_growth_kb
    );
    let frames = &phases[0];
    assert_eq!(frames.samples.last().unwrap().label, "frame 300");
    assert!(
        frames.growth_kb() <= config.max_growth_kb as i64,
        "RSS grew {} kB over 200 frames",
        frames.growth_kb()
    );
}
