//! The link between the page's two CPU workers when they share each batch: a SharedArrayBuffer
//! the page made (it exists only where the page is cross-origin isolated) holding, per worker,
//! two gradient slots used turn about, and three counters: each worker's steps done and a stop
//! flag. A worker writes its shard's gradient to its slot, publishes its step count, waits for the
//! other's (`Atomics.wait`: workers may block), then adds the other's slot in. Two slots each
//! because the faster worker may write its next step's gradient while the other still reads.

use js_sys::{Atomics, Float32Array, Int32Array, SharedArrayBuffer};
use wasm_bindgen::JsValue;

use crate::train::cpu::Exchange;

/// Counters before the slots: steps of worker 0, steps of worker 1, stop, and one unused so
/// that the slots start on 16 bytes.
const HEADER: u32 = 4;
const STOP: u32 = 2;
/// How long a wait lasts before the stop flag is looked at again.
const WAIT_MS: f64 = 500.0;
/// Worker 0 runs the run (its pauses are the run's); worker 1 only follows. Worker 0 gives up on
/// a partner that has not answered for this long rather than hang the run.
const PATIENCE_MS: f64 = 60_000.0;

/// Floats a link's buffer holds for gradients of `len` values (loss and hits included).
pub fn floats_needed(len: usize) -> usize {
    HEADER as usize + 4 * len
}

pub struct SharedExchange {
    counters: Int32Array,
    floats: Float32Array,
    index: u32,
    len: u32,
    steps: i32,
    theirs: Vec<f32>,
}

impl SharedExchange {
    /// Worker `index` (0 or 1) of a pair exchanging `len` values per step through `buffer`.
    pub fn new(buffer: &SharedArrayBuffer, index: usize, len: usize) -> Result<Self, String> {
        let bytes = buffer.byte_length() as usize;
        if index > 1 {
            return Err(format!("worker {index} of a pair: only 0 and 1 exist"));
        }
        if bytes < floats_needed(len) * 4 {
            return Err(format!(
                "the shared buffer has {bytes} bytes; this model needs {}",
                floats_needed(len) * 4
            ));
        }
        let value: &JsValue = buffer.as_ref();
        Ok(Self {
            counters: Int32Array::new_with_byte_offset_and_length(value, 0, HEADER),
            floats: Float32Array::new(value),
            index: index as u32,
            len: len as u32,
            steps: 0,
            theirs: vec![0.0; len],
        })
    }

    fn slot(&self, worker: u32, step: i32) -> Float32Array {
        let start = HEADER + (worker * 2 + (step as u32 & 1)) * self.len;
        self.floats.subarray(start, start + self.len)
    }

    fn stopped(&self) -> bool {
        !matches!(Atomics::load(&self.counters, STOP), Ok(0))
    }

    /// Tells the other worker that this one will not come back (a run stopped, failed or ended).
    fn stop(&self) {
        let _ = Atomics::store(&self.counters, STOP, 1);
        for i in 0..=STOP {
            let _ = Atomics::notify(&self.counters, i);
        }
    }
}

impl Exchange for SharedExchange {
    fn add_others(&mut self, grads: &mut [f32]) -> Result<(), String> {
        if grads.len() != self.len as usize {
            return Err(format!(
                "{} values to exchange, the link holds {}",
                grads.len(),
                self.len
            ));
        }
        let step = self.steps;
        self.slot(self.index, step).copy_from(grads);
        self.steps += 1;
        let js = |e: JsValue| format!("{e:?}");
        Atomics::store(&self.counters, self.index, self.steps).map_err(js)?;
        Atomics::notify(&self.counters, self.index).map_err(js)?;
        let other = 1 - self.index;
        let mut waited = 0.0;
        loop {
            let theirs = Atomics::load(&self.counters, other).map_err(js)?;
            if theirs >= self.steps {
                break;
            }
            if self.stopped() {
                return Err("the other CPU worker stopped".into());
            }
            if self.index == 0 && waited >= PATIENCE_MS {
                return Err(format!(
                    "the other CPU worker has not answered for {} s",
                    PATIENCE_MS / 1000.0
                ));
            }
            Atomics::wait_with_timeout(&self.counters, other, theirs, WAIT_MS).map_err(js)?;
            waited += WAIT_MS;
        }
        self.slot(other, step).copy_to(&mut self.theirs);
        // Addition commutes: both workers get the same bits, those of one worker adding both.
        grads.iter_mut().zip(&self.theirs).for_each(|(g, t)| *g += t);
        Ok(())
    }
}

impl Drop for SharedExchange {
    fn drop(&mut self) {
        self.stop();
    }
}
