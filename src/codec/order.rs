//! The priority order of latent values: the one function both encoder and decoder call.

use super::saliency::{MAX as SALIENCY_MAX, SaliencyMap};

/// Integer priority of the value at channel `c` of `channels` in a cell of saliency `s` (0..=31).
///
/// The paper's priority is `sal + (C - c) / 5` with `sal` in 0..1; with `sal = s / 31` and both
/// sides scaled by 155 this is `5 s + 31 (C - c)`, exact in integers on every machine.
#[inline]
pub fn priority(s: u8, c: usize, channels: usize) -> u32 {
    5 * u32::from(s) + 31 * (channels - c) as u32
}

/// Latent indices (`c * h * w + y * w + x`) in the order they are sent: highest priority first,
/// ties by lower index (channel, then row, then column). A counting sort, so O(C h w).
pub fn priority_order(saliency: &SaliencyMap, channels: usize, h: usize, w: usize) -> Vec<u32> {
    let top = priority(SALIENCY_MAX, 0, channels) as usize;
    let mut bucket_len = vec![0u32; top + 1];
    let mut prio = Vec::with_capacity(channels * h * w);
    for c in 0..channels {
        for y in 0..h {
            for x in 0..w {
                let p = priority(saliency.at(y, h, x, w), c, channels);
                bucket_len[p as usize] += 1;
                prio.push(p);
            }
        }
    }
    // Start offset of each bucket, highest priority first.
    let mut start = vec![0u32; top + 1];
    let mut offset = 0u32;
    for p in (0..=top).rev() {
        start[p] = offset;
        offset += bucket_len[p];
    }
    let mut order = vec![0u32; prio.len()];
    for (index, &p) in prio.iter().enumerate() {
        order[start[p as usize] as usize] = index as u32;
        start[p as usize] += 1;
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_bonus_and_saliency() {
        let mut map = SaliencyMap::default();
        map.0[0] = 31; // top-left cell fully salient
        let order = priority_order(&map, 12, 16, 16);
        assert_eq!(order.len(), 12 * 16 * 16);
        // First the salient cell (2x2 latent positions) of channel 0, then that of channel 1: a
        // fully salient value outranks a non-salient one up to five channels lower (as in the paper).
        assert_eq!(&order[..4], &[0, 1, 16, 17]);
        assert_eq!(&order[4..8], &[256, 257, 272, 273]);
        assert!(priority(31, 4, 12) > priority(0, 0, 12));
        assert_eq!(priority(31, 5, 12), priority(0, 0, 12));
        let mut sorted = order.clone();
        sorted.sort_unstable();
        assert!(sorted.iter().enumerate().all(|(i, &v)| i as u32 == v));
    }

    #[test]
    fn matches_sort_by_key() {
        let mut map = SaliencyMap::default();
        for (i, c) in map.0.iter_mut().enumerate() {
            *c = ((i * 7) % 32) as u8;
        }
        let (ch, h, w) = (12, 5, 9);
        let order = priority_order(&map, ch, h, w);
        let mut reference: Vec<u32> = (0..(ch * h * w) as u32).collect();
        reference.sort_by_key(|&i| {
            let i = i as usize;
            let (c, y, x) = (i / (h * w), (i / w) % h, i % w);
            (std::cmp::Reverse(priority(map.at(y, h, x, w), c, ch)), i)
        });
        assert_eq!(order, reference);
    }
}
