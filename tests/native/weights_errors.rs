//! Wrong or corrupt model files are clear errors, never panics.

use fashion_mlp::backend::cpu;
use fashion_mlp::error::WeightsError;
use fashion_mlp::model::MlpConfig;
use fashion_mlp::weights::{self, Snapshot};

fn good_snapshot() -> Snapshot {
    let model = crate::model(
        MlpConfig {
            hidden: vec![16, 8],
            dropout: 0.1,
        },
        1,
    );
    pollster::block_on(weights::snapshot(&model)).unwrap()
}

#[test]
fn round_trip_keeps_architecture() {
    let snap = good_snapshot();
    let bytes = snap.to_safetensors().unwrap();
    let back = Snapshot::from_safetensors(&bytes).unwrap();
    assert_eq!(back.config, snap.config);
    assert_eq!(back.tensors, snap.tensors);
}

#[test]
fn garbage_and_truncated_files_are_format_errors() {
    for bytes in [&b""[..], b"hello world, not a model", &[0xff; 64]] {
        let err = weights::from_bytes(bytes, &cpu()).err().unwrap();
        assert!(matches!(err, WeightsError::Format(_)), "{err:?}");
        assert!(
            err.to_string().starts_with("not a model file this app can read"),
            "{err}"
        );
    }
    let bytes = good_snapshot().to_safetensors().unwrap();
    let err = weights::from_bytes(&bytes[..bytes.len() - 10], &cpu()).err().unwrap();
    assert!(matches!(err, WeightsError::Format(_)), "{err:?}");
}

fn with(f: impl Fn(&mut Snapshot)) -> Result<(), WeightsError> {
    let mut snap = good_snapshot();
    f(&mut snap);
    weights::from_bytes(&snap.to_safetensors().unwrap(), &cpu()).map(|_| ())
}

#[test]
fn other_models_are_mismatches() {
    let err = with(|s| {
        s.tensors
            .iter_mut()
            .for_each(|t| t.0 = t.0.replace("layers", "encoder"))
    })
    .unwrap_err();
    assert!(
        matches!(err, WeightsError::Mismatch(_)) && err.to_string().contains("encoder.0"),
        "{err}"
    );
    let err = with(|s| s.tensors.retain(|t| t.0 != "layers.1.bias")).unwrap_err();
    assert!(err.to_string().contains("layers.1.bias is missing"), "{err}");
    let err = with(|s| {
        s.tensors[0].1 = vec![100, 16];
        s.tensors[0].2.truncate(1600);
    })
    .unwrap_err();
    assert!(err.to_string().contains("layers.0.weight has shape [100, 16]"), "{err}");
    let err = with(|s| s.tensors.push(("extra".into(), vec![1], vec![0.0]))).unwrap_err();
    assert!(err.to_string().contains("unexpected tensor extra"), "{err}");
    let err = with(|s| s.tensors[2].2[0] = f32::NAN).unwrap_err();
    assert!(err.to_string().contains("NaN"), "{err}");
}

#[test]
fn wrong_output_width() {
    let model = crate::model(
        MlpConfig {
            hidden: vec![16],
            dropout: 0.0,
        },
        2,
    );
    let mut snap = pollster::block_on(weights::snapshot(&model)).unwrap();
    snap.tensors[2].1 = vec![16, 5];
    snap.tensors[2].2.truncate(80);
    snap.tensors[3].1 = vec![5];
    snap.tensors[3].2.truncate(5);
    let err = weights::from_bytes(&snap.to_safetensors().unwrap(), &cpu())
        .err()
        .unwrap();
    assert!(err.to_string().contains("5 outputs, expected 10"), "{err}");
}

/// A safetensors header of megabytes (hundreds of thousands of empty tensors) is refused
/// before it is parsed, and a checkpoint's training state must belong to a parameter.
#[test]
fn huge_headers_and_stray_training_state_are_refused() {
    use safetensors::{Dtype, tensor::TensorView};
    let empty: Vec<(String, TensorView)> = (0..100_000)
        .map(|i| (format!("x{i}"), TensorView::new(Dtype::F32, vec![0], &[]).unwrap()))
        .collect();
    let bytes = safetensors::serialize(empty, None).unwrap();
    for result in [
        weights::read_model_file("many.safetensors", &bytes).map(|_| ()),
        Snapshot::from_safetensors(&bytes).map(|_| ()),
    ] {
        let err = result.unwrap_err().to_string();
        assert!(
            err.contains("safetensors header is") && err.contains("over the limit of 1048576"),
            "{err}"
        );
    }
    let snap = good_snapshot();
    let mut tensors = snap.tensors.clone();
    tensors.push(("adam.x0".into(), vec![1], vec![0.0]));
    let with_stray = Snapshot { tensors, ..snap }.to_safetensors().unwrap();
    let err = Snapshot::from_safetensors(&with_stray).unwrap_err().to_string();
    assert!(
        err.contains("unexpected tensor adam.x0: not the training state"),
        "{err}"
    );
}
