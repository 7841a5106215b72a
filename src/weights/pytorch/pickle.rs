//! The pickle machine: runs `data.pkl` building data only, never calling anything.

use std::collections::HashMap;
use std::rc::Rc;

use super::dtype::DType;
use super::opcodes::{self, opcode_name};
use super::values::{Dict, Object, Storage, TensorRef, Value};
use super::{
    MAX_CALL_DEPTH, MAX_DIMS, MAX_MEMO, MAX_OBJECTS, MAX_STACK, MAX_WORK, MIN_WORK, Res, STRING_BYTES_PER_VALUE,
    WORK_PER_BYTE, clip,
};

/// The machine's state while it runs one pickle: the input, its stack, marks and memo, and the
/// containers its values refer to.
pub(super) struct Machine<'a> {
    pub(super) data: &'a [u8],
    pub(super) pos: usize,
    pub(super) stack: Vec<Value>,
    /// Stack lengths at each MARK.
    pub(super) marks: Vec<usize>,
    pub(super) memo: HashMap<u32, Value>,
    pub(super) objects: Vec<Object>,
    /// Legacy persistent ids carry a sixth item (view metadata, None for whole storages).
    pub(super) legacy: bool,
    /// The element type of every storage seen: a legacy file's storages follow the pickle and
    /// their sizes are counted in elements.
    pub(super) storage_types: HashMap<Rc<str>, DType>,
    /// Values built or copied so far, and how many the pickle's size allows.
    pub(super) work: usize,
    pub(super) max_work: usize,
}

impl<'a> Machine<'a> {
    /// A machine that runs the pickle starting at `data[pos]`.
    pub(super) fn new(data: &'a [u8], pos: usize, legacy: bool) -> Self {
        Self {
            data,
            pos,
            stack: Vec::new(),
            marks: Vec::new(),
            memo: HashMap::new(),
            objects: Vec::new(),
            legacy,
            storage_types: HashMap::new(),
            work: 0,
            max_work: data
                .len()
                .saturating_mul(WORK_PER_BYTE)
                .saturating_add(MIN_WORK)
                .min(MAX_WORK),
        }
    }

    /// Counts `values` built or copied against the budget the pickle's size gives.
    pub(super) fn charge(&mut self, values: usize) -> Res<()> {
        self.work = self.work.saturating_add(values);
        if self.work > self.max_work {
            return Err(format!(
                "the pickle builds, copies or hashes more values ({}) than its limit of {} \
                 ({WORK_PER_BYTE} per byte of its {} bytes plus {MIN_WORK}, at most {MAX_WORK})",
                self.work,
                self.max_work,
                self.data.len()
            ));
        }
        Ok(())
    }

    /// Counts a value that is hashed or copied with its bytes: a string costs one value per
    /// `STRING_BYTES_PER_VALUE` of its bytes, so a megabyte key used a thousand times is refused.
    pub(super) fn charge_value(&mut self, value: &Value) -> Res<()> {
        let bytes = match value {
            Value::Str(s) => s.len(),
            Value::Bytes(b) | Value::BigInt(b) => b.len(),
            Value::Global(g) => g.0.len() + g.1.len(),
            _ => 0,
        };
        self.charge_bytes(bytes)
    }

    /// One value, and one more per `STRING_BYTES_PER_VALUE` of the `bytes` it hashes or copies.
    pub(super) fn charge_bytes(&mut self, bytes: usize) -> Res<()> {
        self.charge(1 + bytes / STRING_BYTES_PER_VALUE)
    }

    /// DICT and SETITEMS: the keys of `items` (key, value, key, value...) are hashed, so each
    /// costs its bytes.
    pub(super) fn charge_keys(&mut self, items: &[Value]) -> Res<()> {
        if items.len() % 2 != 0 {
            return Err("an odd number of keys and values".into());
        }
        items.iter().step_by(2).try_for_each(|key| self.charge_value(key))
    }

    /// Runs to STOP and returns the pickled object; `self.pos` is then just past the STOP.
    pub(super) fn run(&mut self) -> Res<Value> {
        loop {
            let at = self.pos;
            let op = *self
                .data
                .get(at)
                .ok_or_else(|| format!("the pickle ends at byte {at} without a STOP: the file is truncated"))?;
            self.pos += 1;
            self.step(op).map_err(|e| match opcode_name(op) {
                Some(name) => format!("pickle opcode {name} at byte {at}: {e}"),
                None => format!("byte 0x{op:02x} at {at}: {e}"),
            })?;
            if op == opcodes::STOP {
                return self.pop();
            }
        }
    }

    /// Executes one opcode (its argument bytes follow at `self.pos`).
    pub(super) fn step(&mut self, op: u8) -> Res<()> {
        match op {
            opcodes::PROTO => {
                let version = self.byte()?;
                if !(2..=5).contains(&version) {
                    return Err(format!("pickle protocol {version} is not supported (2 to 5 are)"));
                }
            }
            // A hint for buffered readers; everything is in memory already.
            opcodes::FRAME => {
                self.array::<8>()?;
            }
            opcodes::STOP => {}
            opcodes::MARK => {
                if self.marks.len() >= MAX_STACK {
                    return Err(format!("more than {MAX_STACK} nested MARKs"));
                }
                self.marks.push(self.stack.len());
            }
            opcodes::POP => {
                self.pop()?;
            }
            opcodes::POP_MARK => {
                self.pop_mark()?;
            }
            opcodes::DUP => {
                let top = self.stack.last().cloned().ok_or_else(underflow)?;
                self.push(top)?;
            }
            opcodes::NONE => self.push(Value::None)?,
            opcodes::NEWTRUE => self.push(Value::Bool(true))?,
            opcodes::NEWFALSE => self.push(Value::Bool(false))?,
            opcodes::BININT => {
                let v = i32::from_le_bytes(self.array()?);
                self.push(Value::Int(v.into()))?;
            }
            opcodes::BININT1 => {
                let v = self.byte()?;
                self.push(Value::Int(v.into()))?;
            }
            opcodes::BININT2 => {
                let v = u16::from_le_bytes(self.array()?);
                self.push(Value::Int(v.into()))?;
            }
            opcodes::LONG1 => {
                let n = self.byte()?;
                let bytes = self.take(n.into())?;
                self.push(long(bytes))?;
            }
            opcodes::LONG4 => {
                let n = u32::from_le_bytes(self.array()?);
                let bytes = self.take(n as usize)?;
                self.push(long(bytes))?;
            }
            // BINFLOAT is big-endian, unlike everything else in a pickle.
            opcodes::BINFLOAT => {
                let v = f64::from_be_bytes(self.array()?);
                self.push(Value::Float(v))?;
            }
            opcodes::BINUNICODE => {
                let n = u32::from_le_bytes(self.array()?);
                self.text(n as usize)?;
            }
            opcodes::SHORT_BINUNICODE => {
                let n = self.byte()?;
                self.text(n.into())?;
            }
            opcodes::BINUNICODE8 => {
                let n = u64::from_le_bytes(self.array()?);
                self.text(usize::try_from(n).map_err(|_| format!("a string of {n} bytes"))?)?;
            }
            // Python 2's str (BINSTRING, SHORT_BINSTRING), as old files may hold: read as text.
            opcodes::BINSTRING => {
                let n = u32::from_le_bytes(self.array()?);
                self.text(n as usize)?;
            }
            opcodes::SHORT_BINSTRING => {
                let n = self.byte()?;
                self.text(n.into())?;
            }
            opcodes::SHORT_BINBYTES => {
                let n = self.byte()?;
                let bytes = self.take(n.into())?;
                self.push(Value::Bytes(bytes.into()))?;
            }
            opcodes::BINBYTES => {
                let n = u32::from_le_bytes(self.array()?);
                let bytes = self.take(n as usize)?;
                self.push(Value::Bytes(bytes.into()))?;
            }
            opcodes::BINBYTES8 => {
                let n = u64::from_le_bytes(self.array()?);
                let bytes = self.take(usize::try_from(n).map_err(|_| format!("{n} bytes"))?)?;
                self.push(Value::Bytes(bytes.into()))?;
            }
            opcodes::EMPTY_TUPLE => {
                let tuple = self.alloc(Object::Tuple(Vec::new()))?;
                self.push(tuple)?;
            }
            opcodes::TUPLE => {
                let items = self.pop_mark()?;
                let tuple = self.alloc(Object::Tuple(items))?;
                self.push(tuple)?;
            }
            opcodes::TUPLE1..=opcodes::TUPLE3 => {
                // The three opcodes are consecutive bytes: TUPLE1 takes one item, TUPLE3 three.
                let n = usize::from(op - opcodes::TUPLE1) + 1;
                let split = self.stack.len().checked_sub(n).ok_or_else(underflow)?;
                self.charge(n)?;
                let items = self.stack.split_off(split);
                let tuple = self.alloc(Object::Tuple(items))?;
                self.push(tuple)?;
            }
            opcodes::EMPTY_LIST | opcodes::EMPTY_SET => {
                let list = self.alloc(Object::List(Vec::new()))?;
                self.push(list)?;
            }
            opcodes::LIST | opcodes::FROZENSET => {
                let items = self.pop_mark()?;
                let list = self.alloc(Object::List(items))?;
                self.push(list)?;
            }
            // Every value kept in a container counts: APPEND grows a list by one each time.
            opcodes::APPEND => {
                let item = self.pop()?;
                self.charge(1)?;
                self.list_below()?.push(item);
            }
            opcodes::APPENDS | opcodes::ADDITEMS => {
                let items = self.pop_mark()?;
                self.list_below()?.extend(items);
            }
            opcodes::EMPTY_DICT => {
                let dict = self.alloc(Object::Dict(Dict::default()))?;
                self.push(dict)?;
            }
            opcodes::DICT => {
                let items = self.pop_mark()?;
                self.charge_keys(&items)?;
                let mut dict = Dict::default();
                insert_pairs(&mut dict, items);
                let dict = self.alloc(Object::Dict(dict))?;
                self.push(dict)?;
            }
            opcodes::SETITEM => {
                let value = self.pop()?;
                let key = self.pop()?;
                self.charge_value(&key)?;
                self.charge(1)?;
                self.dict_below()?.insert(key, value);
            }
            opcodes::SETITEMS => {
                let items = self.pop_mark()?;
                self.charge_keys(&items)?;
                insert_pairs(self.dict_below()?, items);
            }
            opcodes::GLOBAL => {
                let module = self.line()?;
                let name = self.line()?;
                self.push(Value::Global(Rc::new((module, name))))?;
            }
            opcodes::STACK_GLOBAL => {
                let name = self.pop()?;
                let module = self.pop()?;
                match (module, name) {
                    (Value::Str(module), Value::Str(name)) => {
                        // Both names are copied: a memoised megabyte name reused is charged.
                        self.charge_bytes(module.len() + name.len())?;
                        self.push(Value::Global(Rc::new((module.to_string(), name.to_string()))))?;
                    }
                    _ => return Err("expects a module and a name (two strings)".into()),
                }
            }
            opcodes::REDUCE | opcodes::NEWOBJ => {
                let args = self.pop()?;
                let callable = self.pop()?;
                let value = self.call(callable, args, 0)?;
                self.push(value)?;
            }
            // Like NEWOBJ with keyword arguments, which nothing here needs.
            opcodes::NEWOBJ_EX => {
                self.pop()?;
                let args = self.pop()?;
                let class = self.pop()?;
                let value = self.call(class, args, 0)?;
                self.push(value)?;
            }
            opcodes::BUILD => {
                let state = self.pop()?;
                self.build(state)?;
            }
            opcodes::BINPERSID => {
                let pid = self.pop()?;
                let storage = self.persistent_load(&pid)?;
                self.push(storage)?;
            }
            opcodes::BINPUT => {
                let i = self.byte()?;
                self.put(i.into())?;
            }
            opcodes::LONG_BINPUT => {
                let i = u32::from_le_bytes(self.array()?);
                self.put(i)?;
            }
            opcodes::MEMOIZE => {
                let i = u32::try_from(self.memo.len()).map_err(|_| "the memo is full".to_string())?;
                self.put(i)?;
            }
            opcodes::BINGET => {
                let i = self.byte()?;
                self.get(i.into())?;
            }
            opcodes::LONG_BINGET => {
                let i = u32::from_le_bytes(self.array()?);
                self.get(i)?;
            }
            _ => {
                return Err(match opcode_name(op) {
                    Some(_) => "not supported: this reader handles what torch.save writes for a state_dict; \
                                save the weights with torch.save(model.state_dict(), path)"
                        .into(),
                    None => "not a pickle opcode: the data is damaged".into(),
                });
            }
        }
        Ok(())
    }

    /// The next `n` argument bytes, checked against what is left before anything is allocated.
    pub(super) fn take(&mut self, n: usize) -> Res<&'a [u8]> {
        let data: &'a [u8] = self.data;
        let bytes = self
            .pos
            .checked_add(n)
            .and_then(|end| data.get(self.pos..end))
            .ok_or_else(|| format!("its {n}-byte argument runs past the end of the pickle"))?;
        self.pos += n;
        Ok(bytes)
    }

    pub(super) fn array<const N: usize>(&mut self) -> Res<[u8; N]> {
        let bytes = self.take(N)?;
        bytes.try_into().map_err(|_| "argument cut short".to_string())
    }

    pub(super) fn byte(&mut self) -> Res<u8> {
        let [b] = self.array::<1>()?;
        Ok(b)
    }

    /// Pushes a string argument of `n` bytes.
    pub(super) fn text(&mut self, n: usize) -> Res<()> {
        let bytes = self.take(n)?;
        let text = std::str::from_utf8(bytes).map_err(|_| "a string that is not UTF-8".to_string())?;
        self.push(Value::Str(text.into()))
    }

    /// A newline-terminated argument (GLOBAL's module and name).
    pub(super) fn line(&mut self) -> Res<String> {
        let data: &'a [u8] = self.data;
        let rest = data.get(self.pos..).unwrap_or_default();
        let len = rest
            .iter()
            .take(1024)
            .position(|&b| b == b'\n')
            .ok_or("a name without an end of line")?;
        let text = rest
            .get(..len)
            .and_then(|l| std::str::from_utf8(l).ok())
            .ok_or("a name that is not UTF-8")?;
        self.pos += len + 1;
        Ok(text.to_string())
    }

    pub(super) fn push(&mut self, value: Value) -> Res<()> {
        if self.stack.len() >= MAX_STACK {
            return Err(format!("the pickle stack grows past {MAX_STACK} values"));
        }
        self.stack.push(value);
        Ok(())
    }

    pub(super) fn pop(&mut self) -> Res<Value> {
        self.stack.pop().ok_or_else(underflow)
    }

    /// Everything pushed since the last MARK.
    pub(super) fn pop_mark(&mut self) -> Res<Vec<Value>> {
        let mark = self.marks.pop().ok_or("no MARK to end")?;
        if mark > self.stack.len() {
            return Err(underflow());
        }
        self.charge(self.stack.len() - mark)?;
        Ok(self.stack.split_off(mark))
    }

    pub(super) fn alloc(&mut self, object: Object) -> Res<Value> {
        self.charge(1)?;
        if self.objects.len() >= MAX_OBJECTS {
            return Err(format!("the pickle builds more than {MAX_OBJECTS} objects"));
        }
        self.objects.push(object);
        Ok(Value::Object(self.objects.len() - 1))
    }

    pub(super) fn object(&self, value: &Value) -> Option<&Object> {
        match value {
            Value::Object(id) => self.objects.get(*id),
            _ => None,
        }
    }

    /// The object on top of the stack, for APPEND, SETITEM and BUILD.
    pub(super) fn top_object_mut(&mut self) -> Res<&mut Object> {
        match self.stack.last() {
            Some(Value::Object(id)) => {
                let id = *id;
                self.objects
                    .get_mut(id)
                    .ok_or_else(|| "a dangling reference".to_string())
            }
            Some(_) => Err("the value below is not a container".into()),
            None => Err(underflow()),
        }
    }

    pub(super) fn list_below(&mut self) -> Res<&mut Vec<Value>> {
        match self.top_object_mut()? {
            Object::List(items) => Ok(items),
            _ => Err("the value below is not a list".into()),
        }
    }

    pub(super) fn dict_below(&mut self) -> Res<&mut Dict> {
        match self.top_object_mut()? {
            Object::Dict(dict) => Ok(dict),
            _ => Err("the value below is not a dict".into()),
        }
    }

    pub(super) fn put(&mut self, i: u32) -> Res<()> {
        let top = self.stack.last().cloned().ok_or_else(underflow)?;
        if self.memo.len() >= MAX_MEMO && !self.memo.contains_key(&i) {
            return Err(format!("the memo grows past {MAX_MEMO} entries"));
        }
        self.memo.insert(i, top);
        Ok(())
    }

    pub(super) fn get(&mut self, i: u32) -> Res<()> {
        let value = self
            .memo
            .get(&i)
            .cloned()
            .ok_or_else(|| format!("memo entry {i} is read before it is set"))?;
        self.push(value)
    }

    /// The items of a tuple or list.
    pub(super) fn items(&self, value: &Value) -> Option<&[Value]> {
        match self.object(value)? {
            Object::Tuple(items) | Object::List(items) => Some(items),
            _ => None,
        }
    }

    pub(super) fn dict(&self, value: &Value) -> Option<&Dict> {
        match self.object(value)? {
            Object::Dict(dict) => Some(dict),
            _ => None,
        }
    }

    pub(super) fn tensor(&self, value: &Value) -> Option<&TensorRef> {
        match self.object(value)? {
            Object::Tensor(tensor) => Some(tensor),
            _ => None,
        }
    }

    /// A short description of a value for messages (never recursive).
    pub(super) fn describe(&self, value: &Value) -> String {
        match value {
            Value::None => "None".into(),
            Value::Bool(true) => "True".into(),
            Value::Bool(false) => "False".into(),
            Value::Int(i) => format!("the integer {i}"),
            Value::BigInt(_) => "a large integer".into(),
            Value::Float(f) => format!("the number {f}"),
            Value::Str(s) => format!("the string {:?}", s.chars().take(40).collect::<String>()),
            Value::Bytes(b) => format!("{} bytes", b.len()),
            Value::Global(g) => format!("{}.{}", clip(&g.0), clip(&g.1)),
            Value::Object(_) => match self.object(value) {
                Some(Object::Tuple(items)) => format!("a tuple of {}", items.len()),
                Some(Object::List(items)) => format!("a list of {}", items.len()),
                Some(Object::Dict(dict)) => {
                    let keys: Vec<String> = dict
                        .entries
                        .iter()
                        .take(6)
                        .map(|(k, _)| match k {
                            Value::Str(s) => s.chars().take(40).collect(),
                            Value::Int(i) => i.to_string(),
                            _ => "?".into(),
                        })
                        .collect();
                    let more = if dict.entries.len() > keys.len() { ", …" } else { "" };
                    format!("a dict with keys {}{more}", keys.join(", "))
                }
                Some(Object::Storage(_)) => "a storage".into(),
                Some(Object::Tensor(t)) => format!("a tensor of shape {:?}", t.size),
                Some(Object::Instance { class, .. }) => format!("a {}.{} object", clip(&class.0), clip(&class.1)),
                None => "nothing".into(),
            },
        }
    }

    /// A non-negative integer argument.
    pub(super) fn usize_of(&self, value: &Value, what: &str) -> Res<usize> {
        match value {
            Value::Int(i) => usize::try_from(*i).map_err(|_| format!("{what} is {i}")),
            other => Err(format!("{what} is {}", self.describe(other))),
        }
    }

    /// A tuple of non-negative integers (a size or a stride).
    pub(super) fn usizes(&self, value: &Value, what: &str) -> Res<Vec<usize>> {
        let items = self
            .items(value)
            .ok_or_else(|| format!("{what} is {}", self.describe(value)))?;
        if items.len() > MAX_DIMS {
            return Err(format!("{what} has {} dimensions", items.len()));
        }
        items.iter().map(|v| self.usize_of(v, what)).collect()
    }

    /// REDUCE and NEWOBJ: the few callables a state_dict needs are interpreted; any other class
    /// becomes an inert `Instance` (a whole pickled module is a tree of those).
    pub(super) fn call(&mut self, callable: Value, args: Value, depth: usize) -> Res<Value> {
        let global = match callable {
            Value::Global(global) => global,
            other => return Err(format!("calls {}, not a class or function", self.describe(&other))),
        };
        let count = self
            .items(&args)
            .ok_or_else(|| {
                format!(
                    "the arguments of {}.{} are not a tuple",
                    clip(&global.0),
                    clip(&global.1)
                )
            })?
            .len();
        // Each call copies its arguments: a tuple reused by a million calls costs a million times.
        self.charge(count)?;
        let args = self.items(&args).unwrap_or_default().to_vec();
        match (global.0.as_str(), global.1.as_str()) {
            ("collections", "OrderedDict") | ("builtins" | "__builtin__", "dict") => {
                if !args.is_empty() {
                    return Err(format!("{}.{} with arguments is not supported", global.0, global.1));
                }
                self.alloc(Object::Dict(Dict::default()))
            }
            ("torch._utils", "_rebuild_tensor" | "_rebuild_tensor_v2") => self.rebuild_tensor(&args, None),
            ("torch._utils", "_rebuild_tensor_v3") => {
                // (storage, offset, size, stride, requires_grad, hooks, dtype[, metadata])
                let dtype = match args.get(6) {
                    Some(Value::Global(g)) if g.0 == "torch" => DType::from_dtype_name(&g.1),
                    _ => None,
                }
                .ok_or("_rebuild_tensor_v3 without a known torch dtype")?;
                self.rebuild_tensor(&args, Some(dtype))
            }
            // A Parameter is its tensor plus requires_grad: the tensor is all that matters.
            ("torch._utils", "_rebuild_parameter" | "_rebuild_parameter_with_state") => match args.first() {
                Some(tensor) if self.tensor(tensor).is_some() => Ok(tensor.clone()),
                _ => Err("_rebuild_parameter of something that is not a tensor".into()),
            },
            // Tensor subclasses: (function, class, function's arguments, state).
            ("torch._tensor", "_rebuild_from_type" | "_rebuild_from_type_v2") => {
                if depth >= MAX_CALL_DEPTH {
                    return Err("tensor rebuilds nested too deep".into());
                }
                match args.as_slice() {
                    [function, _, inner, ..] => self.call(function.clone(), inner.clone(), depth + 1),
                    _ => Err("_rebuild_from_type_v2 expects (function, type, args, state)".into()),
                }
            }
            _ => self.alloc(Object::Instance {
                class: global.clone(),
                args,
                state: None,
            }),
        }
    }

    /// `_rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[,
    /// metadata])`: only the view is kept; the data is read once the wanted tensors are known.
    pub(super) fn rebuild_tensor(&mut self, args: &[Value], dtype: Option<DType>) -> Res<Value> {
        let [storage, offset, size, stride, ..] = args else {
            return Err("_rebuild_tensor expects (storage, offset, size, stride, ...)".into());
        };
        let Some(Object::Storage(storage)) = self.object(storage) else {
            return Err(format!("_rebuild_tensor of {}, not a storage", self.describe(storage)));
        };
        let storage = storage.clone();
        let tensor = TensorRef {
            dtype: match (storage.dtype, dtype) {
                (_, Some(dtype)) => dtype,
                (DType::Untyped, None) => return Err("a tensor on an untyped storage without a dtype".into()),
                (dtype, None) => dtype,
            },
            storage: storage.key,
            offset: self.usize_of(offset, "the storage offset")?,
            size: self.usizes(size, "the size")?,
            stride: self.usizes(stride, "the stride")?,
        };
        self.charge(tensor.size.len() + tensor.stride.len())?;
        if tensor.size.len() != tensor.stride.len() {
            return Err(format!(
                "size {:?} and stride {:?} disagree",
                tensor.size, tensor.stride
            ));
        }
        self.alloc(Object::Tensor(tensor))
    }

    /// BINPERSID: `('storage', torch.<Type>Storage, key, location, numel)`, with a sixth item
    /// (view metadata, None) in legacy files.
    pub(super) fn persistent_load(&mut self, pid: &Value) -> Res<Value> {
        let items = self
            .items(pid)
            .ok_or_else(|| format!("a persistent id that is {}", self.describe(pid)))?;
        let (class, key) = match items {
            [
                Value::Str(kind),
                Value::Global(class),
                key,
                _location,
                _numel,
                rest @ ..,
            ] if &**kind == "storage" && rest.len() <= 1 => {
                if let [view] = rest
                    && !matches!(view, Value::None)
                {
                    return Err("a storage view (PyTorch before 0.4) is not supported".into());
                }
                (class.clone(), key.clone())
            }
            _ => return Err("a persistent id that is not a torch storage reference".into()),
        };
        if !self.legacy && items.len() != 5 {
            return Err("a persistent id with an unexpected view part".into());
        }
        // The key is hashed into `storage_types` each time it is named.
        self.charge_value(&key)?;
        let key: Rc<str> = match key {
            Value::Str(s) => s,
            Value::Int(i) => i.to_string().into(),
            other => return Err(format!("a storage key that is {}", self.describe(&other))),
        };
        let dtype = match (class.0.as_str(), class.1.as_str()) {
            ("torch" | "torch.storage", name) => DType::from_storage_class(name),
            _ => None,
        }
        .ok_or_else(|| format!("unknown storage type {}.{}", clip(&class.0), clip(&class.1)))?;
        if let Some(previous) = self.storage_types.insert(key.clone(), dtype)
            && previous != dtype
        {
            return Err(format!("storage {} is given two types", clip(&key)));
        }
        self.alloc(Object::Storage(Storage { dtype, key }))
    }

    /// BUILD: an object's state. OrderedDict's state is the state_dict's `_metadata` and a
    /// tensor's is Python attributes, neither needed; an instance (a module) keeps it.
    pub(super) fn build(&mut self, state: Value) -> Res<()> {
        match self.top_object_mut()? {
            Object::Instance { state: slot, .. } => *slot = Some(state),
            Object::Dict(_) | Object::Tensor(_) => {}
            _ => return Err("BUILD of a value that takes no state".into()),
        }
        Ok(())
    }
}

pub(super) fn underflow() -> String {
    "the pickle stack is empty where a value is needed".into()
}

/// LONG1/LONG4: little-endian two's complement; wider than i64 is kept as bytes.
pub(super) fn long(bytes: &[u8]) -> Value {
    if bytes.len() > 8 {
        return Value::BigInt(bytes.into());
    }
    let negative = bytes.last().is_some_and(|&b| b & 0x80 != 0);
    let mut full = if negative { [0xff; 8] } else { [0; 8] };
    full[..bytes.len()].copy_from_slice(bytes);
    Value::Int(i64::from_le_bytes(full))
}

/// Pairs (key, value, key, value...) into `dict`; their keys were charged (`charge_keys`), and
/// an odd count was refused there.
pub(super) fn insert_pairs(dict: &mut Dict, items: Vec<Value>) {
    let mut items = items.into_iter();
    while let (Some(key), Some(value)) = (items.next(), items.next()) {
        dict.insert(key, value);
    }
}
