//! `fashion train`: drives a core training session and shows its events as progress bars or
//! JSON lines; optionally saves the model, and a checkpoint after every epoch.

use std::path::Path;
use std::time::Instant;

use fashion_mlp::train::chunking::ChunkPolicy;
use fashion_mlp::train::session::{Event, Session, SessionSetup};
use fashion_mlp::train::{Checkpoint, Compute, LrSchedule, TrainConfig};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;

use crate::cli::{Schedule, TrainArgs};
use crate::common;

pub fn config(args: &TrainArgs) -> TrainConfig {
    let mut c = args.recipe.config();
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
    if let Some(v) = args.shift {
        c.augment_shift = v
    }
    if let Some(v) = args.input_dropout {
        c.input_dropout = v
    }
    if let Some(v) = args.average {
        c.average = v
    }
    if let Some(v) = args.drawings {
        c.augment_drawings = v
    }
    if let Some(v) = args.seed {
        c.seed = v
    }
    c
}

fn read_checkpoint(path: &Path, args: &TrainArgs) -> Result<Checkpoint, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut checkpoint = Checkpoint::from_bytes(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    // A resumed run keeps its recipe; only the number of epochs may grow.
    if let Some(epochs) = args.epochs {
        checkpoint.config.epochs = epochs;
    }
    Ok(checkpoint)
}

pub fn run(args: TrainArgs) -> Result<(), String> {
    let resume = args.resume.as_deref().map(|p| read_checkpoint(p, &args)).transpose()?;
    let config = match &resume {
        Some(c) => c.config.clone(),
        None => config(&args),
    };
    config.validate().map_err(|e| e.to_string())?;
    let compute = common::compute(&args.device)?;
    let (train, test) = common::load(&args.data)?;
    let backend = match &compute {
        Compute::Cpu(options) => format!("cpu: {}", options.describe()),
        _ => args.device.backend.name().to_string(),
    };
    let setup = SessionSetup {
        config: config.clone(),
        train_limit: args.data.train_limit,
        test_limit: args.data.test_limit,
        resume,
        trained_on: format!("fashion CLI ({backend})"),
        ..SessionSetup::default()
    };
    let origin = Instant::now();
    let clock = Box::new(move || origin.elapsed().as_secs_f64() * 1000.0);
    let mut session = pollster::block_on(Session::start(
        setup,
        &train,
        &test,
        &compute,
        ChunkPolicy::BATCH,
        clock,
    ))
    .map_err(|e| e.to_string())?;
    let bar = if args.json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(0)
    };
    bar.set_style(
        ProgressStyle::with_template("epoch {prefix:>3} [{bar:30}] {pos}/{len} {msg}")
            .map_err(|e| e.to_string())?
            .progress_chars("=> "),
    );
    // A bar drawn to a terminal owns the line; without one, plain lines.
    let say = |text: String| {
        if bar.is_hidden() {
            eprintln!("{text}")
        } else {
            bar.println(text)
        }
    };
    let mut last_weights = None;
    while session.state().is_live() {
        for event in pollster::block_on(session.advance()) {
            match event {
                Event::Started(s) => {
                    bar.set_length(s.batches_per_epoch as u64);
                    if !args.json {
                        say(format!(
                            "training {} images, testing {} on {} | {:?} | epochs {} batch {} lr {} ({:?}) dropout {} seed {}{}",
                            s.train,
                            s.test,
                            backend,
                            config.model.hidden,
                            config.epochs,
                            config.batch_size,
                            config.learning_rate,
                            config.schedule,
                            config.model.dropout,
                            config.seed,
                            if s.epoch > 0 {
                                format!(" | resumed after epoch {}", s.epoch)
                            } else {
                                String::new()
                            }
                        ));
                    }
                }
                Event::Progress(p) => {
                    bar.set_prefix(p.epoch.to_string());
                    bar.set_position(p.batch as u64);
                    bar.set_message(format!("loss {:.4} acc {:.3}", p.epoch_loss, p.epoch_accuracy));
                }
                Event::Epoch(r) => {
                    if args.json {
                        let line = json!({
                            "epoch": r.epoch,
                            "train_loss": r.train_loss,
                            "train_accuracy": r.train_accuracy,
                            "test_loss": r.test_loss,
                            "test_accuracy": r.test_accuracy,
                            "seconds": r.seconds,
                            "samples_per_sec": r.samples_per_sec,
                        });
                        println!("{line}");
                    } else {
                        say(format!(
                            "epoch {:>3}: train loss {:.4} acc {:.4} | test loss {:.4} acc {:.4} | {:.1}s, {:.0} samples/s",
                            r.epoch,
                            r.train_loss,
                            r.train_accuracy,
                            r.test_loss,
                            r.test_accuracy,
                            r.seconds,
                            r.samples_per_sec
                        ));
                    }
                    last_weights = Some(r.weights);
                }
                Event::Checkpoint(c) => {
                    if let Some(path) = &args.checkpoint {
                        crate::common::write_atomically(path, &c.bytes)?;
                    }
                }
                Event::Finished { epoch, test_accuracy } => {
                    bar.finish_and_clear();
                    if !args.json {
                        eprintln!(
                            "done: test accuracy {test_accuracy:.4} after {epoch} epochs in {:.1}s",
                            origin.elapsed().as_secs_f64()
                        );
                    }
                }
                Event::Failed(f) => return Err(f.message),
                Event::Paused | Event::Resumed | Event::Stopped { .. } => {}
            }
        }
    }
    if let (Some(path), Some(bytes)) = (&args.save, last_weights) {
        crate::common::write_atomically(path, &bytes)?;
        if !args.json {
            eprintln!("saved {}", path.display());
        }
    }
    Ok(())
}
