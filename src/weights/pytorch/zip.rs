//! The zip container of torch.save (PyTorch >= 1.6).
//!
//! Written here rather than taken from the `zip` crate: torch writes every entry stored
//! (uncompressed), so reading one is a walk of the central directory plus a CRC; the `zip` crate's
//! API has changed with most of its recent major versions, and this keeps the wasm bundle free of
//! its codecs. Deflated entries (a file re-zipped by hand) are inflated, and every entry's CRC-32
//! computed, with flate2, which the crate already uses for gzipped IDX files. Zip64 is refused:
//! the model files here are ~1 MB.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::Read;
use std::rc::Rc;

use flate2::Crc;

use super::pickle::Machine;
use super::tensors::{materialize, select_tensors};
use super::{MAX_INFLATED, MAX_PICKLE_BYTES, Res, clip, u16_at, u32_at};
use crate::weights::NamedTensor;

pub(super) const LOCAL_HEADER: u32 = 0x0403_4b50;
pub(super) const CENTRAL_HEADER: u32 = 0x0201_4b50;
pub(super) const END_OF_DIRECTORY: u32 = 0x0605_4b50;

/// One entry of the central directory.
pub(super) struct ZipEntry {
    pub(super) name: String,
    pub(super) flags: u16,
    pub(super) method: u16,
    pub(super) crc: u32,
    pub(super) compressed: usize,
    pub(super) size: usize,
    /// Offset of the entry's local header.
    pub(super) header: usize,
}

pub(super) fn cut_short(what: &str) -> String {
    format!("the zip archive's {what} is cut short or damaged (is the file truncated?)")
}

pub(super) const ZIP64: &str = "the zip archive uses zip64 (over 4 GB or 65,535 entries), which this reader does not \
                     handle; a file that large is not this model";

/// The central directory: every entry's name, sizes and where its data is.
pub(super) fn zip_entries(data: &[u8]) -> Res<Vec<ZipEntry>> {
    // The end record is the last 22 bytes plus a comment of up to 65,535 bytes; its comment
    // length must reach exactly to the end of the file.
    let last = data.len().saturating_sub(22);
    let end = (last.saturating_sub(u16::MAX.into())..=last)
        .rev()
        .find(|&at| {
            u32_at(data, at) == Some(END_OF_DIRECTORY)
                && u16_at(data, at + 20).map(|comment| at + 22 + usize::from(comment)) == Some(data.len())
        })
        .ok_or_else(|| cut_short("end record"))?;
    let field16 = |offset: usize| u16_at(data, end + offset).ok_or_else(|| cut_short("end record"));
    let field32 = |offset: usize| u32_at(data, end + offset).ok_or_else(|| cut_short("end record"));
    let (disk, directory_disk, count) = (field16(4)?, field16(6)?, field16(10)?);
    let (directory_size, directory_offset) = (field32(12)?, field32(16)?);
    if count == u16::MAX || directory_size == u32::MAX || directory_offset == u32::MAX {
        return Err(ZIP64.into());
    }
    if disk != 0 || directory_disk != 0 {
        return Err("the zip archive is split over several files".into());
    }
    let mut at = directory_offset as usize;
    let directory_end = at
        .checked_add(directory_size as usize)
        .filter(|&e| e <= end)
        .ok_or_else(|| cut_short("central directory"))?;
    let mut entries = Vec::with_capacity(usize::from(count));
    for _ in 0..count {
        if at >= directory_end {
            return Err(cut_short("central directory"));
        }
        let (entry, length) = central_record(data.get(at..directory_end).unwrap_or_default())
            .ok_or_else(|| cut_short("central directory"))??;
        entries.push(entry);
        at += length;
    }
    // Each record's entry is a stretch of the file of its own, before the directory: records
    // pointing at one entry (to have it inflated or checked once per record) or at overlapping
    // ones are refused, so reading every entry costs at most the file's size, and inflating them
    // at most MAX_INFLATED in all.
    let mut order: Vec<&ZipEntry> = entries.iter().collect();
    order.sort_by_key(|e| e.header);
    let mut inflated = 0usize;
    for (i, e) in order.iter().enumerate() {
        let next = order.get(i + 1).map_or(directory_offset as usize, |n| n.header);
        if e.header.checked_add(30 + e.compressed).is_none_or(|end| end > next) {
            let other = order.get(i + 1).map_or("the central directory", |n| n.name.as_str());
            return Err(format!(
                "the zip archive's entries {} and {} overlap: each entry must have its own bytes",
                clip(&e.name),
                clip(other)
            ));
        }
        if e.method != 0 {
            inflated = inflated.saturating_add(e.size);
        }
    }
    if inflated > MAX_INFLATED {
        return Err(format!(
            "the zip archive's entries would inflate to {inflated} bytes in all, over the limit of {MAX_INFLATED} for a model"
        ));
    }
    Ok(entries)
}

/// One central directory record at the start of `record`: the entry and the record's length.
/// `None` when the record is cut short; `Some(Err)` for zip64 sizes.
pub(super) fn central_record(record: &[u8]) -> Option<Res<(ZipEntry, usize)>> {
    if u32_at(record, 0)? != CENTRAL_HEADER {
        return None;
    }
    let flags = u16_at(record, 8)?;
    let method = u16_at(record, 10)?;
    let crc = u32_at(record, 16)?;
    let compressed = u32_at(record, 20)?;
    let size = u32_at(record, 24)?;
    let name_len = usize::from(u16_at(record, 28)?);
    let extra_len = usize::from(u16_at(record, 30)?);
    let comment_len = usize::from(u16_at(record, 32)?);
    let header = u32_at(record, 42)?;
    let name = record.get(46..46 + name_len)?;
    if compressed == u32::MAX || size == u32::MAX || header == u32::MAX {
        return Some(Err(ZIP64.into()));
    }
    let entry = ZipEntry {
        // torch writes UTF-8 names (flag bit 11); a stray byte only spoils that entry's name.
        name: String::from_utf8_lossy(name).into_owned(),
        flags,
        method,
        crc,
        compressed: compressed as usize,
        size: size as usize,
        header: header as usize,
    };
    Some(Ok((entry, 46 + name_len + extra_len + comment_len)))
}

/// An entry's bytes, checked against its CRC. Sizes come from the central directory: torch sets
/// flag bit 3 and leaves the local header's sizes at zero.
pub(super) fn entry_data<'a>(data: &'a [u8], entry: &ZipEntry) -> Res<Cow<'a, [u8]>> {
    let damaged = || cut_short(&format!("entry {}", clip(&entry.name)));
    let local = data.get(entry.header..).ok_or_else(damaged)?;
    if u32_at(local, 0) != Some(LOCAL_HEADER) {
        return Err(damaged());
    }
    let name_len = usize::from(u16_at(local, 26).ok_or_else(damaged)?);
    let extra_len = usize::from(u16_at(local, 28).ok_or_else(damaged)?);
    let start = 30 + name_len + extra_len;
    let raw = local
        .get(start..start.checked_add(entry.compressed).ok_or_else(damaged)?)
        .ok_or_else(damaged)?;
    if entry.flags & 1 != 0 {
        return Err(format!("{} is encrypted", clip(&entry.name)));
    }
    let bytes = match entry.method {
        0 if entry.compressed == entry.size => Cow::Borrowed(raw),
        0 => return Err(damaged()),
        8 => {
            if entry.size > MAX_INFLATED {
                return Err(format!(
                    "{} would inflate to {} bytes, over the limit of {MAX_INFLATED} for an entry",
                    clip(&entry.name),
                    entry.size
                ));
            }
            // Reserve from the data actually present, not from the declared size.
            let mut out = Vec::with_capacity(entry.size.min(raw.len().saturating_mul(4)));
            flate2::read::DeflateDecoder::new(raw)
                .take(entry.size as u64 + 1)
                .read_to_end(&mut out)
                .map_err(|e| format!("{}: corrupt deflate data: {e}", clip(&entry.name)))?;
            if out.len() != entry.size {
                return Err(damaged());
            }
            Cow::Owned(out)
        }
        method => {
            return Err(format!(
                "{} is compressed with zip method {method}; torch.save writes entries uncompressed \
                 (was the file re-zipped?)",
                clip(&entry.name)
            ));
        }
    };
    let mut crc = Crc::new();
    crc.update(&bytes);
    if crc.sum() != entry.crc {
        return Err(format!(
            "{} fails its CRC check: the file is damaged",
            clip(&entry.name)
        ));
    }
    Ok(bytes)
}

/// A `torch.save` zip: `<root>/data.pkl` is the pickle, `<root>/data/<key>` each storage's bytes,
/// `<root>/byteorder` says `little` (absent in files from before PyTorch 1.10: little too).
pub(super) fn read_torch_zip(data: &[u8], budget: &mut usize) -> Res<Vec<NamedTensor>> {
    let entries = zip_entries(data)?;
    // The root folder is named after the file when it was saved (`archive/` for in-memory saves).
    let roots: Vec<&str> = entries
        .iter()
        .filter_map(|e| e.name.strip_suffix("data.pkl"))
        .filter(|root| root.is_empty() || (root.ends_with('/') && root.matches('/').count() == 1))
        .collect();
    let root = match roots.as_slice() {
        [root] => *root,
        [] => {
            let names: Vec<&str> = entries.iter().take(6).map(|e| e.name.as_str()).collect();
            return Err(format!(
                "a zip archive, but not one written by torch.save: no data.pkl inside (it holds {})",
                if names.is_empty() {
                    "nothing".to_string()
                } else {
                    names.join(", ")
                }
            ));
        }
        _ => return Err("the zip archive holds several data.pkl files".into()),
    };
    let by_name: HashMap<&str, &ZipEntry> = entries.iter().map(|e| (e.name.as_str(), e)).collect();
    if let Some(entry) = by_name.get(format!("{root}byteorder").as_str()) {
        let order = entry_data(data, entry)?;
        if order[..] != b"little"[..] {
            return Err(format!(
                "the tensors were saved in {} byte order; only little-endian files can be read",
                String::from_utf8_lossy(&order)
            ));
        }
    }
    let pickle_entry = by_name
        .get(format!("{root}data.pkl").as_str())
        .ok_or_else(|| cut_short("data.pkl"))?;
    if pickle_entry.size > MAX_PICKLE_BYTES {
        return Err(format!(
            "data.pkl is {} bytes, over the limit of {MAX_PICKLE_BYTES} for a model's state_dict",
            pickle_entry.size
        ));
    }
    let pickle = entry_data(data, pickle_entry)?;
    let mut machine = Machine::new(&pickle, 0, false);
    let top = machine.run()?;
    let wanted = select_tensors(&machine, &top)?;

    // Several tensors may share a storage: read each entry once.
    let mut storages: HashMap<Rc<str>, Cow<[u8]>> = HashMap::new();
    let mut out = Vec::with_capacity(wanted.len());
    for (name, tensor) in wanted {
        let key = &tensor.storage;
        if !storages.contains_key(key) {
            let entry = by_name.get(format!("{root}data/{key}").as_str()).ok_or_else(|| {
                format!(
                    "{}: its storage data/{} is missing from the archive",
                    clip(&name),
                    clip(&key)
                )
            })?;
            storages.insert(key.clone(), entry_data(data, entry)?);
        }
        let bytes: &[u8] = storages.get(key).map(|b| &**b).unwrap_or_default();
        out.push(materialize(name, &tensor, bytes, budget)?);
    }
    Ok(out)
}
