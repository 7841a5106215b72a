//! A labelled set uploaded to a burn device once, as floats in [0, 1]; batches are gathered there.

use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::data::{Dataset, IMAGE_PIXELS};

/// A labelled set on a burn device.
pub struct DeviceSet {
    pixels: Tensor<2>,
    pub y: Tensor<1, Int>,
    pub labels: Vec<u8>,
}

impl DeviceSet {
    pub fn upload(data: &Dataset, device: &Device) -> Self {
        let n = data.len();
        let labels: Vec<i64> = data.labels().iter().map(|&l| l as i64).collect();
        Self {
            pixels: Tensor::from_data(TensorData::new(data.scaled_pixels(), [n, IMAGE_PIXELS]), device),
            y: Tensor::from_data(TensorData::new(labels, [n]), device),
            labels: data.labels().to_vec(),
        }
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Images at `indices`, as `[n, 784]` floats in [0, 1].
    pub fn gather(&self, indices: Tensor<1, Int>) -> Tensor<2> {
        self.pixels.clone().select(0, indices)
    }

    /// Images `range`, as `[n, 784]` floats in [0, 1].
    pub fn rows(&self, range: std::ops::Range<usize>) -> Tensor<2> {
        self.pixels.clone().slice(range)
    }
}
