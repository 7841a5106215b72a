//! Replays every input the fuzzers kept (tests/fuzz/corpus/<target>/, the minimised corpus of
//! `scripts/dev/fuzz.sh`) and every crasher they ever found (tests/fuzz/crashes/<target>/) through the
//! same harness the fuzz targets run: a reader that panics on any of them fails CI.

#[path = "../fuzz/harness.rs"]
mod harness;
#[path = "../fuzz/shapes.rs"]
mod shapes;

fn inputs(kind: &str, target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = crate::repo_file("tests/fuzz").join(kind).join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<_> = entries
        .map(|e| {
            let path = e.expect("readable fuzz folder").path();
            let bytes = std::fs::read(&path).expect("readable fuzz input");
            (path.display().to_string(), bytes)
        })
        .collect();
    files.sort();
    files
}

#[test]
fn every_kept_fuzz_input_is_answered_without_a_panic() {
    let mut replayed = 0;
    for (target, run) in harness::TARGETS {
        let corpus = inputs("corpus", target);
        // A target whose corpus went missing would pass this test without testing anything.
        assert!(
            corpus.len() >= 3,
            "tests/fuzz/corpus/{target} holds {} inputs; run scripts/dev/fuzz.sh {target}",
            corpus.len()
        );
        for (path, bytes) in corpus.iter().chain(inputs("crashes", target).iter()) {
            if std::panic::catch_unwind(|| run(bytes)).is_err() {
                panic!("{target}: {path} panics the reader");
            }
            replayed += 1;
        }
    }
    println!("replayed {replayed} fuzz inputs");
}
