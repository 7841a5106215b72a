//! Adam, written out rather than taken from burn's optimiser, so that its state (both moments and
//! the step count) belongs to the run: checkpoints carry it, a resumed run continues it exactly,
//! and the GPU's fused step applies the very same update with the same per-step scalars.

use burn::tensor::Tensor;

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

/// One parameter's moments, on the training device (without autodiff).
#[derive(Debug, Clone)]
pub struct Moments<const D: usize> {
    pub m: Tensor<D>,
    pub v: Tensor<D>,
}

impl<const D: usize> Moments<D> {
    pub fn zeros_like(p: &Tensor<D>) -> Self {
        let device = p.device().without_autodiff();
        Self {
            m: Tensor::zeros(p.shape(), &device),
            v: Tensor::zeros(p.shape(), &device),
        }
    }

    /// Applies one step to `param` (without autodiff) given its gradient; returns the new value.
    pub fn update(&mut self, param: Tensor<D>, grad: Tensor<D>, step: &AdamStep) -> Tensor<D> {
        let grad = if step.weight_decay > 0.0 {
            grad + param.clone().mul_scalar(step.weight_decay)
        } else {
            grad
        };
        self.m = self.m.clone().mul_scalar(BETA1 as f32) + grad.clone().mul_scalar((1.0 - BETA1) as f32);
        self.v = self.v.clone().mul_scalar(BETA2 as f32) + grad.square().mul_scalar((1.0 - BETA2) as f32);
        let denom = self.v.clone().sqrt().add_scalar(step.eps_t);
        param - self.m.clone().mul_scalar(step.lr_t).div(denom)
    }
}

/// The moments of one `Linear` layer.
#[derive(Debug, Clone)]
pub struct LayerMoments {
    pub weight: Moments<2>,
    pub bias: Moments<1>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_step_moves_each_parameter_by_the_learning_rate() {
        let device = crate::backend::cpu();
        let p = Tensor::<1>::from_floats([1.0, -2.0, 0.5], &device);
        let g = Tensor::<1>::from_floats([0.3, -4.0, 0.0], &device);
        let mut moments = Moments::zeros_like(&p);
        let next = moments.update(p, g, &AdamStep::new(0.01, 1, 0.0));
        let v: Vec<f32> = next.into_data().try_to_vec::<f32>().unwrap();
        // Step 1 of Adam is lr * sign(g) (exactly 0 where g is 0).
        assert!((v[0] - 0.99).abs() < 1e-6 && (v[1] + 1.99).abs() < 1e-6 && v[2] == 0.5, "{v:?}");
    }
}
