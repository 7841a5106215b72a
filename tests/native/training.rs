//! The training loop on real data, on the CPU engine (the product's) and on burn's autodiff (the
//! reference): it learns, it trains the same in chunks of any size, a checkpoint resumes a run
//! bit for bit, and weights survive a save/load round trip.

use fashion_mlp::backend::cpu;
use fashion_mlp::data::Dataset;
use fashion_mlp::data::dataset::Split;
use fashion_mlp::train::autodiff::DeviceSet;
use fashion_mlp::train::cpu::{CpuOptions, Evaluator};
use fashion_mlp::train::{Checkpoint, Compute, Engine, TrainConfig};
use fashion_mlp::weights::{self, Snapshot};

fn subsets(train_n: usize, test_n: usize) -> (Dataset, Dataset) {
    let (train, test) = (crate::real(Split::Train), crate::real(Split::Test));
    (train.sample(train_n, 1), test.sample(test_n, 2))
}

/// The CPU engine as `fashion train` runs it, and burn's autodiff on ndarray.
fn computes() -> [(&'static str, Compute); 2] {
    [
        ("cpu", Compute::Cpu(CpuOptions::best())),
        ("autodiff", Compute::Autodiff(cpu())),
    ]
}

fn start(config: &TrainConfig, train: &Dataset, test: &Dataset, compute: &Compute) -> Engine {
    pollster::block_on(Engine::start(config, train, test, compute, None)).unwrap()
}

fn train_epochs(engine: &mut Engine, chunk: usize) {
    while !engine.is_finished() {
        pollster::block_on(engine.run(chunk)).unwrap();
    }
}

fn snapshot(engine: &Engine) -> Snapshot {
    pollster::block_on(engine.snapshot()).unwrap()
}

#[test]
fn reference_recipe_learns_on_5k_samples_in_2_epochs() {
    let (train, test) = subsets(5_000, 2_000);
    let config = TrainConfig {
        epochs: 2,
        seed: 3,
        ..TrainConfig::reference()
    };
    for (name, compute) in computes() {
        let mut engine = start(&config, &train, &test, &compute);
        let before = pollster::block_on(engine.evaluate()).unwrap();
        let mut first_loss = None;
        let mut last = None;
        while !engine.is_finished() {
            let chunk = pollster::block_on(engine.run(20)).unwrap();
            first_loss.get_or_insert(chunk.stats.loss);
            last = Some(chunk);
        }
        let last = last.unwrap();
        assert_eq!(last.position.epoch, 2);
        assert!(last.finished && last.epoch_finished);
        assert!(
            last.stats.loss < first_loss.unwrap() * 0.6,
            "{name}: loss {} -> {}",
            first_loss.unwrap(),
            last.stats.loss
        );
        let after = pollster::block_on(engine.evaluate()).unwrap();
        assert!(before.accuracy < 0.3, "{name}: untrained accuracy {}", before.accuracy);
        assert!(
            after.accuracy > 0.75,
            "{name}: accuracy after 2 epochs: {}",
            after.accuracy
        );
        assert_eq!(after.confusion.total(), 2_000);
        assert_eq!(after.predictions.len(), 2_000);
        let per_class_mean = after.per_class_accuracy.iter().sum::<f64>() / 10.0;
        assert!((per_class_mean - after.accuracy).abs() < 0.05);
        // Trousers and bags are easy; the classifier must get most of them.
        assert!(
            after.per_class_accuracy[1] > 0.8 && after.per_class_accuracy[8] > 0.7,
            "{name}: {:?}",
            after.per_class_accuracy
        );
    }
}

#[test]
fn chunked_training_equals_one_long_run() {
    let (train, test) = subsets(1_000, 500);
    let config = TrainConfig {
        epochs: 2,
        batch_size: 50,
        seed: 11,
        ..TrainConfig::improved()
    };
    for (name, compute) in computes() {
        let mut small_chunks = start(&config, &train, &test, &compute);
        train_epochs(&mut small_chunks, 3);
        let mut big_chunks = start(&config, &train, &test, &compute);
        train_epochs(&mut big_chunks, 1_000);
        assert_eq!(snapshot(&small_chunks), snapshot(&big_chunks), "{name}");
        assert_eq!(small_chunks.position(), big_chunks.position());
        assert_eq!(small_chunks.position().steps, 2 * 20);
    }
}

#[test]
fn run_stops_at_epoch_boundaries_and_after_the_last_epoch() {
    let (train, test) = subsets(300, 10);
    let config = TrainConfig {
        epochs: 1,
        batch_size: 64,
        ..TrainConfig::reference()
    };
    for (_, compute) in computes() {
        let mut t = start(&config, &train, &test, &compute);
        let c = pollster::block_on(t.run(3)).unwrap();
        assert_eq!((c.batches, c.epoch_finished), (3, false));
        let c = pollster::block_on(t.run(100)).unwrap();
        assert_eq!((c.batches, c.epoch_finished, c.finished), (2, true, true));
        assert_eq!(c.epoch_stats.samples, 300);
        assert!(pollster::block_on(t.run(1)).is_err());
    }
}

#[test]
fn bad_configs_are_errors_not_panics() {
    let (train, test) = subsets(100, 10);
    for config in [
        TrainConfig {
            batch_size: 0,
            ..TrainConfig::reference()
        },
        TrainConfig {
            learning_rate: f64::NAN,
            ..TrainConfig::reference()
        },
        TrainConfig {
            epochs: 0,
            ..TrainConfig::reference()
        },
        TrainConfig {
            model: fashion_mlp::model::MlpConfig {
                hidden: vec![],
                dropout: 0.2,
            },
            ..TrainConfig::reference()
        },
        TrainConfig {
            model: fashion_mlp::model::MlpConfig {
                hidden: vec![32],
                dropout: 1.5,
            },
            ..TrainConfig::reference()
        },
    ] {
        for (_, compute) in computes() {
            let err = pollster::block_on(Engine::start(&config, &train, &test, &compute, None))
                .err()
                .expect("invalid config rejected");
            assert!(err.to_string().starts_with("invalid setting"), "{err}");
        }
    }
}

#[test]
fn odd_shapes_train_on_the_cpu_engine() {
    // Widths that fill no vector evenly, a batch that leaves a ragged last one, no dropout.
    let (train, test) = subsets(250, 50);
    let config = TrainConfig {
        epochs: 1,
        batch_size: 37,
        model: fashion_mlp::model::MlpConfig {
            hidden: vec![33, 7],
            dropout: 0.0,
        },
        ..TrainConfig::reference()
    };
    let compute = Compute::Cpu(CpuOptions::best());
    let mut engine = start(&config, &train, &test, &compute);
    train_epochs(&mut engine, 4);
    let model = snapshot(&engine);
    assert_eq!(model.config.widths(), vec![784, 33, 7, 10]);
    let report = pollster::block_on(engine.evaluate()).unwrap();
    assert_eq!(report.predictions.len(), 50);
    assert!(report.loss.is_finite());
}

#[test]
fn save_then_load_gives_identical_predictions() {
    let (train, test) = subsets(1_000, 200);
    let config = TrainConfig {
        epochs: 1,
        ..TrainConfig::reference()
    };
    let mut engine = start(&config, &train, &test, &Compute::Cpu(CpuOptions::best()));
    train_epochs(&mut engine, 100);
    let mut model = snapshot(&engine);
    model.metadata.insert("note".into(), "test".into());
    let bytes = model.to_safetensors().unwrap();
    let loaded = Snapshot::from_safetensors(&bytes).unwrap();
    assert_eq!(loaded.metadata.get("note").map(String::as_str), Some("test"));
    assert_eq!(loaded.tensors, model.tensors);
    let pixels = test.scaled_pixels();
    let a = Evaluator::new(&model, CpuOptions::best())
        .unwrap()
        .probabilities(&pixels);
    let b = Evaluator::new(&loaded, CpuOptions::best())
        .unwrap()
        .probabilities(&pixels);
    assert_eq!(a, b);
    for p in &a {
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-4);
    }
    // burn reads the same file as a model.
    let (burn_model, _) = weights::from_bytes(&bytes, &cpu()).unwrap();
    assert_eq!(burn_model.widths(), vec![784, 256, 128, 64, 10]);
}

#[test]
fn burn_store_reads_our_files() {
    use burn::store::{ModuleSnapshot, SafetensorsStore};
    let config = fashion_mlp::model::MlpConfig::default();
    let device = cpu();
    let model = crate::model(config.clone(), 5);
    let bytes = pollster::block_on(weights::to_bytes(&model, Default::default())).unwrap();
    let mut other = crate::model(config, 6);
    let mut store = SafetensorsStore::from_bytes(Some(bytes));
    let result = other.load_from(&mut store).unwrap();
    assert!(result.missing.is_empty() && result.errors.is_empty(), "{result:?}");
    assert_eq!(result.applied.len(), 8);
    let x = burn::tensor::Tensor::<2>::ones([1, 784], &device);
    let a = model.forward(x.clone()).into_data();
    let b = other.forward(x).into_data();
    a.assert_approx_eq::<f32>(&b, burn::tensor::Tolerance::default());
}

#[test]
fn device_set_unpacks_every_byte_value_exactly() {
    // 784 * 2 pixels covering 0..=255 in every byte position of the packed words.
    let pixels: Vec<u8> = (0..2 * 784).map(|i| ((i * 37 + i / 4) % 256) as u8).collect();
    let data = Dataset::new(pixels.clone(), vec![3, 7]).unwrap();
    let set = DeviceSet::upload(&data, &cpu());
    let rows: Vec<f32> = set.rows(0..2).into_data().iter::<f32>().collect();
    let expected: Vec<f32> = pixels.iter().map(|&p| p as f32 / 255.0).collect();
    assert_eq!(rows, expected);
    let idx = burn::tensor::Tensor::<1, burn::tensor::Int>::from_data(
        burn::tensor::TensorData::new(vec![1i64, 0], [2]),
        &cpu(),
    );
    let gathered: Vec<f32> = set.gather(idx).into_data().iter::<f32>().collect();
    assert_eq!(&gathered[..784], &expected[784..]);
    assert_eq!(&gathered[784..], &expected[..784]);
}

#[test]
fn a_checkpoint_resumes_the_run_bit_for_bit() {
    let (train, test) = subsets(1_200, 10);
    let config = TrainConfig {
        epochs: 4,
        batch_size: 100,
        weight_decay: 1e-4,
        ..TrainConfig::improved()
    };
    for (name, compute) in computes() {
        let mut whole = start(&config, &train, &test, &compute);
        train_epochs(&mut whole, 7);

        // The same run stopped after epoch 2 (in chunks of another size), saved, read back, resumed.
        let mut first = start(&config, &train, &test, &compute);
        while first.position().epoch < 2 {
            pollster::block_on(first.run(5)).unwrap();
        }
        let checkpoint = pollster::block_on(first.checkpoint(Some(1_200))).unwrap();
        let bytes = checkpoint.to_bytes(Default::default()).unwrap();
        let read = Checkpoint::from_bytes(&bytes).unwrap();
        assert_eq!(
            (&read.config, &read.weights.tensors, &read.moments),
            (&checkpoint.config, &checkpoint.weights.tensors, &checkpoint.moments)
        );
        assert_eq!((read.epoch, read.adam_steps, read.train_limit), (2, 24, Some(1_200)));
        let mut resumed =
            pollster::block_on(Engine::start(&read.config, &train, &test, &compute, Some(&read))).unwrap();
        assert_eq!(resumed.position().steps, 24);
        train_epochs(&mut resumed, 11);
        assert_eq!(snapshot(&resumed), snapshot(&whole), "{name}");
        let (a, b) = (
            pollster::block_on(resumed.checkpoint(None)).unwrap(),
            pollster::block_on(whole.checkpoint(None)).unwrap(),
        );
        assert_eq!((a.moments, a.trained), (b.moments, b.trained), "{name}");
    }
}

#[test]
fn a_checkpoint_is_also_a_model_file_but_not_the_reverse() {
    let (train, test) = subsets(300, 20);
    let config = TrainConfig {
        epochs: 1,
        ..TrainConfig::reference()
    };
    let mut engine = start(&config, &train, &test, &Compute::Cpu(CpuOptions::best()));
    train_epochs(&mut engine, 100);
    let model_bytes = snapshot(&engine).to_safetensors().unwrap();
    let checkpoint = pollster::block_on(engine.checkpoint(None)).unwrap();
    let bytes = checkpoint.to_bytes(Default::default()).unwrap();
    let as_model = Snapshot::from_safetensors(&bytes).unwrap();
    assert_eq!(as_model.tensors, snapshot(&engine).tensors);
    let err = Checkpoint::from_bytes(&model_bytes).unwrap_err();
    assert!(err.to_string().contains("not a training checkpoint"), "{err}");
}
