//! What several commands share: loading data and setting up where to compute.

use fashion_mlp::data::Dataset;
use fashion_mlp::data::dataset::Split;
use fashion_mlp::train::Compute;
use fashion_mlp::train::cpu::{CpuOptions, Kernels};

use crate::cli::{CpuArgs, DataArgs, DeviceArgs};

/// Runs `work` with the CPU's threads sized to `threads` (default: every core): rayon's pool (the
/// CPU engine's, and burn ndarray's and flex's parallel ops) and matrixmultiply's (burn's
/// matmul), which reads MATMUL_NUM_THREADS and otherwise uses every core even when one thread is
/// asked for. `work` runs inside the pool: calling into a pool from outside hands every op to
/// another thread and back (measured: a third slower at batch 64).
pub fn with_threads<T>(threads: Option<usize>, work: impl FnOnce() -> T + Send) -> Result<T, String>
where
    T: Send,
{
    let n = match threads {
        Some(0) => return Err("--threads must be at least 1".into()),
        Some(n) => n,
        None => std::thread::available_parallelism().map_or(1, |n| n.get()),
    };
    if std::env::var_os("MATMUL_NUM_THREADS").is_none() {
        // SAFETY: called first thing in main, before this process starts any other thread.
        unsafe { std::env::set_var("MATMUL_NUM_THREADS", n.to_string()) };
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .build()
        .map_err(|e| format!("cannot set up {n} threads: {e}"))?;
    Ok(pool.install(work))
}

/// The CPU engine's kernels and threads as the arguments ask (threads: the current pool's).
pub fn cpu_options(args: &CpuArgs) -> Result<CpuOptions, String> {
    let best = CpuOptions::best();
    let isa = args.isa.unwrap_or(best.kernels.isa);
    let rounding = match (args.rounding, args.isa) {
        (Some(r), _) => r.into(),
        // An instruction set asked for rounds the best way it can.
        (None, Some(_)) if !isa.fuses() => fashion_mlp::train::cpu::Rounding::Separate,
        (None, _) => best.kernels.rounding,
    };
    Ok(CpuOptions {
        kernels: Kernels::new(isa, rounding)?,
        threads: best.threads,
        shards: args.shards as usize,
    })
}

/// Where a command computes, as the arguments ask.
pub fn compute(args: &DeviceArgs) -> Result<Compute, String> {
    args.backend.compute(cpu_options(&args.cpu)?)
}

/// The training and test sets named by the arguments, whole (a training session takes its
/// subsets itself, so that a checkpoint can name them).
pub fn load(args: &DataArgs) -> Result<(Dataset, Dataset), String> {
    let (train, test) = match (&args.train_csv, &args.test_csv) {
        (Some(tr), Some(te)) => (Dataset::load_csv(tr), Dataset::load_csv(te)),
        _ => (
            Dataset::load_idx_dir(&args.data_dir, Split::Train),
            Dataset::load_idx_dir(&args.data_dir, Split::Test),
        ),
    };
    Ok((train.map_err(|e| e.to_string())?, test.map_err(|e| e.to_string())?))
}

pub fn load_test(args: &DataArgs) -> Result<Dataset, String> {
    let test = match &args.test_csv {
        Some(te) => Dataset::load_csv(te),
        None => Dataset::load_idx_dir(&args.data_dir, Split::Test),
    }
    .map_err(|e| e.to_string())?;
    Ok(test_subset(test, args))
}

/// The seeded subset of `--test-limit` images, or the whole test set.
pub fn test_subset(test: Dataset, args: &DataArgs) -> Dataset {
    match args.test_limit {
        Some(n) => test.sample(n, 0),
        None => test,
    }
}

/// A model file of any kind the core reads (this project's, a checkpoint, PyTorch weights).
pub fn read_snapshot(path: &std::path::Path) -> Result<fashion_mlp::weights::Snapshot, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let name = path
        .file_name()
        .map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
    fashion_mlp::weights::read_model_file(&name, &bytes).map_err(|e| format!("{}: {e}", path.display()))
}

/// Writes `bytes` to `path` through a temporary file, so a crash never leaves half a checkpoint.
pub fn write_atomically(path: &std::path::Path, bytes: &[u8]) -> Result<(), String> {
    let tmp = path.with_extension("partial");
    std::fs::write(&tmp, bytes)
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| format!("{}: {e}", path.display()))
}
