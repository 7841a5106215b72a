//! The vector instructions the CPU step is written in, one implementation per instruction set:
//! AVX-512 and AVX2 (x86-64, chosen when the program runs), NEON (aarch64), SIMD128 with or
//! without relaxed SIMD (WebAssembly, chosen when the module is built) and plain scalars.
//!
//! Every kernel sums each output in the same order whatever the vector width (one running sum
//! per output, over the inner index in order), so the width never changes a result. What can
//! change one is `mul_add`: `Rounding::Fused` rounds once (FMA), `Rounding::Separate` twice, the
//! way WebAssembly without relaxed SIMD must. A run computes the same bits on every machine and
//! in every browser that uses the same rounding.

/// How a multiply-add rounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Rounding {
    /// `a·b + c` rounded once (fused multiply-add): faster, where the hardware has it.
    Fused,
    /// `a·b` rounded, then the sum rounded: what plain WebAssembly SIMD computes everywhere.
    Separate,
}

/// One instruction set's vectors of `LANES` floats (`F`) and 32-bit integers (`U`).
///
/// # Safety
/// Every method may use instructions of the set; callers run them only where it is available
/// (`Isa::detect` natively, the build's target features in WebAssembly) and pass pointers
/// valid for `LANES` elements.
pub unsafe trait Simd: Copy {
    const LANES: usize;
    type F: Copy;
    type U: Copy;
    unsafe fn zero() -> Self::F;
    unsafe fn splat(x: f32) -> Self::F;
    unsafe fn load(p: *const f32) -> Self::F;
    unsafe fn store(p: *mut f32, v: Self::F);
    unsafe fn add(a: Self::F, b: Self::F) -> Self::F;
    unsafe fn sub(a: Self::F, b: Self::F) -> Self::F;
    unsafe fn mul(a: Self::F, b: Self::F) -> Self::F;
    unsafe fn div(a: Self::F, b: Self::F) -> Self::F;
    unsafe fn sqrt(a: Self::F) -> Self::F;
    /// `acc + a·b`, rounded as the implementation's `ROUNDING` says.
    unsafe fn mul_add(acc: Self::F, a: Self::F, b: Self::F) -> Self::F;
    /// `v` where `h > 0`, else 0 (ReLU's gradient; dropped units were stored as 0).
    unsafe fn where_positive(h: Self::F, v: Self::F) -> Self::F;
    /// `max(v, 0)`.
    unsafe fn relu(v: Self::F) -> Self::F;
    /// `start, start + 1, ...`.
    unsafe fn iota(start: u32) -> Self::U;
    unsafe fn u_splat(x: u32) -> Self::U;
    unsafe fn u_xor(a: Self::U, b: Self::U) -> Self::U;
    unsafe fn u_mul(a: Self::U, b: Self::U) -> Self::U;
    unsafe fn u_shr16(a: Self::U) -> Self::U;
    unsafe fn u_shr15(a: Self::U) -> Self::U;
    /// `v` where `bits >= threshold` (unsigned), else 0: a dropout mask applied.
    unsafe fn keep_unless_below(bits: Self::U, threshold: u32, v: Self::F) -> Self::F;
}

/// `noise::mix32` on every lane.
#[inline(always)]
pub unsafe fn mix32<S: Simd>(x: S::U) -> S::U {
    unsafe {
        let mut h = S::u_xor(x, S::u_shr16(x));
        h = S::u_mul(h, S::u_splat(0x7feb_352d));
        h = S::u_xor(h, S::u_shr15(h));
        h = S::u_mul(h, S::u_splat(0x846c_a68b));
        S::u_xor(h, S::u_shr16(h))
    }
}

/// `noise::bits(key, position)` for the lanes' positions `first, first + 1, ...`.
#[inline(always)]
pub unsafe fn noise_bits<S: Simd>(key: u32, first: u32) -> S::U {
    unsafe { mix32::<S>(S::u_xor(S::u_splat(key), mix32::<S>(S::iota(first)))) }
}

/// Plain scalars, for targets without a vector set here, and for the last few columns.
#[derive(Clone, Copy)]
pub struct Scalar<const FUSED: bool>;

unsafe impl<const FUSED: bool> Simd for Scalar<FUSED> {
    const LANES: usize = 1;
    type F = f32;
    type U = u32;
    #[inline(always)]
    unsafe fn zero() -> f32 {
        0.0
    }
    #[inline(always)]
    unsafe fn splat(x: f32) -> f32 {
        x
    }
    #[inline(always)]
    unsafe fn load(p: *const f32) -> f32 {
        unsafe { *p }
    }
    #[inline(always)]
    unsafe fn store(p: *mut f32, v: f32) {
        unsafe { *p = v }
    }
    #[inline(always)]
    unsafe fn add(a: f32, b: f32) -> f32 {
        a + b
    }
    #[inline(always)]
    unsafe fn sub(a: f32, b: f32) -> f32 {
        a - b
    }
    #[inline(always)]
    unsafe fn mul(a: f32, b: f32) -> f32 {
        a * b
    }
    #[inline(always)]
    unsafe fn div(a: f32, b: f32) -> f32 {
        a / b
    }
    #[inline(always)]
    unsafe fn sqrt(a: f32) -> f32 {
        a.sqrt()
    }
    #[inline(always)]
    unsafe fn mul_add(acc: f32, a: f32, b: f32) -> f32 {
        if FUSED { a.mul_add(b, acc) } else { acc + a * b }
    }
    #[inline(always)]
    unsafe fn where_positive(h: f32, v: f32) -> f32 {
        if h > 0.0 { v } else { 0.0 }
    }
    #[inline(always)]
    unsafe fn relu(v: f32) -> f32 {
        v.max(0.0)
    }
    #[inline(always)]
    unsafe fn iota(start: u32) -> u32 {
        start
    }
    #[inline(always)]
    unsafe fn u_splat(x: u32) -> u32 {
        x
    }
    #[inline(always)]
    unsafe fn u_xor(a: u32, b: u32) -> u32 {
        a ^ b
    }
    #[inline(always)]
    unsafe fn u_mul(a: u32, b: u32) -> u32 {
        a.wrapping_mul(b)
    }
    #[inline(always)]
    unsafe fn u_shr16(a: u32) -> u32 {
        a >> 16
    }
    #[inline(always)]
    unsafe fn u_shr15(a: u32) -> u32 {
        a >> 15
    }
    #[inline(always)]
    unsafe fn keep_unless_below(bits: u32, threshold: u32, v: f32) -> f32 {
        if bits < threshold { 0.0 } else { v }
    }
}

#[cfg(target_arch = "x86_64")]
pub use x86::{Avx2, Avx512};

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::Simd;

    /// AVX-512F: 16 lanes.
    #[derive(Clone, Copy)]
    pub struct Avx512<const FUSED: bool>;

    unsafe impl<const FUSED: bool> Simd for Avx512<FUSED> {
        const LANES: usize = 16;
        type F = __m512;
        type U = __m512i;
        #[inline(always)]
        unsafe fn zero() -> __m512 {
            unsafe { _mm512_setzero_ps() }
        }
        #[inline(always)]
        unsafe fn splat(x: f32) -> __m512 {
            unsafe { _mm512_set1_ps(x) }
        }
        #[inline(always)]
        unsafe fn load(p: *const f32) -> __m512 {
            unsafe { _mm512_loadu_ps(p) }
        }
        #[inline(always)]
        unsafe fn store(p: *mut f32, v: __m512) {
            unsafe { _mm512_storeu_ps(p, v) }
        }
        #[inline(always)]
        unsafe fn add(a: __m512, b: __m512) -> __m512 {
            unsafe { _mm512_add_ps(a, b) }
        }
        #[inline(always)]
        unsafe fn sub(a: __m512, b: __m512) -> __m512 {
            unsafe { _mm512_sub_ps(a, b) }
        }
        #[inline(always)]
        unsafe fn mul(a: __m512, b: __m512) -> __m512 {
            unsafe { _mm512_mul_ps(a, b) }
        }
        #[inline(always)]
        unsafe fn div(a: __m512, b: __m512) -> __m512 {
            unsafe { _mm512_div_ps(a, b) }
        }
        #[inline(always)]
        unsafe fn sqrt(a: __m512) -> __m512 {
            unsafe { _mm512_sqrt_ps(a) }
        }
        #[inline(always)]
        unsafe fn mul_add(acc: __m512, a: __m512, b: __m512) -> __m512 {
            unsafe {
                if FUSED {
                    _mm512_fmadd_ps(a, b, acc)
                } else {
                    _mm512_add_ps(acc, _mm512_mul_ps(a, b))
                }
            }
        }
        #[inline(always)]
        unsafe fn where_positive(h: __m512, v: __m512) -> __m512 {
            unsafe { _mm512_maskz_mov_ps(_mm512_cmp_ps_mask::<_CMP_GT_OQ>(h, _mm512_setzero_ps()), v) }
        }
        #[inline(always)]
        unsafe fn relu(v: __m512) -> __m512 {
            unsafe { _mm512_max_ps(v, _mm512_setzero_ps()) }
        }
        #[inline(always)]
        unsafe fn iota(start: u32) -> __m512i {
            unsafe {
                _mm512_add_epi32(
                    _mm512_set1_epi32(start as i32),
                    _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                )
            }
        }
        #[inline(always)]
        unsafe fn u_splat(x: u32) -> __m512i {
            unsafe { _mm512_set1_epi32(x as i32) }
        }
        #[inline(always)]
        unsafe fn u_xor(a: __m512i, b: __m512i) -> __m512i {
            unsafe { _mm512_xor_si512(a, b) }
        }
        #[inline(always)]
        unsafe fn u_mul(a: __m512i, b: __m512i) -> __m512i {
            unsafe { _mm512_mullo_epi32(a, b) }
        }
        #[inline(always)]
        unsafe fn u_shr16(a: __m512i) -> __m512i {
            unsafe { _mm512_srli_epi32::<16>(a) }
        }
        #[inline(always)]
        unsafe fn u_shr15(a: __m512i) -> __m512i {
            unsafe { _mm512_srli_epi32::<15>(a) }
        }
        #[inline(always)]
        unsafe fn keep_unless_below(bits: __m512i, threshold: u32, v: __m512) -> __m512 {
            unsafe { _mm512_maskz_mov_ps(_mm512_cmpge_epu32_mask(bits, _mm512_set1_epi32(threshold as i32)), v) }
        }
    }

    /// AVX2: 8 lanes (with FMA when fused).
    #[derive(Clone, Copy)]
    pub struct Avx2<const FUSED: bool>;

    unsafe impl<const FUSED: bool> Simd for Avx2<FUSED> {
        const LANES: usize = 8;
        type F = __m256;
        type U = __m256i;
        #[inline(always)]
        unsafe fn zero() -> __m256 {
            unsafe { _mm256_setzero_ps() }
        }
        #[inline(always)]
        unsafe fn splat(x: f32) -> __m256 {
            unsafe { _mm256_set1_ps(x) }
        }
        #[inline(always)]
        unsafe fn load(p: *const f32) -> __m256 {
            unsafe { _mm256_loadu_ps(p) }
        }
        #[inline(always)]
        unsafe fn store(p: *mut f32, v: __m256) {
            unsafe { _mm256_storeu_ps(p, v) }
        }
        #[inline(always)]
        unsafe fn add(a: __m256, b: __m256) -> __m256 {
            unsafe { _mm256_add_ps(a, b) }
        }
        #[inline(always)]
        unsafe fn sub(a: __m256, b: __m256) -> __m256 {
            unsafe { _mm256_sub_ps(a, b) }
        }
        #[inline(always)]
        unsafe fn mul(a: __m256, b: __m256) -> __m256 {
            unsafe { _mm256_mul_ps(a, b) }
        }
        #[inline(always)]
        unsafe fn div(a: __m256, b: __m256) -> __m256 {
            unsafe { _mm256_div_ps(a, b) }
        }
        #[inline(always)]
        unsafe fn sqrt(a: __m256) -> __m256 {
            unsafe { _mm256_sqrt_ps(a) }
        }
        #[inline(always)]
        unsafe fn mul_add(acc: __m256, a: __m256, b: __m256) -> __m256 {
            unsafe {
                if FUSED {
                    _mm256_fmadd_ps(a, b, acc)
                } else {
                    _mm256_add_ps(acc, _mm256_mul_ps(a, b))
                }
            }
        }
        #[inline(always)]
        unsafe fn where_positive(h: __m256, v: __m256) -> __m256 {
            unsafe { _mm256_and_ps(_mm256_cmp_ps::<_CMP_GT_OQ>(h, _mm256_setzero_ps()), v) }
        }
        #[inline(always)]
        unsafe fn relu(v: __m256) -> __m256 {
            unsafe { _mm256_max_ps(v, _mm256_setzero_ps()) }
        }
        #[inline(always)]
        unsafe fn iota(start: u32) -> __m256i {
            unsafe {
                _mm256_add_epi32(
                    _mm256_set1_epi32(start as i32),
                    _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
                )
            }
        }
        #[inline(always)]
        unsafe fn u_splat(x: u32) -> __m256i {
            unsafe { _mm256_set1_epi32(x as i32) }
        }
        #[inline(always)]
        unsafe fn u_xor(a: __m256i, b: __m256i) -> __m256i {
            unsafe { _mm256_xor_si256(a, b) }
        }
        #[inline(always)]
        unsafe fn u_mul(a: __m256i, b: __m256i) -> __m256i {
            unsafe { _mm256_mullo_epi32(a, b) }
        }
        #[inline(always)]
        unsafe fn u_shr16(a: __m256i) -> __m256i {
            unsafe { _mm256_srli_epi32::<16>(a) }
        }
        #[inline(always)]
        unsafe fn u_shr15(a: __m256i) -> __m256i {
            unsafe { _mm256_srli_epi32::<15>(a) }
        }
        #[inline(always)]
        unsafe fn keep_unless_below(bits: __m256i, threshold: u32, v: __m256) -> __m256 {
            unsafe {
                // bits >= threshold (unsigned) exactly when max(bits, threshold) == bits.
                let t = _mm256_set1_epi32(threshold as i32);
                let keep = _mm256_cmpeq_epi32(_mm256_max_epu32(bits, t), bits);
                _mm256_and_ps(_mm256_castsi256_ps(keep), v)
            }
        }
    }
}

#[cfg(target_arch = "wasm32")]
pub use wasm::Wasm128;

#[cfg(target_arch = "wasm32")]
mod wasm {
    use std::arch::wasm32::*;

    use super::Simd;

    /// WebAssembly SIMD128: 4 lanes. Fused only in a module built with relaxed SIMD, where
    /// `f32x4.relaxed_madd` is the engine's fused multiply-add (x86-64 and ARM browsers fuse it).
    #[derive(Clone, Copy)]
    pub struct Wasm128<const FUSED: bool>;

    unsafe impl<const FUSED: bool> Simd for Wasm128<FUSED> {
        const LANES: usize = 4;
        type F = v128;
        type U = v128;
        #[inline(always)]
        unsafe fn zero() -> v128 {
            f32x4_splat(0.0)
        }
        #[inline(always)]
        unsafe fn splat(x: f32) -> v128 {
            f32x4_splat(x)
        }
        #[inline(always)]
        unsafe fn load(p: *const f32) -> v128 {
            unsafe { v128_load(p as *const v128) }
        }
        #[inline(always)]
        unsafe fn store(p: *mut f32, v: v128) {
            unsafe { v128_store(p as *mut v128, v) }
        }
        #[inline(always)]
        unsafe fn add(a: v128, b: v128) -> v128 {
            f32x4_add(a, b)
        }
        #[inline(always)]
        unsafe fn sub(a: v128, b: v128) -> v128 {
            f32x4_sub(a, b)
        }
        #[inline(always)]
        unsafe fn mul(a: v128, b: v128) -> v128 {
            f32x4_mul(a, b)
        }
        #[inline(always)]
        unsafe fn div(a: v128, b: v128) -> v128 {
            f32x4_div(a, b)
        }
        #[inline(always)]
        unsafe fn sqrt(a: v128) -> v128 {
            f32x4_sqrt(a)
        }
        #[inline(always)]
        unsafe fn mul_add(acc: v128, a: v128, b: v128) -> v128 {
            #[cfg(target_feature = "relaxed-simd")]
            if FUSED {
                return f32x4_relaxed_madd(a, b, acc);
            }
            f32x4_add(acc, f32x4_mul(a, b))
        }
        #[inline(always)]
        unsafe fn where_positive(h: v128, v: v128) -> v128 {
            v128_and(f32x4_gt(h, f32x4_splat(0.0)), v)
        }
        #[inline(always)]
        unsafe fn relu(v: v128) -> v128 {
            // pmax(0, v) is `0 < v ? v : 0`: NaN becomes 0, as x86's max does.
            f32x4_pmax(f32x4_splat(0.0), v)
        }
        #[inline(always)]
        unsafe fn iota(start: u32) -> v128 {
            u32x4_add(u32x4_splat(start), u32x4(0, 1, 2, 3))
        }
        #[inline(always)]
        unsafe fn u_splat(x: u32) -> v128 {
            u32x4_splat(x)
        }
        #[inline(always)]
        unsafe fn u_xor(a: v128, b: v128) -> v128 {
            v128_xor(a, b)
        }
        #[inline(always)]
        unsafe fn u_mul(a: v128, b: v128) -> v128 {
            i32x4_mul(a, b)
        }
        #[inline(always)]
        unsafe fn u_shr16(a: v128) -> v128 {
            u32x4_shr(a, 16)
        }
        #[inline(always)]
        unsafe fn u_shr15(a: v128) -> v128 {
            u32x4_shr(a, 15)
        }
        #[inline(always)]
        unsafe fn keep_unless_below(bits: v128, threshold: u32, v: v128) -> v128 {
            v128_and(u32x4_ge(bits, u32x4_splat(threshold)), v)
        }
    }
}

#[cfg(target_arch = "aarch64")]
pub use neon::Neon;

#[cfg(target_arch = "aarch64")]
mod neon {
    use std::arch::aarch64::*;

    use super::Simd;

    /// NEON: 4 lanes, with its fused multiply-add when fused.
    #[derive(Clone, Copy)]
    pub struct Neon<const FUSED: bool>;

    unsafe impl<const FUSED: bool> Simd for Neon<FUSED> {
        const LANES: usize = 4;
        type F = float32x4_t;
        type U = uint32x4_t;
        #[inline(always)]
        unsafe fn zero() -> float32x4_t {
            unsafe { vdupq_n_f32(0.0) }
        }
        #[inline(always)]
        unsafe fn splat(x: f32) -> float32x4_t {
            unsafe { vdupq_n_f32(x) }
        }
        #[inline(always)]
        unsafe fn load(p: *const f32) -> float32x4_t {
            unsafe { vld1q_f32(p) }
        }
        #[inline(always)]
        unsafe fn store(p: *mut f32, v: float32x4_t) {
            unsafe { vst1q_f32(p, v) }
        }
        #[inline(always)]
        unsafe fn add(a: float32x4_t, b: float32x4_t) -> float32x4_t {
            unsafe { vaddq_f32(a, b) }
        }
        #[inline(always)]
        unsafe fn sub(a: float32x4_t, b: float32x4_t) -> float32x4_t {
            unsafe { vsubq_f32(a, b) }
        }
        #[inline(always)]
        unsafe fn mul(a: float32x4_t, b: float32x4_t) -> float32x4_t {
            unsafe { vmulq_f32(a, b) }
        }
        #[inline(always)]
        unsafe fn div(a: float32x4_t, b: float32x4_t) -> float32x4_t {
            unsafe { vdivq_f32(a, b) }
        }
        #[inline(always)]
        unsafe fn sqrt(a: float32x4_t) -> float32x4_t {
            unsafe { vsqrtq_f32(a) }
        }
        #[inline(always)]
        unsafe fn mul_add(acc: float32x4_t, a: float32x4_t, b: float32x4_t) -> float32x4_t {
            unsafe {
                if FUSED {
                    vfmaq_f32(acc, a, b)
                } else {
                    vaddq_f32(acc, vmulq_f32(a, b))
                }
            }
        }
        #[inline(always)]
        unsafe fn where_positive(h: float32x4_t, v: float32x4_t) -> float32x4_t {
            unsafe {
                let m = vcgtq_f32(h, vdupq_n_f32(0.0));
                vreinterpretq_f32_u32(vandq_u32(m, vreinterpretq_u32_f32(v)))
            }
        }
        #[inline(always)]
        unsafe fn relu(v: float32x4_t) -> float32x4_t {
            unsafe { vmaxq_f32(v, vdupq_n_f32(0.0)) }
        }
        #[inline(always)]
        unsafe fn iota(start: u32) -> uint32x4_t {
            unsafe { vaddq_u32(vdupq_n_u32(start), vld1q_u32([0u32, 1, 2, 3].as_ptr())) }
        }
        #[inline(always)]
        unsafe fn u_splat(x: u32) -> uint32x4_t {
            unsafe { vdupq_n_u32(x) }
        }
        #[inline(always)]
        unsafe fn u_xor(a: uint32x4_t, b: uint32x4_t) -> uint32x4_t {
            unsafe { veorq_u32(a, b) }
        }
        #[inline(always)]
        unsafe fn u_mul(a: uint32x4_t, b: uint32x4_t) -> uint32x4_t {
            unsafe { vmulq_u32(a, b) }
        }
        #[inline(always)]
        unsafe fn u_shr16(a: uint32x4_t) -> uint32x4_t {
            unsafe { vshrq_n_u32::<16>(a) }
        }
        #[inline(always)]
        unsafe fn u_shr15(a: uint32x4_t) -> uint32x4_t {
            unsafe { vshrq_n_u32::<15>(a) }
        }
        #[inline(always)]
        unsafe fn keep_unless_below(bits: uint32x4_t, threshold: u32, v: float32x4_t) -> float32x4_t {
            unsafe {
                let keep = vcgeq_u32(bits, vdupq_n_u32(threshold));
                vreinterpretq_f32_u32(vandq_u32(keep, vreinterpretq_u32_f32(v)))
            }
        }
    }
}
