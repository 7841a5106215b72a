//! PyTorch weights from bytes, the same way natively and in the browser.
//!
//! burn-store's PyTorch reader only opens paths (`File::open`), which a wasm32 page cannot do, and
//! the other Rust pickle readers either cannot load torch's persistent storages or pull in a whole
//! tensor library. What a state_dict needs is small, so it is done here:
//!
//! - `read` turns a `torch.save` file (the zip container of PyTorch >= 1.6, or the legacy stream
//!   before it) or a safetensors file into `(PyTorch name, shape, f32 values)` triples. A small
//!   pickle machine runs `data.pkl`; it builds data only and never calls anything, so a hostile
//!   file can at worst be refused. Every length is checked against the bytes actually present
//!   before anything is allocated, and the machine's stack, memo and object count are bounded.
//! - `to_model_layers` maps the usual namings of this MLP (`0.weight`, `fc1.weight`,
//!   `model.layers.3.bias`...) onto burn's `layers.{i}.weight` (transposed to `[in, out]`) and
//!   `layers.{i}.bias`, or says in words what does not fit.
//! - `export` is the inverse mapping: burn's names and layout to an `nn.Sequential` state_dict.
//!
//! Files: `zip` and `legacy` (the two torch.save containers), `pickle` (the machine), `values`
//! (what it builds), `opcodes` (the opcode bytes and their names), `tensors` (from its result
//! to named tensors), `dtype` (element types to f32), `naming` (PyTorch names <-> the model's
//! layers), `tests`.

use safetensors::{Dtype, SafeTensors};

use super::NamedTensor;
use crate::error::{WeightsError, clip};

/// A `data.pkl` larger than this is not the state_dict of a model this size (the fixtures' are
/// about 2 KB, a whole pickled module a few KB); the bound keeps a hostile archive from making
/// the machine chew on gigabytes.
const MAX_PICKLE_BYTES: usize = 16 << 20;
/// Bounds on the pickle machine. A real state_dict uses a few entries and about six objects per
/// tensor; 2^19 objects (tens of MB natively) hold far more tensors than `MAX_TENSORS`.
const MAX_STACK: usize = 1 << 20;
const MAX_MEMO: usize = 1 << 20;
const MAX_OBJECTS: usize = 1 << 19;
/// How deep nested dicts and modules are followed, and how many values are visited in all
/// (shared references can make a small pickle describe an exponentially large tree).
const MAX_DEPTH: usize = 32;
const MAX_VISITS: usize = 1 << 20;
/// Values the pickle machine may build or copy in all: one per byte of the pickle (a real
/// state_dict's pickle builds about one value per opcode) plus a floor for small files, and
/// never more than `MAX_WORK` (each value kept costs tens of bytes, so this bounds memory
/// whatever the pickle's size). Counts what objects and the stack cannot: a tuple copied into
/// every call that reuses it, and a string hashed or copied (a dict key, a class name, a
/// storage key) as one value per `STRING_BYTES_PER_VALUE` bytes each time.
const WORK_PER_BYTE: usize = 1;
const MIN_WORK: usize = 1 << 20;
const MAX_WORK: usize = 1 << 21;
const STRING_BYTES_PER_VALUE: usize = 16;
/// Steps the walk to the tensors may take in all: every entry looked at (skipped ones too, and
/// shared containers each time they are reached) and every byte of every name it builds.
const MAX_WALK_WORK: usize = 1 << 24;
/// Most tensors returned, and most dimensions per tensor.
const MAX_TENSORS: usize = 100_000;
const MAX_DIMS: usize = 16;
/// Most f32 values returned in all, whatever the file says (1 GiB of f32).
const MAX_ELEMENTS: usize = 1 << 28;
/// Most bytes one deflated zip entry may inflate to (torch never compresses; see `entry_data`).
/// The reference model's whole state_dict is under 1 MB; this allows models far wider than it
/// while keeping a hostile entry below what the largest real data file (47 MB) needs.
const MAX_INFLATED: usize = 64 << 20;
/// Calls nested inside calls (`_rebuild_from_type_v2` wraps `_rebuild_tensor_v2`).
const MAX_CALL_DEPTH: usize = 4;

/// The first pickle of a legacy (pre-1.6) `torch.save` file is this integer (LONG1, 10 bytes,
/// little-endian): `0x1950a86a20f9469cfc6c`.
const LEGACY_MAGIC: [u8; 10] = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];
/// The second pickle of a legacy file: the only protocol version torch ever wrote.
const LEGACY_PROTOCOL: i64 = 1001;

/// Internal results carry a plain message; `read` prefixes the file name and wraps it.
type Res<T> = Result<T, String>;

mod dtype;
mod legacy;
mod naming;
mod opcodes;
mod pickle;
mod tensors;
#[cfg(test)]
mod tests;
mod values;
mod zip;

use dtype::{DType, to_f32};
use legacy::read_legacy;
use zip::read_torch_zip;

pub use naming::{check_widths, export, to_model_layers, widths};

/// Reads every tensor of a PyTorch weights file held in `bytes` (`name` is only used in
/// messages): `(PyTorch name, shape, values as f32)`, in the file's order.
///
/// Accepted: `torch.save` zip files (`.pt`/`.pth`, PyTorch >= 1.6), the legacy `torch.save`
/// stream (`_use_new_zipfile_serialization=False` or PyTorch < 1.6), and safetensors. The file
/// may hold a state_dict, a checkpoint dict with the state_dict under `state_dict` or
/// `model_state_dict`, other nested dicts of tensors (names joined with dots), or a whole pickled
/// `nn.Module` (its parameters and persistent buffers, named as `state_dict()` names them).
/// Storages may be float32, float64, float16 or bfloat16; tensors must be contiguous.
pub fn read(name: &str, bytes: &[u8]) -> Result<Vec<NamedTensor>, WeightsError> {
    let mut budget = element_budget(bytes.len());
    let result = if bytes.is_empty() {
        Err("the file is empty".to_string())
    } else if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
        read_torch_zip(bytes, &mut budget)
    } else if looks_like_safetensors(bytes) {
        read_safetensors(bytes, &mut budget)
    } else if bytes.first() == Some(&opcodes::PROTO) {
        // A bare pickle stream, which is what the legacy format is.
        read_legacy(bytes, &mut budget)
    } else if bytes.get(257..262) == Some(&b"ustar"[..]) {
        Err(
            "saved in the tar format of PyTorch before 0.1.10; load it with PyTorch and re-save it with \
             torch.save(model.state_dict(), path)"
                .to_string(),
        )
    } else {
        Err(format!(
            "not a PyTorch (.pt, .pth) or safetensors file: it starts with the bytes {}",
            hex_prefix(bytes)
        ))
    };
    result.map_err(|e| WeightsError::Format(format!("{name}: {e}")))
}

/// How many f32 values a file of `len` bytes may produce. Tensors can share one storage, so
/// without a budget a small file could ask for the same megabyte a million times over. A real
/// file yields at most `len / 2` values (float16), a few more with tied weights.
fn element_budget(len: usize) -> usize {
    len.saturating_mul(2).clamp(1 << 16, MAX_ELEMENTS)
}

fn hex_prefix(bytes: &[u8]) -> String {
    let shown: Vec<String> = bytes.iter().take(8).map(|b| format!("{b:02x}")).collect();
    shown.join(" ")
}

/// safetensors: an 8-byte little-endian header length, then a JSON header starting with `{`.
fn looks_like_safetensors(bytes: &[u8]) -> bool {
    let Some(len) = u64_at(bytes, 0) else {
        return false;
    };
    let fits = usize::try_from(len).is_ok_and(|len| len <= bytes.len() - 8);
    fits && bytes.get(8) == Some(&b'{')
}

// ---------------------------------------------------------------------------------------------
// Little-endian fields at fixed offsets, `None` past the end (hostile offsets never panic).

fn array_at<const N: usize>(data: &[u8], at: usize) -> Option<[u8; N]> {
    data.get(at..at.checked_add(N)?)?.try_into().ok()
}

fn u16_at(data: &[u8], at: usize) -> Option<u16> {
    array_at(data, at).map(u16::from_le_bytes)
}

fn u32_at(data: &[u8], at: usize) -> Option<u32> {
    array_at(data, at).map(u32::from_le_bytes)
}

fn u64_at(data: &[u8], at: usize) -> Option<u64> {
    array_at(data, at).map(u64::from_le_bytes)
}

// ---------------------------------------------------------------------------------------------
// safetensors

fn read_safetensors(bytes: &[u8], budget: &mut usize) -> Res<Vec<NamedTensor>> {
    crate::weights::safetensors_header_fits(bytes)?;
    let invalid = |e: safetensors::SafeTensorError| format!("not a valid safetensors file: {e}");
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(invalid)?;
    let file = SafeTensors::deserialize(bytes).map_err(invalid)?;
    let mut out = Vec::new();
    // The header is a JSON object (unordered); the data offsets give a stable order.
    for name in header.offset_keys() {
        let view = file.tensor(&name).map_err(invalid)?;
        let dtype = match view.dtype() {
            Dtype::F32 => DType::F32,
            Dtype::F64 => DType::F64,
            Dtype::F16 => DType::F16,
            Dtype::BF16 => DType::BF16,
            other => {
                return Err(format!(
                    "{name} holds {other:?} values; only F32, F64, F16 and BF16 tensors can be read"
                ));
            }
        };
        let values = to_f32(dtype, view.data());
        spend(budget, values.len(), &name)?;
        out.push((name, view.shape().to_vec(), values));
    }
    if out.is_empty() {
        return Err("the safetensors file holds no tensors".into());
    }
    Ok(out)
}

fn spend(budget: &mut usize, elements: usize, name: &str) -> Res<()> {
    *budget = budget.checked_sub(elements).ok_or_else(|| {
        format!(
            "{}: its {elements} values are more than the {} left of what a file this size can hold \
             (two values per byte of the file, at most {MAX_ELEMENTS} in all)",
            clip(name),
            *budget
        )
    })?;
    Ok(())
}
