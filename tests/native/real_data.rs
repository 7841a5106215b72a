//! Facts about the real Fashion-MNIST files the setup installs.

use fashion_mlp::data::Dataset;
use fashion_mlp::data::dataset::Split;

#[test]
fn train_and_test_sizes_and_balance() {
    let (train, test) = (crate::real(Split::Train), crate::real(Split::Test));
    assert_eq!(train.len(), 60_000);
    assert_eq!(test.len(), 10_000);
    assert_eq!(train.class_counts(), [6_000; 10]);
    assert_eq!(test.class_counts(), [1_000; 10]);
    assert_eq!(train.pixels().len(), 60_000 * 784);
    // Images are light objects on a black background: corners are dark, the middle is not.
    let mean = |idx: usize| {
        train
            .labels()
            .iter()
            .enumerate()
            .map(|(i, _)| train.image(i).unwrap()[idx] as f64)
            .sum::<f64>()
            / 60_000.0
    };
    assert!(mean(0) < 5.0, "corner mean {}", mean(0));
    assert!(mean(14 * 28 + 14) > 80.0, "centre mean {}", mean(14 * 28 + 14));
}

#[test]
fn kaggle_csv_of_real_images_matches_idx() {
    let test = crate::real(Split::Test).take(50);
    let text = fashion_mlp::data::csv::encode(test.pixels(), test.labels());
    let back = Dataset::from_csv("fashion-mnist_test.csv", text.as_bytes()).unwrap();
    assert_eq!(back, test);
}
