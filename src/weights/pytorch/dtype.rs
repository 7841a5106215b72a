//! Element types of torch storages and safetensors tensors, and their conversion to f32.

use half::{bf16, f16};

/// The element type of a storage or tensor.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum DType {
    F32,
    F64,
    F16,
    BF16,
    /// A type this reader does not convert: its torch name and element size (the size is still
    /// needed to step over the storage in a legacy file).
    Other(&'static str, usize),
    /// `torch.UntypedStorage`: bytes whose type the tensor gives (`_rebuild_tensor_v3`).
    Untyped,
}

impl DType {
    /// The element type of `torch.<name>`, a typed storage class.
    pub(super) fn from_storage_class(name: &str) -> Option<Self> {
        Some(match name {
            "FloatStorage" => Self::F32,
            "DoubleStorage" => Self::F64,
            "HalfStorage" => Self::F16,
            "BFloat16Storage" => Self::BF16,
            "LongStorage" => Self::Other("int64", 8),
            "IntStorage" => Self::Other("int32", 4),
            "ShortStorage" => Self::Other("int16", 2),
            "CharStorage" => Self::Other("int8", 1),
            "ByteStorage" => Self::Other("uint8", 1),
            "BoolStorage" => Self::Other("bool", 1),
            "ComplexFloatStorage" => Self::Other("complex64", 8),
            "ComplexDoubleStorage" => Self::Other("complex128", 16),
            "UntypedStorage" => Self::Untyped,
            _ => return None,
        })
    }

    /// The element type of `torch.<name>`, a dtype object (`torch.float32`...).
    pub(super) fn from_dtype_name(name: &str) -> Option<Self> {
        Some(match name {
            "float32" | "float" => Self::F32,
            "float64" | "double" => Self::F64,
            "float16" | "half" => Self::F16,
            "bfloat16" => Self::BF16,
            "int64" | "long" => Self::Other("int64", 8),
            "int32" | "int" => Self::Other("int32", 4),
            "int16" | "short" => Self::Other("int16", 2),
            "int8" => Self::Other("int8", 1),
            "uint8" => Self::Other("uint8", 1),
            "bool" => Self::Other("bool", 1),
            _ => return None,
        })
    }

    /// Bytes per element (an untyped storage is counted in bytes).
    pub(super) fn size(self) -> usize {
        match self {
            Self::F32 => 4,
            Self::F64 => 8,
            Self::F16 | Self::BF16 => 2,
            Self::Other(_, size) => size,
            Self::Untyped => 1,
        }
    }
}

/// Little-endian elements of a supported type as f32 (f64 rounds to nearest).
pub(super) fn to_f32(dtype: DType, bytes: &[u8]) -> Vec<f32> {
    match dtype {
        DType::F32 => bytes
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect(),
        DType::F64 => bytes
            .chunks_exact(8)
            .map(|c| f64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]) as f32)
            .collect(),
        // Exact: every f16 and every bf16 is an f32.
        DType::F16 => bytes
            .chunks_exact(2)
            .map(|c| f16::from_bits(u16::from_le_bytes([c[0], c[1]])).to_f32())
            .collect(),
        DType::BF16 => bytes
            .chunks_exact(2)
            .map(|c| bf16::from_bits(u16::from_le_bytes([c[0], c[1]])).to_f32())
            .collect(),
        DType::Other(..) | DType::Untyped => Vec::new(),
    }
}
