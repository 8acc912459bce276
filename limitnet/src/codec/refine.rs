//! Coarse values first, refinement bits later (bitstream version 3, docs/bitstream.md
//! "Refinement").
//!
//! A value of level `q` (0..L-1) is first sent as its coarse level `c = (q + 2^r - 1) >> r`, so
//! level 0 (the most common, and what a value not sent decodes to) stays exact and every other
//! coarse level stands for the `2^r` levels `(c - 1) 2^r + 1 ..= c 2^r` (fewer for the last).
//! Each of the `r` refinement stages then halves the interval the receiver knows by one bit.
//! With `r = 0` a value is sent whole in one item (versions 1 and 2).

/// The level interval `lo..=hi` a receiver knows a value lies in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Interval {
    pub lo: u8,
    pub hi: u8,
}

impl Interval {
    /// Whether the level is known exactly (a refinement stage has nothing to send).
    #[inline]
    pub fn is_exact(self) -> bool {
        self.lo >= self.hi
    }

    #[inline]
    fn mid(self) -> u8 {
        // lo + (hi - lo) / 2 without overflow; lo <= mid < hi when not exact.
        self.lo + (self.hi - self.lo) / 2
    }

    /// The bit a refinement stage sends for level `q` of this interval: whether `q` lies in the
    /// upper half (0 when the interval is exact).
    #[inline]
    pub fn bit_of(self, q: u8) -> u32 {
        u32::from(q > self.mid())
    }

    /// The interval left after a refinement bit (unchanged when exact).
    #[inline]
    pub fn narrowed(self, bit: u32) -> Self {
        if self.is_exact() {
            self
        } else if bit != 0 {
            Self {
                lo: self.mid() + 1,
                hi: self.hi,
            }
        } else {
            Self {
                lo: self.lo,
                hi: self.mid(),
            }
        }
    }

    /// The level the decoder reconstructs: the middle of the interval (in half levels).
    #[inline]
    pub fn midpoint(self) -> f32 {
        (f32::from(self.lo) + f32::from(self.hi)) * 0.5
    }
}

/// How a bundle splits its values into a coarse level and refinement bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Refinement {
    /// Refinement bits per value, `r`: 0 (values sent whole) ..= [`Self::MAX_BITS`].
    bits: u8,
    /// Fine levels `L`.
    levels: u8,
}

impl Refinement {
    pub const MAX_BITS: u8 = 5;

    /// `None` unless `bits <= MAX_BITS`, `levels` in 2..=64 and at least two coarse levels.
    pub const fn new(bits: u8, levels: u32) -> Option<Self> {
        if bits > Self::MAX_BITS || levels < 2 || levels > 64 {
            return None;
        }
        let r = Self {
            bits,
            levels: levels as u8,
        };
        if r.coarse_levels() < 2 {
            return None;
        }
        Some(r)
    }

    /// Values sent whole (versions 1 and 2).
    pub const fn whole(levels: u32) -> Self {
        Self {
            bits: 0,
            levels: levels as u8,
        }
    }

    pub const fn bits(self) -> u8 {
        self.bits
    }

    /// Items per value in the priority order: the coarse level and one per refinement bit.
    pub const fn stages(self) -> usize {
        1 + self.bits as usize
    }

    /// Coarse levels, `((L - 1 + 2^r - 1) >> r) + 1`.
    pub const fn coarse_levels(self) -> u32 {
        ((self.levels as u32 - 1 + (1 << self.bits) - 1) >> self.bits) + 1
    }

    /// The coarse level of level `q`.
    #[inline]
    pub fn coarse(self, q: u8) -> u8 {
        ((u32::from(q) + (1 << self.bits) - 1) >> self.bits) as u8
    }

    /// The levels coarse level `c` stands for.
    #[inline]
    pub fn interval(self, c: u8) -> Interval {
        if c == 0 || self.bits == 0 {
            return Interval { lo: c, hi: c };
        }
        let lo = ((u32::from(c) - 1) << self.bits) + 1;
        let hi = (u32::from(c) << self.bits).min(u32::from(self.levels) - 1);
        Interval {
            lo: lo.min(u32::from(self.levels) - 1) as u8,
            hi: hi as u8,
        }
    }

    /// The interval of level `q` known before refinement stage `stage` (1..=r): its coarse
    /// level's, narrowed by the bits of stages 1..stage.
    #[inline]
    pub fn interval_before(self, q: u8, stage: usize) -> Interval {
        let mut interval = self.interval(self.coarse(q));
        for _ in 1..stage {
            interval = interval.narrowed(interval.bit_of(q));
        }
        interval
    }

    /// Refinement bits of one coarse level: the nodes of its binary tree, `2^r - 1`.
    pub const fn nodes(self) -> usize {
        (1 << self.bits) - 1
    }

    /// Which node of its coarse level's tree the bit narrowing `interval` at `stage` (1..=r)
    /// is: `2^(stage-1) - 1 + (lo - first level of the coarse level) >> (r - stage + 1)`, so
    /// stage 1 is node 0 and the earlier bits pick the node below it (version 4 codes each node
    /// with its own probability).
    #[inline]
    pub fn node(self, interval: Interval, stage: usize) -> usize {
        let first = self.interval(self.coarse(interval.lo)).lo;
        (1 << (stage - 1)) - 1
            + (usize::from(interval.lo - first) >> (self.bits as usize - stage + 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The nodes of every coarse level's tree are 0..2^r - 1, each reached by one path.
    #[test]
    fn nodes_number_the_tree() {
        for bits in 1..=3u8 {
            let r = Refinement::new(bits, 64).unwrap();
            for q in 1..64u8 {
                let mut seen = Vec::new();
                for stage in 1..=usize::from(bits) {
                    let interval = r.interval_before(q, stage);
                    if interval.is_exact() {
                        continue;
                    }
                    let node = r.node(interval, stage);
                    assert!(
                        node < r.nodes() && node >= (1 << (stage - 1)) - 1,
                        "{q} {stage}"
                    );
                    seen.push(node);
                }
                // The other levels of the coarse level share a path only as far as they agree.
                for other in 1..64u8 {
                    if r.coarse(other) != r.coarse(q) {
                        continue;
                    }
                    for stage in 1..=usize::from(bits) {
                        let (a, b) = (r.interval_before(q, stage), r.interval_before(other, stage));
                        if !a.is_exact() && !b.is_exact() {
                            assert_eq!(a == b, r.node(a, stage) == r.node(b, stage));
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn every_level_is_reached_by_its_bits() {
        for levels in [2u32, 17, 33, 48, 64] {
            for bits in 0..=Refinement::MAX_BITS {
                let Some(r) = Refinement::new(bits, levels) else {
                    continue;
                };
                assert_eq!(
                    u32::from(r.coarse((levels - 1) as u8)) + 1,
                    r.coarse_levels()
                );
                for q in 0..levels as u8 {
                    let c = r.coarse(q);
                    let mut interval = r.interval(c);
                    assert!(interval.lo <= q && q <= interval.hi, "{levels} {bits} {q}");
                    for stage in 1..=usize::from(bits) {
                        assert_eq!(interval, r.interval_before(q, stage));
                        interval = interval.narrowed(interval.bit_of(q));
                        assert!(interval.lo <= q && q <= interval.hi);
                    }
                    assert_eq!((interval.lo, interval.hi), (q, q), "{levels} {bits} {q}");
                }
            }
        }
        // Level 0 alone is coarse level 0; at 64 levels and 2 bits: 17 coarse levels.
        let r = Refinement::new(2, 64).unwrap();
        assert_eq!(r.coarse_levels(), 17);
        assert_eq!(r.interval(0), Interval { lo: 0, hi: 0 });
        assert_eq!(r.interval(1), Interval { lo: 1, hi: 4 });
        assert_eq!(r.interval(16), Interval { lo: 61, hi: 63 });
        assert_eq!(Refinement::new(6, 64), None);
    }
}
