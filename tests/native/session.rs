//! A training session as the shells drive it, on real data: the order of its events, chunk
//! sizing by the clock, pause/resume/stop, and a run resumed from its checkpoint event ending
//! bit for bit where an uninterrupted one ends.

use std::cell::Cell;
use std::rc::Rc;

use fashion_mlp::data::Dataset;
use fashion_mlp::data::dataset::Split;
use fashion_mlp::train::chunking::ChunkPolicy;
use fashion_mlp::train::session::{Clock, Event, RunState, Session, SessionSetup};
use fashion_mlp::train::{Checkpoint, TrainConfig};

fn data() -> (Dataset, Dataset) {
    (crate::real(Split::Train), crate::real(Split::Test))
}

/// A clock that moves `step` ms every time it is read.
fn ticking(step: f64) -> (Clock, Rc<Cell<f64>>) {
    let now = Rc::new(Cell::new(0.0));
    let n = now.clone();
    (
        Box::new(move || {
            n.set(n.get() + step);
            n.get()
        }),
        now,
    )
}

fn config(epochs: usize) -> TrainConfig {
    TrainConfig {
        epochs,
        batch_size: 64,
        ..TrainConfig::improved()
    }
}

fn start(setup: SessionSetup, policy: ChunkPolicy, clock: Clock) -> Session {
    let (train, test) = data();
    let compute = fashion_mlp::train::Compute::Cpu(fashion_mlp::train::cpu::CpuOptions::best());
    pollster::block_on(Session::start(setup, &train, &test, &compute, policy, clock)).unwrap()
}

fn drain(session: &mut Session) -> Vec<Event> {
    let mut all = Vec::new();
    while session.state().is_live() {
        all.extend(pollster::block_on(session.advance()));
    }
    all
}

fn name(e: &Event) -> &'static str {
    match e {
        Event::Started(_) => "started",
        Event::Progress(_) => "progress",
        Event::Epoch(_) => "epoch",
        Event::Checkpoint(_) => "checkpoint",
        Event::Paused => "paused",
        Event::Resumed => "resumed",
        Event::Stopped { .. } => "stopped",
        Event::Finished { .. } => "finished",
        Event::Failed(_) => "failed",
    }
}

#[test]
fn a_run_reports_in_order_and_chunks_follow_the_clock() {
    let setup = SessionSetup {
        config: config(2),
        train_limit: Some(1_280),
        test_limit: Some(300),
        watch: vec![5, 9_999, 12_345],
        ..SessionSetup::default()
    };
    let (clock, _) = ticking(10.0);
    let mut session = start(setup, ChunkPolicy::INTERACTIVE, clock);
    let events = drain(&mut session);
    let names: Vec<&str> = events.iter().map(name).filter(|n| *n != "progress").collect();
    assert_eq!(
        names,
        ["started", "epoch", "checkpoint", "epoch", "checkpoint", "finished"]
    );
    assert_eq!(name(&events[1]), "progress", "a chunk comes before any report");
    let Event::Started(s) = &events[0] else { unreachable!() };
    assert_eq!(
        (s.train, s.test, s.batches_per_epoch, s.epoch, s.epochs),
        (1_280, 300, 20, 0, 2)
    );
    // Each chunk's clock reads 10 ms apart, so: 2 batches first, then 150 ms / (10 ms / 2) = 30,
    // cut at the epoch's end (18 left); the next epoch starts from the last measured rate.
    let batches: Vec<usize> = events
        .iter()
        .filter_map(|e| match e {
            Event::Progress(p) => Some(p.batch),
            _ => None,
        })
        .collect();
    assert_eq!(batches, [2, 20, 20]);
    let reports: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            Event::Epoch(r) => Some(r),
            _ => None,
        })
        .collect();
    assert_eq!(reports.len(), 2);
    for r in &reports {
        assert_eq!(r.confusion.iter().flatten().sum::<u32>(), 300);
        assert_eq!(
            r.watched_predictions.len(),
            2,
            "the out-of-range watch index is dropped"
        );
        fashion_mlp::weights::from_bytes(&r.weights, &fashion_mlp::backend::cpu()).unwrap();
    }
    assert!(
        reports[1].test_accuracy > 0.4,
        "it learns: {}",
        reports[1].test_accuracy
    );
    let Some(Event::Finished {
        epoch: 2,
        test_accuracy,
    }) = events.last()
    else {
        panic!("{:?}", events.last().map(name))
    };
    assert_eq!(*test_accuracy, reports[1].test_accuracy);
}

#[test]
fn pause_resume_and_stop() {
    let setup = SessionSetup {
        config: config(3),
        train_limit: Some(2_000),
        test_limit: Some(100),
        ..SessionSetup::default()
    };
    // 100 ms per clock read: after the first chunk of 3, chunks of round(150 / (100 / 3)) = 5.
    let (clock, _) = ticking(100.0);
    let mut session = start(
        setup,
        ChunkPolicy {
            first: 3,
            ..ChunkPolicy::INTERACTIVE
        },
        clock,
    );
    assert_eq!(name(&pollster::block_on(session.advance())[0]), "started");
    assert_eq!(name(&pollster::block_on(session.advance())[0]), "progress");
    assert_eq!(session.pause().as_ref().map(name), Some("paused"));
    assert!(session.pause().is_none(), "pausing twice says nothing");
    assert!(
        pollster::block_on(session.advance()).is_empty(),
        "nothing trains while paused"
    );
    assert_eq!(session.engine().position().steps, 3);
    assert_eq!(session.resume().as_ref().map(name), Some("resumed"));
    let next = pollster::block_on(session.advance());
    assert!(
        matches!(&next[0], Event::Progress(p) if p.steps == 8),
        "{:?}",
        next.first().map(name)
    );
    match session.stop() {
        Some(Event::Stopped { epoch: 0 }) => {}
        other => panic!("{:?}", other.as_ref().map(name)),
    }
    assert_eq!(session.state(), RunState::Stopped);
    assert!(pollster::block_on(session.advance()).is_empty());
    assert!(session.resume().is_none() && session.stop().is_none());
}

#[test]
fn resuming_from_a_checkpoint_event_ends_where_an_uninterrupted_run_ends() {
    let whole_setup = SessionSetup {
        config: config(4),
        train_limit: Some(1_000),
        test_limit: Some(200),
        ..SessionSetup::default()
    };
    let mut whole = start(whole_setup.clone(), ChunkPolicy::INTERACTIVE, ticking(3.0).0);
    let last = |events: &[Event]| {
        events
            .iter()
            .rev()
            .find_map(|e| match e {
                Event::Checkpoint(c) => Some(c.bytes.clone()),
                _ => None,
            })
            .unwrap()
    };
    let uninterrupted = Checkpoint::from_bytes(&last(&drain(&mut whole))).unwrap();

    // Stop after epoch 2 (chunks of a different size: they must not matter), then resume.
    let mut first = start(
        whole_setup.clone(),
        ChunkPolicy {
            first: 5,
            ..ChunkPolicy::INTERACTIVE
        },
        ticking(7.0).0,
    );
    let mut saved = None;
    while saved.is_none() {
        for e in pollster::block_on(first.advance()) {
            if let Event::Checkpoint(c) = e
                && c.epoch == 2
            {
                saved = Some(c.bytes);
            }
        }
    }
    assert!(matches!(first.stop(), Some(Event::Stopped { epoch: 2 })));
    let checkpoint = Checkpoint::from_bytes(&saved.unwrap()).unwrap();
    let resume_setup = SessionSetup {
        resume: Some(checkpoint),
        // The checkpoint's own settings and subset win over these.
        config: config(9),
        train_limit: None,
        ..whole_setup
    };
    let mut resumed = start(resume_setup, ChunkPolicy::INTERACTIVE, ticking(3.0).0);
    let events = drain(&mut resumed);
    let Event::Started(s) = &events[0] else { unreachable!() };
    assert_eq!((s.epoch, s.epochs, s.train), (2, 4, 1_000));
    let end = Checkpoint::from_bytes(&last(&events)).unwrap();
    assert_eq!(end.epoch, 4);
    assert_eq!(end.weights.tensors, uninterrupted.weights.tensors, "weights differ");
    assert_eq!(end.moments, uninterrupted.moments, "optimiser state differs");
}
