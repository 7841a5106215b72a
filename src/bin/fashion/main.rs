//! `fashion`: the native shell around the core (train, eval, predict, bench, export, finetune, drawings).

#[cfg(not(target_arch = "wasm32"))]
mod bench;
#[cfg(not(target_arch = "wasm32"))]
mod cli;
#[cfg(not(target_arch = "wasm32"))]
mod common;
#[cfg(not(target_arch = "wasm32"))]
mod drawings;
#[cfg(not(target_arch = "wasm32"))]
mod eval;
#[cfg(not(target_arch = "wasm32"))]
mod export;
#[cfg(not(target_arch = "wasm32"))]
mod finetune;
#[cfg(not(target_arch = "wasm32"))]
mod predict;
#[cfg(not(target_arch = "wasm32"))]
mod train;

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    use clap::Parser;
    // Rust ignores SIGPIPE, which turns a closed pipe into a panic in println!; a CLI should just
    // stop, like other Unix tools. SAFETY: called before any other thread exists.
    #[cfg(unix)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let args = cli::Cli::parse();
    let threads = match &args.command {
        cli::Command::Train(a) => a.device.cpu.threads,
        cli::Command::Eval(a) => a.cpu.threads,
        cli::Command::Finetune(a) => a.device.cpu.threads,
        cli::Command::Predict(_) | cli::Command::Export(_) | cli::Command::Drawings(_) => None,
        // One thread count per bench process (it starts one per count when given several).
        cli::Command::Bench(a) => (a.threads.len() == 1).then(|| a.threads[0]),
    };
    let result = common::with_threads(threads, || match args.command {
        cli::Command::Train(a) => train::run(a),
        cli::Command::Eval(a) => eval::run(a),
        cli::Command::Predict(a) => predict::run(a),
        cli::Command::Bench(a) => bench::run(a),
        cli::Command::Export(a) => export::run(a),
        cli::Command::Finetune(a) => finetune::run(a),
        cli::Command::Drawings(a) => drawings::run(a),
    })
    .and_then(|r| r);
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// The CLI is native only; the wasm build of this package is the library.
#[cfg(target_arch = "wasm32")]
fn main() {}
