//! The user's own drawings, each with the class they gave it: what "That's a ..." keeps and
//! "Teach" learns from. A set travels as one JSON file (the page's export, `fashion finetune
//! --drawings`), or arrives as a Kaggle-layout CSV of 28x28 inputs.
//!
//! A file names its class list: a set labelled for another list would teach the wrong classes,
//! so it is refused rather than mapped by position.

use serde::{Deserialize, Serialize};

use crate::data::{CLASS_NAMES, Dataset, IMAGE_PIXELS, NUM_CLASSES};
use crate::error::{TeachError, clip, grouped};

/// What the file's `format` field says.
pub const FORMAT: &str = "fashion-mlp drawings";
pub const VERSION: u32 = 1;
/// Limits that keep a hostile file's work small: far above what a person draws.
pub const MAX_FILE_BYTES: usize = 64 << 20;
pub const MAX_DRAWINGS: usize = 20_000;
pub const MAX_POINTS: usize = 100_000;
/// Strokes and points in a whole set, counted before parsing: a stroke is kept as 24 bytes from
/// as few as three of the file's (`[],`), a point as up to 16 from six, so their counts bound
/// what parsing keeps (1,000 drawings of 40 strokes, or 4,000 of 1,000 points, fit).
pub const MAX_STROKES: usize = 1_000_000;
pub const MAX_SET_POINTS: usize = 4_000_000;
/// A class list longer than this is not a class list (ours has 10).
const MAX_CLASSES: usize = 64;
/// Brush widths in pad pixels (the pad is 280 wide).
pub const MAX_BRUSH: f32 = 280.0;

/// One labelled drawing: the model's input (784 pixels, 0-255, as the pad prepared it) and,
/// when the page kept them, the strokes it was drawn with (pad coordinates) and the brush width
/// they were drawn with, for redrawing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserDrawing {
    pub label: u8,
    /// The 784 input pixels as hex, two digits each (compact and easy to read back anywhere).
    #[serde(with = "hex_pixels")]
    pub pixels: Vec<u8>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub strokes: Vec<Vec<[f32; 2]>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brush: Option<f32>,
}

/// A drawing's strokes as the page keeps them beside its pixels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Strokes {
    pub brush: f32,
    pub strokes: Vec<Vec<[f32; 2]>>,
}

/// A user's set of labelled drawings.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserSet {
    pub drawings: Vec<UserDrawing>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SetFile {
    format: String,
    version: u32,
    #[serde(deserialize_with = "class_list")]
    classes: Vec<String>,
    drawings: Vec<UserDrawing>,
}

/// How many JSON arrays open at each depth of brackets (outside strings), the deepest counted
/// at 4: in a set file the drawings and the class list are at depth 1, a drawing's strokes at
/// 2, each stroke at 3 and each point at 4.
fn arrays_by_depth(bytes: &[u8]) -> [usize; 5] {
    let mut counts = [0; 5];
    let mut depth = 0usize;
    let (mut in_string, mut escaped) = (false, false);
    for &b in bytes {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' => {
                depth += 1;
                counts[depth.min(4)] += 1;
            }
            b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    counts
}

/// The class list, refused while it is parsed once it is longer than `MAX_CLASSES` (a file of
/// empty names would otherwise be kept whole first).
fn class_list<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    struct Names;
    impl<'de> serde::de::Visitor<'de> for Names {
        type Value = Vec<String>;
        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            write!(f, "a list of at most {MAX_CLASSES} class names")
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            let mut names = Vec::new();
            while let Some(name) = seq.next_element::<String>()? {
                if names.len() == MAX_CLASSES {
                    return Err(serde::de::Error::custom(format!("more than {MAX_CLASSES} class names")));
                }
                names.push(name);
            }
            Ok(names)
        }
    }
    deserializer.deserialize_seq(Names)
}

impl UserSet {
    /// Reads a set from a file's bytes: this app's JSON export, or a Kaggle-layout CSV (label,
    /// then 784 pixels 0-255). `file` names it in messages.
    pub fn from_bytes(file: &str, bytes: &[u8]) -> Result<Self, TeachError> {
        if bytes.len() > MAX_FILE_BYTES {
            return Err(TeachError::Format {
                file: file.into(),
                reason: format!(
                    "{} bytes, over the limit of {} for a drawing set",
                    grouped(bytes.len()),
                    grouped(MAX_FILE_BYTES)
                ),
            });
        }
        let start = bytes.iter().find(|b| !b.is_ascii_whitespace());
        if start == Some(&b'{') {
            return Self::from_json(file, bytes);
        }
        let data = Dataset::from_csv(file, bytes).map_err(|e| TeachError::Format {
            file: file.into(),
            reason: format!("neither a drawing set exported by this app nor a Kaggle-layout CSV ({e})"),
        })?;
        Ok(Self::from_dataset(&data))
    }

    fn from_json(file: &str, bytes: &[u8]) -> Result<Self, TeachError> {
        let bad = |reason: String| TeachError::Format {
            file: file.into(),
            reason,
        };
        let [_, _, _, strokes, points] = arrays_by_depth(bytes);
        for (count, limit, what) in [
            (strokes, MAX_STROKES, "strokes"),
            (points, MAX_SET_POINTS, "stroke points"),
        ] {
            if count > limit {
                return Err(bad(format!(
                    "{} {what}, over the limit of {} for a drawing set",
                    grouped(count),
                    grouped(limit)
                )));
            }
        }
        let parsed: SetFile = serde_json::from_slice(bytes).map_err(|e| bad(e.to_string()))?;
        if parsed.format != FORMAT {
            return Err(bad(format!(
                "its format is '{}', expected '{FORMAT}'",
                clip(&parsed.format)
            )));
        }
        if parsed.version != VERSION {
            return Err(bad(format!(
                "version {} of the format; this app reads version {VERSION}",
                parsed.version
            )));
        }
        if parsed.classes != CLASS_NAMES {
            return Err(TeachError::OtherClasses {
                file: file.into(),
                found: parsed.classes.iter().map(|c| clip(c)).collect::<Vec<_>>().join(", "),
            });
        }
        if parsed.drawings.len() > MAX_DRAWINGS {
            return Err(bad(format!(
                "{} drawings, over the limit of {}",
                grouped(parsed.drawings.len()),
                grouped(MAX_DRAWINGS)
            )));
        }
        for (i, d) in parsed.drawings.iter().enumerate() {
            let at = |what: String| bad(format!("drawing {}: {what}", i + 1));
            if d.label as usize >= NUM_CLASSES {
                return Err(at(format!("label {} is outside 0..=9", d.label)));
            }
            if d.pixels.len() != IMAGE_PIXELS {
                return Err(at(format!("{} pixels, expected {IMAGE_PIXELS}", d.pixels.len())));
            }
            let points: usize = d.strokes.iter().map(Vec::len).sum();
            if points > MAX_POINTS {
                return Err(at(format!(
                    "{} stroke points, over the limit of {}",
                    grouped(points),
                    grouped(MAX_POINTS)
                )));
            }
            if d.strokes.iter().flatten().flatten().any(|v| !v.is_finite()) {
                return Err(at("a stroke point is not a finite number".into()));
            }
            if let Some(b) = d.brush.filter(|b| !(b.is_finite() && *b > 0.0 && *b <= MAX_BRUSH)) {
                return Err(at(format!(
                    "a brush width of {b}, expected more than 0 and at most {MAX_BRUSH}"
                )));
            }
        }
        Ok(Self {
            drawings: parsed.drawings,
        })
    }

    /// The set as this app's export file.
    pub fn to_json(&self) -> Vec<u8> {
        let file = SetFile {
            format: FORMAT.into(),
            version: VERSION,
            classes: CLASS_NAMES.iter().map(|c| c.to_string()).collect(),
            drawings: self.drawings.clone(),
        };
        serde_json::to_vec(&file).unwrap_or_default()
    }

    /// Every image of `data` as a drawing (no strokes).
    pub fn from_dataset(data: &Dataset) -> Self {
        Self {
            drawings: (0..data.len())
                .filter_map(|i| {
                    Some(UserDrawing {
                        label: data.labels()[i],
                        pixels: data.image(i)?.to_vec(),
                        strokes: Vec::new(),
                        brush: None,
                    })
                })
                .collect(),
        }
    }

    /// Each drawing's strokes (`None` for one without), in order.
    pub fn strokes(&self) -> Vec<Option<Strokes>> {
        self.drawings
            .iter()
            .map(|d| {
                (!d.strokes.is_empty()).then(|| Strokes {
                    brush: d.brush.unwrap_or(1.0),
                    strokes: d.strokes.clone(),
                })
            })
            .collect()
    }

    /// Gives the drawings their strokes, in order (`strokes` may be shorter than the set).
    pub fn with_strokes(mut self, strokes: Vec<Option<Strokes>>) -> Self {
        for (d, s) in self.drawings.iter_mut().zip(strokes) {
            if let Some(s) = s {
                d.strokes = s.strokes;
                d.brush = Some(s.brush);
            }
        }
        self
    }

    /// The drawings as a dataset (their order kept).
    pub fn to_dataset(&self) -> Result<Dataset, TeachError> {
        let pixels = self.drawings.iter().flat_map(|d| d.pixels.iter().copied()).collect();
        let labels = self.drawings.iter().map(|d| d.label).collect();
        Dataset::new(pixels, labels).map_err(|e| TeachError::Format {
            file: "the drawing set".into(),
            reason: e.to_string(),
        })
    }

    pub fn len(&self) -> usize {
        self.drawings.len()
    }

    pub fn is_empty(&self) -> bool {
        self.drawings.is_empty()
    }

    /// Drawings per class.
    pub fn class_counts(&self) -> [usize; NUM_CLASSES] {
        let mut counts = [0; NUM_CLASSES];
        for d in &self.drawings {
            if let Some(c) = counts.get_mut(d.label as usize) {
                *c += 1;
            }
        }
        counts
    }

    /// Whether the set can teach: not empty, and of at least two classes (with one class the
    /// model would only learn to answer it).
    pub fn check_teachable(&self) -> Result<(), TeachError> {
        let counts = self.class_counts();
        let classes: Vec<usize> = (0..NUM_CLASSES).filter(|&c| counts[c] > 0).collect();
        match classes.as_slice() {
            [] => Err(TeachError::Empty),
            [only] => Err(TeachError::OneClass {
                count: counts[*only],
                class: CLASS_NAMES[*only].into(),
            }),
            _ => Ok(()),
        }
    }
}

/// Pixels as a hex string, two digits a pixel.
mod hex_pixels {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(pixels: &[u8], s: S) -> Result<S::Ok, S::Error> {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let text: String = pixels
            .iter()
            .flat_map(|&p| [DIGITS[(p >> 4) as usize] as char, DIGITS[(p & 15) as usize] as char])
            .collect();
        s.serialize_str(&text)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        if text.len() % 2 != 0 {
            return Err(D::Error::custom("pixels: an odd number of hex digits"));
        }
        text.as_bytes()
            .chunks_exact(2)
            .map(|pair| {
                std::str::from_utf8(pair)
                    .ok()
                    .and_then(|s| u8::from_str_radix(s, 16).ok())
                    .ok_or_else(|| D::Error::custom("pixels: not hex digits"))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strokes_and_brush_travel_with_their_drawing_and_a_bad_brush_is_refused() {
        let set = UserSet {
            drawings: vec![drawing(1, 9), drawing(3, 0)],
        };
        let strokes = set.strokes();
        assert_eq!(strokes[0].as_ref().map(|s| s.brush), Some(12.0));
        let bare = UserSet {
            drawings: set
                .drawings
                .iter()
                .map(|d| UserDrawing {
                    strokes: Vec::new(),
                    brush: None,
                    ..d.clone()
                })
                .collect(),
        };
        assert_eq!(bare.with_strokes(strokes), set);
        let back = UserSet::from_bytes("mine.json", &set.to_json()).unwrap();
        assert_eq!(back, set);
        let text = String::from_utf8(set.to_json())
            .unwrap()
            .replace("\"brush\":12.0", "\"brush\":-1.0");
        let err = UserSet::from_bytes("mine.json", text.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(err.contains("drawing 1: a brush width of -1"), "{err}");
    }

    fn drawing(label: u8, value: u8) -> UserDrawing {
        UserDrawing {
            label,
            pixels: vec![value; IMAGE_PIXELS],
            strokes: vec![vec![[1.0, 2.0], [3.5, 4.0]]],
            brush: Some(12.0),
        }
    }

    #[test]
    fn a_set_survives_export_and_import() {
        let set = UserSet {
            drawings: vec![drawing(0, 0), drawing(7, 255), drawing(3, 0x5a)],
        };
        let bytes = set.to_json();
        assert_eq!(UserSet::from_bytes("set.json", &bytes).unwrap(), set);
        assert_eq!(set.to_dataset().unwrap().labels(), &[0, 7, 3]);
    }

    #[test]
    fn a_kaggle_layout_csv_is_a_set() {
        let mut csv = String::from("label,pixel1\n");
        for label in [2, 5] {
            csv.push_str(&label.to_string());
            csv.push_str(&",9".repeat(IMAGE_PIXELS));
            csv.push('\n');
        }
        let set = UserSet::from_bytes("mine.csv", csv.as_bytes()).unwrap();
        assert_eq!(set.class_counts()[2], 1);
        assert_eq!(set.drawings[1].pixels, vec![9; IMAGE_PIXELS]);
    }

    #[test]
    fn bad_files_and_sets_are_refused_with_what_is_wrong() {
        let set = UserSet {
            drawings: vec![drawing(1, 1), drawing(2, 2)],
        };
        let text = String::from_utf8(set.to_json()).unwrap();
        let refused = |text: &str| UserSet::from_bytes("x.json", text.as_bytes()).unwrap_err().to_string();
        assert!(refused(&text.replace("Trouser", "Trousers")).contains("another class list"));
        assert!(refused(&text.replace(FORMAT, "something else")).contains("format"));
        assert!(refused(&text.replace("\"label\":2", "\"label\":12")).contains("label 12"));
        assert!(refused(&text.replace("\"label\":2", "\"label\":2,\"lable\":2")).contains("lable"));
        assert!(refused(&text[..text.len() / 2]).contains("x.json"));
        assert!(refused("\u{1f}\u{8b} not a set").contains("neither a drawing set"));
        let short = text.replacen(&"01".repeat(IMAGE_PIXELS), "0101", 1);
        assert!(refused(&short).contains("2 pixels"), "{}", refused(&short));
        assert_eq!(UserSet::default().check_teachable(), Err(TeachError::Empty));
        let one = UserSet {
            drawings: vec![drawing(4, 1), drawing(4, 2)],
        };
        assert!(one.check_teachable().unwrap_err().to_string().contains("Coat"));
        assert!(set.check_teachable().is_ok());
    }

    /// Files whose parse alone would keep many times their size: empty strokes by the
    /// million, and a class list of empty names, are refused before or while parsing.
    #[test]
    fn sets_that_would_parse_into_gigabytes_are_refused_early() {
        let set = UserSet {
            drawings: vec![drawing(1, 1)],
        };
        let text = String::from_utf8(set.to_json()).unwrap();
        let strokes = format!(",\"strokes\":[{}[]]}}]}}", "[],".repeat(MAX_STROKES));
        let empty_strokes = text.replacen("}]}", &strokes, 1);
        let e = UserSet::from_bytes("s.json", empty_strokes.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(e.contains("1,000,002 strokes, over the limit of 1,000,000"), "{e}");
        let points = format!(",\"strokes\":[[{}[0,0]]]}}]}}", "[0,0],".repeat(MAX_SET_POINTS));
        let many_points = text.replacen("}]}", &points, 1);
        let e = UserSet::from_bytes("p.json", many_points.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("4,000,003 stroke points, over the limit of 4,000,000"),
            "{e}"
        );
        // Brackets inside strings do not count, escaped quotes included.
        assert_eq!(arrays_by_depth(br#"{"a":"[[\"[[","b":[[[[1]]]]}"#), [0, 1, 1, 1, 1]);
        let names = format!("\"classes\":[{}\"\"]", "\"\",".repeat(1_000_000));
        let start = text.find("\"classes\":[").unwrap();
        let end = start + text[start..].find(']').unwrap() + 1;
        let empty_names = format!("{}{}{}", &text[..start], names, &text[end..]);
        let e = UserSet::from_bytes("c.json", empty_names.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(e.contains("more than 64 class names"), "{e}");
    }
}
