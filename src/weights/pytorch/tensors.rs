//! From the unpickled object to named tensors.

use std::collections::HashSet;

use super::dtype::{DType, to_f32};
use super::pickle::Machine;
use super::values::{Dict, Object, TensorRef, Value};
use super::{MAX_DEPTH, MAX_TENSORS, MAX_VISITS, MAX_WALK_WORK, Res, clip, spend};
use crate::weights::NamedTensor;

/// The tensors to return, with their PyTorch names.
pub(super) fn select_tensors(machine: &Machine, top: &Value) -> Res<Vec<(String, TensorRef)>> {
    // A checkpoint keeps the model beside the optimiser state, epoch...: take only the model.
    let mut start = top;
    if let Some(dict) = machine.dict(top) {
        for key in ["state_dict", "model_state_dict"] {
            if let Some(inner) = dict.get(key)
                && machine.dict(inner).is_some()
            {
                start = inner;
                break;
            }
        }
    }
    let mut walk = Walk {
        machine,
        out: Vec::new(),
        visits: 0,
        work: 0,
    };
    walk.value(start, "", 0)?;
    if walk.out.is_empty() {
        return Err(format!("no tensors found: the file holds {}", machine.describe(top)));
    }
    Ok(walk.out)
}

/// A bounded walk over nested dicts and modules, collecting tensors under dotted names.
pub(super) struct Walk<'m, 'a> {
    pub(super) machine: &'m Machine<'a>,
    pub(super) out: Vec<(String, TensorRef)>,
    pub(super) visits: usize,
    /// Entries looked at and name bytes built so far (`MAX_WALK_WORK` in all).
    pub(super) work: usize,
}

impl Walk<'_, '_> {
    /// A dict key as a name part, its bytes charged (it is copied into the names below it).
    fn key_name(&mut self, key: &Value, name: &str) -> Res<Option<String>> {
        let key = match key {
            Value::Str(s) => {
                self.charge(s.len(), name)?;
                s.to_string()
            }
            Value::Int(i) => i.to_string(),
            _ => return Ok(None),
        };
        Ok(Some(key))
    }

    /// Counts `steps` of the walk, near `name`.
    fn charge(&mut self, steps: usize, name: &str) -> Res<()> {
        self.work = self.work.saturating_add(steps);
        if self.work > MAX_WALK_WORK {
            return Err(format!(
                "the tensors are shared or named too often to walk (over {MAX_WALK_WORK} steps, at {:?})",
                clip(name)
            ));
        }
        Ok(())
    }

    pub(super) fn value(&mut self, value: &Value, name: &str, depth: usize) -> Res<()> {
        self.charge(1 + name.len(), name)?;
        self.visits += 1;
        if depth > MAX_DEPTH || self.visits > MAX_VISITS {
            return Err(format!(
                "the tensors are nested deeper than {MAX_DEPTH} or reached more than {MAX_VISITS} times (at {:?})",
                clip(name)
            ));
        }
        let machine = self.machine;
        match machine.object(value) {
            Some(Object::Tensor(tensor)) => {
                if self.out.len() >= MAX_TENSORS {
                    return Err(format!("more than {MAX_TENSORS} tensors"));
                }
                self.out.push((name.to_string(), tensor.clone()));
            }
            Some(Object::Dict(dict)) => {
                // Every entry counts, the skipped ones too: a shared dict is walked each time.
                self.charge(dict.entries.len(), name)?;
                for (key, inner) in &dict.entries {
                    if let Some(key) = self.key_name(key, name)? {
                        self.value(inner, &join(name, &key), depth + 1)?;
                    }
                }
            }
            Some(Object::Instance { state: Some(state), .. }) => {
                if let Some(state) = machine.dict(state) {
                    self.module(state, name, depth)?;
                }
            }
            // Lists, numbers, strings...: not part of a state_dict.
            _ => {}
        }
        Ok(())
    }

    /// A pickled `nn.Module`: its parameters, then its persistent buffers, then its submodules,
    /// the order and names of `state_dict()`.
    pub(super) fn module(&mut self, state: &Dict, name: &str, depth: usize) -> Res<()> {
        let machine = self.machine;
        self.charge(state.entries.len(), name)?;
        // Each item and each of its bytes counts (building the set hashes them), every time a
        // shared list is reached.
        let names = state
            .get("_non_persistent_buffers_set")
            .map(|set| set_items(machine, set))
            .unwrap_or_default();
        for item in names {
            self.charge(1 + string(item).map_or(0, str::len), name)?;
        }
        let transient: HashSet<&str> = names.iter().filter_map(string).collect();
        for field in ["_parameters", "_buffers"] {
            let Some(tensors) = state.get(field).and_then(|d| machine.dict(d)) else {
                continue;
            };
            self.charge(tensors.entries.len(), name)?;
            for (key, inner) in &tensors.entries {
                if machine.tensor(inner).is_none() {
                    continue;
                }
                if let Some(key) = self.key_name(key, name)?
                    && !(field == "_buffers" && transient.contains(key.as_str()))
                {
                    self.value(inner, &join(name, &key), depth + 1)?;
                }
            }
        }
        if let Some(children) = state.get("_modules").and_then(|d| machine.dict(d)) {
            self.charge(children.entries.len(), name)?;
            for (key, child) in &children.entries {
                if let Some(key) = self.key_name(key, name)? {
                    self.value(child, &join(name, &key), depth + 1)?;
                }
            }
        }
        Ok(())
    }
}

/// The items of a pickled `set` (REDUCE of `builtins.set` on a list, or EMPTY_SET/ADDITEMS).
fn set_items<'m>(machine: &'m Machine, set: &Value) -> &'m [Value] {
    let items = match machine.object(set) {
        Some(Object::Instance { args, .. }) => args.first().and_then(|list| machine.items(list)),
        Some(Object::List(items)) => Some(items.as_slice()),
        _ => None,
    };
    items.unwrap_or_default()
}

fn string(value: &Value) -> Option<&str> {
    match value {
        Value::Str(s) => Some(s),
        _ => None,
    }
}

pub(super) fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

/// A tensor's values from its storage's bytes: contiguous views only (what `state_dict()`
/// saves), offset and size checked against the bytes present.
pub(super) fn materialize(name: String, tensor: &TensorRef, storage: &[u8], budget: &mut usize) -> Res<NamedTensor> {
    let shown = clip(&name);
    let unsupported = match tensor.dtype {
        DType::Other(torch_name, _) => Some(torch_name),
        DType::Untyped => Some("untyped"),
        DType::F32 | DType::F64 | DType::F16 | DType::BF16 => None,
    };
    if let Some(torch_name) = unsupported {
        return Err(format!(
            "{shown} holds {torch_name} values; only float32, float64, float16 and bfloat16 tensors can be read"
        ));
    }
    let numel = tensor
        .size
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .ok_or_else(|| format!("{shown}: shape {:?} is too large", tensor.size))?;
    spend(budget, numel, &name)?;
    if numel > 0 {
        let mut expected = 1usize;
        for (&dim, &stride) in tensor.size.iter().zip(&tensor.stride).rev() {
            if dim != 1 && stride != expected {
                return Err(format!(
                    "{shown} is not contiguous (shape {:?}, strides {:?}; a transposed or sliced view saved as it is): \
                     save tensor.contiguous(), or the model's state_dict()",
                    tensor.size, tensor.stride
                ));
            }
            // No overflow: the running product is at most numel.
            expected *= dim;
        }
    }
    let size = tensor.dtype.size();
    let bytes = tensor
        .offset
        .checked_mul(size)
        .and_then(|start| Some((start, start.checked_add(numel.checked_mul(size)?)?)))
        .and_then(|(start, end)| storage.get(start..end))
        .ok_or_else(|| {
            format!(
                "{shown} needs {numel} values from offset {} but its storage holds {}: the file is damaged",
                tensor.offset,
                storage.len() / size
            )
        })?;
    Ok((name, tensor.size.clone(), to_f32(tensor.dtype, bytes)))
}
