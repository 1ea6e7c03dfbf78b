//! `cargo xtask bench matmul`: GEMM GFLOP/s at the shapes the issue lists.

use crate::report::BenchOptions;

pub fn run(_options: &BenchOptions) -> Result<Vec<serde_json::Value>, String> {
    Err("matmul benchmark not written yet".into())
}
