//! What the fuzz targets share: the harness (also replayed by `tests/native/fuzz_replay.rs`) and an
//! allocator that turns an allocation beyond the readers' limits into a crash libFuzzer keeps.

use std::alloc::{GlobalAlloc, Layout, System};
use std::io::Write;
use std::sync::atomic::{AtomicUsize, Ordering};

#[path = "../../tests/fuzz/harness.rs"]
pub mod harness;
#[path = "../../tests/fuzz/shapes.rs"]
pub mod shapes;

/// No reader may ask for more than the largest real file of its kind needs: Fashion-MNIST's
/// training images are 47 MB once inflated (plus the byte that detects trailing data).
const MAX_ONE_ALLOCATION: usize = 64 << 20;
/// Live heap across a whole input: the file, one parse of it and its working copies.
const MAX_LIVE: usize = 256 << 20;

struct Bounded;
static LIVE: AtomicUsize = AtomicUsize::new(0);

fn refuse(what: &str) -> ! {
    // No formatting: it could allocate inside the allocator.
    let _ = std::io::stderr().write_all(what.as_bytes());
    std::process::abort()
}

unsafe impl GlobalAlloc for Bounded {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.size() > MAX_ONE_ALLOCATION {
            refuse("fuzz: one allocation over 64 MiB\n");
        }
        if LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size() > MAX_LIVE {
            refuse("fuzz: over 256 MiB live\n");
        }
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Bounded = Bounded;
