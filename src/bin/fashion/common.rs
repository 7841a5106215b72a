//! What several commands share: loading data and setting up a device.

use fashion_mlp::backend::Backend;
use fashion_mlp::data::Dataset;
use fashion_mlp::data::dataset::Split;

use crate::cli::{DataArgs, DeviceArgs};

/// Runs `work` with the CPU backends' threads sized to `threads` (default: every core): rayon's
/// pool (ndarray's and flex's parallel ops) and matrixmultiply's, which reads MATMUL_NUM_THREADS
/// and otherwise uses every core even when one thread is asked for. `work` runs inside the pool:
/// calling into a pool from outside hands every op to another thread and back (measured: a third
/// slower at batch 64).
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

pub fn device(args: &DeviceArgs) -> Result<burn::tensor::Device, String> {
    backend_device(args.backend)
}

pub fn backend_device(backend: Backend) -> Result<burn::tensor::Device, String> {
    match backend.cpu_device() {
        Some(d) => Ok(d),
        #[cfg(feature = "gpu")]
        None => fashion_mlp::backend::native_gpu(),
        #[cfg(not(feature = "gpu"))]
        None => Err("this build has no GPU support (built without the `gpu` feature)".into()),
    }
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
    Ok(match args.test_limit {
        Some(n) => test.sample(n, 0),
        None => test,
    })
}

/// A model file of any kind the core reads (this project's, a checkpoint, PyTorch weights).
pub fn read_snapshot(path: &std::path::Path) -> Result<fashion_mlp::weights::Snapshot, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let name = path.file_name().map_or_else(|| path.display().to_string(), |n| n.to_string_lossy().into_owned());
    fashion_mlp::weights::read_model_file(&name, &bytes).map_err(|e| format!("{}: {e}", path.display()))
}

pub fn read_model(path: &std::path::Path, device: &burn::tensor::Device) -> Result<fashion_mlp::model::Mlp, String> {
    read_snapshot(path)?
        .to_model(device)
        .map_err(|e| format!("{}: {e}", path.display()))
}
