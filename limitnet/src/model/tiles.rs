//! Running a convolutional network on a large frame in overlapping tiles, so that its memory
//! is bounded by the tile, not the frame.
//!
//! Each tile's network input (its *region*) reaches `halo` cells beyond the part of the output
//! it gives (its *core*), so every output value sees the inputs its receptive field covers, as
//! in a whole-frame run; at the frame's edges the region stops where the frame does, as the
//! whole-frame run's zero padding does. All regions have the same size (those at the far edge
//! are shifted inwards), so the runtime sees one input shape.

use std::ops::Range;

/// One tile along one axis, in cells.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    /// What the network runs on.
    pub region: Range<usize>,
    /// What this tile's output is used for; the cores of an axis cover `0..n` once.
    pub core: Range<usize>,
}

/// The tiles along an axis of `n` cells with cores of `core` cells and `halo` cells of context
/// on each side. One span covering everything when `n <= core + 2 * halo` (or `core` is 0).
pub fn spans(n: usize, core: usize, halo: usize) -> Vec<Span> {
    let region = core + 2 * halo;
    if core == 0 || n <= region {
        return vec![Span {
            region: 0..n,
            core: 0..n,
        }];
    }
    (0..n)
        .step_by(core)
        .map(|start| {
            let end = (start + core).min(n);
            let first = start.saturating_sub(halo).min(n - region);
            Span {
                region: first..first + region,
                core: start..end,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cores_cover_the_axis_once_and_regions_hold_their_halo() {
        for n in 1..200 {
            for (core, halo) in [(8, 2), (16, 5), (32, 10), (5, 0)] {
                let spans = spans(n, core, halo);
                let mut next = 0;
                let size = spans[0].region.len();
                for s in &spans {
                    assert_eq!(s.core.start, next, "n {n}");
                    next = s.core.end;
                    assert_eq!(s.region.len(), size, "one input shape");
                    assert!(s.region.end <= n);
                    // Context on each side, or the frame's edge.
                    assert!(s.region.start + halo <= s.core.start || s.region.start == 0);
                    assert!(s.core.end + halo <= s.region.end || s.region.end == n);
                }
                assert_eq!(next, n);
            }
        }
        assert_eq!(spans(84, 64, 10).len(), 1);
        assert_eq!(spans(85, 64, 10).len(), 2);
        assert_eq!(
            spans(100, 0, 10),
            [Span {
                region: 0..100,
                core: 0..100
            }]
        );
    }
}
