//! The legacy torch.save stream (PyTorch < 1.6, or `_use_new_zipfile_serialization=False`):
//! five pickles in a row (magic number, protocol version, system info, the object, the storage
//! keys), then each storage in key order as a little-endian u64 element count and its bytes.

use std::collections::HashMap;
use std::rc::Rc;

use super::pickle::Machine;
use super::tensors::{materialize, select_tensors};
use super::values::Value;
use super::{LEGACY_MAGIC, LEGACY_PROTOCOL, Res, clip, u64_at};
use crate::weights::NamedTensor;

pub(super) fn read_legacy(data: &[u8], budget: &mut usize) -> Res<Vec<NamedTensor>> {
    let mut magic = Machine::new(data, 0, true);
    let first = magic.run();
    if !matches!(&first, Ok(Value::BigInt(bytes)) if bytes[..] == LEGACY_MAGIC) {
        return Err(
            "a Python pickle, but not one written by torch.save (no PyTorch magic number); \
                    save the weights with torch.save(model.state_dict(), path)"
                .into(),
        );
    }
    legacy_body(data, magic.pos, budget).map_err(|e| {
        format!(
            "saved with PyTorch's legacy format and could not be read: {e}; re-save it with \
             torch.save(model.state_dict(), path)"
        )
    })
}

pub(super) fn legacy_body(data: &[u8], start: usize, budget: &mut usize) -> Res<Vec<NamedTensor>> {
    let mut protocol = Machine::new(data, start, true);
    match protocol.run()? {
        Value::Int(LEGACY_PROTOCOL) => {}
        other => return Err(format!("unknown legacy protocol version {}", protocol.describe(&other))),
    }
    let mut info = Machine::new(data, protocol.pos, true);
    let sys_info = info.run()?;
    if let Some(dict) = info.dict(&sys_info)
        && matches!(dict.get("little_endian"), Some(Value::Bool(false)))
    {
        return Err("the tensors were saved on a big-endian machine; only little-endian files can be read".into());
    }
    let mut machine = Machine::new(data, info.pos, true);
    let top = machine.run()?;
    let wanted = select_tensors(&machine, &top)?;
    let mut keys_machine = Machine::new(data, machine.pos, true);
    let keys_value = keys_machine.run()?;
    let listed = keys_machine
        .items(&keys_value)
        .ok_or("the list of storage keys is missing")?;
    // Every storage takes at least its 8-byte count after the pickles, and each key is hashed
    // twice below: the keys' count and bytes are bounded by the file's size.
    let key_bytes: usize = listed
        .iter()
        .map(|k| match k {
            Value::Str(s) => s.len(),
            _ => 0,
        })
        .sum();
    if listed.len() > data.len() / 8 || key_bytes > data.len() {
        return Err(format!(
            "the list of storage keys names {} storages in {key_bytes} bytes of keys; a file of {} bytes holds at most {} storages and {} bytes of keys",
            listed.len(),
            data.len(),
            data.len() / 8,
            data.len()
        ));
    }
    let keys = listed
        .iter()
        .map(|k| match k {
            Value::Str(s) => Ok(s.clone()),
            other => Err(format!("a storage key is {}", keys_machine.describe(other))),
        })
        .collect::<Res<Vec<Rc<str>>>>()?;

    let mut at = keys_machine.pos;
    let mut storages: HashMap<Rc<str>, &[u8]> = HashMap::new();
    for key in keys {
        let dtype = machine
            .storage_types
            .get(&key)
            .copied()
            .ok_or_else(|| format!("storage {} is listed but no tensor names its type", clip(&key)))?;
        let count = u64_at(data, at).ok_or_else(|| format!("storage {} is cut short", clip(&key)))?;
        let length = usize::try_from(count)
            .ok()
            .and_then(|n| n.checked_mul(dtype.size()))
            .ok_or_else(|| format!("storage {} claims {count} elements", clip(&key)))?;
        let bytes = (at + 8)
            .checked_add(length)
            .and_then(|end| data.get(at + 8..end))
            .ok_or_else(|| format!("storage {} is cut short: the file is truncated", clip(&key)))?;
        storages.insert(key, bytes);
        at += 8 + length;
    }
    wanted
        .into_iter()
        .map(|(name, tensor)| {
            let bytes = storages
                .get(&tensor.storage)
                .ok_or_else(|| format!("{}: its storage {} is missing", clip(&name), clip(&tensor.storage)))?;
            materialize(name, &tensor, bytes, budget)
        })
        .collect()
}
