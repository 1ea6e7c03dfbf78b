//! What the CPU at hand offers, found at run time.
//!
//! - [`with_simd`]: a crate compiled for x86-64's baseline vectorises loops
//!   with SSE2's four lanes; this runs a loop compiled again for AVX-512
//!   (sixteen lanes) or AVX2+FMA (eight), chosen at run time, so a crate
//!   needs neither `-C target-cpu` nor intrinsics of its own for the loops
//!   it leaves to the compiler.
//! - [`cache_sizes`]: the data caches one core sees, as CPUID reports them,
//!   which the GEMM's blocking is derived from.
//! - [`two_avx512_fma_pipes`]: whether a core multiplies-and-adds 512 bits
//!   twice a cycle, which decides how much data the GEMM may stream from
//!   beyond L2 and still keep up.

/// Runs `work` compiled for AVX-512 (F, VL, BW, DQ) where the CPU has it,
/// else for AVX2 and FMA where it has those, else as the target's baseline
/// build. Mark the closure `#[inline(always)]`, and any function its loop
/// calls: they are then compiled inside the wider function, so the loops
/// use sixteen or eight lanes.
///
/// The results are the same bits in every build for IEEE arithmetic: Rust
/// never fuses a multiply and an add unasked, so only the lane count
/// changes. (`f32::mul_add` is fused in all: one instruction in the SIMD
/// builds, a call to `fmaf` in the baseline one.) Sixteen lanes rather
/// than eight: LeNet-5's training (its tanh, Adam) 21.1-22.5k -> 22.4-24.4k
/// samples/s on a Zen 5 core, the same losses (figures in BENCHMARKS.md,
/// "Measurements behind the code").
///
/// ```
/// let mut pixels = vec![0.0f32; 1000];
/// let bytes: Vec<u8> = (0..1000).map(|i| (i % 256) as u8).collect();
/// tensor::cpu::with_simd(
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
pub fn with_simd(work: impl FnOnce()) {
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        let avx2 = has!("avx2") && has!("fma");
        if avx2 && has!("avx512f") && has!("avx512vl") && has!("avx512bw") && has!("avx512dq") {
            #[target_feature(enable = "avx512f,avx512vl,avx512bw,avx512dq,avx2,fma")]
            unsafe fn compiled_for_avx512(work: impl FnOnce()) {
                work()
            }
            // SAFETY: the CPU has AVX-512 F, VL, BW and DQ, AVX2 and FMA,
            // checked just above; `work` is safe code, so running it in
            // this build adds no other obligation.
            unsafe { compiled_for_avx512(work) };
            return;
        }
        if avx2 {
            #[target_feature(enable = "avx2,fma")]
            unsafe fn compiled_for_avx2(work: impl FnOnce()) {
                work()
            }
            // SAFETY: the CPU has AVX2 and FMA, checked just above; as above.
            unsafe { compiled_for_avx2(work) };
            return;
        }
    }
    work()
}

/// The sizes in bytes of the data caches one core uses (L3 shared).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CacheSizes {
    /// Level 1 data cache, per core.
    pub l1d: usize,
    /// Level 2 cache, per core.
    pub l2: usize,
    /// Level 3 cache, shared by the cores of a complex (all of it, as CPUID
    /// reports it, not one core's share).
    pub l3: usize,
    /// Whether the CPU reported them all (else the missing ones are
    /// [`CacheSizes::FALLBACK`]'s).
    pub reported: bool,
}

impl CacheSizes {
    /// What is assumed where the CPU does not say: a modest core of today
    /// (32 KiB L1d, 512 KiB L2, 8 MiB L3).
    pub const FALLBACK: CacheSizes = CacheSizes {
        l1d: 32 << 10,
        l2: 512 << 10,
        l3: 8 << 20,
        reported: false,
    };
}

/// This CPU's data caches, read once with CPUID: the deterministic cache
/// parameters of leaf 4 (Intel) or 0x8000_001D (AMD, same layout). On other
/// architectures, or for a level the CPU does not describe,
/// [`CacheSizes::FALLBACK`].
///
/// ```
/// let caches = tensor::cpu::cache_sizes();
/// assert!(caches.l1d > 0 && caches.l1d <= caches.l2 && caches.l2 <= caches.l3);
/// ```
pub fn cache_sizes() -> CacheSizes {
    static SIZES: std::sync::OnceLock<CacheSizes> = std::sync::OnceLock::new();
    *SIZES.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            let (mut l1d, mut l2, mut l3) = (None, None, None);
            for level in x86_cache_levels() {
                match level {
                    (1, bytes) => l1d = Some(bytes),
                    (2, bytes) => l2 = Some(bytes),
                    (3, bytes) => l3 = Some(bytes),
                    _ => {}
                }
            }
            let fallback = CacheSizes::FALLBACK;
            let sizes = CacheSizes {
                l1d: l1d.unwrap_or(fallback.l1d),
                l2: l2.unwrap_or(fallback.l2),
                l3: l3.unwrap_or(fallback.l3),
                reported: l1d.is_some() && l2.is_some() && l3.is_some(),
            };
            // A size out of order is a CPUID we misread: trust none of it.
            if sizes.l1d <= sizes.l2 && sizes.l2 <= sizes.l3 {
                return sizes;
            }
        }
        CacheSizes::FALLBACK
    })
}

/// Whether each core has AVX-512 with two 512-bit FMA pipes (AMD's Zen 5
/// server and desktop cores; Intel's AVX-512 server cores) rather than
/// 256-bit halves (AMD Zen 4), as far as the vendor and family tell: CPUID
/// does not report the pipes. A guess where they do not: AMD's mobile Zen 5
/// cores (256-bit halves, family 0x1A too) and Intel's AVX-512 client
/// cores (one pipe) count as two here, which only moves the dot-product
/// path's limit (`gemm/dots.rs`), never a result's bits. Read once.
///
/// Such a core consumes data twice as fast as Zen 4 does: the dot-product
/// path of the GEMM keeps its B within L2 there (`gemm/dots.rs`).
pub fn two_avx512_fma_pipes() -> bool {
    static TWO: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *TWO.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        if has_avx512f() {
            let (amd, family) = x86_vendor_and_family();
            // Zen 4 is family 0x19; Zen 5 0x1A.
            return !amd || family >= 0x1A;
        }
        false
    })
}

/// Whether the CPU has AVX-512F (false off x86-64).
pub fn has_avx512f() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// Whether the vendor is AMD (else Intel or another), and the CPU's family
/// as CPUID leaf 1 gives it (the extended family added where the base one
/// is 0xF).
#[cfg(target_arch = "x86_64")]
fn x86_vendor_and_family() -> (bool, u32) {
    use std::arch::x86_64::__cpuid_count;
    (
        is_amd(&__cpuid_count(0, 0)),
        family(__cpuid_count(1, 0).eax),
    )
}

/// Whether CPUID leaf 0 names AMD ("AuthenticAMD").
#[cfg(target_arch = "x86_64")]
fn is_amd(vendor: &std::arch::x86_64::CpuidResult) -> bool {
    (vendor.ebx, vendor.edx, vendor.ecx) == (0x6874_7541, 0x6974_6E65, 0x444D_4163)
}

/// The family in a CPUID leaf 1 signature (`eax`).
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
fn family(signature: u32) -> u32 {
    let base = (signature >> 8) & 0xF;
    if base == 0xF {
        base + ((signature >> 20) & 0xFF)
    } else {
        base
    }
}

/// `(level, bytes)` of each data or unified cache that CPUID describes.
#[cfg(target_arch = "x86_64")]
fn x86_cache_levels() -> Vec<(u32, usize)> {
    use std::arch::x86_64::__cpuid_count;
    // A leaf above the maximum returns meaningless values: the maxima are
    // checked first.
    let vendor = __cpuid_count(0, 0);
    let leaf = if is_amd(&vendor) {
        let max_extended = __cpuid_count(0x8000_0000, 0).eax;
        if max_extended < 0x8000_001D {
            return Vec::new();
        }
        0x8000_001D
    } else {
        if vendor.eax < 4 {
            return Vec::new();
        }
        4
    };
    let mut levels = Vec::new();
    // Subleaf after subleaf until one of type 0 (no more caches).
    for subleaf in 0..16 {
        let r = __cpuid_count(leaf, subleaf);
        let kind = r.eax & 0x1F;
        if kind == 0 {
            break;
        }
        // 1 = data, 3 = unified (2, instructions, is not for us).
        if kind == 1 || kind == 3 {
            let level = (r.eax >> 5) & 0x7;
            let ways = ((r.ebx >> 22) & 0x3FF) as usize + 1;
            let partitions = ((r.ebx >> 12) & 0x3FF) as usize + 1;
            let line = (r.ebx & 0xFFF) as usize + 1;
            let sets = r.ecx as usize + 1;
            levels.push((level, ways * partitions * line * sets));
        }
    }
    levels
}

#[cfg(test)]
mod tests {
    #[test]
    fn families_of_known_signatures() {
        // AMD EPYC Zen 4 (Genoa), Zen 5 (Turin), Intel Sapphire Rapids.
        assert_eq!(super::family(0x00A1_0F11), 0x19);
        assert_eq!(super::family(0x00B0_0F21), 0x1A);
        assert_eq!(super::family(0x0008_06F8), 6);
    }
}
