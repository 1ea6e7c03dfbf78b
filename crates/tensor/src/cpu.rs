//! Running a plain loop with wider vectors where the CPU has them.
//!
//! A crate compiled for x86-64's baseline vectorises loops with SSE2's four
//! lanes. [`with_avx2`] runs a loop compiled again for AVX2+FMA (eight
//! lanes), chosen at run time, so a crate needs neither `-C target-cpu` nor
//! intrinsics of its own for the loops it leaves to the compiler.

/// Runs `work` compiled for AVX2 and FMA where the CPU has them, else as
/// the target's baseline build. Mark the closure `#[inline(always)]`, and
/// any function its loop calls: they are then compiled inside the AVX2
/// function, so the loops use eight lanes.
///
/// The results are the same bits either way for IEEE arithmetic: Rust never
/// fuses a multiply and an add unasked, so only the lane count changes.
/// (`f32::mul_add` is fused in both builds: one instruction in the AVX2
/// build, a call to `fmaf` in the baseline one.)
///
/// ```
/// let mut pixels = vec![0.0f32; 1000];
/// let bytes: Vec<u8> = (0..1000).map(|i| (i % 256) as u8).collect();
/// tensor::cpu::with_avx2(
///     #[inline(always)]
///     || {
///         for (x, &p) in pixels.iter_mut().zip(&bytes) {
///             *x = f32::from(p) / 255.0;
///         }
///     },
/// );
/// assert_eq!(pixels[255], 1.0);
/// assert_eq!(pixels[51], 0.2);
/// ```
pub fn with_avx2(work: impl FnOnce()) {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
        #[target_feature(enable = "avx2,fma")]
        unsafe fn compiled_for_avx2(work: impl FnOnce()) {
            work()
        }
        // SAFETY: the CPU has AVX2 and FMA, checked just above; `work` is
        // safe code, so running it in this build adds no other obligation.
        unsafe { compiled_for_avx2(work) };
        return;
    }
    work()
}
