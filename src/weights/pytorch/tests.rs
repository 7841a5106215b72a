use flate2::Crc;
use safetensors::Dtype;

use super::naming::transpose;
use super::opcodes::{
    APPEND, APPENDS, BINFLOAT, BINGET, BININT, BININT1, BININT2, BINPERSID, BINPUT, BINUNICODE, BINUNICODE8, BUILD,
    DICT, EMPTY_DICT, EMPTY_LIST, EMPTY_TUPLE, FRAME, GLOBAL, INST, LONG_BINGET, LONG_BINPUT, LONG1, MARK, MEMOIZE,
    NEWFALSE, NEWTRUE, NONE, POP, PROTO, REDUCE, SETITEM, SETITEMS, SHORT_BINBYTES, SHORT_BINUNICODE, STACK_GLOBAL,
    STOP, TUPLE, TUPLE1,
};
use super::pickle::{Machine, long};
use super::values::Value;
use super::zip::{CENTRAL_HEADER, END_OF_DIRECTORY, LOCAL_HEADER};
use super::{LEGACY_MAGIC, Res, check_widths, export, read, to_model_layers, widths};
use crate::error::WeightsError;
use crate::weights::NamedTensor;

// ---- Hand-built pickles and archives, as torch.save writes them ----

/// A pickle written opcode by opcode.
struct P(Vec<u8>);

impl P {
    /// PROTO 2, as torch.save writes.
    fn new() -> Self {
        P(vec![PROTO, 2])
    }
    fn op(mut self, op: u8) -> Self {
        self.0.push(op);
        self
    }
    fn raw(mut self, bytes: &[u8]) -> Self {
        self.0.extend_from_slice(bytes);
        self
    }
    fn str(self, s: &str) -> Self {
        self.op(BINUNICODE)
            .raw(&(s.len() as u32).to_le_bytes())
            .raw(s.as_bytes())
    }
    fn int(self, v: u8) -> Self {
        self.op(BININT1).raw(&[v])
    }
    fn global(self, module: &str, name: &str) -> Self {
        self.op(GLOBAL).raw(format!("{module}\n{name}\n").as_bytes())
    }
    fn ints(self, values: &[u8]) -> Self {
        values.iter().fold(self.op(MARK), |p, &v| p.int(v)).op(TUPLE)
    }
    /// `_rebuild_tensor_v2(('storage', torch.<class>, key, 'cpu', 0), offset, size, stride,
    /// False, OrderedDict())`.
    fn tensor(self, class: &str, key: &str, offset: u8, size: &[u8], stride: &[u8]) -> Self {
        self.global("torch._utils", "_rebuild_tensor_v2")
            .op(MARK)
            .op(MARK)
            .str("storage")
            .global("torch", class)
            .str(key)
            .str("cpu")
            .int(0)
            .op(TUPLE)
            .op(BINPERSID)
            .int(offset)
            .ints(size)
            .ints(stride)
            .op(NEWFALSE)
            .global("collections", "OrderedDict")
            .op(EMPTY_TUPLE)
            .op(REDUCE)
            .op(TUPLE)
            .op(REDUCE)
    }
    /// An OrderedDict state_dict of `(name, class, key, size)` contiguous tensors.
    fn state_dict(self, tensors: &[(&str, &str, &str, &[u8])]) -> Self {
        let p = self
            .global("collections", "OrderedDict")
            .op(EMPTY_TUPLE)
            .op(REDUCE)
            .op(MARK);
        tensors
            .iter()
            .fold(p, |p, (name, class, key, size)| {
                let stride: Vec<u8> = (0..size.len()).map(|i| size[i + 1..].iter().product::<u8>()).collect();
                p.str(name).tensor(class, key, 0, size, &stride)
            })
            .op(SETITEMS)
    }
    fn stop(self) -> Vec<u8> {
        self.op(STOP).0
    }
}

/// A stored (uncompressed) zip archive, as torch.save writes (minus its alignment padding).
fn zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
    zip_with(entries, 0)
}

fn zip_with(entries: &[(&str, &[u8])], method: u16) -> Vec<u8> {
    let mut out: Vec<u8> = Vec::new();
    let mut central: Vec<u8> = Vec::new();
    for (name, data) in entries {
        let stored: Vec<u8> = if method == 8 {
            use std::io::Write;
            let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::fast());
            encoder.write_all(data).unwrap();
            encoder.finish().unwrap()
        } else {
            data.to_vec()
        };
        let offset = out.len() as u32;
        let mut crc = Crc::new();
        crc.update(data);
        let crc = crc.sum();
        out.extend(LOCAL_HEADER.to_le_bytes());
        out.extend(20u16.to_le_bytes()); // version needed
        out.extend(0u16.to_le_bytes()); // flags
        out.extend(method.to_le_bytes());
        out.extend(0u32.to_le_bytes()); // time, date
        out.extend(crc.to_le_bytes());
        out.extend((stored.len() as u32).to_le_bytes());
        out.extend((data.len() as u32).to_le_bytes());
        out.extend((name.len() as u16).to_le_bytes());
        out.extend(0u16.to_le_bytes()); // extra
        out.extend(name.as_bytes());
        out.extend(&stored);

        central.extend(CENTRAL_HEADER.to_le_bytes());
        central.extend(20u16.to_le_bytes()); // version made by
        central.extend(20u16.to_le_bytes()); // version needed
        central.extend(0u16.to_le_bytes()); // flags
        central.extend(method.to_le_bytes());
        central.extend(0u32.to_le_bytes()); // time, date
        central.extend(crc.to_le_bytes());
        central.extend((stored.len() as u32).to_le_bytes());
        central.extend((data.len() as u32).to_le_bytes());
        central.extend((name.len() as u16).to_le_bytes());
        central.extend([0u8; 8]); // extra, comment, disk, internal attributes
        central.extend(0u32.to_le_bytes()); // external attributes
        central.extend(offset.to_le_bytes());
        central.extend(name.as_bytes());
    }
    let directory_offset = out.len() as u32;
    out.extend(&central);
    out.extend(END_OF_DIRECTORY.to_le_bytes());
    out.extend([0u8; 4]); // disk numbers
    out.extend((entries.len() as u16).to_le_bytes());
    out.extend((entries.len() as u16).to_le_bytes());
    out.extend((central.len() as u32).to_le_bytes());
    out.extend(directory_offset.to_le_bytes());
    out.extend(0u16.to_le_bytes()); // comment
    out
}

fn f32_bytes(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn run(pickle: &[u8]) -> Res<(Machine<'_>, Value)> {
    let mut machine = Machine::new(pickle, 0, false);
    let value = machine.run()?;
    Ok((machine, value))
}

fn format_error(result: Result<Vec<NamedTensor>, WeightsError>) -> String {
    match result {
        Err(WeightsError::Format(message)) => message,
        other => panic!("expected a Format error, got {other:?}"),
    }
}

fn mismatch(result: Result<Vec<NamedTensor>, WeightsError>) -> String {
    match result {
        Err(WeightsError::Mismatch(message)) => message,
        other => panic!("expected a Mismatch error, got {other:?}"),
    }
}

// ---- The pickle machine ----

#[test]
fn scalars_strings_and_containers() {
    // {'a': (1, -2, 70000, 2.5, True, None, 'x', [3, 4]), 5: b'\x01'}
    let pickle = P::new()
        .op(EMPTY_DICT)
        .op(BINPUT)
        .raw(&[0])
        .op(MARK)
        .op(SHORT_BINUNICODE)
        .raw(&[1, b'a'])
        .op(MARK)
        .int(1)
        .op(BININT)
        .raw(&(-2i32).to_le_bytes())
        .op(BININT)
        .raw(&70_000i32.to_le_bytes())
        .op(BINFLOAT)
        .raw(&2.5f64.to_be_bytes())
        .op(NEWTRUE)
        .op(NONE)
        .str("x")
        .op(EMPTY_LIST)
        .int(3)
        .op(APPEND)
        .int(4)
        .op(APPEND)
        .op(TUPLE)
        .int(5)
        .op(SHORT_BINBYTES)
        .raw(&[1, 1])
        .op(SETITEMS)
        .stop();
    let (m, top) = run(&pickle).unwrap();
    let dict = m.dict(&top).unwrap();
    assert_eq!(dict.entries.len(), 2);
    let items = m.items(dict.get("a").unwrap()).unwrap();
    assert!(matches!(items[0], Value::Int(1)));
    assert!(matches!(items[1], Value::Int(-2)));
    assert!(matches!(items[2], Value::Int(70_000)));
    assert!(matches!(items[3], Value::Float(f) if f == 2.5));
    assert!(matches!(items[4], Value::Bool(true)));
    assert!(matches!(items[5], Value::None));
    assert!(matches!(&items[6], Value::Str(s) if &**s == "x"));
    let list = m.items(&items[7]).unwrap();
    assert!(matches!(list, [Value::Int(3), Value::Int(4)]));
    assert!(matches!(&dict.entries[1], (Value::Int(5), Value::Bytes(b)) if b[..] == [1u8]));
}

#[test]
fn long1_integers() {
    // Python writes the shortest two's complement: 32768 needs a third byte for its sign.
    let cases: [(&[u8], i64); 5] = [
        (&[], 0),
        (&[0xff], -1),
        (&[0x00, 0x80, 0x00], 32768),
        (&[0x00, 0x80], -32768),
        (&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f], i64::MAX),
    ];
    for (bytes, expected) in cases {
        assert!(matches!(long(bytes), Value::Int(v) if v == expected), "{bytes:?}");
    }
    assert!(matches!(long(&LEGACY_MAGIC), Value::BigInt(b) if b[..] == LEGACY_MAGIC));
}

#[test]
fn memo_shares_containers_like_python() {
    // d = {} is memoised, x = [d, d] is built, and only then is d['k'] = 1 set (Python
    // memoises an object before filling it): both references see the item.
    let get_d = |p: P| p.op(LONG_BINGET).raw(&7u32.to_le_bytes());
    let p = P::new().op(EMPTY_DICT).op(LONG_BINPUT).raw(&7u32.to_le_bytes()).op(POP);
    let p = get_d(p.op(EMPTY_LIST).op(MEMOIZE)).op(APPEND);
    let p = get_d(p).op(APPEND);
    let pickle = get_d(p).str("k").int(1).op(SETITEM).op(POP).stop();
    let (m, top) = run(&pickle).unwrap();
    let list = m.items(&top).unwrap();
    assert_eq!(list.len(), 2);
    for item in list {
        assert!(matches!(m.dict(item).unwrap().get("k"), Some(Value::Int(1))));
    }
}

#[test]
fn protocol_4_framing_and_stack_global() {
    let pickle = P(vec![PROTO, 4])
        .op(FRAME)
        .raw(&100u64.to_le_bytes())
        .op(SHORT_BINUNICODE)
        .raw(&[11])
        .raw(b"collections")
        .op(MEMOIZE)
        .op(SHORT_BINUNICODE)
        .raw(&[11])
        .raw(b"OrderedDict")
        .op(MEMOIZE)
        .op(STACK_GLOBAL)
        .op(MEMOIZE)
        .op(EMPTY_TUPLE)
        .op(REDUCE)
        .stop();
    let (m, top) = run(&pickle).unwrap();
    assert!(m.dict(&top).is_some());
}

#[test]
fn unsupported_and_unknown_opcodes_are_named() {
    let e = run(&P::new().op(INST).stop()).err().unwrap();
    assert!(
        e.contains("INST") && e.contains("byte 2") && e.contains("not supported"),
        "{e}"
    );
    let e = run(&P::new().op(0xff).stop()).err().unwrap();
    assert!(e.contains("0xff") && e.contains("not a pickle opcode"), "{e}");
    let e = run(&[PROTO, 6, STOP]).err().unwrap();
    assert!(e.contains("protocol 6"), "{e}");
}

#[test]
fn malformed_pickles_are_errors_not_panics() {
    let cases: [(&[u8], &str); 8] = [
        (&[PROTO, 2, TUPLE, STOP], "no MARK"),
        (&[PROTO, 2, TUPLE1, STOP], "stack is empty"),
        (&[PROTO, 2, BINGET, 3, STOP], "memo entry 3"),
        (
            &[PROTO, 2, BINUNICODE, 0xff, 0xff, 0xff, 0x7f, STOP],
            "runs past the end",
        ),
        (
            &[PROTO, 2, BINUNICODE8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            "byte",
        ),
        (
            &[PROTO, 2, BININT1, 0, BININT1, 1, BININT1, 2, SETITEM, STOP],
            "not a container",
        ),
        (&[PROTO, 2, GLOBAL, b'a', b'b'], "end of line"),
        (&[PROTO, 2, NONE], "without a STOP"),
    ];
    for (pickle, expected) in cases {
        let e = run(pickle).err().unwrap_or_default();
        assert!(e.contains(expected), "{pickle:?}: {e}");
    }
    // Every prefix of a real state_dict pickle fails cleanly.
    let pickle = P::new().state_dict(&[("w", "FloatStorage", "0", &[2, 3])]).stop();
    for len in 0..pickle.len() {
        assert!(run(&pickle[..len]).is_err(), "prefix {len}");
    }
}

#[test]
fn deep_nesting_is_refused_without_recursion() {
    // 10,000 dicts each inside the previous one: the machine keeps them flat, the walk stops.
    let mut p = P::new().op(EMPTY_DICT);
    for _ in 0..10_000 {
        p = p.str("k").op(EMPTY_DICT);
    }
    for _ in 0..10_000 {
        p = p.op(SETITEM);
    }
    let pickle = p.stop();
    let bytes = zip(&[("archive/data.pkl", &pickle)]);
    let e = format_error(read("deep.pt", &bytes));
    assert!(e.contains("nested deeper than 32"), "{e}");
}

/// A 60,000-item tuple kept in the memo and passed to 20,000 calls: each call copies it (1.2
/// billion values) unless the machine counts copies against the pickle's size.
#[test]
fn arguments_copied_into_calls_are_budgeted() {
    let mut p = P::new().global("m", "f").op(BINPUT).raw(&[1]).op(POP).op(MARK);
    for _ in 0..60_000 {
        p = p.op(NONE);
    }
    p = p.op(TUPLE).op(BINPUT).raw(&[2]).op(POP);
    for _ in 0..20_000 {
        p = p.op(BINGET).raw(&[1]).op(BINGET).raw(&[2]).op(REDUCE).op(POP);
    }
    let bytes = zip(&[("archive/data.pkl", &p.op(NONE).stop())]);
    let started = std::time::Instant::now();
    let e = format_error(read("copies.pt", &bytes));
    assert!(e.contains("builds, copies or hashes more values"), "{e}");
    assert!(e.contains("than its limit of"), "the limit is named: {e}");
    assert!(started.elapsed().as_secs() < 5, "refused early");
}

/// Strings hashed or copied again and again cost their bytes each time: a megabyte key set into
/// one dict 300,000 times (each SETITEM hashes it), and a 4 MB name given to STACK_GLOBAL
/// 200,000 times (each copies it), are refused within the pickle's budget.
#[test]
fn strings_hashed_or_copied_are_budgeted_by_their_bytes() {
    let key = "k".repeat(1 << 20);
    let mut p = P::new().str(&key).op(BINPUT).raw(&[1]).op(POP).op(EMPTY_DICT);
    for _ in 0..300_000 {
        p = p.op(BINGET).raw(&[1]).op(NONE).op(SETITEM);
    }
    let hashed = zip(&[("archive/data.pkl", &p.stop())]);
    let name = "m".repeat(4 << 20);
    let mut p = P::new().str(&name).op(BINPUT).raw(&[1]).op(POP);
    for _ in 0..200_000 {
        p = p.op(BINGET).raw(&[1]).op(BINGET).raw(&[1]).op(STACK_GLOBAL).op(POP);
    }
    let copied = zip(&[("archive/data.pkl", &p.op(NONE).stop())]);
    for (file, bytes) in [("hashed.pt", hashed), ("copied.pt", copied)] {
        let started = std::time::Instant::now();
        let e = format_error(read(file, &bytes));
        assert!(e.contains("builds, copies or hashes more values"), "{file}: {e}");
        assert!(started.elapsed().as_secs_f64() < 2.0, "{file}: refused early");
        assert!(
            e.len() < 400,
            "{file}: a message to read, not the key: {} bytes",
            e.len()
        );
    }
}

/// A module's `_non_persistent_buffers_set` listing one megabyte name 200,000 times: building
/// the set hashes every item, so the walk charges each item's bytes.
#[test]
fn buffer_name_sets_are_budgeted_by_their_bytes() {
    let name = "b".repeat(1 << 20);
    let mut p = P::new().str(&name).op(BINPUT).raw(&[1]).op(POP).op(EMPTY_LIST).op(MARK);
    for _ in 0..200_000 {
        p = p.op(BINGET).raw(&[1]);
    }
    p = p
        .op(APPENDS)
        .op(BINPUT)
        .raw(&[2])
        .op(POP)
        .global("torch.nn.modules.linear", "Linear")
        .op(EMPTY_TUPLE)
        .op(REDUCE)
        .op(EMPTY_DICT)
        .str("_non_persistent_buffers_set")
        .op(BINGET)
        .raw(&[2])
        .op(SETITEM)
        .op(BUILD);
    let bytes = zip(&[("archive/data.pkl", &p.stop())]);
    let started = std::time::Instant::now();
    let e = format_error(read("set.pt", &bytes));
    assert!(e.contains("shared or named too often"), "{e}");
    assert!(started.elapsed().as_secs_f64() < 2.0, "refused early");
}

/// A tensor named with a megabyte: the messages quote the start of its name and its length.
#[test]
fn long_names_are_clipped_in_messages() {
    let name = "n".repeat(1 << 20);
    let pickle = P::new().state_dict(&[(&name, "FloatStorage", "0", &[2])]).stop();
    let bytes = zip(&[("m/data.pkl", &pickle), ("m/data/0", &f32_bytes(&[1.5, 2.5]))]);
    let tensors = read("m.pt", &bytes).unwrap();
    let e = to_model_layers(&tensors).unwrap_err().to_string();
    assert!(
        e.contains(&format!("{}… ({} bytes)", "n".repeat(60), 1 << 20)),
        "{}",
        &e[..e.len().min(400)]
    );
    assert!(e.len() < 2000, "{} bytes", e.len());
}

/// A dict of 50,000 entries no walk keeps (None keys), reached through 2,000 names: each visit
/// looks at all its entries unless the walk counts them.
#[test]
fn shared_containers_are_budgeted_by_the_walk() {
    let mut p = P::new().op(MARK);
    for _ in 0..50_000 {
        p = p.op(NONE).op(NONE);
    }
    p = p.op(DICT).op(BINPUT).raw(&[1]).op(POP).op(EMPTY_DICT).op(MARK);
    for i in 0..2_000 {
        p = p.str(&format!("k{i}")).op(BINGET).raw(&[1]);
    }
    let bytes = zip(&[("archive/data.pkl", &p.op(SETITEMS).stop())]);
    let started = std::time::Instant::now();
    let e = format_error(read("shared.pt", &bytes));
    assert!(e.contains("shared or named too often"), "{e}");
    assert!(started.elapsed().as_secs() < 5, "refused early");
}

// ---- torch.save zip files ----

fn sample_zip() -> Vec<u8> {
    let pickle = P::new()
        .state_dict(&[
            ("0.weight", "FloatStorage", "0", &[2, 3]),
            ("0.bias", "FloatStorage", "1", &[2]),
        ])
        .stop();
    zip(&[
        ("archive/data.pkl", &pickle),
        ("archive/byteorder", b"little"),
        ("archive/data/0", &f32_bytes(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0])),
        ("archive/data/1", &f32_bytes(&[0.5, -0.5])),
        ("archive/version", b"3\n"),
    ])
}

#[test]
fn reads_a_state_dict_zip() {
    let tensors = read("m.pt", &sample_zip()).unwrap();
    assert_eq!(
        tensors,
        vec![
            ("0.weight".to_string(), vec![2, 3], vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
            ("0.bias".to_string(), vec![2], vec![0.5, -0.5]),
        ]
    );
}

#[test]
fn reads_a_deflated_zip() {
    let pickle = P::new().state_dict(&[("w", "FloatStorage", "0", &[2])]).stop();
    let bytes = zip_with(&[("m/data.pkl", &pickle), ("m/data/0", &f32_bytes(&[1.5, 2.5]))], 8);
    assert_eq!(
        read("m.pt", &bytes).unwrap(),
        vec![("w".to_string(), vec![2], vec![1.5, 2.5])]
    );
}

#[test]
fn converts_every_float_type() {
    let pickle = P::new()
        .state_dict(&[
            ("f64", "DoubleStorage", "0", &[2]),
            ("f16", "HalfStorage", "1", &[4]),
            ("bf16", "BFloat16Storage", "2", &[2]),
        ])
        .stop();
    let f64s: Vec<u8> = [0.1f64, -3.0].iter().flat_map(|v| v.to_le_bytes()).collect();
    // f16: 1.0, -2.0, the smallest subnormal, infinity.
    let f16s: Vec<u8> = [0x3c00u16, 0xc000, 0x0001, 0x7c00]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    let bf16s: Vec<u8> = [0x3f80u16, 0xc0a0].iter().flat_map(|v| v.to_le_bytes()).collect();
    let bytes = zip(&[
        ("a/data.pkl", &pickle),
        ("a/data/0", &f64s),
        ("a/data/1", &f16s),
        ("a/data/2", &bf16s),
    ]);
    let tensors = read("a.pt", &bytes).unwrap();
    assert_eq!(tensors[0].2, vec![0.1f32, -3.0]);
    assert_eq!(tensors[1].2, vec![1.0, -2.0, 5.960_464_5e-8, f32::INFINITY]);
    assert_eq!(tensors[2].2, vec![1.0, -5.0]);
}

#[test]
fn offsets_and_strides() {
    // A row of a [2, 3] storage (offset 3), and its transpose (refused).
    let pickle = P::new()
        .global("collections", "OrderedDict")
        .op(EMPTY_TUPLE)
        .op(REDUCE)
        .op(MARK)
        .str("row")
        .tensor("FloatStorage", "0", 3, &[3], &[1])
        .op(SETITEMS)
        .stop();
    let data = f32_bytes(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    let bytes = zip(&[("a/data.pkl", &pickle), ("a/data/0", &data)]);
    assert_eq!(read("a.pt", &bytes).unwrap()[0].2, vec![4.0, 5.0, 6.0]);

    let pickle = P::new()
        .op(EMPTY_DICT)
        .str("t")
        .tensor("FloatStorage", "0", 0, &[3, 2], &[1, 3])
        .op(SETITEM)
        .stop();
    let e = format_error(read("t.pt", &zip(&[("a/data.pkl", &pickle), ("a/data/0", &data)])));
    assert!(e.starts_with("t.pt: ") && e.contains("t is not contiguous"), "{e}");

    // Past the end of the storage.
    let pickle = P::new()
        .op(EMPTY_DICT)
        .str("t")
        .tensor("FloatStorage", "0", 4, &[3], &[1])
        .op(SETITEM)
        .stop();
    let e = format_error(read("t.pt", &zip(&[("a/data.pkl", &pickle), ("a/data/0", &data)])));
    assert!(
        e.contains("needs 3 values from offset 4 but its storage holds 6"),
        "{e}"
    );
}

#[test]
fn checkpoint_dicts_and_integer_tensors() {
    // {'epoch': 3, 'state_dict': {'w': int64 tensor}}: the state_dict is taken, and its int64
    // tensor is named in the error.
    let pickle = P::new()
        .op(EMPTY_DICT)
        .op(MARK)
        .str("epoch")
        .int(3)
        .str("state_dict")
        .state_dict(&[("w", "LongStorage", "0", &[1])])
        .op(SETITEMS)
        .stop();
    let bytes = zip(&[("c/data.pkl", &pickle), ("c/data/0", &7i64.to_le_bytes())]);
    let e = format_error(read("c.pt", &bytes));
    assert!(e.contains("w holds int64 values"), "{e}");

    // The same with a float tensor: only the state_dict's tensors come back.
    let pickle = P::new()
        .op(EMPTY_DICT)
        .op(MARK)
        .str("optimizer")
        .state_dict(&[("exp_avg", "FloatStorage", "1", &[1])])
        .str("state_dict")
        .state_dict(&[("fc.weight", "FloatStorage", "0", &[1, 1])])
        .op(SETITEMS)
        .stop();
    let bytes = zip(&[
        ("c/data.pkl", &pickle),
        ("c/data/0", &f32_bytes(&[2.0])),
        ("c/data/1", &f32_bytes(&[9.0])),
    ]);
    assert_eq!(
        read("c.pt", &bytes).unwrap(),
        vec![("fc.weight".to_string(), vec![1, 1], vec![2.0])]
    );
}

/// A directory whose records all point at one entry would have it read (inflated, checked) once
/// per record: each record must have bytes of its own.
#[test]
fn zip_records_sharing_an_entry_are_refused() {
    for method in [0, 8] {
        let mut shared = zip_with(
            &[("archive/data.pkl", &[b'.'; 4000]), ("archive/data/0", &[7; 4000])],
            method,
        );
        let central = shared
            .windows(4)
            .enumerate()
            .filter(|(_, w)| *w == CENTRAL_HEADER.to_le_bytes())
            .map(|(at, _)| at)
            .nth(1)
            .unwrap();
        shared[central + 42..central + 46].copy_from_slice(&0u32.to_le_bytes());
        let err = format_error(read("shared.pt", &shared));
        assert!(err.contains("overlap: each entry must have its own bytes"), "{err}");
    }
}

#[test]
fn zip_problems_are_explained() {
    let good = sample_zip();
    // Truncated anywhere: an error, never a panic.
    for len in (0..good.len()).step_by(7) {
        assert!(read("cut.pt", &good[..len]).is_err(), "length {len}");
    }
    // Every single-byte corruption: Ok or Err, never a panic.
    for at in 0..good.len() {
        let mut bad = good.clone();
        bad[at] ^= 0x5a;
        let _ = read("bad.pt", &bad);
    }
    // A flipped data byte fails the CRC.
    let mut bad = good.clone();
    let at = good.windows(4).position(|w| w == 1.0f32.to_le_bytes()).unwrap();
    bad[at] ^= 1;
    assert!(format_error(read("bad.pt", &bad)).contains("CRC"));
    // Zip64 end record values.
    let mut zip64 = good.clone();
    let end = zip64.len() - 22;
    zip64[end + 16..end + 20].copy_from_slice(&u32::MAX.to_le_bytes());
    assert!(format_error(read("big.pt", &zip64)).contains("zip64"));
    // A zip that torch did not write.
    let other = zip(&[("readme.txt", b"hello")]);
    let e = format_error(read("other.zip", &other));
    assert!(e.contains("no data.pkl") && e.contains("readme.txt"), "{e}");
    // Big-endian tensors.
    let pickle = P::new().state_dict(&[("w", "FloatStorage", "0", &[1])]).stop();
    let big = zip(&[
        ("a/data.pkl", &pickle),
        ("a/byteorder", b"big"),
        ("a/data/0", &[0u8; 4]),
    ]);
    assert!(format_error(read("big.pt", &big)).contains("big byte order"));
    // A missing storage entry.
    let missing = zip(&[("a/data.pkl", &pickle)]);
    assert!(format_error(read("m.pt", &missing)).contains("data/0 is missing"));
}

#[test]
fn shared_storages_cannot_amplify_memory() {
    // 5,000 tensors all viewing the same 64 KB storage: refused by the element budget.
    let mut p = P::new().op(EMPTY_DICT).op(MARK);
    for i in 0..5_000 {
        p = p
            .str(&format!("t{i}"))
            .tensor("FloatStorage", "0", 0, &[0x40, 0x40], &[0x40, 1]);
    }
    let pickle = p.op(SETITEMS).stop();
    let storage = vec![0u8; 4 * 64 * 64];
    let e = format_error(read("amp.pt", &zip(&[("a/data.pkl", &pickle), ("a/data/0", &storage)])));
    assert!(
        e.contains("more than the") && e.contains("left of what a file this size can hold"),
        "{e}"
    );
}

// ---- Legacy files, safetensors, other inputs ----

#[test]
fn reads_a_legacy_stream() {
    let mut bytes = P::new().op(LONG1).raw(&[10]).raw(&LEGACY_MAGIC).stop();
    bytes.extend(P::new().op(BININT2).raw(&1001u16.to_le_bytes()).stop());
    bytes.extend(
        P::new()
            .op(EMPTY_DICT)
            .str("little_endian")
            .op(NEWTRUE)
            .op(SETITEM)
            .stop(),
    );
    // The data pickle: legacy persistent ids carry a sixth item, None.
    bytes.extend(
        P::new()
            .op(EMPTY_DICT)
            .str("w")
            .global("torch._utils", "_rebuild_tensor_v2")
            .op(MARK)
            .op(MARK)
            .str("storage")
            .global("torch", "FloatStorage")
            .str("140")
            .str("cpu")
            .int(2)
            .op(NONE)
            .op(TUPLE)
            .op(BINPERSID)
            .int(0)
            .ints(&[2])
            .ints(&[1])
            .op(NEWFALSE)
            .global("collections", "OrderedDict")
            .op(EMPTY_TUPLE)
            .op(REDUCE)
            .op(TUPLE)
            .op(REDUCE)
            .op(SETITEM)
            .stop(),
    );
    bytes.extend(P::new().op(EMPTY_LIST).str("140").op(APPEND).stop());
    bytes.extend(2u64.to_le_bytes());
    bytes.extend(f32_bytes(&[0.25, 4.0]));
    assert_eq!(
        read("old.pt", &bytes).unwrap(),
        vec![("w".to_string(), vec![2], vec![0.25, 4.0])]
    );
    // Cut short inside the storages.
    let e = format_error(read("old.pt", &bytes[..bytes.len() - 1]));
    assert!(
        e.contains("legacy format") && e.contains("truncated") && e.contains("re-save"),
        "{e}"
    );
}

#[test]
fn plain_pickles_and_unknown_files() {
    let e = format_error(read("p.pkl", &P::new().op(EMPTY_DICT).stop()));
    assert!(e.contains("not one written by torch.save"), "{e}");
    let e = format_error(read("x.onnx", b"\x08\x07\x12\x04onnx"));
    assert!(
        e.contains("not a PyTorch (.pt, .pth) or safetensors file") && e.contains("08 07 12"),
        "{e}"
    );
    assert!(format_error(read("e.pt", b"")).contains("empty"));
}

#[test]
fn reads_safetensors_of_every_float_type() {
    use safetensors::tensor::TensorView;
    let f32s = f32_bytes(&[1.0, 2.0]);
    let f16s: Vec<u8> = [0x3c00u16, 0x4000].iter().flat_map(|v| v.to_le_bytes()).collect();
    let f64s: Vec<u8> = [0.5f64].iter().flat_map(|v| v.to_le_bytes()).collect();
    let views = vec![
        ("b", TensorView::new(Dtype::F16, vec![2], &f16s).unwrap()),
        ("a", TensorView::new(Dtype::F32, vec![1, 2], &f32s).unwrap()),
        ("c", TensorView::new(Dtype::F64, vec![1], &f64s).unwrap()),
    ];
    let bytes = safetensors::serialize(views, None).unwrap();
    let mut tensors = read("m.safetensors", &bytes).unwrap();
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        tensors,
        vec![
            ("a".to_string(), vec![1, 2], vec![1.0, 2.0]),
            ("b".to_string(), vec![2], vec![1.0, 2.0]),
            ("c".to_string(), vec![1], vec![0.5]),
        ]
    );
    let ints = 5i32.to_le_bytes();
    let bytes = safetensors::serialize([("n", TensorView::new(Dtype::I32, vec![1], &ints).unwrap())], None).unwrap();
    assert!(format_error(read("i.safetensors", &bytes)).contains("n holds I32 values"));
}

// ---- Names and shapes ----

/// A PyTorch-layout MLP 784 -> hidden... -> 10 under `names(i)`, values numbering the
/// elements so transposition is visible.
fn pytorch_mlp(widths: &[usize], name: impl Fn(usize) -> String) -> Vec<NamedTensor> {
    let mut out = Vec::new();
    for (i, pair) in widths.windows(2).enumerate() {
        let (inputs, outputs) = (pair[0], pair[1]);
        let weight = (0..inputs * outputs).map(|v| v as f32).collect();
        out.push((format!("{}.weight", name(i)), vec![outputs, inputs], weight));
        out.push((format!("{}.bias", name(i)), vec![outputs], vec![i as f32; outputs]));
    }
    out
}

const REFERENCE: [usize; 5] = [784, 256, 128, 64, 10];

#[test]
fn maps_the_usual_namings() {
    let namings: [(&str, Box<dyn Fn(usize) -> String>); 5] = [
        ("sequential", Box::new(|i: usize| format!("{}", 3 * i))),
        ("no dropout", Box::new(|i: usize| format!("{}", 2 * i))),
        ("fc", Box::new(|i: usize| format!("fc{}", i + 1))),
        ("model.layers", Box::new(|i: usize| format!("model.layers.{}", 3 * i))),
        ("module.net", Box::new(|i: usize| format!("module.net.{}", 2 * i))),
    ];
    for (what, naming) in namings {
        let mut tensors = pytorch_mlp(&REFERENCE, naming);
        // Order in the file does not matter when the names are numbered.
        tensors.reverse();
        let layers = to_model_layers(&tensors).unwrap_or_else(|e| panic!("{what}: {e}"));
        assert_eq!(widths(&layers), REFERENCE, "{what}");
        let names: Vec<&str> = layers.iter().map(|t| t.0.as_str()).collect();
        assert_eq!(
            names[..4],
            ["layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias"],
            "{what}"
        );
        // [out, in] -> [in, out]: element (o, i) moves to (i, o).
        let (_, shape, values) = &layers[6];
        assert_eq!(shape, &vec![64, 10]);
        assert_eq!(values[0..3], [0.0, 64.0, 128.0], "{what}");
        assert_eq!(layers[7].2, vec![3.0; 10], "{what}");
    }
}

#[test]
fn numbers_order_fc10_after_fc2() {
    let widths_in: Vec<usize> = [784].into_iter().chain([20; 10]).chain([10]).collect();
    let tensors = pytorch_mlp(&widths_in, |i| format!("fc{}", i + 1));
    let mut shuffled = tensors.clone();
    shuffled.sort_by(|a, b| a.0.cmp(&b.0)); // fc1, fc10, fc11, fc2...
    let layers = to_model_layers(&shuffled).unwrap();
    assert_eq!(widths(&layers), widths_in);
    assert_eq!(layers[2 * 9 + 1].2, vec![9.0; 20], "fc10 is the tenth layer");
}

#[test]
fn unnumbered_names_keep_file_order() {
    let tensors = pytorch_mlp(&[784, 32, 10], |i| ["hidden", "out"][i].to_string());
    assert_eq!(widths(&to_model_layers(&tensors).unwrap()), [784, 32, 10]);
}

#[test]
fn mismatches_list_what_is_wrong() {
    // A layer missing from the middle.
    let mut tensors = pytorch_mlp(&REFERENCE, |i| format!("fc{}", i + 1));
    tensors.retain(|t| !t.0.starts_with("fc2."));
    let e = mismatch(to_model_layers(&tensors));
    assert!(
        e.contains("found fc1.weight [256, 784], fc1.bias [256], fc3.weight [64, 128]")
            && e.contains(
                "fc3.weight [64, 128] takes 128 inputs but the layer before it, fc1.weight [256, 784], gives 256"
            ),
        "{e}"
    );

    // A missing bias and an extra batch-norm layer.
    let mut tensors = pytorch_mlp(&REFERENCE, |i| format!("{}", 3 * i));
    tensors.retain(|t| t.0 != "3.bias");
    tensors.push(("bn.weight".into(), vec![256], vec![1.0; 256]));
    tensors.push(("bn.bias".into(), vec![256], vec![0.0; 256]));
    tensors.push(("bn.running_mean".into(), vec![256], vec![0.0; 256]));
    let e = mismatch(to_model_layers(&tensors));
    assert!(e.contains("3.weight [128, 256] has no 3.bias"), "{e}");
    assert!(e.contains("bn.weight [256] is not a Linear weight"), "{e}");
    assert!(e.contains("bn.running_mean [256] belongs to no Linear layer"), "{e}");

    // Wrong input and output widths.
    let e = mismatch(to_model_layers(&pytorch_mlp(&[1024, 64, 5], |i| format!("{i}"))));
    assert!(
        e.contains("the first layer, 0.weight [64, 1024], takes 1024 inputs"),
        "{e}"
    );
    assert!(
        e.contains("the last layer, 1.weight [5, 64], gives 5 outputs; the model needs 10"),
        "{e}"
    );

    // Nothing usable, and bad values.
    assert!(mismatch(to_model_layers(&[])).contains("no Linear layers"));
    let mut tensors = pytorch_mlp(&[784, 10], |_| "fc".into());
    tensors[1].2[0] = f32::NAN;
    assert!(mismatch(to_model_layers(&tensors)).contains("fc.* holds NaN"));
    let mut tensors = pytorch_mlp(&[784, 10], |_| "fc".into());
    tensors.push(tensors[0].clone());
    assert!(mismatch(to_model_layers(&tensors)).contains("fc.weight appears twice"));
}

#[test]
fn a_valid_but_different_network_is_named() {
    let layers = to_model_layers(&pytorch_mlp(&[784, 128, 10], |i| format!("{}", 2 * i))).unwrap();
    let e = match check_widths(&layers, &REFERENCE) {
        Err(WeightsError::Mismatch(e)) => e,
        other => panic!("{other:?}"),
    };
    assert_eq!(e, "the file holds a 784→128→10 network; expected 784→256→128→64→10");
    assert!(check_widths(&layers, &[784, 128, 10]).is_ok());
}

#[test]
fn export_inverts_the_mapping() {
    for (dropout, step) in [(true, 3), (false, 2)] {
        let pytorch = pytorch_mlp(&REFERENCE, |i| format!("{}", step * i));
        let layers = to_model_layers(&pytorch).unwrap();
        let mut shuffled = layers.clone();
        shuffled.reverse();
        assert_eq!(export(&shuffled, dropout), pytorch, "dropout {dropout}");
        assert_eq!(to_model_layers(&export(&layers, dropout)).unwrap(), layers);
    }
}

#[test]
fn transpose_helper() {
    assert_eq!(
        transpose(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0], 2, 3),
        [1.0, 4.0, 2.0, 5.0, 3.0, 6.0]
    );
    assert!(transpose(&[], 0, 5).is_empty());
}
