//! The priority order of latent values: the one function both encoder and decoder call.

#[allow(unused_imports)]
use crate::codec::prelude::*;

use super::saliency::{GRID, MAX as SALIENCY_MAX, SaliencyMap};

/// What orders a frame's values: its channel count and how much a cell's saliency weighs
/// against a channel step (the bundle's `saliency_weight`, docs/bitstream.md). Built only with
/// a weight in 1..=[`PriorityRule::MAX_SALIENCY_WEIGHT`]: with 0 a channel would be ordered by
/// index alone and [`neighbours_sent_before`] would no longer hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PriorityRule {
    channels: usize,
    saliency_weight: u32,
    /// Items per value: 1 (the value whole) or 1 + its refinement bits (version 3).
    stages: u8,
    /// Priority units by which each refinement stage comes after the one before (31 per channel).
    refinement_delay: u32,
}

impl PriorityRule {
    /// The paper's `sal + (C - c) / 5`: a fully salient cell is worth five channel steps.
    pub const PAPER_SALIENCY_WEIGHT: u32 = 5;
    /// Above this a saliency step would outweigh a channel step (31).
    pub const MAX_SALIENCY_WEIGHT: u32 = 31;
    /// The largest refinement delay: 64 channels.
    pub const MAX_REFINEMENT_DELAY: u32 = 31 * 64;

    /// The paper's rule for `channels` channels.
    pub const fn paper(channels: usize) -> Self {
        Self {
            channels,
            saliency_weight: Self::PAPER_SALIENCY_WEIGHT,
            stages: 1,
            refinement_delay: 0,
        }
    }

    /// The rule `saliency_weight * s + 31 (channels - c)`; `None` unless the weight is in
    /// 1..=[`Self::MAX_SALIENCY_WEIGHT`].
    pub const fn new(channels: usize, saliency_weight: u32) -> Option<Self> {
        if saliency_weight == 0 || saliency_weight > Self::MAX_SALIENCY_WEIGHT {
            return None;
        }
        Some(Self {
            channels,
            saliency_weight,
            stages: 1,
            refinement_delay: 0,
        })
    }

    /// This rule for values sent as a coarse level and `bits` refinement bits (version 3,
    /// docs/bitstream.md "Refinement"): refinement stage `j` of a value has the value's
    /// priority minus `j * delay`. `None` unless `bits <= 5` and `delay <= MAX_REFINEMENT_DELAY`.
    pub const fn with_refinement(self, bits: u8, delay: u32) -> Option<Self> {
        if bits > super::refine::Refinement::MAX_BITS || delay > Self::MAX_REFINEMENT_DELAY {
            return None;
        }
        Some(Self {
            stages: 1 + bits,
            refinement_delay: delay,
            ..self
        })
    }

    /// Items per value in the order: 1, or 1 + the refinement bits.
    pub const fn stages(self) -> usize {
        self.stages as usize
    }

    pub const fn refinement_delay(self) -> u32 {
        self.refinement_delay
    }

    /// Items of a latent of `values` values.
    pub const fn items(self, values: usize) -> usize {
        values * self.stages as usize
    }

    /// Priority of item `stage` (0: the coarse level or whole value) of the value at channel
    /// `c` in a cell of saliency `s`: [`Self::priority`] less `stage` delays, offset so that it
    /// stays non-negative.
    #[inline]
    pub const fn item_priority(self, s: u8, c: usize, stage: usize) -> u32 {
        self.priority(s, c) + (self.stages as u32 - 1 - stage as u32) * self.refinement_delay
    }

    pub const fn channels(self) -> usize {
        self.channels
    }

    pub const fn saliency_weight(self) -> u32 {
        self.saliency_weight
    }

    /// Integer priority of the value at channel `c` in a cell of saliency `s` (0..=31).
    ///
    /// The paper's priority is `sal + (C - c) / 5` with `sal` in 0..1; with `sal = s / 31` and
    /// both sides scaled by 155 this is `5 s + 31 (C - c)`, exact in integers on every machine.
    /// A bundle may weigh saliency less (`k s + 31 (C - c)`, `k` its `saliency_weight`): the
    /// same order within a channel, so the same known neighbours, with fewer channels jumped.
    #[inline]
    pub const fn priority(self, s: u8, c: usize) -> u32 {
        self.saliency_weight * s as u32 + 31 * (self.channels - c) as u32
    }
}

/// The channel of a latent index, `index / plane`, without a hardware division per value:
/// Lemire, Kaser and Kurz, "Faster remainder by direct computation" (2019): with
/// `magic = ceil(2^64 / plane)`, `index / plane = (magic * index) >> 64` for every 32-bit index
/// and plane.
#[derive(Debug, Clone, Copy)]
pub struct ChannelOf {
    /// 0 for a plane of 1 (whose magic number would be 2^64).
    magic: u64,
}

impl ChannelOf {
    /// `plane`: values per channel, 1..=u32::MAX.
    pub fn new(plane: usize) -> Self {
        assert!(
            (1..=u32::MAX as usize).contains(&plane),
            "plane of {plane} values"
        );
        let magic = if plane == 1 {
            0
        } else {
            u64::MAX / plane as u64 + 1
        };
        Self { magic }
    }

    #[inline]
    pub fn of(self, index: u32) -> usize {
        if self.magic == 0 {
            index as usize
        } else {
            ((u128::from(self.magic) * u128::from(index)) >> 64) as usize
        }
    }
}

/// First index of each of the 8 saliency cells along a side of `n` latent positions (and `n`
/// at the end): position `i` lies in cell `g` for `bounds[g] <= i < bounds[g + 1]`, the same as
/// [`super::saliency::cell_of`] without a division per position.
fn cell_bounds(n: usize) -> [usize; GRID + 1] {
    let mut bounds = [n; GRID + 1];
    for (g, b) in bounds.iter_mut().enumerate().take(GRID) {
        // Smallest i with i * GRID / n >= g.
        *b = (g * n).div_ceil(GRID);
    }
    bounds
}

/// Items in the order they are sent: highest priority first, ties by lower stage, then lower
/// index (channel, then row, then column). An item is `stage * C h w + index`, `index` the
/// latent index `c * h * w + y * w + x`; with one stage per value (versions 1 and 2) items are
/// latent indices.
///
/// Every channel has the same positions per saliency value, so the positions are grouped by
/// saliency once (ascending within a group), the (stage, channel, saliency) triples are sorted
/// by priority, then stage, then channel, and each appends its group offset by its stage's and
/// channel's planes: O(stages C h w) sequential writes.
pub fn priority_order(saliency: &SaliencyMap, rule: PriorityRule, h: usize, w: usize) -> Vec<u32> {
    let mut scratch = OrderScratch::default();
    scratch.fill_order(saliency, rule, h, w);
    scratch.order
}

/// The buffers of [`priority_order`] and [`neighbours_sent_before`], kept by an encoder that
/// codes many frames so that, once frames stop growing, computing both allocates nothing.
#[derive(Debug)]
pub struct OrderScratch {
    /// The latest [`Self::fill_order`] result.
    pub order: Vec<u32>,
    /// The latest [`Self::fill_neighbours`] result.
    pub neighbours: Vec<u8>,
    grouped: Vec<u32>,
    group_start: [usize; SALIENCY_MAX as usize + 2],
    /// (priority, stage, channel, saliency) of the runs: 8 bytes each rather than 32, since a
    /// sender on a microcontroller keeps them (stages x 12 x 32 of them at most per frame with
    /// 12 channels).
    pairs: Vec<(u32, u8, u16, u8)>,
    cell_saliency: Vec<u8>,
}

impl Default for OrderScratch {
    fn default() -> Self {
        Self {
            order: Vec::new(),
            neighbours: Vec::new(),
            grouped: Vec::new(),
            group_start: [0; SALIENCY_MAX as usize + 2],
            pairs: Vec::new(),
            cell_saliency: Vec::new(),
        }
    }
}

impl OrderScratch {
    /// Sets [`Self::order`] to [`priority_order`]`(saliency, rule, h, w)`: the
    /// [`Self::runs`] of [`Self::fill_runs`], each position offset by its channel's plane.
    pub fn fill_order(&mut self, saliency: &SaliencyMap, rule: PriorityRule, h: usize, w: usize) {
        self.fill_runs(saliency, rule, h, w);
        let plane = h * w;
        let mut order = core::mem::take(&mut self.order);
        order.clear();
        order.reserve(rule.items(rule.channels * plane));
        for (stage, c, positions) in self.runs() {
            let base = ((stage * rule.channels + c) * plane) as u32;
            order.extend(positions.iter().map(|&p| base + p));
        }
        self.order = order;
    }

    /// Computes the priority order as runs (see [`Self::runs`]) without writing it out.
    pub fn fill_runs(&mut self, saliency: &SaliencyMap, rule: PriorityRule, h: usize, w: usize) {
        let plane = h * w;
        let (rows, cols) = (cell_bounds(h), cell_bounds(w));
        // Counting sort of the positions by saliency value.
        let group_start = &mut self.group_start;
        group_start.fill(0);
        for gy in 0..GRID {
            for gx in 0..GRID {
                let area = (rows[gy + 1] - rows[gy]) * (cols[gx + 1] - cols[gx]);
                group_start[usize::from(saliency.0[gy * GRID + gx]) + 1] += area;
            }
        }
        for s in 1..group_start.len() {
            group_start[s] += group_start[s - 1];
        }
        let mut next = *group_start;
        let grouped = &mut self.grouped;
        grouped.clear();
        grouped.resize(plane, 0);
        for gy in 0..GRID {
            for y in rows[gy]..rows[gy + 1] {
                for gx in 0..GRID {
                    let slot = &mut next[usize::from(saliency.0[gy * GRID + gx])];
                    for x in cols[gx]..cols[gx + 1] {
                        grouped[*slot] = (y * w + x) as u32;
                        *slot += 1;
                    }
                }
            }
        }
        // (stage, channel, saliency) triples with positions, highest priority first, then lower
        // stage, then lower channel.
        let pairs = &mut self.pairs;
        pairs.clear();
        pairs.extend(
            (0..rule.stages())
                .flat_map(|stage| (0..rule.channels).map(move |c| (stage, c)))
                .flat_map(|(stage, c)| {
                    (0..=SALIENCY_MAX)
                        .map(move |s| (rule.item_priority(s, c, stage), stage as u8, c as u16, s))
                })
                .filter(|&(_, _, _, s)| {
                    group_start[usize::from(s) + 1] > group_start[usize::from(s)]
                }),
        );
        pairs.sort_unstable_by_key(|&(p, stage, c, _)| (core::cmp::Reverse(p), stage, c));
    }

    /// The order of the last [`Self::fill_runs`] as runs of one stage of one channel: (stage,
    /// channel, positions `y * w + x` in the plane), the runs and the positions within each in
    /// the order sent.
    pub fn runs(&self) -> impl Iterator<Item = (usize, usize, &[u32])> {
        self.pairs.iter().map(|&(_, stage, c, s)| {
            let s = usize::from(s);
            (
                usize::from(stage),
                usize::from(c),
                &self.grouped[self.group_start[s]..self.group_start[s + 1]],
            )
        })
    }

    /// Sets [`Self::neighbours`] to [`neighbours_sent_before`]`(saliency, h, w)`.
    pub fn fill_neighbours(&mut self, saliency: &SaliencyMap, h: usize, w: usize) {
        let (rows, cols) = (cell_bounds(h), cell_bounds(w));
        let cell_saliency = &mut self.cell_saliency;
        cell_saliency.clear();
        cell_saliency.resize(h * w, 0);
        for gy in 0..GRID {
            for y in rows[gy]..rows[gy + 1] {
                for gx in 0..GRID {
                    cell_saliency[y * w + cols[gx]..y * w + cols[gx + 1]]
                        .fill(saliency.0[gy * GRID + gx]);
                }
            }
        }
        self.neighbours.clear();
        self.neighbours.extend((0..h * w).map(|p| {
            let s = cell_saliency[p];
            let left = p % w > 0 && cell_saliency[p - 1] >= s;
            let up = p >= w && cell_saliency[p - w] >= s;
            (u8::from(left) * LEFT_BEFORE) | (u8::from(up) * UP_BEFORE)
        }));
    }
}

/// [`neighbours_sent_before`] flag: the value to the left (x - 1) precedes this one.
pub const LEFT_BEFORE: u8 = 1;
/// [`neighbours_sent_before`] flag: the value above (y - 1) precedes this one.
pub const UP_BEFORE: u8 = 2;

/// For each latent position `y * w + x`, which of its neighbours in the same channel come before
/// it in [`priority_order`] ([`LEFT_BEFORE`], [`UP_BEFORE`]); the same for every channel.
///
/// A same-channel neighbour has the same channel term and a lower index, so it comes first
/// exactly when its cell's saliency is at least this position's.
pub fn neighbours_sent_before(saliency: &SaliencyMap, h: usize, w: usize) -> Vec<u8> {
    let mut scratch = OrderScratch::default();
    scratch.fill_neighbours(saliency, h, w);
    scratch.neighbours
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_bonus_and_saliency() {
        let mut map = SaliencyMap::default();
        map.0[0] = 31; // top-left cell fully salient
        let order = priority_order(&map, PriorityRule::paper(12), 16, 16);
        assert_eq!(order.len(), 12 * 16 * 16);
        // First the salient cell (2x2 latent positions) of channel 0, then that of channel 1: a
        // fully salient value outranks a non-salient one up to five channels lower (as in the paper).
        assert_eq!(&order[..4], &[0, 1, 16, 17]);
        assert_eq!(&order[4..8], &[256, 257, 272, 273]);
        let paper = PriorityRule::paper(12);
        assert!(paper.priority(31, 4) > paper.priority(0, 0));
        assert_eq!(paper.priority(31, 5), paper.priority(0, 0));
        // Weight 3: a fully salient value outranks a non-salient one three channels lower.
        let light = PriorityRule::new(12, 3).unwrap();
        assert_eq!(PriorityRule::new(12, 0), None);
        assert_eq!(PriorityRule::new(12, 32), None);
        assert!(light.priority(31, 2) > light.priority(0, 0));
        assert_eq!(light.priority(31, 3), light.priority(0, 0));
        let order = priority_order(&map, light, 16, 16);
        assert_eq!(&order[4..8], &[256, 257, 272, 273]);
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert!(sorted.iter().enumerate().all(|(i, &v)| i as u32 == v));
    }

    #[test]
    fn channel_of_divides_exactly() {
        for plane in [1usize, 2, 3, 7, 784, 785, 4800, 1 << 16, 262_144, 1_000_003] {
            let c = ChannelOf::new(plane);
            let edges = (0..70u32).flat_map(|k| {
                let m = (k as usize * plane) as u32;
                [m.wrapping_sub(1), m, m.wrapping_add(1)]
            });
            for index in edges.chain([u32::MAX, u32::MAX - 1, 12_345_678]) {
                assert_eq!(c.of(index), index as usize / plane, "{index} / {plane}");
            }
        }
    }

    #[test]
    fn matches_sort_by_key() {
        let mut map = SaliencyMap::default();
        for (i, c) in map.0.iter_mut().enumerate() {
            *c = ((i * 7) % 32) as u8;
        }
        // Sides smaller than, equal to and not multiples of the 8-cell grid; 65 channels take
        // the heap buffer.
        for (ch, h, w) in [
            (12, 5, 9),
            (12, 28, 28),
            (3, 1, 1),
            (1, 7, 8),
            (65, 9, 3),
            (12, 60, 80),
        ] {
            for (saliency_weight, bits, delay) in [
                (1, 0, 0),
                (3, 0, 0),
                (5, 0, 0),
                (31, 0, 0),
                (3, 1, 0),
                (3, 2, 62),
                (5, 3, 31),
            ] {
                let rule = PriorityRule::new(ch, saliency_weight)
                    .unwrap()
                    .with_refinement(bits, delay)
                    .unwrap();
                let order = priority_order(&map, rule, h, w);
                let n = ch * h * w;
                let mut reference: Vec<u32> = (0..(n * (1 + usize::from(bits))) as u32).collect();
                // (priority minus the stage's delays, stage, index), the documented rule.
                reference.sort_by_key(|&item| {
                    let (stage, i) = (item as usize / n, item as usize % n);
                    let (c, y, x) = (i / (h * w), (i / w) % h, i % w);
                    let p = i64::from(rule.priority(map.at(y, h, x, w), c))
                        - (stage as i64) * i64::from(delay);
                    (core::cmp::Reverse(p), stage, i)
                });
                assert_eq!(
                    order, reference,
                    "{ch}x{h}x{w} weight {saliency_weight} bits {bits} delay {delay}"
                );
            }
        }
    }

    #[test]
    fn neighbours_before_match_the_order() {
        let mut map = SaliencyMap::default();
        for (i, c) in map.0.iter_mut().enumerate() {
            *c = ((i * 11) % 5 * 7) as u8;
        }
        for (ch, h, w, weight) in [
            (12, 28, 28, 5),
            (12, 28, 28, 1),
            (3, 5, 9, 31),
            (2, 1, 1, 5),
            (2, 9, 3, 3),
            (1, 60, 80, 5),
        ] {
            let rule = PriorityRule::new(ch, weight).unwrap();
            let order = priority_order(&map, rule, h, w);
            let mut rank = vec![0usize; order.len()];
            for (r, &i) in order.iter().enumerate() {
                rank[i as usize] = r;
            }
            let before = neighbours_sent_before(&map, h, w);
            for i in 0..ch * h * w {
                let (p, x) = (i % (h * w), i % w);
                let left = x > 0 && rank[i - 1] < rank[i];
                let up = p >= w && rank[i - w] < rank[i];
                assert_eq!(
                    before[p] & LEFT_BEFORE != 0,
                    left,
                    "{ch}x{h}x{w} left of {i}"
                );
                assert_eq!(before[p] & UP_BEFORE != 0, up, "{ch}x{h}x{w} above {i}");
            }
        }
    }
}
