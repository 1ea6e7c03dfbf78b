//! A person's picture of a digit -> the 28x28 input the network was trained on.
//!
//! MNIST was made from NIST's scans like this (LeCun et al., "The MNIST
//! database"): the digit was size-normalised into a 20x20 box keeping its
//! aspect ratio (anti-aliasing gives the grey levels), then placed in a 28x28
//! field so that its centre of mass sits at the centre. A network trained on
//! those images only recognises digits prepared the same way, so `predict`
//! repeats the steps on whatever it is given:
//!
//! 1. decode PNG or JPEG (chosen by the file's first bytes, not its name) and
//!    reduce it to grey, compositing any transparency onto white paper; a
//!    large photo is decoded at a reduced size ([`find::WORKING_SIDE`]);
//! 2. find the digits in it ([`find`]: even out the light, separate ink
//!    from paper, lines, specks and shadows, split a number into digits),
//!    each as light ink on black, 1 at the core of its strokes;
//! 3. crop each to its ink, scale into 20x20, centre by mass in 28x28.

mod find;
mod segment;

pub use find::PixelBox;
pub use segment::{Mark, PieceReading};

/// Side of an MNIST image.
pub const SIDE: usize = 28;
/// Side of the box the digit is scaled into before centring.
const DIGIT_BOX: usize = 20;
/// After contrast stretching, ink below this is treated as paper when
/// finding the bounding box (paper texture, JPEG ringing, faint smudges).
const INK_THRESHOLD: f32 = 0.2;
/// Larger pictures are refused before anything is decoded: a file of a few
/// hundred bytes can claim 65535 x 65535 pixels (4 G pixels, tens of GB
/// decoded), while the largest phone photos have about 50 M.
const MAX_PIXELS: usize = 64 << 20;

/// A grey picture, row-major, `0.0` black to `1.0` white.
#[derive(Clone, Debug, PartialEq)]
pub struct GreyImage {
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<f32>,
}

impl GreyImage {
    fn at(&self, x: usize, y: usize) -> f32 {
        self.pixels[y * self.width + x]
    }
}

/// The digits of one picture, left to right, each prepared as MNIST was
/// (784 values, row-major, `0.0` background to `1.0` ink), and where each
/// was found.
#[derive(Clone, Debug)]
pub struct PictureDigits {
    /// The picture's size as stored in the file.
    pub width: usize,
    pub height: usize,
    /// The picture as searched (grey, at most `WORKING_SIDE` a side), to
    /// draw what was found on.
    pub searched: GreyImage,
    /// Each mark of the row, left to right, and the pieces it may be cut
    /// into if it is touching digits (see [`segment`]).
    pub marks: Vec<Mark<PreparedDigit>>,
}

#[derive(Clone, Debug)]
pub struct PreparedDigit {
    pub input: Vec<f32>,
    /// In the picture's pixels.
    pub bounds: PixelBox,
}

/// Decodes a picture's bytes and prepares every digit in it; the error says
/// why there is none ("no digit found: ...") or why the bytes are no picture.
pub fn read_digits(bytes: &[u8]) -> Result<PictureDigits, String> {
    let (searched, width, height) = decode_at_most(bytes, find::WORKING_SIDE)?;
    let scale = width as f64 / searched.width as f64;
    let marks = find::find_marks(&searched, scale)?
        .into_iter()
        .map(|mark| {
            mark.map(|found| PreparedDigit {
                input: prepare(&found.ink),
                bounds: found.bounds,
            })
        })
        .collect();
    Ok(PictureDigits {
        width,
        height,
        searched,
        marks,
    })
}

/// Decodes PNG or JPEG bytes to grey. The error says what is wrong.
#[cfg(test)]
pub fn decode(bytes: &[u8]) -> Result<GreyImage, String> {
    decode_at_most(bytes, usize::MAX).map(|(image, _, _)| image)
}

/// Decodes PNG or JPEG bytes to grey, at most `max_side` pixels on the long
/// side (a JPEG is decoded at 1/2, 1/4 or 1/8 of its size where that is
/// enough, which costs a fraction of a full decode; the rest is averaged
/// down), with the picture's own width and height.
pub fn decode_at_most(bytes: &[u8], max_side: usize) -> Result<(GreyImage, usize, usize), String> {
    const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n";
    const JPEG_MAGIC: &[u8] = &[0xFF, 0xD8, 0xFF];
    let (image, width, height) = if bytes.starts_with(PNG_MAGIC) {
        let image = decode_png(bytes)?;
        let (width, height) = (image.width, image.height);
        (image, width, height)
    } else if bytes.starts_with(JPEG_MAGIC) {
        decode_jpeg(bytes, max_side)?
    } else {
        return Err("not a PNG or JPEG picture (unrecognised file signature)".to_string());
    };
    let long_side = image.width.max(image.height);
    if long_side <= max_side {
        return Ok((image, width, height));
    }
    let fit = |len: usize| (len * max_side / long_side).max(1);
    let smaller = resize(&image, fit(image.width), fit(image.height));
    Ok((smaller, width, height))
}

/// ITU-R BT.601 luma, the weights most greyscale conversions use.
fn luma(r: f32, g: f32, b: f32) -> f32 {
    0.299 * r + 0.587 * g + 0.114 * b
}

fn decode_png(bytes: &[u8]) -> Result<GreyImage, String> {
    let mut decoder = png::Decoder::new(bytes);
    // Palette -> RGB(A), low bit depths -> 8 bits, tRNS -> alpha, 16 -> 8 bits:
    // afterwards every picture is 8-bit grey, grey+alpha, RGB or RGBA.
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder
        .read_info()
        .map_err(|e| format!("cannot decode PNG: {e}"))?;
    let (width, height) = (reader.info().width as usize, reader.info().height as usize);
    check_size(width, height)?;
    // The scanlines' bytes once inflated (packed pixels, at least).
    let row_bytes = reader.info().raw_row_length();
    check_png_data_length(bytes, row_bytes.saturating_mul(height), width, height)?;
    let mut buffer = vec![0u8; reader.output_buffer_size()];
    let frame = reader
        .next_frame(&mut buffer)
        .map_err(|e| format!("cannot decode PNG: {e}"))?;
    let (width, height) = (frame.width as usize, frame.height as usize);
    let channels = match frame.color_type {
        png::ColorType::Grayscale => 1,
        png::ColorType::GrayscaleAlpha => 2,
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        png::ColorType::Indexed => return Err("PNG palette was not expanded".to_string()),
    };
    let rows = &buffer[..frame.buffer_size()];
    let mut pixels = Vec::with_capacity(width * height);
    for y in 0..height {
        let row = &rows[y * frame.line_size..][..width * channels];
        for px in row.chunks_exact(channels) {
            let v = |i: usize| f32::from(px[i]) / 255.0;
            let (grey, alpha) = match channels {
                1 => (v(0), 1.0),
                2 => (v(0), v(1)),
                3 => (luma(v(0), v(1), v(2)), 1.0),
                _ => (luma(v(0), v(1), v(2)), v(3)),
            };
            // Transparent areas are paper: composite onto white.
            pixels.push(alpha * grey + (1.0 - alpha));
        }
    }
    Ok(GreyImage {
        width,
        height,
        pixels,
    })
}

/// The decoded picture (reduced by the decoder towards `max_side`) and the
/// JPEG's own size.
fn decode_jpeg(bytes: &[u8], max_side: usize) -> Result<(GreyImage, usize, usize), String> {
    let mut decoder = jpeg_decoder::Decoder::new(bytes);
    let cannot = |e: jpeg_decoder::Error| format!("cannot decode JPEG: {e}");
    decoder.read_info().map_err(cannot)?;
    let info = decoder
        .info()
        .ok_or_else(|| "cannot decode JPEG: no image header".to_string())?;
    let (full_width, full_height) = (usize::from(info.width), usize::from(info.height));
    check_size(full_width, full_height)?;
    check_jpeg_scan_length(bytes, full_width, full_height)?;
    let long_side = full_width.max(full_height);
    let (width, height) = if long_side > max_side {
        // The decoder picks the smallest of 1/8, 1/4, 1/2 and 1 that is at
        // least the size asked for: ask for the largest reduction that
        // still fits in `max_side`.
        let factor = [2, 4, 8]
            .into_iter()
            .find(|&f| long_side.div_ceil(f) <= max_side)
            .unwrap_or(8);
        let fit = |len: usize| len.div_ceil(factor).max(1) as u16;
        let (w, h) = decoder
            .scale(fit(full_width), fit(full_height))
            .map_err(cannot)?;
        (usize::from(w), usize::from(h))
    } else {
        (full_width, full_height)
    };
    let data = decoder.decode().map_err(cannot)?;
    let pixels: Vec<f32> = match info.pixel_format {
        jpeg_decoder::PixelFormat::L8 => data.iter().map(|&v| f32::from(v) / 255.0).collect(),
        jpeg_decoder::PixelFormat::L16 => data
            .chunks_exact(2)
            .map(|p| f32::from(u16::from_ne_bytes([p[0], p[1]])) / 65535.0)
            .collect(),
        jpeg_decoder::PixelFormat::RGB24 => data
            .chunks_exact(3)
            .map(|p| luma(f32::from(p[0]), f32::from(p[1]), f32::from(p[2])) / 255.0)
            .collect(),
        // The decoder hands back plain CMYK (0 = no ink); R = (1-C)(1-K) etc.
        jpeg_decoder::PixelFormat::CMYK32 => data
            .chunks_exact(4)
            .map(|p| {
                let keep = |c: u8| 1.0 - f32::from(c) / 255.0;
                let k = keep(p[3]);
                luma(keep(p[0]) * k, keep(p[1]) * k, keep(p[2]) * k)
            })
            .collect(),
    };
    if pixels.len() != width * height {
        return Err("cannot decode JPEG: pixel data is shorter than the header says".into());
    }
    let image = GreyImage {
        width,
        height,
        pixels,
    };
    Ok((image, full_width, full_height))
}

/// Refuses a JPEG whose compressed scans are too short for its size, before
/// decoding: the decoder fills a scan that ends early with zero bits, so a
/// 3.7 KB file claiming 65535x1024 pixels took seconds and a gigabyte to
/// decode into a blank picture. Every 8x8 block of the first component
/// costs at least one bit in some scan (a Huffman code is at least a bit
/// long, and every block's DC value is coded: baseline or progressive).
fn check_jpeg_scan_length(bytes: &[u8], width: usize, height: usize) -> Result<(), String> {
    let blocks = width.div_ceil(8) * height.div_ceil(8);
    let scan_bytes = jpeg_entropy_coded_bytes(bytes);
    if scan_bytes.saturating_mul(8) < blocks {
        return Err(format!(
            "the JPEG is cut short or damaged: {scan_bytes} bytes of image data cannot \
             hold {width}x{height} pixels (at least {} bytes)",
            blocks.div_ceil(8)
        ));
    }
    Ok(())
}

/// The bytes of entropy-coded data in all of a JPEG's scans: what follows
/// each start-of-scan header up to the next marker (other than stuffed
/// FF 00 and the restart markers FF D0..D7, which belong to the scan).
/// Marker layout: ITU T.81, annex B.
fn jpeg_entropy_coded_bytes(bytes: &[u8]) -> usize {
    const START_OF_SCAN: u8 = 0xDA;
    const END_OF_IMAGE: u8 = 0xD9;
    let mut total = 0;
    let mut i = 2; // after the start-of-image marker
    while i + 1 < bytes.len() {
        if bytes[i] != 0xFF {
            return total; // not a marker where one must be: the decoder says why
        }
        let marker = bytes[i + 1];
        match marker {
            0xFF => i += 1, // fill byte before a marker
            END_OF_IMAGE => return total,
            0x01 | 0xD0..=0xD7 => i += 2, // markers without a segment
            _ => {
                let Some(length) = bytes.get(i + 2..i + 4) else {
                    return total;
                };
                i += 2 + usize::from(u16::from_be_bytes([length[0], length[1]]));
                if marker == START_OF_SCAN {
                    let start = i;
                    while i + 1 < bytes.len()
                        && !(bytes[i] == 0xFF
                            && bytes[i + 1] != 0x00
                            && !(0xD0..=0xD7).contains(&bytes[i + 1]))
                    {
                        i += 1;
                    }
                    total += i.min(bytes.len()) - start.min(bytes.len());
                }
            }
        }
    }
    total
}

/// Refuses a PNG whose image data is too short for its size, before the
/// decoder allocates for it: deflate expands at most 1032:1 (zlib's
/// technical notes), so the compressed data of `raw_bytes` of scanlines
/// has at least raw_bytes / 1032 bytes.
fn check_png_data_length(
    bytes: &[u8],
    raw_bytes: usize,
    width: usize,
    height: usize,
) -> Result<(), String> {
    let data_bytes = png_image_data_bytes(bytes);
    let needed = raw_bytes / 1032;
    if data_bytes < needed {
        return Err(format!(
            "the PNG is cut short or damaged: {data_bytes} bytes of image data cannot \
             hold {width}x{height} pixels (at least {needed} bytes)"
        ));
    }
    Ok(())
}

/// The total length of a PNG's IDAT chunks (PNG spec, section 5.3: each
/// chunk is a 4-byte big-endian length, a 4-byte type, data and a CRC).
fn png_image_data_bytes(bytes: &[u8]) -> usize {
    let mut total = 0usize;
    let mut i = 8; // after the signature
    while let Some(header) = bytes.get(i..i + 8) {
        let length = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        if &header[4..8] == b"IDAT" {
            total = total.saturating_add(length.min(bytes.len() - i - 8));
        }
        i = i.saturating_add(12).saturating_add(length);
    }
    total
}

/// Called on the header's size, before pixels are decoded or allocated.
fn check_size(width: usize, height: usize) -> Result<(), String> {
    if width == 0 || height == 0 {
        Err(format!("the picture is empty ({width}x{height} pixels)"))
    } else if width.saturating_mul(height) > MAX_PIXELS {
        Err(format!(
            "the picture is {width}x{height} pixels, more than the {} million read here; \
             scale it down",
            MAX_PIXELS / 1_000_000
        ))
    } else {
        Ok(())
    }
}

/// The smallest rectangle `(x0, y0, x1, y1)`, end-exclusive, holding all ink
/// above `threshold`, or `None` when there is none.
fn ink_bounding_box(ink: &GreyImage, threshold: f32) -> Option<(usize, usize, usize, usize)> {
    let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
    for y in 0..ink.height {
        for x in 0..ink.width {
            if ink.at(x, y) > threshold {
                x0 = x0.min(x);
                y0 = y0.min(y);
                x1 = x1.max(x + 1);
                y1 = y1.max(y + 1);
            }
        }
    }
    (x0 < x1).then_some((x0, y0, x1, y1))
}

fn crop(image: &GreyImage, (x0, y0, x1, y1): (usize, usize, usize, usize)) -> GreyImage {
    let mut pixels = Vec::with_capacity((x1 - x0) * (y1 - y0));
    for y in y0..y1 {
        pixels.extend_from_slice(&image.pixels[y * image.width + x0..y * image.width + x1]);
    }
    GreyImage {
        width: x1 - x0,
        height: y1 - y0,
        pixels,
    }
}

/// Resamples to `width x height`. Shrinking averages the source area under
/// each output pixel (what anti-aliasing means, and it keeps thin strokes);
/// enlarging interpolates bilinearly (area averaging would look blocky).
pub fn resize(image: &GreyImage, width: usize, height: usize) -> GreyImage {
    if width == 0 || height == 0 {
        return GreyImage {
            width,
            height,
            pixels: Vec::new(),
        };
    }
    let scale_x = image.width as f64 / width as f64;
    let scale_y = image.height as f64 / height as f64;
    if scale_x >= 1.0 && scale_y >= 1.0 {
        return shrink_by_area(image, width, height);
    }
    let mut pixels = Vec::with_capacity(width * height);
    for oy in 0..height {
        for ox in 0..width {
            let value = bilinear(
                image,
                (ox as f64 + 0.5) * scale_x - 0.5,
                (oy as f64 + 0.5) * scale_y - 0.5,
            );
            pixels.push(value as f32);
        }
    }
    GreyImage {
        width,
        height,
        pixels,
    }
}

/// Each output pixel the mean of the source area under it. A source
/// pixel's share of an output pixel is its share across times its share
/// down, so rows are shrunk first, then columns: a few operations a source
/// pixel, where weighing every source pixel under every output pixel in
/// two dimensions took a tenth of the time of a canvas in `serve`.
fn shrink_by_area(image: &GreyImage, width: usize, height: usize) -> GreyImage {
    let across = area_weights(image.width, width);
    let down = area_weights(image.height, height);
    let mut rows = vec![0.0f64; width * image.height];
    for (source, shrunk) in image
        .pixels
        .chunks_exact(image.width)
        .zip(rows.chunks_exact_mut(width))
    {
        for (out, (first, weights)) in shrunk.iter_mut().zip(&across) {
            *out = weights
                .iter()
                .zip(&source[*first..])
                .map(|(w, &v)| w * f64::from(v))
                .sum();
        }
    }
    let mut pixels = vec![0.0f64; width * height];
    for (out_row, (first, weights)) in pixels.chunks_exact_mut(width).zip(&down) {
        for (i, w) in weights.iter().enumerate() {
            let source = &rows[(first + i) * width..(first + i + 1) * width];
            for (out, &v) in out_row.iter_mut().zip(source) {
                *out += w * v;
            }
        }
    }
    GreyImage {
        width,
        height,
        pixels: pixels.into_iter().map(|v| v as f32).collect(),
    }
}

/// Shrinking `len` pixels to `out`: for each output pixel, the first
/// source pixel under it and each source pixel's share of it (the part of
/// the source pixel it covers, over the output pixel's length).
fn area_weights(len: usize, out: usize) -> Vec<(usize, Vec<f64>)> {
    let scale = len as f64 / out as f64;
    (0..out)
        .map(|o| {
            let start = o as f64 * scale;
            let first = start.floor() as usize;
            let last = ((start + scale).ceil() as usize).min(len);
            let shares = (first..last)
                .map(|i| {
                    let covered = (start + scale).min(i as f64 + 1.0) - start.max(i as f64);
                    covered.max(0.0) / scale
                })
                .collect();
            (first, shares)
        })
        .collect()
}

fn bilinear(image: &GreyImage, x: f64, y: f64) -> f64 {
    let clamp = |v: f64, len: usize| v.clamp(0.0, (len - 1) as f64);
    let (x, y) = (clamp(x, image.width), clamp(y, image.height));
    let (x0, y0) = (x.floor() as usize, y.floor() as usize);
    let (x1, y1) = (
        (x0 + 1).min(image.width - 1),
        (y0 + 1).min(image.height - 1),
    );
    let (fx, fy) = (x - x0 as f64, y - y0 as f64);
    let p = |x: usize, y: usize| f64::from(image.at(x, y));
    let top = p(x0, y0) * (1.0 - fx) + p(x1, y0) * fx;
    let bottom = p(x0, y1) * (1.0 - fx) + p(x1, y1) * fx;
    top * (1.0 - fy) + bottom * fy
}

/// Centre of mass `(x, y)` in pixel indices (pixel `(x, y)` counts as at
/// `(x, y)`). MNIST's digits have theirs at (14, 14) in this convention:
/// measured on the bundled test set, they lie within half a pixel of it.
fn centre_of_mass(image: &GreyImage) -> (f64, f64) {
    let (mut total, mut sum_x, mut sum_y) = (0.0f64, 0.0f64, 0.0f64);
    for y in 0..image.height {
        for x in 0..image.width {
            let v = f64::from(image.at(x, y));
            total += v;
            sum_x += v * x as f64;
            sum_y += v * y as f64;
        }
    }
    if total == 0.0 {
        (
            (image.width as f64 - 1.0) / 2.0,
            (image.height as f64 - 1.0) / 2.0,
        )
    } else {
        (sum_x / total, sum_y / total)
    }
}

/// Stroke width relative to the digit's longest side, estimated as
/// `2 * area / (boundary * side)` over the pixels above `INK_THRESHOLD`
/// (a stroke of width w and length l has area w*l and boundary 2*l), on
/// the digit scaled to `STROKE_WORKING_SIDE`. Measured on the first 2000
/// bundled MNIST test digits, as they are and enlarged 3x and 5x: never
/// below 0.075, median 0.13-0.17. A thin pen saturates at 2/40 = 0.05.
fn relative_stroke_width(digit: &GreyImage) -> f64 {
    // At a fixed working size (twice MNIST's box): at 20 pixels every pixel
    // of a thin stroke is boundary and the estimate saturates at 2 pixels;
    // at a photo's size a stroke's jagged edge inflates the boundary.
    let longest = digit.width.max(digit.height) as f64;
    let fit = |len: usize| ((len as f64 * STROKE_WORKING_SIDE / longest).round() as usize).max(1);
    let digit = &stretch_to_unit_max(resize(digit, fit(digit.width), fit(digit.height)));
    let ink = |x: usize, y: usize| digit.at(x, y) > INK_THRESHOLD;
    let (mut area, mut boundary) = (0usize, 0usize);
    for y in 0..digit.height {
        for x in 0..digit.width {
            if !ink(x, y) {
                continue;
            }
            area += 1;
            let paper_beside = x == 0
                || y == 0
                || x + 1 == digit.width
                || y + 1 == digit.height
                || !ink(x - 1, y)
                || !ink(x + 1, y)
                || !ink(x, y - 1)
                || !ink(x, y + 1);
            boundary += usize::from(paper_beside);
        }
    }
    let side = digit.width.max(digit.height) as f64;
    2.0 * area as f64 / (boundary.max(1) as f64 * side)
}

const STROKE_WORKING_SIDE: f64 = 40.0;
/// Below this, strokes are thinner than any MNIST digit's.
const THINNEST_MNIST_STROKE: f64 = 0.07;

/// Scales so the strongest pixel is 1 (a thin stroke averaged down is faint).
fn stretch_to_unit_max(mut image: GreyImage) -> GreyImage {
    let strongest = image.pixels.iter().cloned().fold(0.0, f32::max);
    if strongest > 0.0 {
        image.pixels.iter_mut().for_each(|v| *v /= strongest);
    }
    image
}

/// Grey dilation by a 3x3 square: each pixel becomes its neighbourhood's
/// maximum, on a canvas one pixel larger on every side.
fn thicken(image: &GreyImage) -> GreyImage {
    let (width, height) = (image.width + 2, image.height + 2);
    let mut pixels = vec![0.0f32; width * height];
    for y in 0..image.height {
        for x in 0..image.width {
            let v = image.at(x, y);
            for dy in 0..3 {
                for dx in 0..3 {
                    let target = &mut pixels[(y + dy) * width + x + dx];
                    *target = target.max(v);
                }
            }
        }
    }
    GreyImage {
        width,
        height,
        pixels,
    }
}

/// Scales the cropped digit into the 20x20 box keeping its aspect ratio.
/// A pen stroke thin for the digit's size (a photo of ink on paper) would
/// come out far fainter and thinner than MNIST's 2-4 pixel strokes, so such
/// a digit is scaled into an 18-pixel box, brought back to full strength,
/// and thickened by a pixel on each side: 3-pixel strokes in 20 pixels.
fn fit_into_box(digit: &GreyImage) -> GreyImage {
    let thin = relative_stroke_width(digit) < THINNEST_MNIST_STROKE;
    let side = if thin { DIGIT_BOX - 2 } else { DIGIT_BOX } as f64;
    let longest = digit.width.max(digit.height) as f64;
    let fit = |len: usize| ((len as f64 * side / longest).round() as usize).max(1);
    let fitted = resize(digit, fit(digit.width), fit(digit.height));
    if thin {
        thicken(&stretch_to_unit_max(fitted))
    } else {
        fitted
    }
}

/// Steps 2-3 of the module docs on a decoded picture holding one digit:
/// the biggest digit found, prepared.
#[cfg(test)]
pub fn to_mnist(image: &GreyImage) -> Result<Vec<f32>, String> {
    let digits = find::find_digits(image, 1.0)?;
    let biggest = digits
        .iter()
        .max_by_key(|d| d.bounds.width * d.bounds.height)
        .expect("find_digits finds one or says why not");
    Ok(prepare(&biggest.ink))
}

/// Step 3 of the module docs: one digit's ink (0 paper, 1 ink) as MNIST's
/// 28x28 input.
fn prepare(ink: &GreyImage) -> Vec<f32> {
    let Some(bounds) = ink_bounding_box(ink, INK_THRESHOLD) else {
        return vec![0.0; SIDE * SIDE];
    };
    let digit = fit_into_box(&crop(ink, bounds));

    // Put the centre of mass at the field's centre, but never push ink out
    // of the field (a lopsided digit such as a 7 could otherwise lose a tip).
    let (cx, cy) = centre_of_mass(&digit);
    let centre = SIDE as f64 / 2.0;
    let place = |com: f64, len: usize| ((centre - com).round().max(0.0) as usize).min(SIDE - len);
    let (left, top) = (place(cx, digit.width), place(cy, digit.height));
    let mut field = vec![0.0f32; SIDE * SIDE];
    for y in 0..digit.height {
        for x in 0..digit.width {
            field[(top + y) * SIDE + left + x] = digit.at(x, y);
        }
    }
    field
}

/// Encodes an 8-bit grey picture as PNG (for tests and for the digit grid).
pub fn encode_grey_png(width: usize, height: usize, pixels: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width as u32, height as u32);
    encoder.set_color(png::ColorType::Grayscale);
    encoder.set_depth(png::BitDepth::Eight);
    // Writing into a Vec cannot fail for a well-formed header and data.
    let mut writer = encoder.write_header().expect("PNG header into memory");
    writer
        .write_image_data(pixels)
        .expect("PNG data into memory");
    drop(writer);
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::path::Path;

    /// An MNIST-style "7" with a crossbar-less stem and a "0"-like loop drawn
    /// with anti-aliased thick strokes, fitted into 20x20 and centred by mass
    /// in 28x28 by hand (independently of `to_mnist`).
    pub(crate) fn synthetic_digit() -> Vec<f32> {
        // Supersample 4x: a pixel's value is the fraction of its 16 samples
        // within `thickness` of a stroke.
        let strokes: [((f64, f64), (f64, f64)); 3] = [
            ((4.0, 4.0), (23.0, 4.0)),   // top bar of a 7
            ((23.0, 4.0), (11.0, 23.5)), // its diagonal
            ((9.0, 14.0), (19.0, 14.0)), // a crossbar
        ];
        let thickness = 1.6;
        let near = |px: f64, py: f64| {
            strokes.iter().any(|&((ax, ay), (bx, by))| {
                let (dx, dy) = (bx - ax, by - ay);
                let t = (((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)).clamp(0.0, 1.0);
                let (qx, qy) = (ax + t * dx - px, ay + t * dy - py);
                (qx * qx + qy * qy).sqrt() <= thickness
            })
        };
        let mut image = vec![0.0f32; SIDE * SIDE];
        for y in 0..SIDE {
            for x in 0..SIDE {
                let mut hits = 0;
                for sy in 0..4 {
                    for sx in 0..4 {
                        let (px, py) = (
                            x as f64 + (sx as f64 + 0.5) / 4.0,
                            y as f64 + (sy as f64 + 0.5) / 4.0,
                        );
                        hits += usize::from(near(px, py));
                    }
                }
                image[y * SIDE + x] = hits as f32 / 16.0;
            }
        }
        image
    }

    fn grey(width: usize, height: usize, pixels: Vec<f32>) -> GreyImage {
        GreyImage {
            width,
            height,
            pixels,
        }
    }

    /// Nearest-neighbour enlargement by an integer factor.
    fn enlarge(image: &GreyImage, factor: usize) -> GreyImage {
        let (w, h) = (image.width * factor, image.height * factor);
        let pixels = (0..w * h)
            .map(|i| image.at((i % w) / factor, (i / w) / factor))
            .collect();
        grey(w, h, pixels)
    }

    /// Pastes `image` into a `width x height` canvas of `paper` at `(x, y)`.
    fn paste(
        image: &GreyImage,
        width: usize,
        height: usize,
        x: usize,
        y: usize,
        paper: f32,
    ) -> GreyImage {
        let mut canvas = grey(width, height, vec![paper; width * height]);
        for iy in 0..image.height {
            for ix in 0..image.width {
                canvas.pixels[(y + iy) * width + x + ix] = image.at(ix, iy);
            }
        }
        canvas
    }

    /// The middle value of the picture's outermost pixels (paper).
    fn border_median(image: &GreyImage) -> f32 {
        let (w, h) = (image.width, image.height);
        let mut border: Vec<f32> = Vec::with_capacity(2 * (w + h));
        for x in 0..w {
            border.push(image.at(x, 0));
            border.push(image.at(x, h - 1));
        }
        for y in 0..h {
            border.push(image.at(0, y));
            border.push(image.at(w - 1, y));
        }
        border.sort_by(f32::total_cmp);
        border[border.len() / 2]
    }

    fn mean_abs_diff(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum::<f32>() / a.len() as f32
    }

    fn cosine(a: &[f32], b: &[f32]) -> f32 {
        let dot: f32 = a.iter().zip(b).map(|(x, y)| x * y).sum();
        let norm = |v: &[f32]| v.iter().map(|x| x * x).sum::<f32>().sqrt();
        dot / (norm(a) * norm(b))
    }

    fn assert_close_to_reference(output: &[f32], reference: &[f32]) {
        assert_eq!(output.len(), SIDE * SIDE);
        let (mad, cos) = (mean_abs_diff(output, reference), cosine(output, reference));
        assert!(mad < 0.05 && cos > 0.93, "mean |diff| {mad}, cosine {cos}");
    }

    fn white_on_black_reference() -> GreyImage {
        grey(SIDE, SIDE, synthetic_digit())
    }

    /// The synthetic digit as `to_mnist` prepares it; the centring and box
    /// size are checked on their own below, so the variants are compared
    /// with this.
    fn prepared_reference() -> Vec<f32> {
        to_mnist(&white_on_black_reference()).unwrap()
    }

    #[test]
    fn preparing_a_prepared_image_changes_almost_nothing() {
        let prepared = prepared_reference();
        let again = to_mnist(&grey(SIDE, SIDE, prepared.clone())).unwrap();
        assert!(mean_abs_diff(&again, &prepared) < 0.01);
    }

    #[test]
    fn enlarged_inverted_and_off_centre_pictures_match_the_reference() {
        let reference = white_on_black_reference();
        let expected = prepared_reference();
        let big = enlarge(&reference, 5);
        assert_close_to_reference(&to_mnist(&big).unwrap(), &expected);

        let inverted = grey(
            big.width,
            big.height,
            big.pixels.iter().map(|v| 1.0 - v).collect(),
        );
        assert_close_to_reference(&to_mnist(&inverted).unwrap(), &expected);

        // Dark ink in the top-left corner of a large grey-white sheet.
        let corner = paste(&inverted, 400, 300, 3, 10, 0.92);
        assert_close_to_reference(&to_mnist(&corner).unwrap(), &expected);

        // Small and faint: a 14x14 version of low contrast, bottom right.
        let small = resize(&reference, 14, 14);
        let faint = grey(14, 14, small.pixels.iter().map(|v| 0.3 + 0.4 * v).collect());
        let placed = paste(&faint, 60, 50, 44, 34, 0.3);
        let output = to_mnist(&placed).unwrap();
        let cos = cosine(&output, &expected);
        assert!(cos > 0.85, "cosine {cos}");
    }

    /// Real MNIST test digits were made by the very steps `to_mnist`
    /// repeats, so they are an independent reference: a digit blown up,
    /// inverted, put on a big sheet and prepared again must come back close
    /// to the original.
    #[test]
    fn real_mnist_digits_survive_enlarging_inverting_and_moving() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../data/mnist");
        let test = mnist_data::MnistSet::load_dir(dir, None).unwrap().test;
        let mut worst_mad = 0.0f32;
        let mut worst_cosine = 1.0f32;
        for index in 0..50 {
            let original: Vec<f32> = test
                .image(index)
                .iter()
                .map(|&p| f32::from(p) / 255.0)
                .collect();
            let digit = grey(SIDE, SIDE, original.clone());
            let factor = 2 + index % 5;
            let big = enlarge(&digit, factor);
            let ink_on_paper = grey(
                big.width,
                big.height,
                big.pixels.iter().map(|v| 0.95 - 0.9 * v).collect(),
            );
            let sheet = paste(
                &ink_on_paper,
                big.width + 30 + 37 * (index % 4),
                big.height + 50,
                11 * (index % 3),
                29,
                0.95,
            );
            let output = to_mnist(&sheet).unwrap();
            worst_mad = worst_mad.max(mean_abs_diff(&output, &original));
            worst_cosine = worst_cosine.min(cosine(&output, &original));
        }
        assert!(
            worst_mad < 0.01 && worst_cosine > 0.99,
            "worst mean |diff| {worst_mad}, worst cosine {worst_cosine}"
        );
    }

    #[test]
    fn a_thin_pen_on_a_large_sheet_is_thickened_to_mnist_strokes() {
        // The synthetic digit's strokes are 3.2 px wide in 28 px; drawn at 10x
        // with the same pen (1 px wide at 10x is 0.1 px at MNIST scale).
        let thick = prepared_reference();
        let (w, h) = (280, 280);
        let strokes = [
            ((40.0, 40.0), (230.0, 40.0)),
            ((230.0, 40.0), (110.0, 235.0)),
            ((90.0, 140.0), (190.0, 140.0)),
        ];
        let mut sheet = grey(w, h, vec![1.0; w * h]);
        for y in 0..h {
            for x in 0..w {
                let (px, py) = (x as f64 + 0.5, y as f64 + 0.5);
                let near = strokes.iter().any(|&((ax, ay), (bx, by))| {
                    let (dx, dy) = (bx - ax, by - ay);
                    let t =
                        (((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)).clamp(0.0, 1.0);
                    let (qx, qy) = (ax + t * dx - px, ay + t * dy - py);
                    (qx * qx + qy * qy).sqrt() <= 1.0
                });
                if near {
                    sheet.pixels[y * w + x] = 0.1;
                }
            }
        }
        let output = to_mnist(&sheet).unwrap();
        let mass: f32 = output.iter().sum();
        let strongest = output.iter().cloned().fold(0.0, f32::max);
        assert!(
            mass >= 38.0 && strongest == 1.0,
            "mass {mass}, max {strongest}"
        );
        let (x0, y0, x1, y1) = ink_bounding_box(&grey(SIDE, SIDE, output.clone()), 0.0).unwrap();
        assert!((x1 - x0).max(y1 - y0) <= DIGIT_BOX, "{x0} {y0} {x1} {y1}");
        let cos = cosine(&output, &thick);
        assert!(cos > 0.75, "cosine with the thick-pen digit {cos}");
    }

    #[test]
    fn thickening_is_a_3x3_maximum() {
        let dot = grey(1, 1, vec![0.5]);
        assert_eq!(thicken(&dot).pixels, vec![0.5; 9]);
        let pair = grey(2, 1, vec![1.0, 0.25]);
        let thick = thicken(&pair);
        assert_eq!((thick.width, thick.height), (4, 3));
        assert_eq!(thick.pixels[..4], [1.0, 1.0, 1.0, 0.25]);
    }

    #[test]
    fn paper_in_uneven_light_is_not_mistaken_for_ink() {
        // Dark ink on paper lit from the left: the paper itself goes from
        // 0.95 to 0.5 across the sheet, darker than faint ink on the left.
        let reference = white_on_black_reference();
        let big = enlarge(&reference, 4);
        let (w, h) = (300, 200);
        let mut sheet = grey(w, h, vec![0.0; w * h]);
        for y in 0..h {
            for x in 0..w {
                let paper = 0.95 - 0.45 * x as f32 / (w - 1) as f32;
                let (ix, iy) = (x.wrapping_sub(60), y.wrapping_sub(40));
                let ink = if ix < big.width && iy < big.height {
                    big.at(ix, iy)
                } else {
                    0.0
                };
                sheet.pixels[y * w + x] = paper * (1.0 - 0.9 * ink);
            }
        }
        assert_close_to_reference(&to_mnist(&sheet).unwrap(), &prepared_reference());
    }

    #[test]
    fn the_output_is_centred_by_mass_and_fits_the_20_pixel_box() {
        let reference = white_on_black_reference();
        let corner = paste(&enlarge(&reference, 3), 200, 200, 120, 0, 0.0);
        let output = grey(SIDE, SIDE, to_mnist(&corner).unwrap());
        let (cx, cy) = centre_of_mass(&output);
        assert!(
            (cx - 14.0).abs() <= 0.5 && (cy - 14.0).abs() <= 0.5,
            "{cx} {cy}"
        );
        let (x0, y0, x1, y1) = ink_bounding_box(&output, 0.0).unwrap();
        assert!(
            (x1 - x0).max(y1 - y0) <= DIGIT_BOX + 1,
            "{x0} {y0} {x1} {y1}"
        );
    }

    #[test]
    fn a_tall_thin_digit_keeps_its_aspect_ratio() {
        // A vertical bar 4 wide, 40 tall -> 2 wide, 20 tall.
        let mut bar = grey(30, 60, vec![0.0; 30 * 60]);
        for y in 10..50 {
            for x in 13..17 {
                bar.pixels[y * 30 + x] = 1.0;
            }
        }
        let output = grey(SIDE, SIDE, to_mnist(&bar).unwrap());
        let (x0, y0, x1, y1) = ink_bounding_box(&output, 0.5).unwrap();
        assert_eq!((x1 - x0, y1 - y0), (2, 20));
        // Its centre of mass (0.5, 9.5) in the box goes to (14, 14), rounding
        // half-way shifts up: columns 14-15, rows 5-24.
        assert_eq!((x0, y0), (14, 5));
    }

    /// Shrinking against the definition: each output pixel the mean of the
    /// source area under it, every source pixel weighed by the part of it
    /// covered in both directions at once.
    #[test]
    fn shrinking_averages_the_area_under_each_output_pixel() {
        let covered = |start: f64, len: f64, i: usize| {
            ((start + len).min(i as f64 + 1.0) - start.max(i as f64)).max(0.0)
        };
        for (w, h, ow, oh) in [
            (37, 23, 10, 7),
            (280, 280, 28, 28),
            (5, 3, 3, 2),
            (9, 1, 4, 1),
        ] {
            let image = grey(
                w,
                h,
                (0..w * h)
                    .map(|i| ((i * 7919) % 101) as f32 / 100.0)
                    .collect(),
            );
            let shrunk = resize(&image, ow, oh);
            let (sx, sy) = (w as f64 / ow as f64, h as f64 / oh as f64);
            for oy in 0..oh {
                for ox in 0..ow {
                    let (x, y) = (ox as f64 * sx, oy as f64 * sy);
                    let mut sum = 0.0;
                    for py in 0..h {
                        for px in 0..w {
                            let share = covered(x, sx, px) * covered(y, sy, py);
                            sum += share * f64::from(image.at(px, py));
                        }
                    }
                    let want = sum / (sx * sy);
                    let got = f64::from(shrunk.at(ox, oy));
                    assert!(
                        (got - want).abs() < 1e-5,
                        "{w}x{h} -> {ow}x{oh} at ({ox}, {oy}): {got} vs {want}"
                    );
                }
            }
        }
        assert_eq!(
            resize(&grey(3, 3, vec![0.5; 9]), 0, 2).pixels,
            Vec::<f32>::new()
        );
    }

    #[test]
    fn area_averaging_is_exact_on_whole_blocks_and_keeps_the_mean() {
        let image = grey(4, 2, vec![1.0, 0.0, 0.5, 0.5, 0.0, 1.0, 0.25, 0.75]);
        let half = resize(&image, 2, 1);
        assert_eq!(half.pixels, vec![0.5, 0.5]);
        // A non-integer factor (5 -> 3) keeps the mean brightness.
        let ramp = grey(5, 1, vec![0.0, 0.25, 0.5, 0.75, 1.0]);
        let shrunk = resize(&ramp, 3, 1);
        let mean: f32 = shrunk.pixels.iter().sum::<f32>() / 3.0;
        assert!((mean - 0.5).abs() < 1e-6, "{:?}", shrunk.pixels);
        // First output pixel covers source [0, 5/3): (0 + 0.25 * 2/3) / (5/3).
        assert!((shrunk.pixels[0] - 0.1).abs() < 1e-6);
    }

    #[test]
    fn blank_and_flat_pictures_are_errors_not_panics() {
        let blank = grey(50, 50, vec![1.0; 2500]);
        assert!(to_mnist(&blank).unwrap_err().contains("no digit"));
        let one_pixel = grey(1, 1, vec![0.0]);
        assert!(to_mnist(&one_pixel).is_err());
    }

    fn png_bytes(
        width: usize,
        height: usize,
        color: png::ColorType,
        depth: png::BitDepth,
        data: &[u8],
        palette: Option<Vec<u8>>,
    ) -> Vec<u8> {
        let mut out = Vec::new();
        let mut encoder = png::Encoder::new(&mut out, width as u32, height as u32);
        encoder.set_color(color);
        encoder.set_depth(depth);
        if let Some(palette) = palette {
            encoder.set_palette(palette);
        }
        let mut writer = encoder.write_header().unwrap();
        writer.write_image_data(data).unwrap();
        drop(writer);
        out
    }

    fn to_u8(v: f32) -> u8 {
        (v.clamp(0.0, 1.0) * 255.0).round() as u8
    }

    #[test]
    fn every_png_colour_type_decodes_to_the_same_grey() {
        let reference = enlarge(&white_on_black_reference(), 2);
        let (w, h) = (reference.width, reference.height);
        let ink: Vec<u8> = reference.pixels.iter().map(|&v| to_u8(v)).collect();
        let expected = to_mnist(&decode(&encode_grey_png(w, h, &ink)).unwrap()).unwrap();
        let dark_on_white: Vec<u8> = ink.iter().map(|v| 255 - v).collect();

        let rgb: Vec<u8> = dark_on_white.iter().flat_map(|&v| [v, v, v]).collect();
        // Transparent background, opaque black ink: alpha carries the digit.
        let rgba: Vec<u8> = ink.iter().flat_map(|&a| [0, 0, 0, a]).collect();
        let grey_alpha: Vec<u8> = ink.iter().flat_map(|&a| [0, a]).collect();
        let grey16: Vec<u8> = dark_on_white.iter().flat_map(|&v| [v, v]).collect();
        // A palette of 256 greys, indices are the grey levels.
        let palette: Vec<u8> = (0..=255u8).flat_map(|v| [v, v, v]).collect();
        use png::{BitDepth::*, ColorType::*};
        let variants = [
            ("rgb", png_bytes(w, h, Rgb, Eight, &rgb, None)),
            ("rgba", png_bytes(w, h, Rgba, Eight, &rgba, None)),
            (
                "grey+alpha",
                png_bytes(w, h, GrayscaleAlpha, Eight, &grey_alpha, None),
            ),
            ("grey16", png_bytes(w, h, Grayscale, Sixteen, &grey16, None)),
            (
                "palette",
                png_bytes(w, h, Indexed, Eight, &dark_on_white, Some(palette)),
            ),
        ];
        for (name, bytes) in variants {
            let output = to_mnist(&decode(&bytes).unwrap()).unwrap();
            let mad = mean_abs_diff(&output, &expected);
            assert!(mad < 0.01, "{name}: mean |diff| {mad}");
        }
    }

    #[test]
    fn coloured_ink_on_coloured_paper_is_found() {
        let reference = enlarge(&white_on_black_reference(), 3);
        // Blue ink on yellowish paper.
        let rgb: Vec<u8> = reference
            .pixels
            .iter()
            .flat_map(|&ink| {
                let mix = |paper: f32, pen: f32| to_u8(paper * (1.0 - ink) + pen * ink);
                [mix(0.98, 0.1), mix(0.95, 0.2), mix(0.8, 0.7)]
            })
            .collect();
        let bytes = png_bytes(
            reference.width,
            reference.height,
            png::ColorType::Rgb,
            png::BitDepth::Eight,
            &rgb,
            None,
        );
        let output = to_mnist(&decode(&bytes).unwrap()).unwrap();
        assert_close_to_reference(&output, &prepared_reference());
    }

    /// JPEG fixtures (see tests/fixtures/README.md): white paper must decode
    /// light and ink dark, whatever the colour model.
    #[test]
    fn jpeg_grey_rgb_and_cmyk_decode_with_paper_light_and_ink_dark() {
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        for (name, size) in [
            ("seven-grey.jpg", (160, 140)),
            ("two-rgb.jpg", (200, 150)),
            ("four-cmyk.jpg", (130, 110)),
        ] {
            let image = decode(&std::fs::read(fixtures.join(name)).unwrap()).unwrap();
            assert_eq!((image.width, image.height), size, "{name}");
            let paper = border_median(&image);
            let darkest = image.pixels.iter().cloned().fold(1.0, f32::min);
            assert!(
                paper > 0.85 && darkest < 0.3,
                "{name}: paper {paper}, darkest {darkest}"
            );
        }
    }

    /// A header claiming 65000 x 65000 pixels is refused before decoding
    /// allocates for them (before this check, such a 2 KB JPEG made
    /// `predict` reserve gigabytes and abort).
    #[test]
    fn a_picture_claiming_billions_of_pixels_is_refused_from_its_header() {
        let mut png = Vec::new();
        let mut writer = png::Encoder::new(&mut png, 65_000, 65_000)
            .write_header()
            .unwrap();
        // The header is read up to the first image data chunk; its content
        // (a start of a zlib stream) is never reached.
        writer
            .write_chunk(png::chunk::IDAT, &[0x78, 0x9C, 0x03, 0x00])
            .unwrap();
        drop(writer);
        let error = decode(&png).unwrap_err();
        assert!(error.contains("65000x65000 pixels"), "{error}");

        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/seven-grey.jpg");
        let mut jpeg = std::fs::read(fixture).unwrap();
        // Start of frame: FF C0, length (2), precision (1), height (2), width (2).
        let sof = jpeg.windows(2).position(|w| w == [0xFF, 0xC0]).unwrap();
        jpeg[sof + 5..sof + 9].copy_from_slice(&[0xFD, 0xE8, 0xFD, 0xE8]);
        let error = decode(&jpeg).unwrap_err();
        assert!(error.contains("65000x65000 pixels"), "{error}");
        // The size limit leaves room for a 50-megapixel photo.
        assert!(check_size(8160, 6120).is_ok());
    }

    /// A 3.7 KB JPEG claiming 65535x1024 pixels decoded (slowly, into a
    /// gigabyte) as a blank picture: the decoder fills a short scan with zeros.
    #[test]
    fn pictures_whose_data_is_too_short_for_their_size_are_refused_before_decoding() {
        let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
        for name in ["four-cmyk.jpg", "seven-grey.jpg", "two-rgb.jpg"] {
            let mut jpeg = std::fs::read(fixtures.join(name)).unwrap();
            // Start of frame: FF C0 (baseline) or C2 (progressive), length (2),
            // precision (1), height (2), width (2).
            let sof = jpeg
                .windows(2)
                .position(|w| w == [0xFF, 0xC0] || w == [0xFF, 0xC2])
                .unwrap();
            jpeg[sof + 5..sof + 9].copy_from_slice(&[0x04, 0x00, 0xFF, 0xFF]);
            let started = std::time::Instant::now();
            let error = match decode(&jpeg) {
                Ok(image) => panic!("{name} decoded as {}x{}", image.width, image.height),
                Err(error) => error,
            };
            assert!(
                error.contains("cut short") && error.contains("65535x1024 pixels"),
                "{name}: {error}"
            );
            assert!(started.elapsed().as_secs_f64() < 0.5, "{name} was decoded");
            // Their real scans are long enough for their real sizes.
            let real = std::fs::read(fixtures.join(name)).unwrap();
            let info = {
                let mut decoder = jpeg_decoder::Decoder::new(&real[..]);
                decoder.read_info().unwrap();
                decoder.info().unwrap()
            };
            let (w, h) = (usize::from(info.width), usize::from(info.height));
            assert!(jpeg_entropy_coded_bytes(&real) * 8 >= w.div_ceil(8) * h.div_ceil(8));
        }

        // A PNG claiming 8000x8000 grey pixels (64 MB) with 4 bytes of data.
        let mut png = Vec::new();
        let mut writer = png::Encoder::new(&mut png, 8000, 8000)
            .write_header()
            .unwrap();
        writer
            .write_chunk(png::chunk::IDAT, &[0x78, 0x9C, 0x03, 0x00])
            .unwrap();
        drop(writer);
        let error = match decode(&png) {
            Ok(image) => panic!("decoded as {}x{}", image.width, image.height),
            Err(error) => error,
        };
        assert!(
            error.contains("cut short") && error.contains("8000x8000 pixels"),
            "{error}"
        );
    }

    #[test]
    fn undecodable_bytes_are_errors_that_say_why() {
        assert!(decode(b"hello").unwrap_err().contains("not a PNG or JPEG"));
        let png = encode_grey_png(4, 4, &[0; 16]);
        assert!(decode(&png[..png.len() / 2]).unwrap_err().contains("PNG"));
        assert!(decode(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0])
            .unwrap_err()
            .contains("JPEG"));
        assert!(decode(&[]).is_err());
    }
}
