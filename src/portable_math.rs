//! One math library on every platform, so that a seeded CPU run ends in the same place in the
//! browser as in the CLI.
//!
//! burn's CPU backend computes `exp` and `ln` (softmax, cross-entropy) with Rust's `f32::exp` and
//! `f32::ln`, which call the C functions `expf` and `logf`. In WebAssembly those come from Rust's
//! own libm (compiled into `compiler_builtins`); natively they come from the C library, whose
//! results differ in the last bit for about 1 input in 130 (measured against glibc 2.36 over
//! 170 million inputs). One differing bit is enough: after a few thousand steps a native run and
//! the page's run of the same seed part ways (90.62% against 90.31% after 50 epochs of the
//! improved recipe). Defining the two symbols here makes every native binary built from this
//! crate use the same libm code as WebAssembly; the linker takes a definition in the program over
//! the shared C library's. tests/native/portable_math.rs checks that the binaries do.

/// `expf` for burn's CPU backend (and every other caller in the program): Rust's libm, as in
/// WebAssembly.
#[cfg(not(target_arch = "wasm32"))]
#[unsafe(no_mangle)]
pub extern "C" fn expf(x: f32) -> f32 {
    libm::expf(x)
}

/// `logf` for burn's CPU backend (and every other caller in the program): Rust's libm, as in
/// WebAssembly.
#[cfg(not(target_arch = "wasm32"))]
#[unsafe(no_mangle)]
pub extern "C" fn logf(x: f32) -> f32 {
    libm::logf(x)
}
