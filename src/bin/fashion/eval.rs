//! `fashion eval`: accuracy, confusion matrix and per-class accuracy of a saved model.

use fashion_mlp::data::CLASS_NAMES;
use fashion_mlp::infer::evaluate;
use fashion_mlp::train::DeviceSet;

use crate::cli::EvalArgs;
use crate::common;

pub fn run(args: EvalArgs) -> Result<(), String> {
    let device = common::device(&args.device)?;
    let model = common::read_model(&args.model, &device)?;
    let test = common::load_test(&args.data)?;
    let set = DeviceSet::upload(&test, &device);
    let report = pollster::block_on(evaluate(&model, &set)).map_err(|e| e.to_string())?;
    if args.json {
        let out = serde_json::json!({
            "images": test.len(),
            "loss": report.loss,
            "accuracy": report.accuracy,
            "confusion": report.confusion.matrix,
            "per_class_accuracy": report.per_class_accuracy,
        });
        println!("{out}");
        return Ok(());
    }
    println!(
        "{} test images: accuracy {:.4}, loss {:.4}\n",
        test.len(),
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
