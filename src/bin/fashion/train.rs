//! `fashion train`: a full run with progress bars or JSON lines, optionally saving the model.

use std::time::Instant;

use fashion_mlp::train::{DeviceSet, LrSchedule, TrainConfig, Trainer};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::cli::{Recipe, Schedule, TrainArgs};
use crate::common;

/// Batches per `Trainer::run` call: how often the progress bar and readbacks happen.
const CHUNK: usize = 100;

pub fn config(args: &TrainArgs) -> TrainConfig {
    let mut c = match args.recipe {
        Recipe::Improved => TrainConfig::improved(),
        Recipe::Reference => TrainConfig::reference(),
    };
    if let Some(v) = args.epochs {
        c.epochs = v
    }
    if let Some(v) = args.batch_size {
        c.batch_size = v
    }
    if let Some(v) = args.lr {
        c.learning_rate = v
    }
    if let Some(v) = args.schedule {
        c.schedule = match v {
            Schedule::Constant => LrSchedule::Constant,
            Schedule::Cosine => LrSchedule::Cosine,
        };
    }
    if let Some(v) = args.dropout {
        c.model.dropout = v
    }
    if let Some(v) = &args.hidden {
        c.model.hidden = v.clone()
    }
    if let Some(v) = args.weight_decay {
        c.weight_decay = v
    }
    if let Some(v) = args.label_smoothing {
        c.label_smoothing = v
    }
    if let Some(v) = args.flip {
        c.augment_flip = v
    }
    if let Some(v) = args.seed {
        c.seed = v
    }
    c
}

pub fn run(args: TrainArgs) -> Result<(), String> {
    let config = config(&args);
    config.validate().map_err(|e| e.to_string())?;
    let device = common::device(&args.device)?;
    let (train, test) = common::load(&args.data, config.seed)?;
    if !args.json {
        eprintln!(
            "training {} images, testing {} on {} | {:?} | epochs {} batch {} lr {} ({:?}) dropout {} seed {}",
            train.len(),
            test.len(),
            args.device.backend.name(),
            config.model.hidden,
            config.epochs,
            config.batch_size,
            config.learning_rate,
            config.schedule,
            config.model.dropout,
            config.seed
        );
    }
    let mut trainer = Trainer::new(config.clone(), &train, &device).map_err(|e| e.to_string())?;
    let test_set = DeviceSet::upload(&test, &trainer.eval_device());
    let bar = if args.json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(trainer.position().batches_per_epoch as u64)
    };
    bar.set_style(
        ProgressStyle::with_template("epoch {prefix:>3} [{bar:30}] {pos}/{len} {msg}")
            .map_err(|e| e.to_string())?
            .progress_chars("=> "),
    );
    let started = Instant::now();
    let mut epoch_started = Instant::now();
    let mut last = None;
    while !trainer.is_finished() {
        bar.set_prefix((trainer.position().epoch + 1).to_string());
        let chunk = pollster::block_on(trainer.run(CHUNK)).map_err(|e| e.to_string())?;
        bar.set_position(chunk.position.batch as u64);
        bar.set_message(format!(
            "loss {:.4} acc {:.3}",
            chunk.epoch_stats.loss, chunk.epoch_stats.accuracy
        ));
        if !chunk.epoch_finished {
            continue;
        }
        let seconds = epoch_started.elapsed().as_secs_f64();
        let eval = pollster::block_on(trainer.evaluate(&test_set)).map_err(|e| e.to_string())?;
        epoch_started = Instant::now();
        let line = json!({
            "epoch": chunk.position.epoch,
            "train_loss": chunk.epoch_stats.loss,
            "train_accuracy": chunk.epoch_stats.accuracy,
            "test_loss": eval.loss,
            "test_accuracy": eval.accuracy,
            "seconds": seconds,
            "samples_per_sec": chunk.epoch_stats.samples as f64 / seconds,
            "learning_rate": chunk.learning_rate,
        });
        if args.json {
            println!("{line}");
        } else {
            let text = format!(
                "epoch {:>3}: train loss {:.4} acc {:.4} | test loss {:.4} acc {:.4} | {:.1}s, {:.0} samples/s",
                chunk.position.epoch,
                chunk.epoch_stats.loss,
                chunk.epoch_stats.accuracy,
                eval.loss,
                eval.accuracy,
                seconds,
                chunk.epoch_stats.samples as f64 / seconds
            );
            // A bar drawn to a terminal owns the line; without one, plain lines.
            if bar.is_hidden() {
                eprintln!("{text}")
            } else {
                bar.println(text)
            }
        }
        last = Some(eval);
    }
    bar.finish_and_clear();
    let total = started.elapsed().as_secs_f64();
    let accuracy = last.as_ref().map(|e| e.accuracy).unwrap_or(0.0);
    if !args.json {
        eprintln!(
            "done: test accuracy {:.4} after {} epochs in {:.1}s",
            accuracy, config.epochs, total
        );
    }
    if let Some(path) = &args.save {
        let trained_on = format!("fashion CLI ({})", args.device.backend.name());
        let meta = fashion_mlp::weights::training_metadata(&config, config.epochs, accuracy, &trained_on);
        let bytes =
            pollster::block_on(fashion_mlp::weights::to_bytes(trainer.model(), meta)).map_err(|e| e.to_string())?;
        std::fs::write(path, bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        if !args.json {
            eprintln!("saved {}", path.display());
        }
    }
    Ok(())
}
