//! A running average of the weights (exponential, per step): the model a run reports and saves
//! when its recipe averages. The average of the path's last few thousand steps generalises a
//! little better than the path's last point; every engine keeps the same average with the
//! same formula, `avg = avg·d + w·(1 - d)` with `d = decay_at(decay, step)`.

/// The decay used after step `step` (1-based) of a run averaging with `decay`: the recipe's decay,
/// held lower early on (`(1 + t) / (10 + t)`, as TensorFlow's moving averages do) so that the
/// average follows training from the first epochs instead of sitting on the initial weights for
/// the first thousand steps.
pub fn decay_at(decay: f64, step: u64) -> f64 {
    let t = step as f64;
    decay.min((1.0 + t) / (10.0 + t))
}
