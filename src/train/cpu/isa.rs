//! Which instruction set the CPU step runs on, and the kernels compiled for each. Natively the
//! best one is found when the program runs (AVX-512, else AVX2 with FMA on x86-64; NEON on
//! aarch64); in WebAssembly it is SIMD128, fused only in a module built with relaxed SIMD
//! (the page loads that module where the browser validates it).

use std::ops::Range;

use serde::{Deserialize, Serialize};

use super::ops::{self, AdamPtrs, AdamScalars, Dropout, Ptrs, Shape};
use super::simd::{Rounding, Scalar};

/// An instruction set the kernels are compiled for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Isa {
    Avx512,
    Avx2,
    Neon,
    Simd128,
    Scalar,
}

impl Isa {
    /// The widest set this machine (or this WebAssembly build) has.
    pub fn detect() -> Self {
        [Isa::Avx512, Isa::Avx2, Isa::Neon, Isa::Simd128]
            .into_iter()
            .find(|isa| isa.available())
            .unwrap_or(Isa::Scalar)
    }

    pub fn available(self) -> bool {
        match self {
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => std::arch::is_x86_feature_detected!("avx512f"),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma"),
            #[cfg(target_arch = "aarch64")]
            Isa::Neon => true,
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            Isa::Simd128 => true,
            Isa::Scalar => true,
            #[allow(unreachable_patterns)]
            _ => false,
        }
    }

    /// Whether this set has a fused multiply-add here.
    pub fn fuses(self) -> bool {
        match self {
            Isa::Simd128 => cfg!(target_feature = "relaxed-simd"),
            Isa::Scalar => false,
            _ => self.available(),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Isa::Avx512 => "AVX-512",
            Isa::Avx2 => "AVX2",
            Isa::Neon => "NEON",
            Isa::Simd128 => {
                if cfg!(target_feature = "relaxed-simd") {
                    "WebAssembly SIMD (relaxed)"
                } else {
                    "WebAssembly SIMD"
                }
            }
            Isa::Scalar => "scalar",
        }
    }
}

impl std::str::FromStr for Isa {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "avx512" => Ok(Isa::Avx512),
            "avx2" => Ok(Isa::Avx2),
            "neon" => Ok(Isa::Neon),
            "simd128" => Ok(Isa::Simd128),
            "scalar" => Ok(Isa::Scalar),
            other => Err(format!(
                "unknown instruction set '{other}' (expected avx512, avx2, neon, simd128 or scalar)"
            )),
        }
    }
}

/// The kernels of one instruction set and rounding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Kernels {
    pub isa: Isa,
    pub rounding: Rounding,
}

/// One instruction set's entry points: the generic kernels monomorphised for its vectors and
/// tile, each compiled with the set's target features.
macro_rules! variant {
    ($name:ident, $simd:ty, $mr:literal, $nv:literal $(, $features:literal)?) => {
        #[allow(unsafe_op_in_unsafe_fn)]
        mod $name {
            use super::*;
            pub fn align() -> usize {
                $nv * <$simd as super::super::simd::Simd>::LANES
            }
            $(#[target_feature(enable = $features)])?
            pub unsafe fn hidden(p: Ptrs, s: Shape, cols: Range<usize>, d: Dropout) {
                ops::hidden::<$simd, $mr, $nv>(p, s, cols, d)
            }
            $(#[target_feature(enable = $features)])?
            pub unsafe fn logits(p: Ptrs, s: Shape, cols: Range<usize>) {
                ops::logits::<$simd, $mr, $nv>(p, s, cols)
            }
            $(#[target_feature(enable = $features)])?
            pub unsafe fn delta(p: Ptrs, s: Shape, cols: Range<usize>, keep: f32) {
                ops::delta::<$simd, $mr, $nv>(p, s, cols, keep)
            }
            $(#[target_feature(enable = $features)])?
            pub unsafe fn adam(p: AdamPtrs, s: Shape, cols: Range<usize>, a: AdamScalars) {
                ops::adam::<$simd, $mr, $nv>(p, s, cols, a)
            }
            $(#[target_feature(enable = $features)])?
            pub unsafe fn input_dropout(x: *mut f32, len: usize, d: Dropout) {
                ops::input_dropout::<$simd>(x, len, d)
            }
            $(#[target_feature(enable = $features)])?
            pub unsafe fn grads(p: AdamPtrs, s: Shape, cols: Range<usize>) {
                ops::grads::<$simd, $mr, $nv>(p, s, cols)
            }
            $(#[target_feature(enable = $features)])?
            pub unsafe fn adam_apply(p: AdamPtrs, grads: *const f32, len: usize, a: AdamScalars) {
                ops::adam_apply::<$simd>(p, grads, len, a)
            }
        }
    };
}

#[cfg(target_arch = "x86_64")]
variant!(avx512_fused, super::super::simd::Avx512<true>, 8, 2, "avx512f");
#[cfg(target_arch = "x86_64")]
variant!(avx512_separate, super::super::simd::Avx512<false>, 8, 2, "avx512f");
#[cfg(target_arch = "x86_64")]
variant!(avx2_fused, super::super::simd::Avx2<true>, 6, 2, "avx2,fma");
#[cfg(target_arch = "x86_64")]
variant!(avx2_separate, super::super::simd::Avx2<false>, 6, 2, "avx2");
#[cfg(target_arch = "aarch64")]
variant!(neon_fused, super::super::simd::Neon<true>, 8, 2);
#[cfg(target_arch = "aarch64")]
variant!(neon_separate, super::super::simd::Neon<false>, 8, 2);
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
variant!(simd128_fused, super::super::simd::Wasm128<true>, 4, 2);
#[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
variant!(simd128_separate, super::super::simd::Wasm128<false>, 4, 2);
variant!(scalar_fused, Scalar<true>, 4, 4);
variant!(scalar_separate, Scalar<false>, 4, 4);

/// Calls `$op` of the variant `$k` selects.
macro_rules! dispatch {
    ($k:expr, $op:ident($($arg:expr),*)) => {
        match ($k.isa, $k.rounding) {
            #[cfg(target_arch = "x86_64")]
            (Isa::Avx512, Rounding::Fused) => avx512_fused::$op($($arg),*),
            #[cfg(target_arch = "x86_64")]
            (Isa::Avx512, Rounding::Separate) => avx512_separate::$op($($arg),*),
            #[cfg(target_arch = "x86_64")]
            (Isa::Avx2, Rounding::Fused) => avx2_fused::$op($($arg),*),
            #[cfg(target_arch = "x86_64")]
            (Isa::Avx2, Rounding::Separate) => avx2_separate::$op($($arg),*),
            #[cfg(target_arch = "aarch64")]
            (Isa::Neon, Rounding::Fused) => neon_fused::$op($($arg),*),
            #[cfg(target_arch = "aarch64")]
            (Isa::Neon, Rounding::Separate) => neon_separate::$op($($arg),*),
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            (Isa::Simd128, Rounding::Fused) => simd128_fused::$op($($arg),*),
            #[cfg(all(target_arch = "wasm32", target_feature = "simd128"))]
            (Isa::Simd128, Rounding::Separate) => simd128_separate::$op($($arg),*),
            (_, Rounding::Fused) => scalar_fused::$op($($arg),*),
            (_, Rounding::Separate) => scalar_separate::$op($($arg),*),
        }
    };
}

impl Kernels {
    /// The kernels of `isa` with `rounding`; an error names what this machine or build lacks.
    pub fn new(isa: Isa, rounding: Rounding) -> Result<Self, String> {
        if !isa.available() {
            return Err(format!("this machine (or build) has no {} instructions", isa.name()));
        }
        if rounding == Rounding::Fused && !isa.fuses() {
            return Err(format!("{} has no fused multiply-add here", isa.name()));
        }
        Ok(Self { isa, rounding })
    }

    /// The best kernels here: the widest set, fused where it can.
    pub fn best() -> Self {
        let isa = Isa::detect();
        let rounding = if isa.fuses() {
            Rounding::Fused
        } else {
            Rounding::Separate
        };
        Self { isa, rounding }
    }

    /// Columns a thread's share of a layer is a multiple of (one register tile's width).
    pub fn align(&self) -> usize {
        dispatch!(self, align())
    }

    /// # Safety
    /// The pointers cover the shapes given (`step.rs` checks them).
    pub unsafe fn hidden(&self, p: Ptrs, s: Shape, cols: Range<usize>, d: Dropout) {
        unsafe { dispatch!(self, hidden(p, s, cols, d)) }
    }

    /// # Safety
    /// As for `hidden`.
    pub unsafe fn logits(&self, p: Ptrs, s: Shape, cols: Range<usize>) {
        unsafe { dispatch!(self, logits(p, s, cols)) }
    }

    /// # Safety
    /// As for `hidden`.
    pub unsafe fn delta(&self, p: Ptrs, s: Shape, cols: Range<usize>, keep: f32) {
        unsafe { dispatch!(self, delta(p, s, cols, keep)) }
    }

    /// # Safety
    /// As for `hidden`.
    pub unsafe fn adam(&self, p: AdamPtrs, s: Shape, cols: Range<usize>, a: AdamScalars) {
        unsafe { dispatch!(self, adam(p, s, cols, a)) }
    }

    /// # Safety
    /// As for `hidden`; `p.w` and `p.b` are the gradient's buffers.
    pub unsafe fn grads(&self, p: AdamPtrs, s: Shape, cols: Range<usize>) {
        unsafe { dispatch!(self, grads(p, s, cols)) }
    }

    /// # Safety
    /// `p`'s parameter, moment and average pointers and `grads` cover `len` floats.
    pub unsafe fn adam_apply(&self, p: AdamPtrs, grads: *const f32, len: usize, a: AdamScalars) {
        unsafe { dispatch!(self, adam_apply(p, grads, len, a)) }
    }

    /// # Safety
    /// `x` covers `len` floats.
    pub unsafe fn input_dropout(&self, x: *mut f32, len: usize, d: Dropout) {
        unsafe { dispatch!(self, input_dropout(x, len, d)) }
    }
}
