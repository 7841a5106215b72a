//! Teaching the model the user's way of drawing: their labelled drawings (`user_set`), and
//! fine-tuning on them with a replay of Fashion-MNIST, measured before and after (`teacher`).
//! Plain Rust on any engine: the page's worker and `fashion finetune` run the same code.

pub mod teacher;
pub mod user_set;

pub use teacher::{Taught, TeachEvent, TeachOptions, TeachReport, Teacher};
pub use user_set::{Strokes, UserDrawing, UserSet};
