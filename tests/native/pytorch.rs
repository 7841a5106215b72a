//! Weights written by real PyTorch (tests/fixtures/pytorch/, made by
//! scripts/dev/make-pytorch-fixtures.py) import into the model and give the probabilities PyTorch
//! itself computed for the first 100 test images, whatever the container or naming.

use std::path::PathBuf;

use fashion_mlp::data::dataset::Split;
use fashion_mlp::error::WeightsError;
use fashion_mlp::model::MlpConfig;
use fashion_mlp::weights::{NamedTensor, Snapshot, pytorch};

/// Probabilities must agree to this much: float32 sums in a different order differ in the last
/// bits, not more.
const TOLERANCE: f32 = 1e-5;

fn fixture(name: &str) -> PathBuf {
    crate::repo_file("tests/fixtures/pytorch").join(name)
}

fn read(name: &str) -> Result<Vec<NamedTensor>, WeightsError> {
    let bytes = std::fs::read(fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
    pytorch::read(name, &bytes)
}

/// What PyTorch computed: the test image indices and their probabilities.
fn expected() -> (Vec<usize>, Vec<Vec<f32>>) {
    let text = std::fs::read_to_string(fixture("probabilities.json")).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    let images: Vec<usize> = serde_json::from_value(json["images"].clone()).unwrap();
    let probabilities: Vec<Vec<f32>> = serde_json::from_value(json["probabilities"].clone()).unwrap();
    assert_eq!(images.len(), probabilities.len());
    (images, probabilities)
}

/// The pixels of the test images the fixtures were computed on (the first ones, in order).
fn test_pixels(images: &[usize]) -> Vec<f32> {
    assert!(
        images.iter().copied().eq(0..images.len()),
        "the fixture uses the first test images"
    );
    let test = crate::real(Split::Test);
    test.take(images.len()).scaled_pixels()
}

/// Reads a fixture, maps it onto the model and checks every probability against PyTorch's.
fn assert_matches_pytorch(name: &str) {
    let tensors = read(name).unwrap_or_else(|e| panic!("{name}: {e}"));
    let layers = pytorch::to_model_layers(&tensors).unwrap_or_else(|e| panic!("{name}: {e}"));
    pytorch::check_widths(&layers, &[784, 256, 128, 64, 10]).unwrap();
    let snapshot = Snapshot {
        config: MlpConfig {
            hidden: vec![256, 128, 64],
            dropout: 0.2,
        },
        tensors: layers,
        metadata: Default::default(),
    };
    let device = fashion_mlp::backend::cpu();
    let model = snapshot.to_model(&device).unwrap();
    let (images, expected) = expected();
    let pixels = test_pixels(&images);
    let probabilities =
        pollster::block_on(fashion_mlp::train::autodiff::eval::predict(&model, &pixels, &device)).unwrap();
    assert_eq!(probabilities.len(), expected.len());
    let mut worst = (0.0f32, 0, 0);
    for (image, (ours, theirs)) in probabilities.iter().zip(&expected).enumerate() {
        assert_eq!(theirs.len(), ours.len(), "{name}: image {image}");
        for (class, (a, b)) in ours.iter().zip(theirs).enumerate() {
            let difference = (a - b).abs();
            if difference > worst.0 {
                worst = (difference, image, class);
            }
        }
    }
    let (difference, image, class) = worst;
    assert!(
        difference <= TOLERANCE,
        "{name}: image {image}, class {class}: ours {} vs PyTorch {} (difference {difference:e})",
        probabilities[image][class],
        expected[image][class]
    );
}

#[test]
fn sequential_state_dict() {
    assert_matches_pytorch("sequential.pt");
}

#[test]
fn named_attributes_fc1_to_fc4() {
    assert_matches_pytorch("fc.pth");
}

#[test]
fn checkpoint_with_nested_state_dict_and_layers_prefix() {
    assert_matches_pytorch("checkpoint-layers.pt");
}

#[test]
fn safetensors_with_model_prefix() {
    assert_matches_pytorch("model.safetensors");
}

#[test]
fn sequential_without_dropout_modules() {
    assert_matches_pytorch("sequential-nodropout.pt");
}

#[test]
fn legacy_non_zip_format() {
    assert_matches_pytorch("legacy.pt");
}

/// Every container holds the same weights, bit for bit, once mapped.
#[test]
fn all_containers_map_to_the_same_layers() {
    let reference = pytorch::to_model_layers(&read("sequential.pt").unwrap()).unwrap();
    for name in [
        "fc.pth",
        "checkpoint-layers.pt",
        "model.safetensors",
        "sequential-nodropout.pt",
        "legacy.pt",
    ] {
        let layers = pytorch::to_model_layers(&read(name).unwrap()).unwrap();
        assert!(layers == reference, "{name} maps to different layers");
    }
}

/// `export` gives back exactly the state_dict PyTorch saved, with and without Dropout indices.
#[test]
fn export_round_trips_to_pytorch_names() {
    let sequential = read("sequential.pt").unwrap();
    let layers = pytorch::to_model_layers(&sequential).unwrap();
    assert!(
        pytorch::export(&layers, true) == sequential,
        "export(dropout) differs from sequential.pt"
    );
    let nodropout = read("sequential-nodropout.pt").unwrap();
    assert!(
        pytorch::export(&layers, false) == nodropout,
        "export(no dropout) differs"
    );
    let names: Vec<String> = pytorch::export(&layers, true).into_iter().map(|t| t.0).collect();
    assert_eq!(
        names,
        [
            "0.weight", "0.bias", "3.weight", "3.bias", "6.weight", "6.bias", "9.weight", "9.bias"
        ]
    );
}

/// A valid MLP of other widths maps, and the width check names both networks.
#[test]
fn a_different_network_is_named() {
    let layers = pytorch::to_model_layers(&read("wrong-shape.pt").unwrap()).unwrap();
    assert_eq!(pytorch::widths(&layers), [784, 128, 10]);
    match pytorch::check_widths(&layers, &[784, 256, 128, 64, 10]) {
        Err(WeightsError::Mismatch(message)) => {
            assert_eq!(
                message,
                "the file holds a 784→128→10 network; expected 784→256→128→64→10"
            )
        }
        other => panic!("{other:?}"),
    }
}

/// float64, float16 and bfloat16 storages, a Parameter, a view with a storage offset, and two
/// tensors sharing one storage.
#[test]
fn dtypes_parameters_and_views() {
    let tensors = read("dtypes.pt").unwrap();
    let names: Vec<&str> = tensors.iter().map(|t| t.0.as_str()).collect();
    assert_eq!(names, ["f32", "f64", "f16", "bf16", "param", "row", "shared"]);
    // arange(12) / 8: exact in every one of these types.
    let base: Vec<f32> = (0..12).map(|v| v as f32 / 8.0).collect();
    for (name, shape, values) in &tensors {
        match name.as_str() {
            "row" => {
                assert_eq!(shape, &[4]);
                assert_eq!(values[..], base[4..8]);
            }
            _ => {
                assert_eq!(shape, &[3, 4], "{name}");
                assert_eq!(values, &base, "{name}");
            }
        }
    }
}

#[test]
fn non_contiguous_tensors_are_refused_clearly() {
    match read("noncontiguous.pt") {
        Err(WeightsError::Format(message)) => {
            assert!(
                message.starts_with("noncontiguous.pt: transposed is not contiguous"),
                "{message}"
            );
            assert!(message.contains("contiguous()"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

/// `torch.save(model)` pickles the module itself: its parameters are found under the names
/// `state_dict()` would give them, and the mapping then says what does not fit.
#[test]
fn whole_pickled_module() {
    let tensors = read("whole-model.pt").unwrap();
    let shapes: Vec<(&str, &[usize])> = tensors.iter().map(|t| (t.0.as_str(), t.1.as_slice())).collect();
    assert_eq!(shapes, [("0.weight", &[2, 4][..]), ("0.bias", &[2][..])]);
    match pytorch::to_model_layers(&tensors) {
        Err(WeightsError::Mismatch(message)) => {
            assert!(message.contains("found 0.weight [2, 4], 0.bias [2]"), "{message}");
            assert!(
                message.contains("takes 4 inputs but the model's input is 784 pixels"),
                "{message}"
            );
            assert!(message.contains("gives 2 outputs; the model needs 10"), "{message}");
        }
        other => panic!("{other:?}"),
    }
}

/// Damaged copies of a real file are refused with an error, never a panic.
#[test]
fn damaged_fixtures_are_errors() {
    let bytes = std::fs::read(fixture("sequential.pt")).unwrap();
    for len in [0, 1, 100, bytes.len() / 2, bytes.len() - 23, bytes.len() - 1] {
        assert!(pytorch::read("cut.pt", &bytes[..len]).is_err(), "cut at {len}");
    }
    let legacy = std::fs::read(fixture("legacy.pt")).unwrap();
    for len in [20, 200, legacy.len() / 2, legacy.len() - 1] {
        match pytorch::read("legacy.pt", &legacy[..len]) {
            Err(WeightsError::Format(message)) => assert!(message.contains("legacy"), "{message}"),
            other => panic!("cut at {len}: {other:?}"),
        }
    }
}

/// An exported model, read back through the import path, gives this project's probabilities.
#[test]
fn an_exported_model_reads_back_with_the_same_predictions() {
    let bytes = crate::ready_bytes();
    let ours = fashion_mlp::weights::read_model_file("ready.safetensors", &bytes).unwrap();
    let exported = ours.to_pytorch_safetensors().unwrap();
    let back = fashion_mlp::weights::read_model_file("ready-pytorch.safetensors", &exported).unwrap();
    assert_eq!(back.tensors, ours.tensors, "transposed out and back exactly");
    assert!(back.metadata["source"].starts_with("PyTorch"));
    let cpu = fashion_mlp::backend::cpu();
    let pixels = test_pixels(&(0..100).collect::<Vec<_>>());
    let a = pollster::block_on(fashion_mlp::train::autodiff::eval::predict(
        &ours.to_model(&cpu).unwrap(),
        &pixels,
        &cpu,
    ))
    .unwrap();
    let b = pollster::block_on(fashion_mlp::train::autodiff::eval::predict(
        &back.to_model(&cpu).unwrap(),
        &pixels,
        &cpu,
    ))
    .unwrap();
    assert_eq!(a, b);
}

/// The app's own reader takes every PyTorch fixture (whatever its naming or container) and
/// refuses the wrong network with both shapes named.
#[test]
fn the_model_file_reader_takes_pytorch_files() {
    for name in [
        "sequential.pt",
        "fc.pth",
        "checkpoint-layers.pt",
        "model.safetensors",
        "sequential-nodropout.pt",
        "legacy.pt",
    ] {
        let bytes = std::fs::read(fixture(name)).unwrap();
        let snap = fashion_mlp::weights::read_model_file(name, &bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(snap.config.hidden, vec![256, 128, 64], "{name}");
    }
    let bytes = std::fs::read(fixture("wrong-shape.pt")).unwrap();
    let err = fashion_mlp::weights::read_model_file("wrong-shape.pt", &bytes).unwrap_err();
    assert!(
        err.to_string().contains("784→128→10") && err.to_string().contains("784→256→128→64→10"),
        "{err}"
    );
    let err =
        fashion_mlp::weights::read_model_file("whole-model.pt", &std::fs::read(fixture("whole-model.pt")).unwrap())
            .unwrap_err();
    assert!(err.to_string().contains("784"), "{err}");
}
