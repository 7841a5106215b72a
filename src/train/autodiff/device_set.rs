//! A labelled set uploaded to a device once; batches are gathered there.

use burn::tensor::{Device, Int, Tensor, TensorData};

use crate::data::{Dataset, IMAGE_PIXELS};

/// A labelled set on a compute device.
///
/// On a GPU the pixels stay bytes, four to an integer, so the full training set is 47 MB on the
/// device instead of 188 MB of f32 (WebGPU caps a storage binding at 128 MB by default), and a batch
/// is unpacked after gathering. On the CPU memory is plentiful and every op costs per-call
/// overhead, so the pixels are stored as f32 once and a batch is a single gather.
pub struct DeviceSet {
    pixels: Pixels,
    pub y: Tensor<1, Int>,
    pub labels: Vec<u8>,
}

enum Pixels {
    Packed(Tensor<2, Int>),
    Float(Tensor<2>),
}

/// Pixels per packed integer.
const BYTES_PER_WORD: usize = 4;
const WORDS_PER_IMAGE: usize = IMAGE_PIXELS / BYTES_PER_WORD;

impl DeviceSet {
    pub fn upload(data: &Dataset, device: &Device) -> Self {
        let n = data.len();
        let pixels = if crate::backend::is_cpu(device) {
            Pixels::Float(Tensor::from_data(
                TensorData::new(data.scaled_pixels(), [n, IMAGE_PIXELS]),
                device,
            ))
        } else {
            Pixels::Packed(Tensor::from_data(
                TensorData::new(pack_pixels(data.pixels()), [n, WORDS_PER_IMAGE]),
                device,
            ))
        };
        let labels: Vec<i64> = data.labels().iter().map(|&l| l as i64).collect();
        Self {
            pixels,
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
        match &self.pixels {
            Pixels::Packed(words) => unpack(words.clone().select(0, indices)),
            Pixels::Float(x) => x.clone().select(0, indices),
        }
    }

    /// Images `range`, as `[n, 784]` floats in [0, 1].
    pub fn rows(&self, range: std::ops::Range<usize>) -> Tensor<2> {
        match &self.pixels {
            Pixels::Packed(words) => unpack(words.clone().slice(range)),
            Pixels::Float(x) => x.clone().slice(range),
        }
    }
}

/// Bytes -> little-endian words, four pixels each (the layout the GPU kernels read too).
pub fn pack_pixels(bytes: &[u8]) -> Vec<i32> {
    bytes
        .chunks_exact(BYTES_PER_WORD)
        .map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

/// `[n, 196]` little-endian packed bytes -> `[n, 784]` pixels scaled to [0, 1].
fn unpack(words: Tensor<2, Int>) -> Tensor<2> {
    let n = words.dims()[0];
    let bytes: Vec<Tensor<2, Int>> = (0..BYTES_PER_WORD as i64)
        .map(|k| words.clone().bitwise_right_shift_scalar(8 * k).bitwise_and_scalar(0xff))
        .collect();
    Tensor::<2, Int>::stack::<3>(bytes, 2)
        .reshape([n, IMAGE_PIXELS])
        .float()
        .div_scalar(255.0)
}
