//! GEMM microbenchmark: rustnn's matrix multiply (the one every dense and
//! convolution layer calls) at given shapes and thread counts, in GFLOP/s.
//!
//! Usage: `cargo run --release --example gemm -- [threads] [m,k,n ...]`
//! Prints CSV: `m,k,n,threads,seconds,gflops` (best of several repeats).

use ndarray::Array2;
use rustnn_core::parallel::Parallel;
use std::time::Instant;

fn filled(rows: usize, cols: usize, salt: f32) -> Array2<f32> {
    Array2::from_shape_fn((rows, cols), |(i, j)| {
        ((i * 31 + j * 17) as f32 * 0.013 + salt).sin()
    })
}

fn time_one(par: &Parallel, m: usize, k: usize, n: usize) -> f64 {
    let a = filled(m, k, 0.1);
    let b = filled(k, n, 0.7);
    let mut c = Array2::<f32>::zeros((m, n));
    let flops = 2.0 * (m * k * n) as f64;
    // Repeat until ~0.3 s has passed, keep the best time of 5 rounds.
    let reps = ((3e8 / flops) as usize).clamp(1, 100_000);
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let t = Instant::now();
        for _ in 0..reps {
            par.matmul(a.view(), b.view(), 0.0, c.view_mut());
        }
        best = best.min(t.elapsed().as_secs_f64() / reps as f64);
    }
    std::hint::black_box(&c);
    best
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let threads: usize = args.first().and_then(|s| s.parse().ok()).unwrap_or(1);
    let shapes: Vec<(usize, usize, usize)> = if args.len() > 1 {
        args[1..]
            .iter()
            .map(|s| {
                let v: Vec<usize> = s.split(',').map(|x| x.parse().expect("m,k,n")).collect();
                (v[0], v[1], v[2])
            })
            .collect()
    } else {
        vec![(128, 128, 128), (512, 512, 512), (2048, 2048, 2048)]
    };
    let mut par = Parallel::default();
    par.set_threads(threads).expect("threads");
    println!("m,k,n,threads,seconds,gflops");
    for (m, k, n) in shapes {
        let s = time_one(&par, m, k, n);
        println!(
            "{m},{k},{n},{threads},{s:.6e},{:.1}",
            2.0 * (m * k * n) as f64 / s / 1e9
        );
    }
}
