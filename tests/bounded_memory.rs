#![cfg(not(target_arch = "wasm32"))]
//! Reading never allocates more than the bytes actually present need: a gzip stream that
//! inflates to gigabytes, a header that claims two billion images, a safetensors header that
//! claims 2^60 bytes each get a clear error, and the peak heap use while reading them stays near
//! what the largest real file (47 MB) needs. Measured with a counting allocator, so the figure is
//! exact and does not depend on what else the machine does.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use fashion_mlp::data::idx;

struct Counting;
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::SeqCst) + layout.size();
            PEAK.fetch_max(now, Ordering::SeqCst);
        }
        p
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::SeqCst);
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// Tests measure one at a time (the counters are process-wide).
static SERIAL: Mutex<()> = Mutex::new(());

/// Bytes allocated at the peak of `work`, above what was live before it.
fn peak_during<T>(work: impl FnOnce() -> T) -> (T, usize) {
    let before = LIVE.load(Ordering::SeqCst);
    PEAK.store(before, Ordering::SeqCst);
    let out = work();
    (out, PEAK.load(Ordering::SeqCst) - before)
}

const MB: usize = 1 << 20;
/// The largest real file: the training images, 60,000 x 784 bytes plus the header.
const LARGEST_FILE: usize = 60_000 * 784 + 16;

fn header(count: u32) -> Vec<u8> {
    let mut h = Vec::new();
    for w in [0x803u32, count, 28, 28] {
        h.extend_from_slice(&w.to_be_bytes());
    }
    h
}

/// Gzip of `head` followed by `zeros` zero bytes, written in pieces (never held whole).
fn bomb(head: &[u8], zeros: usize) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(head).unwrap();
    let block = vec![0u8; MB];
    for _ in 0..zeros / MB {
        enc.write_all(&block).unwrap();
    }
    enc.finish().unwrap()
}

#[test]
fn a_gzip_stream_that_inflates_to_gigabytes_stops_after_the_announced_data() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    // A header announcing the largest real file, then 2 GiB where 47 MB belong.
    let gz = bomb(&header(60_000), 2048 * MB);
    let (err, peak) = peak_during(|| idx::parse_images("train-images-idx3-ubyte.gz", &gz).unwrap_err());
    assert_eq!(
        err.to_string(),
        "train-images-idx3-ubyte.gz: unexpected data after the 60,000 images the header announces"
    );
    eprintln!(
        "2 GiB gzip bomb ({} KB): peak heap {:.1} MB",
        gz.len() / 1000,
        peak as f64 / MB as f64
    );
    assert!(peak < LARGEST_FILE + 4 * MB, "peak {peak} bytes");
}

#[test]
fn a_header_that_claims_billions_is_refused_before_inflating() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let gz = bomb(&header(2_000_000_000), 512 * MB);
    let (err, peak) = peak_during(|| idx::parse_images("x.gz", &gz).unwrap_err());
    assert!(err.to_string().contains("2,000,000,000 images"), "{err}");
    eprintln!(
        "header claiming 2e9 images: peak heap {:.2} MB",
        peak as f64 / MB as f64
    );
    assert!(peak < MB, "peak {peak} bytes");
}

#[test]
fn a_real_sized_file_needs_one_copy() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut raw = header(60_000);
    raw.resize(LARGEST_FILE, 7);
    let gz = bomb(&raw, 0);
    let (images, peak) = peak_during(|| idx::parse_images("train.gz", &gz).unwrap());
    assert_eq!(images.count, 60_000);
    assert!(peak < LARGEST_FILE + 4 * MB, "peak {peak} bytes");
}

#[test]
fn a_safetensors_header_that_claims_exabytes_is_an_error() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let json = format!(
        r#"{{"layers.0.weight":{{"dtype":"F32","shape":[268435456,1073741824],"data_offsets":[0,{}]}}}}"#,
        1u64 << 60
    );
    let mut bytes = (json.len() as u64).to_le_bytes().to_vec();
    bytes.extend_from_slice(json.as_bytes());
    bytes.extend_from_slice(&[0; 64]);
    let (err, peak) = peak_during(|| {
        fashion_mlp::weights::from_bytes(&bytes, &fashion_mlp::backend::cpu())
            .map(|_| ())
            .unwrap_err()
    });
    assert!(
        err.to_string().starts_with("not a model file this app can read"),
        "{err}"
    );
    assert!(peak < MB, "peak {peak} bytes");
    // A header length beyond the file is refused too.
    let mut lying = (1u64 << 60).to_le_bytes().to_vec();
    lying.extend_from_slice(b"{}");
    assert!(fashion_mlp::weights::from_bytes(&lying, &fashion_mlp::backend::cpu()).is_err());
}
