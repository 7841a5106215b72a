//! burn's autodiff as a training engine (feature `ml`): the reference the fused CPU and GPU
//! engines are tested against, on any burn device. `trainer` is the engine, `state` its optimiser
//! state as burn tensors, `device_set` a labelled set uploaded to a burn device and `eval`
//! evaluation and prediction with a burn model.

pub mod device_set;
pub mod eval;
pub mod state;
pub mod trainer;

pub use device_set::DeviceSet;
pub use trainer::Trainer;
