//! Adam, written out rather than taken from a library's optimiser, so that its state (both
//! moments and the step count) belongs to the run: checkpoints carry it, a resumed run continues
//! it exactly, and every engine applies the very same update with the same per-step scalars.

/// PyTorch's defaults, as the reference recipe used them.
pub const BETA1: f64 = 0.9;
pub const BETA2: f64 = 0.999;
pub const EPSILON: f64 = 1e-8;

/// The scalars of one Adam step, worked out once on the host in f64. With bias corrections
/// `c1 = 1 - beta1^t` and `c2 = 1 - beta2^t`, the update is
/// `p -= lr_t * m / (sqrt(v) + eps_t)` with `lr_t = lr * sqrt(c2) / c1` and `eps_t = eps * sqrt(c2)`
/// (PyTorch's formula with the corrections folded into two numbers).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamStep {
    /// 1-based step number.
    pub t: u64,
    pub lr_t: f32,
    pub eps_t: f32,
    pub weight_decay: f32,
}

impl AdamStep {
    pub fn new(learning_rate: f64, t: u64, weight_decay: f64) -> Self {
        let t_i = t.min(i32::MAX as u64) as i32;
        let c1 = 1.0 - BETA1.powi(t_i);
        let c2_sqrt = (1.0 - BETA2.powi(t_i)).sqrt();
        Self {
            t,
            lr_t: (learning_rate * c2_sqrt / c1) as f32,
            eps_t: (EPSILON * c2_sqrt) as f32,
            weight_decay: weight_decay as f32,
        }
    }
}
