//! The vector operations the SIMD kernels, their store and the dot-product
//! path are written with, once, for 256-bit (AVX2+FMA) and 512-bit
//! (AVX-512F) registers of `f32`.
//!
//! Every method is `#[inline(always)]` and has no `#[target_feature]` of
//! its own: it is compiled inside the `#[target_feature(enable = ...)]`
//! function that calls it (a kernel's entry point), where the intrinsic it
//! wraps is inlined in turn, so the kernels' loops hold bare `vfmadd`s on
//! ymm or zmm registers and no calls. Called from anywhere else, an
//! intrinsic would not be inlined (and the CPU might lack it): hence every
//! method is `unsafe` with that contract.

use std::arch::x86_64::*;

/// A register of `LANES` `f32`s.
///
/// # Safety
/// Every method may only run on a CPU with the register's features (AVX2
/// and FMA for `__m256`, AVX-512F for `__m512`), and should only be called, inlined, from a function
/// compiled with them; `load` and `store` take pointers valid for `LANES`
/// floats (no alignment needed).
pub(crate) trait SimdVector: Copy {
    const LANES: usize;
    unsafe fn splat(value: f32) -> Self;
    unsafe fn zero() -> Self;
    unsafe fn load(source: *const f32) -> Self;
    unsafe fn store(self, destination: *mut f32);
    /// `self * factor + addend`, rounded once.
    unsafe fn fmadd(self, factor: Self, addend: Self) -> Self;
    unsafe fn mul(self, other: Self) -> Self;
    unsafe fn add(self, other: Self) -> Self;
    /// Lane by lane `self > other ? self : other`: `other` for a NaN in
    /// `self`, and `other` when both are zeros of either sign (what ReLU
    /// relies on, see `apply_to_vector`).
    unsafe fn max(self, other: Self) -> Self;
}

/// Eight lanes, AVX2 with FMA.
impl SimdVector for __m256 {
    const LANES: usize = 8;
    #[inline(always)]
    unsafe fn splat(value: f32) -> Self {
        // SAFETY: the trait's contract (the CPU has the register's
        // features, pointers are valid for `LANES` floats).
        unsafe { _mm256_set1_ps(value) }
    }
    #[inline(always)]
    unsafe fn zero() -> Self {
        // SAFETY: the trait's contract (the CPU has the register's
        // features, pointers are valid for `LANES` floats).
        unsafe { _mm256_setzero_ps() }
    }
    #[inline(always)]
    unsafe fn load(source: *const f32) -> Self {
        // SAFETY: the trait's contract (the CPU has the register's
        // features, pointers are valid for `LANES` floats).
        unsafe { _mm256_loadu_ps(source) }
    }
    #[inline(always)]
    unsafe fn store(self, destination: *mut f32) {
        // SAFETY: the trait's contract (the CPU has the register's
        // features, pointers are valid for `LANES` floats).
        unsafe { _mm256_storeu_ps(destination, self) }
    }
    #[inline(always)]
    unsafe fn fmadd(self, factor: Self, addend: Self) -> Self {
        // SAFETY: the trait's contract (the CPU has the register's
        // features, pointers are valid for `LANES` floats).
        unsafe { _mm256_fmadd_ps(self, factor, addend) }
    }
    #[inline(always)]
    unsafe fn mul(self, other: Self) -> Self {
        // SAFETY: the trait's contract (the CPU has the register's
        // features, pointers are valid for `LANES` floats).
        unsafe { _mm256_mul_ps(self, other) }
    }
    #[inline(always)]
    unsafe fn add(self, other: Self) -> Self {
        // SAFETY: the trait's contract (the CPU has the register's
        // features, pointers are valid for `LANES` floats).
        unsafe { _mm256_add_ps(self, other) }
    }
    #[inline(always)]
    unsafe fn max(self, other: Self) -> Self {
        // SAFETY: the trait's contract (the CPU has the register's
        // features, pointers are valid for `LANES` floats).
        unsafe { _mm256_max_ps(self, other) }
    }
}

/// Sixteen lanes, AVX-512F.
impl SimdVector for __m512 {
    const LANES: usize = 16;
    #[inline(always)]
    unsafe fn splat(value: f32) -> Self {
        // SAFETY: the trait's contract (the CPU has the register's
        // features, pointers are valid for `LANES` floats).
        unsafe { _mm512_set1_ps(value) }
    }
    #[inline(always)]
    unsafe fn zero() -> Self {
        // SAFETY: the trait's contract (the CPU has the register's
        // features, pointers are valid for `LANES` floats).
        unsafe { _mm512_setzero_ps() }
    }
    #[inline(always)]
    unsafe fn load(source: *const f32) -> Self {
        // SAFETY: the trait's contract (the CPU has the register's
        // features, pointers are valid for `LANES` floats).
        unsafe { _mm512_loadu_ps(source) }
    }
    #[inline(always)]
    unsafe fn store(self, destination: *mut f32) {
        // SAFETY: the trait's contract (the CPU has the register's
        // features, pointers are valid for `LANES` floats).
        unsafe { _mm512_storeu_ps(destination, self) }
    }
    #[inline(always)]
    unsafe fn fmadd(self, factor: Self, addend: Self) -> Self {
        // SAFETY: the trait's contract (the CPU has the register's
        // features, pointers are valid for `LANES` floats).
        unsafe { _mm512_fmadd_ps(self, factor, addend) }
    }
    #[inline(always)]
    unsafe fn mul(self, other: Self) -> Self {
        // SAFETY: the trait's contract (the CPU has the register's
        // features, pointers are valid for `LANES` floats).
        unsafe { _mm512_mul_ps(self, other) }
    }
    #[inline(always)]
    unsafe fn add(self, other: Self) -> Self {
        // SAFETY: the trait's contract (the CPU has the register's
        // features, pointers are valid for `LANES` floats).
        unsafe { _mm512_add_ps(self, other) }
    }
    #[inline(always)]
    unsafe fn max(self, other: Self) -> Self {
        // SAFETY: the trait's contract (the CPU has the register's
        // features, pointers are valid for `LANES` floats).
        unsafe { _mm512_max_ps(self, other) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each operation, lane by lane, against its scalar meaning: values
    /// whose products round, and for `max` the NaN and signed zeros ReLU
    /// depends on.
    ///
    /// # Safety
    /// The CPU has `V`'s features.
    unsafe fn check_lanes<V: SimdVector>() {
        let lanes = V::LANES;
        let x: Vec<f32> = (0..lanes).map(|i| 0.1 + i as f32 * 1.7).collect();
        let mut y: Vec<f32> = (0..lanes).map(|i| 0.3 - i as f32 * 0.9).collect();
        let z: Vec<f32> = (0..lanes).map(|i| i as f32 / 7.0).collect();
        (y[0], y[1], y[2]) = (f32::NAN, -0.0, 0.0);
        let mut out = vec![0.0f32; lanes];
        // SAFETY: (for the whole test) the CPU has `V`'s features, and every
        // pointer is to `lanes` floats.
        unsafe {
            let (vx, vy, vz) = (
                V::load(x.as_ptr()),
                V::load(y.as_ptr()),
                V::load(z.as_ptr()),
            );
            let mut read = |v: V| {
                v.store(out.as_mut_ptr());
                out.iter().map(|value| value.to_bits()).collect::<Vec<_>>()
            };
            let bits = |f: &dyn Fn(usize) -> f32| (0..lanes).map(|i| f(i).to_bits()).collect();
            let want: Vec<u32> = bits(&|i| x[i].mul_add(y[i], z[i]));
            assert_eq!(read(vx.fmadd(vy, vz)), want, "fmadd");
            assert_eq!(read(vx.mul(vy)), bits(&|i| x[i] * y[i]), "mul");
            assert_eq!(read(vx.add(vz)), bits(&|i| x[i] + z[i]), "add");
            let relu = |v: f32| if v > 0.0 { v } else { 0.0 };
            assert_eq!(read(vy.max(V::zero())), bits(&|i| relu(y[i])), "max");
            assert_eq!(read(V::splat(2.5)), bits(&|_| 2.5), "splat");
            assert_eq!(read(vz), bits(&|i| z[i]), "load and store");
        }
    }

    #[test]
    fn both_registers_compute_each_lane_as_scalar_arithmetic() {
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            // SAFETY: AVX2 and FMA were detected.
            unsafe { check_lanes::<__m256>() };
        }
        if is_x86_feature_detected!("avx512f") {
            // SAFETY: AVX-512F was detected.
            unsafe { check_lanes::<__m512>() };
        }
    }
}
