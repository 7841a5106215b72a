//! How a run is cut into chunks (the batches trained between two progress reports and two
//! looks at Pause/Stop), and how its speed is smoothed for display.

/// Sizes the next chunk from how long the last one took, aiming at a fixed wall time.
///
/// In the browser a chunk must be short: the worker only sees Pause/Stop between chunks, and
/// progress arrives once a chunk. In the CLI a longer chunk costs nothing and reads the device
/// less often.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChunkPolicy {
    /// Wall time a chunk aims at.
    pub target_ms: f64,
    /// Batches of the first chunk (nothing is known yet; on a GPU it also compiles the kernels).
    pub first: usize,
    /// Most batches in one chunk, however fast the device.
    pub max: usize,
}

impl ChunkPolicy {
    /// The page's worker: ~7 progress reports a second, Pause/Stop honoured within ~150 ms.
    pub const INTERACTIVE: Self = Self {
        target_ms: 150.0,
        first: 2,
        max: 500,
    };
    /// The page's worker on a GPU: every chunk ends with a read from the GPU, whose wait leaves it
    /// idle (a few ms; on a software adapter a step takes tens), so chunks are longer: ~3 progress
    /// reports a second, Pause/Stop within ~350 ms.
    pub const INTERACTIVE_GPU: Self = Self {
        target_ms: 350.0,
        first: 2,
        max: 500,
    };
    /// The CLI: a progress bar update about once a second.
    pub const BATCH: Self = Self {
        target_ms: 1_000.0,
        first: 20,
        max: 2_000,
    };

    /// Batches for the next chunk, given that the last one ran `batches` in `took_ms`.
    pub fn next(&self, took_ms: f64, batches: usize) -> usize {
        if batches == 0 || !took_ms.is_finite() {
            return self.first.clamp(1, self.max);
        }
        let per_batch = took_ms.max(0.01) / batches as f64;
        ((self.target_ms / per_batch).round() as usize).clamp(1, self.max)
    }
}

/// Samples per second, smoothed over chunks (a single chunk is noisy: GC, the page, the OS).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RateMeter {
    rate: Option<f64>,
}

impl RateMeter {
    /// Weight of the newest chunk.
    const NEWEST: f64 = 0.3;

    pub fn observe(&mut self, samples: u64, took_ms: f64) -> f64 {
        let now = samples as f64 * 1000.0 / took_ms.max(1.0);
        let rate = match self.rate {
            None => now,
            Some(r) => (1.0 - Self::NEWEST) * r + Self::NEWEST * now,
        };
        self.rate = Some(rate);
        rate
    }

    pub fn rate(&self) -> f64 {
        self.rate.unwrap_or(0.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_aim_at_the_target_time() {
        let p = ChunkPolicy::INTERACTIVE;
        // 2 batches took 10 ms: 5 ms a batch, so 30 batches make 150 ms.
        assert_eq!(p.next(10.0, 2), 30);
        // A slow device (600 ms a batch) still trains one batch a chunk.
        assert_eq!(p.next(1200.0, 2), 1);
        // A very fast one is capped.
        assert_eq!(p.next(0.0, 100), p.max);
        assert_eq!(p.next(f64::NAN, 3), p.first);
    }

    #[test]
    fn the_rate_is_smoothed() {
        let mut m = RateMeter::default();
        assert_eq!(m.observe(1000, 1000.0), 1000.0);
        assert!((m.observe(2000, 1000.0) - 1300.0).abs() < 1e-9);
    }
}
