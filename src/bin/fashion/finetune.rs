//! `fashion finetune`: teaches a model the user's drawings with the core's `Teacher` (the code the
//! page's worker runs), printing the held-out and test-set figures before and after.

use fashion_mlp::teach::{TeachOptions, Teacher, UserSet};
use fashion_mlp::train::cpu::{CpuOptions, Evaluator};

use crate::cli::FinetuneArgs;
use crate::common;

pub fn run(args: FinetuneArgs) -> Result<(), String> {
    let model = common::read_snapshot(&args.model)?;
    let bytes = std::fs::read(&args.drawings).map_err(|e| format!("{}: {e}", args.drawings.display()))?;
    let name = args.drawings.display().to_string();
    let set = UserSet::from_bytes(&name, &bytes).map_err(|e| e.to_string())?;
    let defaults = TeachOptions::default();
    let options = TeachOptions {
        epochs: args.epochs.unwrap_or(defaults.epochs),
        replay: args.replay.unwrap_or(defaults.replay),
        learning_rate: args.lr.unwrap_or(defaults.learning_rate),
        batch_size: args.batch_size.unwrap_or(defaults.batch_size),
        folds: args.folds.unwrap_or(defaults.folds),
        average: args.average.unwrap_or(defaults.average),
        seed: args.seed.unwrap_or(defaults.seed),
    };
    let score = args
        .score
        .as_ref()
        .map(|path| {
            let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
            UserSet::from_bytes(&path.display().to_string(), &bytes)
                .and_then(|s| s.to_dataset())
                .map_err(|e| e.to_string())
        })
        .transpose()?;
    let (train, test) = common::load(&args.data)?;
    let test = common::test_subset(test, &args.data);
    let compute = common::compute(&args.device)?;
    let started = std::time::Instant::now();
    let teacher = Teacher::new(&model, &set, train, test, options, compute).map_err(|e| e.to_string())?;
    let quiet = args.json;
    let taught = pollster::block_on(teacher.run(|done, total| {
        if !quiet {
            eprint!("\rteaching: step {done} of {total}");
        }
    }))
    .map_err(|e| e.to_string())?;
    let seconds = started.elapsed().as_secs_f64();
    if !quiet {
        eprintln!();
    }
    let r = &taught.report;
    let scored = |m: &fashion_mlp::weights::Snapshot| -> Result<Option<f64>, String> {
        let Some(set) = &score else { return Ok(None) };
        let mut evaluator = Evaluator::new(m, CpuOptions::best()).map_err(|e| e.to_string())?;
        Ok(Some(evaluator.evaluate(set).accuracy))
    };
    let (score_before, score_after) = (scored(&model)?, scored(&taught.model)?);
    if let Some(path) = &args.save {
        let bytes = taught.model.to_safetensors().map_err(|e| e.to_string())?;
        common::write_atomically(path, &bytes)?;
    }
    if args.json {
        let out = serde_json::json!({
            "drawings": r.drawings,
            "folds": r.folds,
            "drawings_accuracy_before": r.drawings_accuracy_before,
            "drawings_accuracy_after": r.drawings_accuracy_after,
            "test_accuracy_before": r.test_accuracy_before,
            "test_accuracy_after": r.test_accuracy_after,
            "test_images": r.test_images,
            "steps": r.steps,
            "seconds": seconds,
            "score_accuracy_before": score_before,
            "score_accuracy_after": score_after,
            "options": options,
            "saved": args.save.as_ref().map(|p| p.display().to_string()),
        });
        println!("{out}");
        return Ok(());
    }
    let pct = |a: f64| format!("{:.2}%", 100.0 * a);
    println!("{} drawings, {} steps in {seconds:.1} s", r.drawings, r.steps);
    if let (Some(before), Some(after)) = (r.drawings_accuracy_before, r.drawings_accuracy_after) {
        println!(
            "your drawings (each scored by a model taught without it, {} folds): {} -> {}",
            r.folds,
            pct(before),
            pct(after)
        );
    }
    println!(
        "Fashion-MNIST test set ({} images): {} -> {}",
        r.test_images,
        pct(r.test_accuracy_before),
        pct(r.test_accuracy_after)
    );
    if let (Some(before), Some(after), Some(path)) = (score_before, score_after, &args.score) {
        println!("{}: {} -> {}", path.display(), pct(before), pct(after));
    }
    if let Some(path) = &args.save {
        println!("saved {}", path.display());
    }
    Ok(())
}
