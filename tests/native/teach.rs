//! Teaching the model drawings (`fashion drawings`, `fashion finetune`) on the real data: the
//! shipped model taught outline drawings of training images reads outlines of unseen test
//! images better, loses at most half a point of the Fashion-MNIST test set, and the taught model
//! is a model file like any other. Bad sets are refused with a message and write nothing.

use std::process::Command;

use crate::repo_file;

fn fashion() -> Command {
    Command::new(env!("CARGO_BIN_EXE_fashion"))
}

fn output(cmd: &mut Command) -> (bool, String, String) {
    let out = cmd.output().unwrap();
    (
        out.status.success(),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

#[test]
fn the_ready_model_learns_outline_drawings_without_forgetting_the_test_set() {
    let dir = tempfile::tempdir().unwrap();
    let set = dir.path().join("outlines.json");
    let (ok, _, err) = output(
        fashion()
            .args(["drawings", "--per-class", "20", "--seed", "3", "--out"])
            .arg(&set),
    );
    assert!(ok, "{err}");
    // Outlines of test images the teaching never sees, scored before and after.
    let unseen = dir.path().join("test-outlines.json");
    let (ok, _, err) = output(
        fashion()
            .args(["drawings", "--from-test", "--per-class", "200", "--out"])
            .arg(&unseen),
    );
    assert!(ok, "{err}");
    let taught = dir.path().join("taught.safetensors");
    let (ok, out, err) = output(
        fashion()
            .args(["finetune", "--json", "--test-limit", "2000", "--model"])
            .arg(repo_file("models/ready.safetensors"))
            .arg("--drawings")
            .arg(&set)
            .arg("--save")
            .arg(&taught)
            .arg("--score")
            .arg(&unseen),
    );
    assert!(ok, "{err}");
    let r: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let f = |k: &str| r[k].as_f64().unwrap_or_else(|| panic!("{k} in {r}"));
    assert_eq!(r["drawings"], 200);
    assert_eq!(r["folds"], 5);
    assert!(
        (0.0..=1.0).contains(&f("drawings_accuracy_before")) && (0.0..=1.0).contains(&f("drawings_accuracy_after")),
        "held-out drawings: {r}"
    );
    assert!(
        f("score_accuracy_after") > f("score_accuracy_before") + 0.005,
        "outlines of unseen test images: {r}"
    );
    assert!(
        f("test_accuracy_after") >= f("test_accuracy_before") - 0.005,
        "the test set: {r}"
    );
    // The taught model reads like any model, and is what the figures say.
    let (ok, out, err) = output(
        fashion()
            .args(["eval", "--json", "--test-limit", "2000", "--model"])
            .arg(&taught),
    );
    assert!(ok, "{err}");
    let eval: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    assert!((eval["accuracy"].as_f64().unwrap() - f("test_accuracy_after")).abs() < 1e-9);
}

#[test]
fn bad_drawing_sets_are_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let save = dir.path().join("never.safetensors");
    let refused = |name: &str, contents: &str| {
        let file = dir.path().join(name);
        std::fs::write(&file, contents).unwrap();
        let (ok, _, err) = output(
            fashion()
                .args(["finetune", "--test-limit", "100", "--model"])
                .arg(repo_file("models/ready.safetensors"))
                .arg("--drawings")
                .arg(&file)
                .arg("--save")
                .arg(&save),
        );
        assert!(!ok && !err.contains("panicked"), "{err}");
        assert!(!save.exists());
        err
    };
    let classes = fashion_mlp::data::CLASS_NAMES.map(|c| format!("\"{c}\"")).join(",");
    let pixels = "00".repeat(784);
    let set = |drawings: &str, classes: &str| {
        format!(
            "{{\"format\":\"fashion-mlp drawings\",\"version\":1,\"classes\":[{classes}],\"drawings\":[{drawings}]}}"
        )
    };
    let one = |label: u8| format!("{{\"label\":{label},\"pixels\":\"{pixels}\"}}");
    assert!(refused("empty.json", &set("", &classes)).contains("no drawings"));
    assert!(refused("one.json", &set(&[one(3), one(3)].join(","), &classes)).contains("labelled Dress"));
    let digits = (0..10).map(|d| format!("\"{d}\"")).collect::<Vec<_>>().join(",");
    assert!(refused("mnist.json", &set(&[one(3), one(4)].join(","), &digits)).contains("another class list"));
    assert!(refused("cut.json", &set(&[one(3), one(4)].join(","), &classes)[..900]).contains("cut.json"));
    assert!(refused("photo.png", "\u{89}PNG\r\n").contains("neither a drawing set"));
}
