//! Training, by job: `config` (what defines a run, and the named recipes), `device_set` (the
//! data on the compute device), `adam` (the optimiser, whose state the run owns), `trainer` (the
//! resumable state machine on burn's autodiff), `cursor` (where a run stands and what its batches
//! measured, shared by every engine), `engine` (the trainer a device gets: burn's autodiff, or
//! the fused GPU step), `checkpoint` (a run's full state in one file), `session` (a whole run as
//! a stream of typed events, which the worker and the CLI drive) and `events` (those events).

#[cfg(feature = "ml")]
pub mod adam;
#[cfg(feature = "ml")]
pub mod augment;
#[cfg(feature = "ml")]
pub mod average;
#[cfg(feature = "ml")]
pub mod checkpoint;
#[cfg(feature = "ml")]
pub mod chunking;
pub mod config;
#[cfg(feature = "ml")]
pub mod cursor;
#[cfg(feature = "ml")]
pub mod device_set;
#[cfg(feature = "ml")]
pub mod engine;
#[cfg(feature = "ml")]
pub mod events;
#[cfg(feature = "ml")]
pub mod race;
#[cfg(feature = "ml")]
pub mod session;
#[cfg(feature = "ml")]
pub mod trainer;

#[cfg(feature = "ml")]
pub use checkpoint::Checkpoint;
pub use config::{LrSchedule, Recipe, TrainConfig};
#[cfg(feature = "ml")]
pub use device_set::DeviceSet;
#[cfg(feature = "ml")]
pub use engine::Engine;
#[cfg(feature = "ml")]
pub use cursor::{Chunk, Position, TrainStats};
#[cfg(feature = "ml")]
pub use trainer::Trainer;
