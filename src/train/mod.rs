//! Training, by job: `config` (what defines a run, and the named recipes), `device_set` (the
//! data on the compute device), `adam` (the optimiser, whose state the run owns), `trainer` (the
//! resumable state machine on burn's autodiff), `cursor` (where a run stands and what its batches
//! measured, shared by every engine), `engine` (the trainer a device gets: burn's autodiff, or
//! the fused GPU step), `checkpoint` (a run's full state in one file), `session` (a whole run as
//! a stream of typed events, which the worker and the CLI drive) and `events` (those events).

pub mod adam;
pub mod augment;
pub mod average;
pub mod checkpoint;
pub mod chunking;
pub mod config;
pub mod cursor;
pub mod device_set;
pub mod engine;
pub mod events;
pub mod race;
pub mod session;
pub mod trainer;

pub use checkpoint::Checkpoint;
pub use config::{LrSchedule, Recipe, TrainConfig};
pub use device_set::DeviceSet;
pub use engine::Engine;
pub use cursor::{Chunk, Position, TrainStats};
pub use trainer::Trainer;
