//! The `fashion` CLI end to end on real data: train -> save -> eval -> predict, CSV input,
//! checkpoints and --resume, PyTorch files in and out, drawings, and readable errors for bad
//! input.

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
    let test = crate::real(fashion_mlp::data::dataset::Split::Test);
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
    let ready = crate::repo_file("models/ready.safetensors");
    let ready = ready.to_str().expect("a UTF-8 checkout path");
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

    // A drawing saved from the pad, read as the page reads its pad (closed outline filled).
    let drawn = crate::repo_file("tests/fixtures/drawings/Trouser.png");
    let d: serde_json::Value = serde_json::from_str(&run_ok(
        fashion()
            .args(["predict", "--json", "--brush", "22", "--model", ready])
            .arg(&drawn),
    ))
    .unwrap();
    assert_eq!(d["class"], "Trouser");
    let out = fashion()
        .args(["predict", "--brush", "0", "--model", ready])
        .arg(&drawn)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("brush width 0"),
        "{out:?}"
    );

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
    let all = crate::real(fashion_mlp::data::dataset::Split::Train).sample(1200, 9);
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
    assert!(v["test_accuracy"].as_f64().unwrap() > 0.5, "it learns: {v}");
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
    assert!(err.contains("not a model file this app can read"), "{err}");

    let err = run_err(fashion().args(["train", "--batch-size", "0"]));
    assert!(err.contains("batch size 0"), "{err}");

    let err = run_err(fashion().args(["train", "--backend", "tpu"]));
    assert!(err.contains("unknown backend"), "{err}");

    // A PNG that says it is 16384 x 16384 (768 MB once decoded): refused from its header.
    let huge = dir.path().join("huge.png");
    std::fs::write(&huge, png_header(16_384, 16_384)).unwrap();
    let err = run_err(
        fashion()
            .args(["predict", "--model"])
            .arg(crate::repo_file("models/ready.safetensors"))
            .arg(&huge),
    );
    assert!(err.contains("huge.png: the picture is too large to read"), "{err}");
}

/// A PNG's signature and header chunk for a `width` x `height` RGB picture, then an empty image
/// data chunk: all a decoder reads before it sizes its buffers.
fn png_header(width: u32, height: u32) -> Vec<u8> {
    fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
        out.extend((data.len() as u32).to_be_bytes());
        let mut crc = flate2::Crc::new();
        crc.update(kind);
        crc.update(data);
        out.extend(kind);
        out.extend(data);
        out.extend(crc.sum().to_be_bytes());
    }
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = Vec::new();
    ihdr.extend(width.to_be_bytes());
    ihdr.extend(height.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]); // 8 bits, RGB, deflate, no filter, no interlace
    chunk(&mut png, b"IHDR", &ihdr);
    chunk(&mut png, b"IDAT", &[]);
    chunk(&mut png, b"IEND", &[]);
    png
}

fn fixture(name: &str) -> std::path::PathBuf {
    crate::repo_file("tests/fixtures/pytorch").join(name)
}

fn json_line(out: &str) -> serde_json::Value {
    serde_json::from_str(out.lines().last().unwrap()).unwrap()
}

#[test]
fn pytorch_weights_in_and_out() {
    let dir = tempfile::tempdir().unwrap();
    // A torch.save state_dict evaluates and predicts like the app's own files.
    let eval = json_line(&run_ok(
        fashion()
            .args(["eval", "--json", "--test-limit", "500", "--model"])
            .arg(fixture("sequential.pt")),
    ));
    assert!(eval["accuracy"].as_f64().unwrap() > 0.6, "{eval}");
    let same = json_line(&run_ok(
        fashion()
            .args(["eval", "--json", "--test-limit", "500", "--model"])
            .arg(fixture("fc.pth")),
    ));
    assert_eq!(
        eval["accuracy"], same["accuracy"],
        "the same weights under another naming"
    );
    run_ok(
        fashion()
            .args(["predict", "--json", "--index", "3", "--model"])
            .arg(fixture("model.safetensors")),
    );
    // Exported for PyTorch and read back: the same accuracy as the app's own file.
    let ready = crate::repo_file("models/ready.safetensors");
    let exported = dir.path().join("ready-pytorch.safetensors");
    run_ok(
        fashion()
            .args(["export", "--format", "pytorch", "--model"])
            .arg(&ready)
            .arg("--out")
            .arg(&exported),
    );
    let a = json_line(&run_ok(
        fashion()
            .args(["eval", "--json", "--test-limit", "500", "--model"])
            .arg(&ready),
    ));
    let b = json_line(&run_ok(
        fashion()
            .args(["eval", "--json", "--test-limit", "500", "--model"])
            .arg(&exported),
    ));
    assert_eq!(a["accuracy"], b["accuracy"]);
    // The wrong network is refused with both shapes named.
    let err = run_err(fashion().args(["eval", "--model"]).arg(fixture("wrong-shape.pt")));
    assert!(err.contains("784→128→10") && err.contains("784→256→128→64→10"), "{err}");
}

#[test]
fn a_checkpointed_run_resumes_to_the_same_model() {
    let dir = tempfile::tempdir().unwrap();
    // The reference recipe's rate is constant, so a 2-epoch run is the first two epochs of a
    // 3-epoch one.
    let base = [
        "train",
        "--json",
        "--recipe",
        "reference",
        "--train-limit",
        "800",
        "--test-limit",
        "200",
        "--batch-size",
        "100",
    ];
    let whole = dir.path().join("whole.safetensors");
    run_ok(fashion().args(base).args(["--epochs", "3"]).arg("--save").arg(&whole));
    let checkpoint = dir.path().join("run.ckpt");
    run_ok(
        fashion()
            .args(base)
            .args(["--epochs", "2"])
            .arg("--checkpoint")
            .arg(&checkpoint),
    );
    let resumed = dir.path().join("resumed.safetensors");
    let out = run_ok(
        fashion()
            .args(["train", "--json", "--epochs", "3", "--test-limit", "200", "--resume"])
            .arg(&checkpoint)
            .arg("--save")
            .arg(&resumed),
    );
    assert_eq!(out.lines().count(), 1, "only epoch 3 is trained: {out}");
    let tensors = |p: &std::path::Path| {
        fashion_mlp::weights::Snapshot::from_safetensors(&std::fs::read(p).unwrap())
            .unwrap()
            .tensors
    };
    assert_eq!(tensors(&resumed), tensors(&whole));
    let err = run_err(fashion().args(["train", "--resume"]).arg(&whole));
    assert!(err.contains("not a training checkpoint"), "{err}");
}

#[test]
fn test_images_drawn_on_the_pad() {
    let ready = crate::repo_file("models/ready.safetensors");
    for rendering in ["silhouette", "outline"] {
        let v = json_line(&run_ok(
            fashion()
                .args([
                    "eval",
                    "--json",
                    "--test-limit",
                    "300",
                    "--as-drawings",
                    rendering,
                    "--model",
                ])
                .arg(&ready),
        ));
        assert_eq!(v["images"], 300, "{v}");
        assert!(v["accuracy"].as_f64().unwrap() > 0.3, "{rendering}: {v}");
    }
}
