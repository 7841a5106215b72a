//! A user's file read in slices inside a worker (`FileReaderSync`), as a `BufRead`: the CSV
//! reader streams it, so a dataset file of any size costs one slice of memory here and none in
//! the page, which hands the worker the `File` instead of its bytes.

use std::io::{BufRead, Read};

use wasm_bindgen::{JsCast, JsValue};
use web_sys::{File, FileReaderSync};

/// Bytes read from the file at a time.
const SLICE: f64 = (1 << 20) as f64;

pub(crate) struct FileChunks {
    file: File,
    reader: FileReaderSync,
    /// The next byte of the file to read, and the file's size.
    pos: f64,
    size: f64,
    buf: Vec<u8>,
    at: usize,
}

fn io_error(e: JsValue) -> std::io::Error {
    let text = e
        .dyn_ref::<js_sys::Error>()
        .map(|e| String::from(e.message()))
        .unwrap_or_else(|| format!("{e:?}"));
    std::io::Error::other(format!("the browser could not read the file ({text})"))
}

impl FileChunks {
    pub(crate) fn new(file: File) -> std::io::Result<Self> {
        Ok(Self {
            size: file.size(),
            file,
            reader: FileReaderSync::new().map_err(io_error)?,
            pos: 0.0,
            buf: Vec::new(),
            at: 0,
        })
    }

    /// The file's size in bytes.
    pub(crate) fn len(&self) -> u64 {
        self.size as u64
    }
}

impl BufRead for FileChunks {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        if self.at == self.buf.len() && self.pos < self.size {
            let end = (self.pos + SLICE).min(self.size);
            let slice = self.file.slice_with_f64_and_f64(self.pos, end).map_err(io_error)?;
            let array = self.reader.read_as_array_buffer(&slice).map_err(io_error)?;
            self.buf = js_sys::Uint8Array::new(&array).to_vec();
            self.at = 0;
            self.pos = end;
        }
        Ok(&self.buf[self.at..])
    }

    fn consume(&mut self, n: usize) {
        self.at = (self.at + n).min(self.buf.len());
    }
}

impl Read for FileChunks {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        out[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}
