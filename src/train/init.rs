//! A new run's weights. Each layer's weight and bias are drawn uniformly from ±1/√fan_in (what
//! PyTorch's and burn's `Linear` draw), from the run's counter-based noise (`noise`): a seeded run
//! starts from the same bits on every engine, machine and browser, with no generator to carry.

use super::config::TrainConfig;
use crate::error::ConfigError;
use crate::noise::{self, Stream};
use crate::weights::Snapshot;

/// The initial weights of a run of `config` (its shape and seed).
pub fn initial_weights(config: &TrainConfig) -> Result<Snapshot, ConfigError> {
    config.model.validate()?;
    let widths = config.model.widths();
    let mut tensors = Vec::new();
    for (l, pair) in widths.windows(2).enumerate() {
        let (fan_in, fan_out) = (pair[0], pair[1]);
        let key = noise::key(config.seed, 0, 0, Stream::Init(l));
        let bound = 1.0 / (fan_in as f32).sqrt();
        // Weight first, then bias, from one stream of positions.
        let mut draw = (0u32..).map(|i| uniform(noise::bits(key, i)) * bound);
        let weight: Vec<f32> = draw.by_ref().take(fan_in * fan_out).collect();
        let bias: Vec<f32> = draw.take(fan_out).collect();
        tensors.push((format!("layers.{l}.weight"), vec![fan_in, fan_out], weight));
        tensors.push((format!("layers.{l}.bias"), vec![fan_out], bias));
    }
    Ok(Snapshot {
        config: config.model.clone(),
        tensors,
        metadata: Default::default(),
    })
}

/// 32 random bits as a float uniform in [-1, 1): the top 24 bits, exactly representable.
fn uniform(bits: u32) -> f32 {
    (bits >> 8) as f32 * (2.0 / 16_777_216.0) - 1.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_fill_their_range_and_follow_the_seed() {
        let config = TrainConfig::reference();
        let a = initial_weights(&config).unwrap();
        assert_eq!(a, initial_weights(&config).unwrap());
        let other = initial_weights(&TrainConfig {
            seed: 43,
            ..config.clone()
        })
        .unwrap();
        assert_ne!(a.tensors[0].2, other.tensors[0].2);
        let (name, shape, w) = &a.tensors[0];
        assert_eq!(
            (name.as_str(), shape.as_slice()),
            ("layers.0.weight", &[784usize, 256][..])
        );
        let bound = 1.0 / 28.0;
        assert!(w.iter().all(|v| v.abs() <= bound));
        let mean = w.iter().map(|&v| v as f64).sum::<f64>() / w.len() as f64;
        let spread = w.iter().map(|&v| (v as f64).powi(2)).sum::<f64>() / w.len() as f64;
        // Uniform on ±b: mean 0, mean square b²/3.
        assert!(mean.abs() < 1e-4, "{mean}");
        assert!((spread / (bound as f64).powi(2) - 1.0 / 3.0).abs() < 0.01, "{spread}");
        assert_eq!(a.tensors.len(), 8);
    }
}
