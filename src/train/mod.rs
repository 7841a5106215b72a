//! Training, by job: `config` (what defines a run, and the named recipes), `init` (a new run's
//! weights), `cursor` (where a run stands and what its batches measured), `augment` (a batch as
//! the model sees it), `adam` and `average` (the update every engine applies), `layout` (the
//! packed buffers of the fused engines and a run's state in them), `checkpoint` (a run's full
//! state in one file), the engines (`cpu`, `gpu`, `autodiff`) and `engine` (the one a run gets),
//! `race` (Auto's measurement), `chunking` (how a run is cut into chunks), `session` (a whole run
//! as a stream of typed events, which the worker and the CLI drive) and `events` (those events).

pub mod adam;
pub mod augment;
#[cfg(feature = "ml")]
pub mod autodiff;
pub mod average;
pub mod checkpoint;
pub mod chunking;
pub mod config;
pub mod cpu;
pub mod cursor;
pub mod engine;
pub mod events;
#[cfg(feature = "gpu")]
pub mod gpu;
pub mod init;
pub mod layout;
pub mod race;
pub mod session;

pub use checkpoint::Checkpoint;
pub use config::{LrSchedule, Recipe, TrainConfig};
pub use cursor::{Chunk, Position, TrainStats};
pub use engine::{Compute, Engine, EngineKind};
