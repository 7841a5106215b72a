//! A real panic on demand, for the browser tests that prove the page survives one: the test
//! interface arms a file name (`inject_panic` in the page's module, `ToWorker::InjectPanic` in a
//! worker), and the next reader given a file of that name panics inside the module, exactly as
//! a reader bug would. Nothing arms it outside the test interface; a fresh module starts
//! disarmed, so the module that replaces a panicked one does not panic again.

use std::cell::RefCell;

thread_local! {
    static ARMED: RefCell<Option<String>> = const { RefCell::new(None) };
}

pub(crate) fn arm(file_name: String) {
    ARMED.with(|a| *a.borrow_mut() = Some(file_name));
}

/// Panics when `file_name` is the armed one.
pub(crate) fn check(file_name: &str) {
    if ARMED.with(|a| a.borrow().as_deref() == Some(file_name)) {
        panic!("a panic injected by the test interface while reading {file_name}");
    }
}
