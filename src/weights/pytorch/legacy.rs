//! The legacy torch.save stream (PyTorch < 1.6, or `_use_new_zipfile_serialization=False`):
//! five pickles in a row (magic number, protocol version, system info, the object, the storage
//! keys), then each storage in key order as a little-endian u64 element count and its bytes.

use std::collections::HashMap;
use std::rc::Rc;

use super::pickle::Machine;
use super::tensors::{materialize, select_tensors};
use super::values::Value;
use super::{LEGACY_MAGIC, LEGACY_PROTOCOL, Res, u64_at};
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
    let keys = keys_machine
        .items(&keys_value)
        .ok_or("the list of storage keys is missing")?
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
            .ok_or_else(|| format!("storage {key} is listed but no tensor names its type"))?;
        let count = u64_at(data, at).ok_or_else(|| format!("storage {key} is cut short"))?;
        let length = usize::try_from(count)
            .ok()
            .and_then(|n| n.checked_mul(dtype.size()))
            .ok_or_else(|| format!("storage {key} claims {count} elements"))?;
        let bytes = (at + 8)
            .checked_add(length)
            .and_then(|end| data.get(at + 8..end))
            .ok_or_else(|| format!("storage {key} is cut short: the file is truncated"))?;
        storages.insert(key, bytes);
        at += 8 + length;
    }
    wanted
        .into_iter()
        .map(|(name, tensor)| {
            let bytes = storages
                .get(&tensor.storage)
                .ok_or_else(|| format!("{name}: its storage {} is missing", tensor.storage))?;
            materialize(name, &tensor, bytes, budget)
        })
        .collect()
}
