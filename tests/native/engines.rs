//! The fused engines against burn's autodiff (the reference), on real data: the CPU engine (every
//! instruction set and rounding this machine has) and, with the `gpu` feature, the GPU engine on
//! whatever GPU wgpu finds natively (in CI: lavapipe, Mesa's software Vulkan device, installed by
//! scripts/build/setup.sh). All start from the same weights and draw the same batches, masks and flips,
//! so after each step their gradients (read from Adam's first moment) and parameters agree to
//! float rounding, ragged last batch included; and a short run reaches the reference's accuracy.
//! The CPU engine computes the same bits whatever its vector width and thread count.

use fashion_mlp::data::Dataset;
use fashion_mlp::data::dataset::Split;
use fashion_mlp::train::cpu::{CpuOptions, Isa, Kernels, Rounding};
use fashion_mlp::train::{Checkpoint, Compute, Engine, TrainConfig};

fn data() -> (Dataset, Dataset) {
    (crate::real(Split::Train), crate::real(Split::Test))
}

fn reference() -> Compute {
    Compute::Autodiff(fashion_mlp::backend::cpu())
}

/// The CPU engine with every instruction set and rounding this machine has, on `threads`.
fn cpu_variants(threads: usize) -> Vec<CpuOptions> {
    [Isa::Avx512, Isa::Avx2, Isa::Neon, Isa::Scalar]
        .into_iter()
        .flat_map(|isa| [Rounding::Fused, Rounding::Separate].map(|r| Kernels::new(isa, r)))
        .filter_map(Result::ok)
        .map(|kernels| CpuOptions {
            kernels,
            threads,
            shards: 1,
        })
        .collect()
}

#[cfg(feature = "gpu")]
fn gpu() -> Compute {
    Compute::Gpu(
        fashion_mlp::backend::native_gpu().expect("a wgpu device (scripts/build/setup.sh installs Mesa's lavapipe)"),
    )
}

/// Largest difference between two tensors relative to the larger one's largest magnitude.
fn relative_gap(a: &[f32], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    let scale = a.iter().chain(b).fold(0f32, |m, v| m.max(v.abs())) as f64;
    let gap = a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs())) as f64;
    gap / scale.max(1e-30)
}

/// After a step the two trainers' gradients (Adam's first moment, `(1 - β1)·g` after step one)
/// agree to rounding; so do the parameters, except where a gradient is so small that summation
/// rounding is a sizeable part of it (Adam divides a gradient by its own magnitude, so there a
/// tiny absolute difference becomes a visible one): those elements, told by their own moments
/// differing by more than 0.1% at this or an earlier step (`suspect`), must still agree within a
/// tenth of a step.
fn compare(step: usize, lr: f64, cpu: &Checkpoint, gpu: &Checkpoint, suspect: &mut Vec<Vec<bool>>) {
    suspect.resize_with(cpu.weights.tensors.len(), Vec::new);
    let trained = |k: &Checkpoint| k.trained_weights().tensors;
    let (cpu_trained, gpu_trained) = (trained(cpu), trained(gpu));
    for (i, (name, _, c)) in cpu_trained.iter().enumerate() {
        let g = &gpu_trained[i].2;
        let (cm, gm) = (&cpu.moments[i].1, &gpu.moments[i].1);
        let grads = relative_gap(cm, gm);
        assert!(
            grads < 1e-4,
            "step {step}: {name}'s gradient (Adam's first moment) differs by {grads:e}"
        );
        let marks = &mut suspect[i];
        marks.resize(c.len(), false);
        for j in 0..c.len() {
            marks[j] |= (cm[j] - gm[j]).abs() > 1e-3 * cm[j].abs();
        }
        let (tiny, well): (Vec<usize>, Vec<usize>) = (0..c.len()).partition(|&j| marks[j]);
        let pick = |v: &[f32], idx: &[usize]| idx.iter().map(|&j| v[j]).collect::<Vec<f32>>();
        let params = relative_gap(&pick(c, &well), &pick(g, &well));
        assert!(params < 1e-4, "step {step}: {name} differs by {params:e} (relative)");
        let worst_tiny = tiny.iter().map(|&j| (c[j] - g[j]).abs()).fold(0f32, f32::max);
        assert!(
            (worst_tiny as f64) < 0.1 * lr,
            "step {step}: {name}: {worst_tiny} where the gradient is tiny"
        );
        // The reported (averaged) model: the same split, since it follows the trained weights.
        let (ca, ga) = (&cpu.weights.tensors[i].2, &gpu.weights.tensors[i].2);
        let averaged = relative_gap(&pick(ca, &well), &pick(ga, &well));
        assert!(
            averaged < 1e-4,
            "step {step}: the average of {name} differs by {averaged:e}"
        );
        let worst_tiny = tiny.iter().map(|&j| (ca[j] - ga[j]).abs()).fold(0f32, f32::max);
        assert!(
            (worst_tiny as f64) < 0.1 * lr,
            "step {step}: average of {name}: {worst_tiny} where the gradient is tiny"
        );
        // A few in a hundred: with the improved recipe's dropout 0.1 (inputs and hidden layers)
        // the kept values are scaled by 1/0.9, which is not exact in f32 (0.2's 1.25 is), so a
        // few more gradients round differently; and burn's matmul sums in another order than
        // either engine, which may also fuse multiply-adds (worst case seen: 13 of 640).
        assert!(
            tiny.len() * 100 < 3 * c.len().max(100),
            "step {step}: {name}: {} of {} elements disagree",
            tiny.len(),
            c.len()
        );
    }
}

/// The settings the step-by-step comparisons run: every kind of noise and update at once.
fn busy(batch_size: usize) -> TrainConfig {
    TrainConfig {
        epochs: 1,
        batch_size,
        learning_rate: 0.003,
        weight_decay: 1e-4,
        label_smoothing: 0.1,
        augment_flip: true,
        augment_shift: 2,
        input_dropout: 0.1,
        average: 0.99,
        seed: 5,
        ..TrainConfig::improved()
    }
}

/// Runs one epoch of 250 images step by step on `compute` and on burn's autodiff, checking after
/// every step that losses, gradients and parameters agree.
fn steps_agree_with_the_reference(compute: &Compute, batch_sizes: &[usize]) {
    let (train, _) = data();
    // 250 images: batch 64 takes 64, 64, 64, 58; batch 100 takes 100, 100, then a ragged 50.
    let subset = train.sample(250, 9);
    let test = subset.take(1);
    for &batch_size in batch_sizes {
        let config = busy(batch_size);
        let mut reference = pollster::block_on(Engine::start(&config, &subset, &test, &reference(), None)).unwrap();
        let mut engine = pollster::block_on(Engine::start(&config, &subset, &test, compute, None)).unwrap();
        let mut step = 0;
        let mut suspect = Vec::new();
        while !reference.is_finished() {
            let a = pollster::block_on(reference.run(1)).unwrap();
            let b = pollster::block_on(engine.run(1)).unwrap();
            step += 1;
            assert_eq!((a.batches, a.stats.samples), (b.batches, b.stats.samples));
            assert!(
                (a.stats.loss - b.stats.loss).abs() < 1e-4 * a.stats.loss,
                "step {step}: loss {} vs {}",
                a.stats.loss,
                b.stats.loss
            );
            assert_eq!(a.stats.accuracy, b.stats.accuracy, "step {step}");
            let c = pollster::block_on(reference.checkpoint(None)).unwrap();
            let g = pollster::block_on(engine.checkpoint(None)).unwrap();
            assert_eq!(c.adam_steps, g.adam_steps);
            compare(step, config.learning_rate, &c, &g, &mut suspect);
        }
        assert!(engine.is_finished());
        eprintln!("{:?}, batch {batch_size}: {step} steps agree", engine.kind());
    }
}

#[test]
fn cpu_steps_match_burn_autodiff() {
    for options in cpu_variants(1) {
        eprintln!("{}", options.describe());
        steps_agree_with_the_reference(&Compute::Cpu(options), &[64, 100]);
    }
}

#[cfg(feature = "gpu")]
#[test]
fn gpu_steps_match_burn_autodiff_for_several_batch_sizes() {
    steps_agree_with_the_reference(&gpu(), &[64, 100, 250]);
}

/// The state after a few steps of the busy settings on `options`.
fn cpu_state(options: CpuOptions, train: &Dataset) -> Checkpoint {
    let config = TrainConfig { epochs: 2, ..busy(64) };
    let mut engine = pollster::block_on(Engine::start(
        &config,
        train,
        &train.take(1),
        &Compute::Cpu(options),
        None,
    ))
    .unwrap();
    pollster::block_on(engine.run(7)).unwrap();
    pollster::block_on(engine.checkpoint(None)).unwrap()
}

#[test]
fn the_cpu_engine_computes_the_same_bits_on_any_vector_width_and_thread_count() {
    let (train, _) = data();
    let subset = train.sample(1_000, 3);
    for rounding in [Rounding::Fused, Rounding::Separate] {
        let variants: Vec<CpuOptions> = [1, 2, 3]
            .into_iter()
            .flat_map(cpu_variants)
            .filter(|o| o.kernels.rounding == rounding)
            .collect();
        let pool = rayon::ThreadPoolBuilder::new().num_threads(3).build().unwrap();
        let states: Vec<Checkpoint> = pool.install(|| variants.iter().map(|&o| cpu_state(o, &subset)).collect());
        for (o, s) in variants.iter().zip(&states).skip(1) {
            assert!(
                s == &states[0],
                "{} differs from {}",
                o.describe(),
                variants[0].describe()
            );
        }
        eprintln!("{rounding:?}: {} variants agree bit for bit", variants.len());
    }
}

/// Test accuracy after 4 epochs of the improved recipe on 6,000 images.
fn short_run_accuracy(compute: &Compute) -> f64 {
    let (train, test) = data();
    let (train, test) = (train.sample(6_000, 1), test.sample(2_000, 2));
    // The improved recipe decays the rate to zero, so each run ends settled rather than at a
    // random point of a noisy path: the two runs' accuracies compare, not their luck.
    let config = TrainConfig {
        epochs: 4,
        learning_rate: 0.003,
        ..TrainConfig::improved()
    };
    let mut engine = pollster::block_on(Engine::start(&config, &train, &test, compute, None)).unwrap();
    while !engine.is_finished() {
        pollster::block_on(engine.run(50)).unwrap();
    }
    pollster::block_on(engine.evaluate()).unwrap().accuracy
}

#[test]
fn a_short_run_reaches_the_reference_accuracy() {
    let reference = short_run_accuracy(&reference());
    let mut engines = vec![("cpu", Compute::Cpu(CpuOptions::best()))];
    #[cfg(feature = "gpu")]
    engines.push(("gpu", gpu()));
    assert!(reference > 0.75, "{reference}");
    for (name, compute) in engines {
        let accuracy = short_run_accuracy(&compute);
        eprintln!("4 epochs on 6,000 images: burn's autodiff {reference:.4}, {name} {accuracy:.4}");
        assert!(
            (accuracy - reference).abs() <= 0.005,
            "{name} {accuracy} vs reference {reference}"
        );
    }
}

#[cfg(feature = "gpu")]
#[test]
fn a_gpu_run_resumes_from_its_checkpoint_within_float_rounding() {
    let (train, _) = data();
    let device = gpu();
    let train = train.sample(640, 4);
    let test = train.take(1);
    let config = TrainConfig {
        epochs: 4,
        batch_size: 64,
        ..TrainConfig::improved()
    };
    let run = |engine: &mut Engine| {
        while !engine.is_finished() {
            pollster::block_on(engine.run(3)).unwrap();
        }
        pollster::block_on(engine.checkpoint(None)).unwrap()
    };
    let whole = run(&mut pollster::block_on(Engine::start(&config, &train, &test, &device, None)).unwrap());
    // The same run stopped after epoch 2 (chunks of another size), saved, read back, resumed.
    let mut first = pollster::block_on(Engine::start(&config, &train, &test, &device, None)).unwrap();
    while first.position().epoch < 2 {
        pollster::block_on(first.run(4)).unwrap();
    }
    let bytes = pollster::block_on(first.checkpoint(None))
        .unwrap()
        .to_bytes(Default::default())
        .unwrap();
    let checkpoint = Checkpoint::from_bytes(&bytes).unwrap();
    let resumed =
        run(&mut pollster::block_on(Engine::start(&config, &train, &test, &device, Some(&checkpoint))).unwrap());
    for ((name, _, a), (_, _, b)) in whole.weights.tensors.iter().zip(&resumed.weights.tensors) {
        let gap = a.iter().zip(b).fold(0f32, |m, (x, y)| m.max((x - y).abs()));
        assert!(gap <= 1e-5, "{name}: {gap}");
    }
}

#[cfg(feature = "gpu")]
#[test]
fn a_gpu_run_queuing_chunks_ahead_trains_the_same_bits() {
    let (train, _) = data();
    let device = gpu();
    // 10 batches an epoch in chunks of 3: queued chunks cross every epoch's end.
    let train = train.sample(640, 4);
    let test = train.take(50);
    let config = TrainConfig {
        epochs: 3,
        batch_size: 64,
        ..TrainConfig::improved()
    };
    let run = |ahead: bool| {
        let mut engine = pollster::block_on(Engine::start(&config, &train, &test, &device, None)).unwrap();
        if ahead {
            engine.queue_ahead();
        }
        let (mut chunks, mut epoch_ends) = (Vec::new(), Vec::new());
        while !engine.is_finished() {
            let chunk = pollster::block_on(engine.run(3)).unwrap();
            if chunk.epoch_finished {
                let eval = pollster::block_on(engine.evaluate()).unwrap();
                epoch_ends.push((pollster::block_on(engine.checkpoint(None)).unwrap(), eval.loss));
            }
            chunks.push(chunk);
        }
        (chunks, epoch_ends)
    };
    let (one_at_a_time, ahead) = (run(false), run(true));
    assert_eq!(one_at_a_time.0.len(), 12);
    assert_eq!(one_at_a_time.0, ahead.0, "chunk reports");
    assert_eq!(one_at_a_time.1.len(), 3);
    assert!(
        one_at_a_time.1 == ahead.1,
        "the state and evaluation at each epoch's end"
    );
}

/// Hands gradients to the other thread and adds its in, as the page's two workers do through
/// shared memory.
struct Channel {
    to: std::sync::mpsc::Sender<Vec<f32>>,
    from: std::sync::mpsc::Receiver<Vec<f32>>,
}

impl fashion_mlp::train::cpu::Exchange for Channel {
    fn add_others(&mut self, grads: &mut [f32]) -> Result<(), String> {
        self.to.send(grads.to_vec()).map_err(|e| e.to_string())?;
        let other = self.from.recv().map_err(|e| e.to_string())?;
        grads.iter_mut().zip(other).for_each(|(g, o)| *g += o);
        Ok(())
    }
}

#[test]
fn two_workers_sharing_batches_train_what_one_computing_both_shards_trains() {
    use fashion_mlp::train::cpu::Partner;
    let (train, _) = data();
    let subset = train.sample(700, 6);
    let config = TrainConfig { epochs: 2, ..busy(100) };
    let options = CpuOptions {
        shards: 2,
        ..CpuOptions::best()
    };
    let run = |compute: Compute, data: &Dataset| {
        let mut engine = pollster::block_on(Engine::start(&config, data, &data.take(1), &compute, None)).unwrap();
        while !engine.is_finished() {
            pollster::block_on(engine.run(3)).unwrap();
        }
        pollster::block_on(engine.checkpoint(None)).unwrap()
    };
    let local = run(Compute::Cpu(options), &subset);
    // Each worker in a thread of its own (a link is not shared between threads).
    let results: Vec<Checkpoint> = std::thread::scope(|s| {
        let (a_to, b_from) = std::sync::mpsc::channel();
        let (b_to, a_from) = std::sync::mpsc::channel();
        let handles: Vec<_> = [(0usize, a_to, a_from), (1, b_to, b_from)]
            .into_iter()
            .map(|(index, to, from)| {
                let (subset, config) = (&subset, &config);
                s.spawn(move || {
                    let link = std::rc::Rc::new(std::cell::RefCell::new(Channel { to, from }));
                    let compute = Compute::CpuShard(options, Partner { index, link });
                    let mut engine =
                        pollster::block_on(Engine::start(config, subset, &subset.take(1), &compute, None)).unwrap();
                    while !engine.is_finished() {
                        pollster::block_on(engine.run(3)).unwrap();
                    }
                    pollster::block_on(engine.checkpoint(None)).unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(results[0] == results[1], "the two workers hold the same model");
    assert!(
        results[0] == local,
        "two workers train what one computing both shards trains"
    );
    // And that is the unsharded run up to the order of the sums.
    let whole = run(Compute::Cpu(CpuOptions::best()), &subset);
    let mut suspect = Vec::new();
    compare(0, config.learning_rate, &whole, &local, &mut suspect);
}
