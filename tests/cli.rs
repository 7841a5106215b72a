#![cfg(not(target_arch = "wasm32"))]
//! The `fashion` CLI end to end on real data: train -> save -> eval -> predict, CSV input,
//! and readable errors for bad input.

use std::process::Command;

fn fashion() -> Command {
    Command::new(env!("CARGO_BIN_EXE_fashion"))
}

fn run_ok(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn run_err(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(!err.contains("panicked"), "{err}");
    err
}

#[test]
fn train_save_eval_predict() {
    let dir = tempfile::tempdir().unwrap();
    let model = dir.path().join("m.safetensors");
    let out = run_ok(
        fashion()
            .args([
                "train",
                "--recipe",
                "reference",
                "--train-limit",
                "3000",
                "--test-limit",
                "1000",
                "--epochs",
                "2",
                "--json",
                "--seed",
                "4",
                "--save",
            ])
            .arg(&model),
    );
    let lines: Vec<serde_json::Value> = out.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2);
    for key in [
        "epoch",
        "train_loss",
        "train_accuracy",
        "test_loss",
        "test_accuracy",
        "seconds",
        "samples_per_sec",
    ] {
        assert!(lines[1].get(key).is_some(), "missing {key}: {}", lines[1]);
    }
    let acc = lines[1]["test_accuracy"].as_f64().unwrap();
    assert!(acc > 0.7, "accuracy {acc}");
    assert!(lines[1]["samples_per_sec"].as_f64().unwrap() > 100.0);

    let eval: serde_json::Value =
        serde_json::from_str(&run_ok(fashion().args(["eval", "--json", "--model"]).arg(&model))).unwrap();
    assert_eq!(eval["images"], 10_000);
    let matrix = eval["confusion"].as_array().unwrap();
    assert_eq!(matrix.len(), 10);
    let total: u64 = matrix
        .iter()
        .flat_map(|r| r.as_array().unwrap())
        .map(|v| v.as_u64().unwrap())
        .sum();
    assert_eq!(total, 10_000);
    assert!(eval["accuracy"].as_f64().unwrap() > 0.7);

    let text = run_ok(fashion().args(["eval", "--model"]).arg(&model));
    assert!(
        text.contains("confusion matrix") && text.contains("Ankle boot"),
        "{text}"
    );

    let p: serde_json::Value = serde_json::from_str(&run_ok(
        fashion()
            .args(["predict", "--json", "--index", "0", "--model"])
            .arg(&model),
    ))
    .unwrap();
    let sum: f64 = p["probabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .sum();
    assert!((sum - 1.0).abs() < 1e-3);
    assert_eq!(p["label"], 9); // the first test image is an ankle boot

    // The same image as a PNG file gives the same prediction.
    let test = fashion_mlp::data::Dataset::load_idx_dir(
        std::path::Path::new("/usr/share/datasets/fashion-mnist"),
        fashion_mlp::data::dataset::Split::Test,
    )
    .unwrap();
    let png = dir.path().join("boot.png");
    image::GrayImage::from_raw(28, 28, test.image(0).unwrap().to_vec())
        .unwrap()
        .save(&png)
        .unwrap();
    let q: serde_json::Value = serde_json::from_str(&run_ok(
        fashion().args(["predict", "--json", "--model"]).arg(&model).arg(&png),
    ))
    .unwrap();
    assert_eq!(
        q["probabilities"], p["probabilities"],
        "a 28x28 picture is taken as it is"
    );

    // A big dark-on-white picture of it is framed by the drawing preprocessing and still reads
    // as the shipped model reads the dataset image.
    let ready = concat!(env!("CARGO_MANIFEST_DIR"), "/models/ready.safetensors");
    let p: serde_json::Value = serde_json::from_str(&run_ok(
        fashion().args(["predict", "--json", "--index", "0", "--model", ready]),
    ))
    .unwrap();
    assert_eq!(p["predicted"], 9);
    let big = image::GrayImage::from_fn(280, 200, |x, y| {
        let (x, y) = (x as i64 - 70, y as i64 - 30);
        let inside = (0..140).contains(&x) && (0..140).contains(&y);
        let v = if inside {
            test.image(0).unwrap()[(y / 5 * 28 + x / 5) as usize]
        } else {
            0
        };
        image::Luma([255 - v])
    });
    let big_png = dir.path().join("big-boot.png");
    big.save(&big_png).unwrap();
    let r: serde_json::Value = serde_json::from_str(&run_ok(
        fashion().args(["predict", "--json", "--model", ready]).arg(&big_png),
    ))
    .unwrap();
    assert_eq!(r["predicted"], p["predicted"]);

    // A blank picture is refused, not classified.
    let blank = dir.path().join("blank.png");
    image::GrayImage::from_pixel(64, 64, image::Luma([255]))
        .save(&blank)
        .unwrap();
    let out = fashion()
        .args(["predict", "--model"])
        .arg(&model)
        .arg(&blank)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("blank"), "{out:?}");
}

#[test]
fn trains_from_kaggle_csv() {
    let dir = tempfile::tempdir().unwrap();
    let all = fashion_mlp::data::Dataset::load_idx_dir(
        std::path::Path::new("/usr/share/datasets/fashion-mnist"),
        fashion_mlp::data::dataset::Split::Train,
    )
    .unwrap()
    .sample(1200, 9);
    let (tr, te) = (all.take(1000), all.sample(1200, 1).take(200));
    std::fs::write(
        dir.path().join("train.csv"),
        fashion_mlp::data::csv::encode(tr.pixels(), tr.labels()),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("test.csv"),
        fashion_mlp::data::csv::encode(te.pixels(), te.labels()),
    )
    .unwrap();
    let out = run_ok(
        fashion()
            .args([
                "train",
                "--recipe",
                "reference",
                "--epochs",
                "3",
                "--json",
                "--train-csv",
            ])
            .arg(dir.path().join("train.csv"))
            .arg("--test-csv")
            .arg(dir.path().join("test.csv")),
    );
    let last = out.lines().last().unwrap();
    let v: serde_json::Value = serde_json::from_str(last).unwrap();
    assert_eq!(v["epoch"], 3);
    assert!(v["test_accuracy"].as_f64().unwrap() > 0.6, "{v}");
}

#[test]
fn bad_inputs_are_readable_errors() {
    let dir = tempfile::tempdir().unwrap();
    let err = run_err(fashion().args(["train", "--epochs", "1", "--data-dir"]).arg(dir.path()));
    assert!(err.contains("train-images-idx3-ubyte.gz: no such file"), "{err}");

    let bad_csv = dir.path().join("bad.csv");
    std::fs::write(&bad_csv, "label,pixel1\n3,4\n").unwrap();
    let err = run_err(
        fashion()
            .args(["train", "--train-csv"])
            .arg(&bad_csv)
            .arg("--test-csv")
            .arg(&bad_csv),
    );
    assert!(err.contains("bad.csv, line 2: expected 785 columns"), "{err}");

    let bad_model = dir.path().join("bad.safetensors");
    std::fs::write(&bad_model, b"definitely not weights").unwrap();
    let err = run_err(fashion().args(["eval", "--model"]).arg(&bad_model));
    assert!(err.contains("not a valid safetensors model file"), "{err}");

    let err = run_err(fashion().args(["train", "--batch-size", "0"]));
    assert!(err.contains("batch size 0"), "{err}");

    let err = run_err(fashion().args(["train", "--backend", "tpu"]));
    assert!(err.contains("unknown backend"), "{err}");
}
