//! `fashion eval`: accuracy, confusion matrix and per-class accuracy of a saved model.

use fashion_mlp::data::{CLASS_NAMES, Dataset};
use fashion_mlp::drawings::{Rendering, as_drawing};
use fashion_mlp::metrics::EvalReport;
use fashion_mlp::train::cpu::Evaluator;
use rayon::prelude::*;

use crate::cli::EvalArgs;
use crate::common;

pub fn run(args: EvalArgs) -> Result<(), String> {
    let model = common::read_snapshot(&args.model)?;
    let mut evaluator = Evaluator::new(&model, common::cpu_options(&args.cpu)?)
        .map_err(|e| format!("{}: {e}", args.model.display()))?;
    let test = common::load_test(&args.data)?;
    let (report, images) = match args.as_drawings {
        None => (evaluator.evaluate(&test), test.len()),
        Some(rendering) => as_drawings(&mut evaluator, &test, rendering, !args.no_fill),
    };
    if args.json {
        let out = serde_json::json!({
            "images": images,
            "as_drawings": args.as_drawings.map(|r| format!("{r:?}").to_lowercase()),
            "loss": report.loss,
            "accuracy": report.accuracy,
            "confusion": report.confusion.matrix,
            "per_class_accuracy": report.per_class_accuracy,
        });
        println!("{out}");
        return Ok(());
    }
    println!(
        "{} test images{}: accuracy {:.4}, loss {:.4}\n",
        images,
        args.as_drawings
            .map_or(String::new(), |r| format!(" drawn as {r:?}s on the pad").to_lowercase()),
        report.accuracy,
        report.loss
    );
    println!("confusion matrix (rows: true class, columns: predicted)");
    print!("{:>12}", "");
    for c in 0..10 {
        print!("{c:>6}");
    }
    println!();
    for (t, row) in report.confusion.matrix.iter().enumerate() {
        print!("{:>9} {t:>2}", short(CLASS_NAMES[t]));
        for v in row {
            print!("{v:>6}");
        }
        println!();
    }
    println!("\n{:<3} {:<12} {:>8}", "#", "class", "accuracy");
    for (c, acc) in report.per_class_accuracy.iter().enumerate() {
        println!("{c:<3} {:<12} {:>8.4}", CLASS_NAMES[c], acc);
    }
    Ok(())
}

fn short(name: &str) -> String {
    name.chars().take(9).collect()
}

/// The test set drawn on the pad (`rendering`) and read back through the pad's preprocessing.
fn as_drawings(evaluator: &mut Evaluator, test: &Dataset, rendering: Rendering, fill: bool) -> (EvalReport, usize) {
    let drawn: Vec<(Vec<f32>, u8)> = (0..test.len())
        .into_par_iter()
        .filter_map(|i| Some((as_drawing(test.image(i)?, rendering, fill)?, test.labels()[i])))
        .collect();
    if drawn.len() < test.len() {
        eprintln!(
            "{} test images had nothing to draw and are left out",
            test.len() - drawn.len()
        );
    }
    let pixels: Vec<f32> = drawn.iter().flat_map(|(p, _)| p.iter().copied()).collect();
    let labels: Vec<u8> = drawn.iter().map(|(_, l)| *l).collect();
    (evaluator.evaluate_pixels(&pixels, &labels), labels.len())
}
