//! The CPU engine: the whole training step fused into a few passes over flat buffers (`step`),
//! its matrix products and epilogues written once over vector instructions (`gemm`, `ops`,
//! `simd`) and compiled for each instruction set (`isa`), the run around it (`trainer`) and
//! evaluation with the same kernels (`eval`). No tensor library: the page's worker runs it as
//! it is, and natively it is what `fashion train` runs on the CPU. burn's autodiff
//! (`train::autodiff`) is the reference it is tested against.

pub mod eval;
mod gemm;
pub mod isa;
pub mod ops;
pub mod simd;
pub mod step;
pub mod trainer;

#[cfg(test)]
mod tests;

pub use eval::Evaluator;
pub use isa::{Isa, Kernels};
pub use simd::Rounding;
pub use trainer::CpuTrainer;

/// How the CPU engine computes: which kernels, on how many threads, and in how many shards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuOptions {
    pub kernels: Kernels,
    /// Threads a layer's columns are shared out to (natively, on rayon's pool; 1 in WebAssembly).
    pub threads: usize,
    /// Parts each batch's gradient is computed in and then added up (1: the whole batch at once,
    /// its gradient applied as it is computed). With 2, the page's two CPU workers each compute
    /// one (`Partner`), and `fashion train --shards 2` computes both one after the other: the same
    /// sums, so the same run.
    pub shards: usize,
}

/// Hands this worker's gradient to the worker computing the other shard and adds that one's in.
pub trait Exchange {
    /// `grads` holds this worker's shard's gradient; afterwards, every shard's summed. The last
    /// two values (loss and hits) are summed likewise.
    fn add_others(&mut self, grads: &mut [f32]) -> Result<(), String>;
}

/// This worker's place in a batch shared with another worker, and the link to it.
#[derive(Clone)]
pub struct Partner {
    pub index: usize,
    pub link: std::rc::Rc<std::cell::RefCell<dyn Exchange>>,
}

impl CpuOptions {
    /// The best kernels here, on every thread of the current rayon pool (one in WebAssembly).
    pub fn best() -> Self {
        Self {
            kernels: Kernels::best(),
            threads: default_threads(),
            shards: 1,
        }
    }

    /// "AVX-512, fused multiply-add, 2 threads".
    pub fn describe(&self) -> String {
        let rounding = match self.kernels.rounding {
            Rounding::Fused => "fused multiply-add",
            Rounding::Separate => "separate multiply and add",
        };
        let threads = if self.threads == 1 {
            "1 thread".to_string()
        } else {
            format!("{} threads", self.threads)
        };
        format!("{}, {rounding}, {threads}", self.kernels.isa.name())
    }
}

fn default_threads() -> usize {
    #[cfg(not(target_arch = "wasm32"))]
    return rayon::current_num_threads();
    #[cfg(target_arch = "wasm32")]
    return 1;
}
