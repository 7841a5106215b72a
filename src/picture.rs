//! Picture files (PNG, PGM, PPM) as the model's 28x28 input, natively (`fashion predict`); the
//! page decodes pictures with the browser's own decoder instead. The declared size is checked
//! by the decoder before it allocates, and a photo is scaled down before it is widened.

use image::ImageReader;

use crate::draw::{Bitmap, Layout, prepare_drawing, prepare_picture};

/// The largest picture decoded: a side, and (by default) the decoder's memory: a 48-megapixel
/// RGB phone photo (144 MB) fits, and with what the process needs besides it stays under
/// 256 MB whatever the file declares.
pub const MAX_DECODED_SIDE: u32 = 16_384;
pub const MAX_DECODED_BYTES: u64 = 160 << 20;
/// A drawing keeps its size (its brush width is in its pixels), so it is refused past this
/// side before decoding instead of scaled: its preprocessing keeps a few floats a pixel.
pub const MAX_DRAWING_SIDE: u32 = 2048;
/// Photos are scaled down to this many pixels a side before preprocessing (as the page does).
const PICTURE_SIDE: u32 = 1024;

/// A picture file's bytes framed like a dataset image by the core's drawing preprocessing (a
/// 28x28 picture is taken as it is), exactly as the page treats an uploaded picture; with
/// `brush`, as the page treats what is drawn on its pad.
/// The decoder refuses a picture whose pixels would take more than `max_decoded` bytes before it
/// allocates them (`MAX_DECODED_BYTES` for the CLI).
pub fn read_picture(bytes: &[u8], brush: Option<f32>, max_decoded: u64) -> Result<Vec<f32>, String> {
    if let Some(b) = brush.filter(|b| !(b.is_finite() && *b > 0.0)) {
        return Err(format!("the brush width {b} must be a positive number of pixels"));
    }
    // The decoder's limits apply to reading the header too (a PNG's colour profile is
    // inflated there).
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_DECODED_SIDE);
    limits.max_image_height = Some(MAX_DECODED_SIDE);
    limits.max_alloc = Some(max_decoded);
    let too_large = |e: image::ImageError| match e {
        image::ImageError::Limits(_) => format!(
            "the picture is too large to read (at most {MAX_DECODED_SIDE} pixels a side and {} MiB decoded): scale it down first",
            max_decoded >> 20
        ),
        e => e.to_string(),
    };
    let open = || {
        let mut reader = ImageReader::new(std::io::Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| e.to_string())?;
        reader.limits(limits.clone());
        Ok::<_, String>(reader)
    };
    if brush.is_some() {
        // The header alone: a drawing too large to preprocess is refused before decoding.
        let (width, height) = open()?.into_dimensions().map_err(too_large)?;
        if width.max(height) > MAX_DRAWING_SIDE {
            return Err(format!(
                "a drawing of {width} x {height} pixels is too large to read as a drawing (at most \
                 {MAX_DRAWING_SIDE} pixels a side): scale it down, or read it as a picture"
            ));
        }
    }
    let img = open()?.decode().map_err(too_large)?;
    // A drawing keeps its size: the brush width is in its pixels.
    let img = if brush.is_none() && img.width().max(img.height()) > PICTURE_SIDE {
        img.thumbnail(PICTURE_SIDE, PICTURE_SIDE)
    } else {
        img
    };
    let img = img.to_rgba8();
    let bitmap = Bitmap {
        width: img.width() as usize,
        height: img.height() as usize,
        layout: Layout::Rgba,
        data: img.as_raw(),
    };
    match brush {
        Some(brush) => prepare_drawing(&bitmap, brush),
        None => prepare_picture(&bitmap),
    }
    .map(|p| p.pixels)
    .map_err(|e| e.to_string())
}
