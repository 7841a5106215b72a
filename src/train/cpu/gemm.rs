//! The one matrix product the CPU step is made of: `out(i, j) = Σ_p A(i, p)·B(p, j)`, where `B`
//! is read along its rows (contiguous in `j`) and `A` through any two strides, so the same
//! kernel computes `x·W`, `xᵀ·δ` and `δ·Wᵀ` (given `Wᵀ`). Each finished output goes to an
//! `Epilogue` (bias, ReLU and dropout; the delta's mask; Adam) while it is still in registers.
//!
//! Every output is one running sum over `p` in order, in one lane of one register: the vector
//! width, the register tile and the split across threads never change a result.

use std::ops::Range;
use std::ptr::copy_nonoverlapping;

use super::simd::Simd;

/// The widest vector here (AVX-512's 16 lanes): the size of the buffers that pad a partial one.
const MAX_LANES: usize = 16;

/// A read-only matrix given by its strides: element `(i, p)` at `ptr[i·row + p·col]`.
#[derive(Clone, Copy)]
pub struct Strided {
    pub ptr: *const f32,
    pub row: usize,
    pub col: usize,
}

impl Strided {
    /// A matrix of ones (`(i, p) = 1` for every `i`, `p`): `Σ_p B(p, j)`, a bias's gradient.
    pub fn ones() -> Self {
        static ONE: f32 = 1.0;
        Self {
            ptr: &ONE,
            row: 0,
            col: 0,
        }
    }
}

/// Where finished sums go.
pub trait Epilogue<S: Simd> {
    /// The sums of outputs `(i, j)..(i, j + n)` in the first `n` lanes of `acc` (`n <= LANES`;
    /// the other lanes hold nothing meaningful).
    ///
    /// # Safety
    /// `(i, j..j + n)` lies inside the output the epilogue was made for.
    unsafe fn finish(&self, i: usize, j: usize, n: usize, acc: S::F);
}

/// The first `n` floats at `p` in a vector (the rest zero).
#[inline(always)]
pub unsafe fn load_part<S: Simd>(p: *const f32, n: usize) -> S::F {
    unsafe {
        if n == S::LANES {
            S::load(p)
        } else {
            let mut t = [0.0f32; MAX_LANES];
            copy_nonoverlapping(p, t.as_mut_ptr(), n);
            S::load(t.as_ptr())
        }
    }
}

/// Stores the first `n` lanes of `v` at `p`.
#[inline(always)]
pub unsafe fn store_part<S: Simd>(p: *mut f32, v: S::F, n: usize) {
    unsafe {
        if n == S::LANES {
            S::store(p, v)
        } else {
            let mut t = [0.0f32; MAX_LANES];
            S::store(t.as_mut_ptr(), v);
            copy_nonoverlapping(t.as_ptr(), p, n);
        }
    }
}

/// `out(i, j) = Σ_{p < k} a(i, p)·b[p·ldb + j]` for rows `0..rows` and columns `cols`, in
/// register tiles of `MR` rows by `NV` vectors.
///
/// # Safety
/// `a` covers `rows × k`, `b` covers `k` rows of `ldb` floats with `cols.end <= ldb`, and `out`
/// takes every `(i, j)` asked for; the instruction set `S` is available.
#[inline(always)]
pub unsafe fn gemm<S: Simd, E: Epilogue<S>, const MR: usize, const NV: usize>(
    rows: usize,
    cols: Range<usize>,
    k: usize,
    a: Strided,
    b: *const f32,
    ldb: usize,
    out: &E,
) {
    unsafe {
        let wide = NV * S::LANES;
        let mut j = cols.start;
        while j + wide <= cols.end {
            panel::<S, E, MR, NV, true>(rows, j, S::LANES, k, a, b, ldb, out);
            j += wide;
        }
        while j + S::LANES <= cols.end {
            panel::<S, E, MR, 1, true>(rows, j, S::LANES, k, a, b, ldb, out);
            j += S::LANES;
        }
        if j < cols.end {
            panel::<S, E, MR, 1, false>(rows, j, cols.end - j, k, a, b, ldb, out);
        }
    }
}

/// All rows of one column panel: tiles of `MR` rows, then of 4 and of 1 for the rest.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn panel<S: Simd, E: Epilogue<S>, const MR: usize, const NV: usize, const FULL: bool>(
    rows: usize,
    j: usize,
    n: usize,
    k: usize,
    a: Strided,
    b: *const f32,
    ldb: usize,
    out: &E,
) {
    unsafe {
        let mut i = 0;
        while i + MR <= rows {
            tile::<S, E, MR, NV, FULL>(i, j, n, k, a, b, ldb, out);
            i += MR;
        }
        if MR > 4 {
            while i + 4 <= rows {
                tile::<S, E, 4, NV, FULL>(i, j, n, k, a, b, ldb, out);
                i += 4;
            }
        }
        while i < rows {
            tile::<S, E, 1, NV, FULL>(i, j, n, k, a, b, ldb, out);
            i += 1;
        }
    }
}

/// One register tile: rows `i0..i0 + MR` by `NV` vectors from column `j0` (the last vector
/// `n` columns wide when not `FULL`).
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn tile<S: Simd, E: Epilogue<S>, const MR: usize, const NV: usize, const FULL: bool>(
    i0: usize,
    j0: usize,
    n: usize,
    k: usize,
    a: Strided,
    b: *const f32,
    ldb: usize,
    out: &E,
) {
    unsafe {
        let mut acc = [[S::zero(); NV]; MR];
        let mut bp = b.add(j0);
        let mut ap = a.ptr.add(i0 * a.row);
        for _ in 0..k {
            let mut bv = [S::zero(); NV];
            for (v, slot) in bv.iter_mut().enumerate() {
                *slot = if FULL {
                    S::load(bp.add(v * S::LANES))
                } else {
                    load_part::<S>(bp, n)
                };
            }
            for (r, row) in acc.iter_mut().enumerate() {
                let av = S::splat(*ap.add(r * a.row));
                for (slot, &bvv) in row.iter_mut().zip(&bv) {
                    *slot = S::mul_add(*slot, av, bvv);
                }
            }
            bp = bp.add(ldb);
            ap = ap.add(a.col);
        }
        for (r, row) in acc.iter().enumerate() {
            for (v, &sum) in row.iter().enumerate() {
                out.finish(i0 + r, j0 + v * S::LANES, if FULL { S::LANES } else { n }, sum);
            }
        }
    }
}
