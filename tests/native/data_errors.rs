//! Every class of bad dataset input gives a typed error whose message names the file and problem.

use std::io::Write;

use fashion_mlp::data::dataset::Dataset;
use fashion_mlp::data::{csv, idx};
use fashion_mlp::error::DataError;

fn images(n: usize) -> Vec<u8> {
    idx::encode_images(&vec![7u8; n * 784], n)
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

#[test]
fn valid_idx_round_trips_raw_and_gzipped() {
    let labels = idx::encode_labels(&[0, 1, 9]);
    let raw = Dataset::from_idx("i", &images(3), "l", &labels).unwrap();
    let gz = Dataset::from_idx("i", &gzip(&images(3)), "l", &gzip(&labels)).unwrap();
    assert_eq!(raw, gz);
    assert_eq!(raw.len(), 3);
    assert_eq!(raw.labels(), &[0, 1, 9]);
}

#[test]
fn corrupt_gzip_is_reported() {
    let mut gz = gzip(&images(2));
    let mid = gz.len() / 2;
    for b in &mut gz[10..mid] {
        *b ^= 0x5a;
    }
    let err = idx::parse_images("train-images.gz", &gz).unwrap_err();
    assert!(matches!(err, DataError::Gzip { .. }), "{err:?}");
    assert!(
        err.to_string().contains("train-images.gz") && err.to_string().contains("corrupt gzip"),
        "{err}"
    );
}

#[test]
fn wrong_magic_names_the_file_and_numbers() {
    let err = idx::parse_images("x.idx", &idx::encode_labels(&[1, 2])).unwrap_err();
    assert!(matches!(err, DataError::BadMagic { found: 0x801, .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("x.idx") && msg.contains("0x00000801") && msg.contains("0x00000803"),
        "{msg}"
    );
    let err = idx::parse_labels("y.idx", &images(1)).unwrap_err();
    assert!(matches!(err, DataError::BadMagic { found: 0x803, .. }), "{err:?}");
}

#[test]
fn truncated_header_and_payload() {
    let err = idx::parse_images("a", &images(1)[..10]).unwrap_err();
    assert!(
        matches!(err, DataError::TruncatedHeader { len: 10, need: 16, .. }),
        "{err:?}"
    );
    let full = images(3);
    let err = idx::parse_images("a", &full[..full.len() - 100]).unwrap_err();
    assert_eq!(
        err,
        DataError::TruncatedPayload {
            file: "a".into(),
            what: "images",
            expected: 3,
            found: 2
        }
    );
    assert_eq!(
        err.to_string(),
        "a: truncated: the header announces 3 images but the file holds 2"
    );
    let mut long = images(1);
    long.push(0);
    let err = idx::parse_images("a", &long).unwrap_err();
    assert!(matches!(err, DataError::TrailingBytes { count: 1, .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "a: unexpected data after the 1 images the header announces"
    );
    let lab = idx::encode_labels(&[1, 2, 3]);
    assert!(matches!(
        idx::parse_labels("l", &lab[..9]).unwrap_err(),
        DataError::TruncatedPayload { .. }
    ));
}

#[test]
fn wrong_dimensions_are_rejected() {
    let mut bytes = images(1);
    bytes[11] = 32; // rows = 32
    let err = idx::parse_images("big.idx", &bytes).unwrap_err();
    assert!(
        matches!(err, DataError::BadDimensions { rows: 32, cols: 28, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("32x28"), "{err}");
}

#[test]
fn counts_that_disagree() {
    let err = Dataset::from_idx("i", &images(3), "l", &idx::encode_labels(&[1, 2])).unwrap_err();
    assert_eq!(err, DataError::CountMismatch { images: 3, labels: 2 });
    assert!(err.to_string().contains("3 images but 2 labels"));
}

#[test]
fn label_out_of_range() {
    let err = idx::parse_labels("lab", &idx::encode_labels(&[1, 12, 3])).unwrap_err();
    assert_eq!(
        err,
        DataError::BadLabel {
            file: "lab".into(),
            index: 1,
            label: 12
        }
    );
}

#[test]
fn empty_files() {
    assert!(matches!(
        idx::parse_images("e", &[]).unwrap_err(),
        DataError::Empty { .. }
    ));
    assert!(matches!(
        idx::parse_labels("e", &[]).unwrap_err(),
        DataError::Empty { .. }
    ));
    assert!(matches!(csv::parse("e.csv", b"").unwrap_err(), DataError::Empty { .. }));
    let err = csv::parse("h.csv", csv::encode(&[], &[]).as_bytes()).unwrap_err();
    assert!(matches!(err, DataError::CsvNoRows { .. }), "{err:?}");
}

fn csv_rows(rows: &[(u8, u8)]) -> String {
    let pixels: Vec<u8> = rows.iter().flat_map(|&(_, p)| vec![p; 784]).collect();
    let labels: Vec<u8> = rows.iter().map(|&(l, _)| l).collect();
    csv::encode(&pixels, &labels)
}

#[test]
fn csv_parses_with_header_and_crlf() {
    let text = csv_rows(&[(3, 0), (9, 255)]).replace('\n', "\r\n");
    let d = Dataset::from_csv("k.csv", text.as_bytes()).unwrap();
    assert_eq!(d.labels(), &[3, 9]);
    assert_eq!(d.image(1).unwrap()[0], 255);
}

fn replace_line(text: &str, line: usize, f: impl Fn(&str) -> String) -> String {
    text.lines()
        .enumerate()
        .map(|(i, l)| if i + 1 == line { f(l) } else { l.to_string() })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn csv_wrong_column_count_names_the_line() {
    let text = replace_line(&csv_rows(&[(1, 5), (2, 5)]), 3, |l| format!("{l},7"));
    let err = csv::parse("k.csv", text.as_bytes()).unwrap_err();
    assert_eq!(
        err,
        DataError::CsvTooManyColumns {
            file: "k.csv".into(),
            line: 3
        }
    );
    assert!(err.to_string().contains("k.csv, line 3"), "{err}");
    let text = replace_line(&csv_rows(&[(1, 5), (2, 5)]), 2, |l| {
        l.rsplit_once(',').unwrap().0.to_string()
    });
    let err = csv::parse("k.csv", text.as_bytes()).unwrap_err();
    assert_eq!(
        err,
        DataError::CsvColumns {
            file: "k.csv".into(),
            line: 2,
            found: 784
        }
    );
}

/// A hostile row costs what its bytes cost: a line of commas is refused by its length, or by
/// its 786th cell, without collecting its cells first.
#[test]
fn csv_lines_of_commas_are_refused_early() {
    let long = format!("{}\n", ",".repeat(40_000_000));
    let err = csv::parse("commas.csv", long.as_bytes()).unwrap_err();
    assert_eq!(
        err,
        DataError::CsvLineTooLong {
            file: "commas.csv".into(),
            line: 1,
            bytes: 40_000_000,
            limit: csv::MAX_LINE_BYTES,
            more: false
        }
    );
    assert!(
        err.to_string().contains("commas.csv, line 1: 40000000 bytes long"),
        "{err}"
    );
    let many = format!("{}\n", "0,".repeat(20_000));
    let err = csv::parse("commas.csv", many.as_bytes()).unwrap_err();
    assert_eq!(
        err,
        DataError::CsvTooManyColumns {
            file: "commas.csv".into(),
            line: 1
        }
    );
}

/// More rows than a Fashion-MNIST file holds are refused at the first one too many, read from
/// a stream of valid rows that never ends (so nothing holds the file whole); a long line split
/// across reads is measured whole.
#[test]
fn csv_rows_past_the_dataset_are_refused_while_streaming() {
    let row = csv_rows(&[(4, 9)]).lines().nth(1).unwrap().to_string() + "\n";
    let endless = std::io::BufReader::new(Rows(row.into_bytes(), 0));
    let err = csv::read("rows.csv", endless).unwrap_err();
    assert_eq!(
        err,
        DataError::CsvTooManyRows {
            file: "rows.csv".into(),
            line: 60_001,
            max: 60_000
        }
    );
    assert!(
        err.to_string()
            .contains("rows.csv, line 60001: one row more than the 60,000 images"),
        "{err}"
    );
    let long = format!("{}\r\n1,2\n", ",".repeat(3 * csv::MAX_LINE_BYTES));
    let small_reads = std::io::BufReader::with_capacity(1000, long.as_bytes());
    assert_eq!(
        csv::read("commas.csv", small_reads).unwrap_err(),
        DataError::CsvLineTooLong {
            file: "commas.csv".into(),
            line: 1,
            bytes: 3 * csv::MAX_LINE_BYTES,
            limit: csv::MAX_LINE_BYTES,
            more: false
        }
    );
    // A line of 100 MB is measured as far as 64 MiB.
    let huge = std::io::BufReader::new(std::io::Read::take(std::io::repeat(b','), 100 << 20));
    let err = csv::read("huge.csv", huge).unwrap_err();
    assert!(
        matches!(err, DataError::CsvLineTooLong { bytes, more: true, .. } if bytes <= 64 << 20 && bytes > 63 << 20),
        "{err:?}"
    );
    assert!(err.to_string().contains("line 1: more than 6"), "{err}");
}

/// The same row over and over, as a reader.
struct Rows(Vec<u8>, usize);

impl std::io::Read for Rows {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut n = 0;
        while n < buf.len() {
            let take = (self.0.len() - self.1).min(buf.len() - n);
            buf[n..n + take].copy_from_slice(&self.0[self.1..self.1 + take]);
            n += take;
            self.1 = (self.1 + take) % self.0.len();
        }
        Ok(n)
    }
}

#[test]
fn csv_non_numeric_cell() {
    let text = replace_line(&csv_rows(&[(1, 5), (2, 5)]), 2, |l| l.replacen(",5", ",abc", 1));
    let err = csv::parse("k.csv", text.as_bytes()).unwrap_err();
    assert_eq!(
        err,
        DataError::CsvNotNumber {
            file: "k.csv".into(),
            line: 2,
            column: 2,
            cell: "abc".into()
        }
    );
}

#[test]
fn csv_label_and_pixel_ranges() {
    let text = replace_line(&csv_rows(&[(1, 5)]), 2, |l| l.replacen("1,", "10,", 1));
    assert_eq!(
        csv::parse("k", text.as_bytes()).unwrap_err(),
        DataError::CsvLabel {
            file: "k".into(),
            line: 2,
            value: 10
        }
    );
    let text = replace_line(&csv_rows(&[(1, 5)]), 2, |l| format!("{},256", &l[..l.len() - 2]));
    let err = csv::parse("k", text.as_bytes()).unwrap_err();
    assert_eq!(
        err,
        DataError::CsvPixel {
            file: "k".into(),
            line: 2,
            column: 785,
            value: 256
        }
    );
    let text = replace_line(&csv_rows(&[(1, 5)]), 2, |l| l.replacen(",5", ",-1", 1));
    assert!(matches!(
        csv::parse("k", text.as_bytes()).unwrap_err(),
        DataError::CsvPixel { value: -1, .. }
    ));
}

#[test]
fn missing_files_in_a_directory() {
    let dir = tempfile::tempdir().unwrap();
    let err = Dataset::load_idx_dir(dir.path(), fashion_mlp::data::dataset::Split::Train).unwrap_err();
    assert!(matches!(err, DataError::Missing { .. }), "{err:?}");
    assert!(err.to_string().contains("train-images-idx3-ubyte.gz"), "{err}");
}

#[test]
fn seeded_sample_is_reproducible_and_subset() {
    let labels: Vec<u8> = (0..100).map(|i| (i % 10) as u8).collect();
    let pixels: Vec<u8> = (0..100).flat_map(|i| vec![i as u8; 784]).collect();
    let d = Dataset::new(pixels, labels).unwrap();
    let a = d.sample(30, 7);
    assert_eq!(a, d.sample(30, 7));
    assert_ne!(a, d.sample(30, 8));
    assert_eq!(a.len(), 30);
    for i in 0..30 {
        let v = a.image(i).unwrap()[0];
        assert_eq!(a.labels()[i], v % 10);
    }
}

mod bundle {
    use super::*;
    use fashion_mlp::data::bundle::from_files;

    fn idx_files(train: usize, test: usize) -> Vec<(String, Vec<u8>)> {
        let labels = |n: usize| (0..n).map(|i| (i % 10) as u8).collect::<Vec<_>>();
        vec![
            ("train-images-idx3-ubyte.gz".into(), gzip(&images(train))),
            (
                "train-labels-idx1-ubyte.gz".into(),
                gzip(&idx::encode_labels(&labels(train))),
            ),
            ("t10k-images-idx3-ubyte".into(), images(test)),
            ("t10k-labels-idx1-ubyte".into(), idx::encode_labels(&labels(test))),
        ]
    }

    #[test]
    fn four_idx_files_in_any_order() {
        let mut files = idx_files(6, 3);
        files.reverse();
        let (train, test) = from_files(&files).unwrap();
        assert_eq!((train.len(), test.len()), (6, 3));
    }

    #[test]
    fn unnamed_files_split_by_size() {
        let mut files = idx_files(6, 3);
        for (i, f) in files.iter_mut().enumerate() {
            f.0 = format!("file{i}");
        }
        let (train, test) = from_files(&files).unwrap();
        assert_eq!((train.len(), test.len()), (6, 3));
    }

    #[test]
    fn two_csvs() {
        let tr = csv_rows(&[(1, 2), (3, 4), (5, 6)]);
        let te = csv_rows(&[(7, 8)]);
        let (train, test) = from_files(&[
            ("fashion-mnist_test.csv".into(), te.into_bytes()),
            ("fashion-mnist_train.csv".into(), tr.into_bytes()),
        ])
        .unwrap();
        assert_eq!((train.len(), test.len()), (3, 1));
    }

    #[test]
    fn missing_and_bad_files_say_what_is_wrong() {
        let mut files = idx_files(6, 3);
        files.remove(3);
        let err = from_files(&files).unwrap_err();
        assert!(err.to_string().contains("test labels"), "{err}");
        let mut files = idx_files(6, 3);
        files[0].1.truncate(40);
        let err = from_files(&files).unwrap_err();
        assert!(err.to_string().contains("train-images-idx3-ubyte.gz"), "{err}");
        let err = from_files(&[]).unwrap_err();
        assert!(err.to_string().contains("training images"), "{err}");
    }
}

#[test]
fn select_keeps_the_order_asked_for() {
    let pixels: Vec<u8> = (0..4).flat_map(|i| vec![i as u8; 784]).collect();
    let d = Dataset::new(pixels, vec![0, 1, 2, 3]).unwrap();
    let s = d.select(&[3, 1, 9]);
    assert_eq!(s.labels(), &[3, 1]);
    assert_eq!(s.image(0).unwrap()[0], 3);
    assert_eq!(s.image(1).unwrap()[783], 1);
}

#[test]
fn a_gz_name_without_gzip_inside_is_not_gzip_whatever_the_bytes() {
    for (name, bytes) in [
        ("train-images-idx3-ubyte.gz", b"label,pixel1\n1,2\n".to_vec()),
        ("t10k-labels-idx1-ubyte.gz", idx::encode_labels(&[1, 2])),
    ] {
        let err = fashion_mlp::data::bundle::from_files(&[(name.to_string(), bytes)]).unwrap_err();
        assert!(matches!(err, DataError::NotGzip { .. }), "{err:?}");
        assert!(
            err.to_string().starts_with(&format!("{name}: not a gzip file")),
            "{err}"
        );
    }
}

#[test]
fn a_header_that_claims_too_much_is_refused_as_a_count() {
    let mut bytes = images(1);
    bytes[4..8].copy_from_slice(&2_000_000_000u32.to_be_bytes());
    for (name, b) in [
        ("train-images-idx3-ubyte", bytes.clone()),
        ("train-images-idx3-ubyte.gz", gzip(&bytes)),
    ] {
        let err = idx::parse_images(name, &b).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("{name}: the header announces 2,000,000,000 images; a Fashion-MNIST file holds at most 60,000")
        );
    }
    let mut labels = idx::encode_labels(&[1]);
    labels[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(matches!(
        idx::parse_labels("l", &labels).unwrap_err(),
        DataError::TooMany {
            count: 4_294_967_295,
            ..
        }
    ));
}

#[test]
fn a_file_named_for_one_kind_holding_the_other_says_so() {
    use fashion_mlp::data::bundle::from_files;
    let err = from_files(&[("train-images-idx3-ubyte.gz".into(), gzip(&idx::encode_labels(&[1, 2])))]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "train-images-idx3-ubyte.gz: named like an IDX images file but it holds labels"
    );
    let err = from_files(&[("t10k-labels-idx1-ubyte".into(), images(2))]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "t10k-labels-idx1-ubyte: named like an IDX labels file but it holds images"
    );
}
