//! Drawing preprocessing: drawings and pictures land framed like Fashion-MNIST products.

use fashion_mlp::data::IMAGE_PIXELS;
use fashion_mlp::data::dataset::Split;
use fashion_mlp::draw::{Bitmap, Layout, Prepared, prepare, prepare_drawing};
use fashion_mlp::error::DrawError;
use fashion_mlp::train::cpu::{CpuOptions, Evaluator};

/// The shipped model, on the CPU engine.
fn ready_model() -> Evaluator {
    let model = fashion_mlp::weights::Snapshot::from_safetensors(&crate::ready_bytes()).unwrap();
    Evaluator::new(&model, CpuOptions::best()).unwrap()
}

fn top_class(model: &mut Evaluator, pixels: &[f32]) -> usize {
    argmax(&model.probabilities(pixels)[0])
}

fn argmax(v: &[f32]) -> usize {
    v.iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map(|(i, _)| i)
        .unwrap()
}

/// The e2e test's hand-drawn outlines (painted by Chromium into PNGs by
/// scripts/dev/render-drawings.py), read as the page reads its pad: the shipped model names each.
#[test]
fn ready_model_reads_the_hand_drawn_outlines() {
    use fashion_mlp::data::CLASS_NAMES;
    let mut model = ready_model();
    let outlines: serde_json::Map<String, serde_json::Value> = serde_json::from_str(
        &std::fs::read_to_string(crate::repo_file("tests/fixtures/drawings/outlines.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(outlines.len(), 4);
    for garment in outlines.keys() {
        let png = crate::repo_file(&format!("tests/fixtures/drawings/{}.png", garment.replace('/', "-")));
        let img = image::open(&png).unwrap().to_rgba8();
        let bitmap = Bitmap {
            width: img.width() as usize,
            height: img.height() as usize,
            layout: Layout::Rgba,
            data: img.as_raw(),
        };
        let input = prepare_drawing(&bitmap, fashion_mlp::drawings::PAD_BRUSH)
            .unwrap()
            .pixels;
        let probs = model.probabilities(&input);
        let top = argmax(&probs[0]);
        eprintln!("{garment} outline: {} {:.1}%", CLASS_NAMES[top], probs[0][top] * 100.0);
        assert_eq!(
            CLASS_NAMES[top], garment,
            "the {garment} outline reads as {}",
            CLASS_NAMES[top]
        );
    }
}

/// A white RGBA canvas of `w`x`h` on which `ink(x, y)` paints black.
fn canvas(w: usize, h: usize, ink: impl Fn(usize, usize) -> bool) -> Vec<u8> {
    let mut data = Vec::with_capacity(w * h * 4);
    for y in 0..h {
        for x in 0..w {
            let v = if ink(x, y) { 0 } else { 255 };
            data.extend_from_slice(&[v, v, v, 255]);
        }
    }
    data
}

fn prepare_rgba(w: usize, h: usize, data: &[u8]) -> Result<Prepared, DrawError> {
    prepare(&Bitmap {
        width: w,
        height: h,
        layout: Layout::Rgba,
        data,
    })
}

/// Rows and columns (first, last) that hold ink, and the centre of that box.
fn frame_facts(pixels: &[f32]) -> ((usize, usize), (usize, usize), (f32, f32)) {
    let lit = |v: f32| v > 0.1;
    let rows: Vec<usize> = (0..28).filter(|&y| (0..28).any(|x| lit(pixels[y * 28 + x]))).collect();
    let cols: Vec<usize> = (0..28).filter(|&x| (0..28).any(|y| lit(pixels[y * 28 + x]))).collect();
    let (rows, cols) = ((rows[0], *rows.last().unwrap()), (cols[0], *cols.last().unwrap()));
    let centre = |(a, b): (usize, usize)| (a + b) as f32 / 2.0;
    (rows, cols, (centre(cols), centre(rows)))
}

#[test]
fn drawn_trousers_fill_the_height_centred_and_read_as_trousers() {
    // Two legs and a waistband, drawn small and off-centre on a big white pad.
    let (w, h) = (400, 400);
    let data = canvas(w, h, |x, y| {
        let waist = (60..90).contains(&y) && (40..160).contains(&x);
        let left = (60..300).contains(&y) && (40..90).contains(&x);
        let right = (60..300).contains(&y) && (110..160).contains(&x);
        waist || left || right
    });
    let p = prepare_rgba(w, h, &data).unwrap();
    assert!(p.inverted, "dark on light is inverted");
    assert_eq!(p.source_box, (40, 60, 120, 240));
    let ((top, bottom), (left, right), (cx, cy)) = frame_facts(&p.pixels);
    assert!(
        top <= 1 && bottom >= 26,
        "the longest side spans the frame: rows {top}..{bottom}"
    );
    let width = right - left + 1;
    assert!((13..=17).contains(&width), "aspect kept (1:2 → ~14 wide), got {width}");
    assert!((cx - 13.5).abs() <= 1.0, "centred horizontally, box centre x {cx}");
    assert!((cy - 13.5).abs() <= 1.0, "box centre y {cy}");
    // The gap between the legs survives at the bottom.
    let row = &p.pixels[24 * 28..25 * 28];
    let gap = row[left + 4..right - 3].iter().copied().fold(1.0f32, f32::min);
    let leg = row[left + 2];
    assert!(gap < 0.5 * leg, "gap {gap} vs leg {leg}");
    assert_eq!(top_class(&mut ready_model(), &p.pixels), 1, "Trouser");
}

#[test]
fn drawn_bag_fills_the_width_centred_and_reads_as_a_bag() {
    // A wide body with a handle arc above it.
    let (w, h) = (500, 300);
    let data = canvas(w, h, |x, y| {
        let body = (120..260).contains(&y) && (100..400).contains(&x);
        let (dx, dy) = (x as f32 - 250.0, y as f32 - 120.0);
        let r = (dx * dx + dy * dy).sqrt();
        let handle = y < 120 && (60.0..80.0).contains(&r);
        body || handle
    });
    let p = prepare_rgba(w, h, &data).unwrap();
    let ((top, bottom), (left, right), (cx, cy)) = frame_facts(&p.pixels);
    assert!(
        left <= 1 && right >= 26,
        "the longest side spans the frame: cols {left}..{right}"
    );
    assert!(bottom - top + 1 < 24, "aspect kept: rows {top}..{bottom}");
    assert!((cx - 13.5).abs() <= 1.0, "box centre x {cx}");
    assert!((cy - 13.5).abs() <= 1.0, "centred vertically, box centre y {cy}");
    assert_eq!(top_class(&mut ready_model(), &p.pixels), 8, "Bag");
}

#[test]
fn blank_pictures_are_not_garments() {
    let white = canvas(300, 200, |_, _| false);
    assert_eq!(prepare_rgba(300, 200, &white), Err(DrawError::Blank));
    let transparent = vec![0u8; 50 * 50 * 4];
    assert_eq!(prepare_rgba(50, 50, &transparent), Err(DrawError::Blank));
    let black = vec![0u8; 28 * 28];
    let gray = Bitmap {
        width: 28,
        height: 28,
        layout: Layout::Gray,
        data: &black,
    };
    assert_eq!(prepare(&gray), Err(DrawError::Blank));
    // Faint paper noise is not ink either.
    let noisy: Vec<u8> = (0..100 * 100).map(|i| 250 - (i * 7 % 11) as u8).collect();
    let noisy = Bitmap {
        width: 100,
        height: 100,
        layout: Layout::Gray,
        data: &noisy,
    };
    assert_eq!(prepare(&noisy), Err(DrawError::Blank));
}

#[test]
fn malformed_bitmaps_are_errors() {
    assert!(matches!(prepare_rgba(0, 10, &[]), Err(DrawError::Size { .. })));
    assert!(matches!(
        prepare_rgba(10, 10, &[0; 399]),
        Err(DrawError::Length {
            expected: 400,
            found: 399
        })
    ));
    let msg = prepare_rgba(10, 10, &[0; 3]).unwrap_err().to_string();
    assert!(msg.contains("400"), "{msg}");
}

#[test]
fn polarity_does_not_matter() {
    let dark_on_light = canvas(120, 90, |x, y| {
        (20..70).contains(&x) && (10..80).contains(&y) && (x + y) % 9 != 0
    });
    let light_on_dark: Vec<u8> = dark_on_light
        .chunks(4)
        .flat_map(|p| [255 - p[0], 255 - p[1], 255 - p[2], 255])
        .collect();
    let a = prepare_rgba(120, 90, &dark_on_light).unwrap();
    let b = prepare_rgba(120, 90, &light_on_dark).unwrap();
    assert!(a.inverted && !b.inverted);
    assert_eq!(a.pixels, b.pixels);
}

#[test]
fn dataset_images_survive_as_photos_on_paper() {
    // Real test images, enlarged 7x, inverted to dark-on-white and placed off-centre on a larger
    // page: preparing them must give back what the model saw in the dataset.
    let test = crate::real(Split::Test).sample(300, 3);
    let mut model = ready_model();
    let (scale, w, h, ox, oy) = (7usize, 300usize, 260usize, 61usize, 17usize);
    let mut same = 0;
    let mut diff_sum = 0.0f32;
    for i in 0..test.len() {
        let img = test.image(i).unwrap();
        let mut page = vec![255u8; w * h];
        for y in 0..28 * scale {
            for x in 0..28 * scale {
                page[(oy + y) * w + ox + x] = 255 - img[(y / scale) * 28 + x / scale];
            }
        }
        let p = prepare(&Bitmap {
            width: w,
            height: h,
            layout: Layout::Gray,
            data: &page,
        })
        .unwrap();
        assert_eq!(p.pixels.len(), IMAGE_PIXELS);
        let original: Vec<f32> = img.iter().map(|&v| v as f32 / 255.0).collect();
        diff_sum += original.iter().zip(&p.pixels).map(|(a, b)| (a - b).abs()).sum::<f32>() / 784.0;
        if top_class(&mut model, &p.pixels) == top_class(&mut model, &original) {
            same += 1;
        }
    }
    let mean_diff = diff_sum / test.len() as f32;
    eprintln!("mean absolute pixel difference {mean_diff}, {same} of 300 keep their prediction");
    assert!(mean_diff < 0.075, "mean absolute pixel difference {mean_diff}");
    assert!(same >= 280, "{same} of 300 keep their prediction");
}

/// A PNG of `width` x `height` grey pixels as far as its header goes: its pixel data starts
/// and never comes.
fn png_header(width: u32, height: u32) -> Vec<u8> {
    let chunk = |kind: &[u8], data: &[u8]| {
        let mut body = kind.to_vec();
        body.extend(data);
        let mut crc = flate2::Crc::new();
        crc.update(&body);
        let mut out = (data.len() as u32).to_be_bytes().to_vec();
        out.extend(body);
        out.extend(crc.sum().to_be_bytes());
        out
    };
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend(height.to_be_bytes());
    ihdr.extend([8, 0, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(chunk(b"IHDR", &ihdr));
    png.extend(chunk(b"IDAT", &[]));
    png
}

/// Sizes are refused from the header, before decoding: a drawing (kept at its size) past
/// 2048 pixels a side, any picture past the decoder's limits.
#[test]
fn pictures_too_large_are_refused_from_their_header() {
    use fashion_mlp::picture::{MAX_DECODED_BYTES, read_picture};
    let e = read_picture(&png_header(3000, 2000), Some(3.0), MAX_DECODED_BYTES).unwrap_err();
    assert!(
        e.contains("a drawing of 3000 x 2000 pixels is too large to read as a drawing (at most 2048"),
        "{e}"
    );
    let e = read_picture(&png_header(16_000, 16_000), None, MAX_DECODED_BYTES).unwrap_err();
    assert!(
        e.contains("the picture is too large to read (at most 16384 pixels a side and 160 MiB decoded)"),
        "{e}"
    );
}
