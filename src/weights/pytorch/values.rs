//! What the pickle machine builds: values, the objects they refer to, dicts in insertion order,
//! and the storages and tensor views a state_dict describes.

use std::collections::HashMap;
use std::rc::Rc;

use super::dtype::DType;

/// A value on the machine's stack or in its memo. Containers live in `Machine::objects` and are
/// referred to by index, as Python refers to objects: `BINGET` of a memoised dict shares it
/// (so later `SETITEMS` are seen through every reference), copies are O(1), and no value nests
/// inside another, so nothing here recurses or drops recursively.
#[derive(Clone, Debug)]
pub(super) enum Value {
    None,
    Bool(bool),
    Int(i64),
    /// An integer too wide for i64, as its little-endian two's-complement bytes.
    BigInt(Rc<[u8]>),
    Float(f64),
    Str(Rc<str>),
    Bytes(Rc<[u8]>),
    /// A class or function named by GLOBAL or STACK_GLOBAL: (module, name).
    Global(Rc<(String, String)>),
    Object(usize),
}

#[derive(Debug)]
pub(super) enum Object {
    Tuple(Vec<Value>),
    /// Lists, and sets (only ever read for membership).
    List(Vec<Value>),
    Dict(Dict),
    Storage(Storage),
    Tensor(TensorRef),
    /// Whatever else REDUCE or NEWOBJ built (an `nn.Module`, a `set`...): never called, kept
    /// with its arguments and the state BUILD gave it.
    Instance {
        class: Rc<(String, String)>,
        args: Vec<Value>,
        state: Option<Value>,
    },
}

/// A dict in insertion order (state_dicts are OrderedDicts); string and int keys are unique,
/// as in Python.
#[derive(Debug, Default)]
pub(super) struct Dict {
    pub(super) entries: Vec<(Value, Value)>,
    pub(super) index: HashMap<Key, usize>,
}

#[derive(Debug, Hash, PartialEq, Eq)]
pub(super) enum Key {
    Str(Rc<str>),
    Int(i64),
}

impl Dict {
    pub(super) fn insert(&mut self, key: Value, value: Value) {
        let hashable = match &key {
            Value::Str(s) => Some(Key::Str(s.clone())),
            Value::Int(i) => Some(Key::Int(*i)),
            _ => None,
        };
        if let Some(k) = hashable {
            if let Some(slot) = self.index.get(&k).and_then(|&i| self.entries.get_mut(i)) {
                slot.1 = value;
                return;
            }
            self.index.insert(k, self.entries.len());
        }
        self.entries.push((key, value));
    }

    pub(super) fn get(&self, key: &str) -> Option<&Value> {
        let i = *self.index.get(&Key::Str(Rc::from(key)))?;
        self.entries.get(i).map(|(_, v)| v)
    }
}

/// A storage named by a persistent id: its element type and its key (the zip entry
/// `data/<key>`, or its place in a legacy file).
#[derive(Clone, Debug)]
pub(super) struct Storage {
    pub(super) dtype: DType,
    pub(super) key: Rc<str>,
}

/// A tensor as `_rebuild_tensor_v2` describes it: a view of a storage, in elements.
#[derive(Clone, Debug)]
pub(super) struct TensorRef {
    pub(super) storage: Rc<str>,
    pub(super) dtype: DType,
    pub(super) offset: usize,
    pub(super) size: Vec<usize>,
    pub(super) stride: Vec<usize>,
}
