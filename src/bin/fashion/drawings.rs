//! `fashion drawings`: a drawing set made of dataset images drawn as a person draws them on the
//! pad and read through the pad's preprocessing (what the page keeps for a labelled drawing), a
//! seeded choice of `--per-class` images of each class. For measuring teaching without a person.

use fashion_mlp::data::dataset::{Split, shuffled_indices};
use fashion_mlp::data::{Dataset, NUM_CLASSES};
use fashion_mlp::drawings::as_drawing_bytes;
use fashion_mlp::teach::{UserDrawing, UserSet};

use crate::cli::DrawingsArgs;
use crate::common;

pub fn run(args: DrawingsArgs) -> Result<(), String> {
    let split = if args.from_test { Split::Test } else { Split::Train };
    let data = Dataset::load_idx_dir(&args.data_dir, split).map_err(|e| e.to_string())?;
    let mut taken = [0usize; NUM_CLASSES];
    let mut set = UserSet::default();
    for i in shuffled_indices(data.len(), args.seed) {
        let i = i as usize;
        let label = data.labels()[i];
        if taken[label as usize] >= args.per_class {
            continue;
        }
        let Some(pixels) = data
            .image(i)
            .and_then(|image| as_drawing_bytes(image, args.rendering, true))
        else {
            continue;
        };
        taken[label as usize] += 1;
        set.drawings.push(UserDrawing {
            label,
            pixels,
            strokes: Vec::new(),
            brush: None,
        });
        if taken.iter().all(|&n| n >= args.per_class) {
            break;
        }
    }
    common::write_atomically(&args.out, &set.to_json())?;
    eprintln!("{} drawings written to {}", set.len(), args.out.display());
    Ok(())
}
