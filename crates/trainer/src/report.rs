//! What a run leaves for a person to open: `metrics.jsonl` and three SVG
//! pictures (learning curves, confusion matrix, a grid of test digits).
//! SVG is plain text, opens in any browser, and needs no plotting library.

use crate::files::write_atomic;
use crate::{error::Error, picture};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::Path;

/// One line of `metrics.jsonl`: how an epoch went.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    /// Counting from 1.
    pub epoch: usize,
    /// Mean loss of the epoch's training batches (with dropout, as trained).
    pub train_loss: f32,
    /// Accuracy on those same batches, as they were seen.
    pub train_accuracy: f32,
    /// `None` when no validation set was held out (`--val-split 0`).
    pub val_loss: Option<f32>,
    pub val_accuracy: Option<f32>,
    /// On the test set, with `--test-every-epoch`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_loss: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_accuracy: Option<f32>,
    /// Learning rate of the epoch's last step.
    pub lr: f32,
    /// Training time of the epoch (evaluation excluded).
    pub seconds: f64,
    pub samples_per_second: f64,
}

/// Writes all of `history` as JSON lines (rewritten whole, atomically, so
/// the file always matches the checkpoint).
pub fn write_metrics(path: &Path, history: &[EpochMetrics]) -> Result<(), Error> {
    let mut text = String::new();
    for metrics in history {
        let line = serde_json::to_string(metrics).expect("metrics serialise");
        text.push_str(&line);
        text.push('\n');
    }
    write_atomic(path, text.as_bytes())
}

const FONT: &str = "font-family=\"DejaVu Sans, Helvetica, Arial, sans-serif\"";
const TRAIN_COLOUR: &str = "#1f77b4";
const VALIDATION_COLOUR: &str = "#ff7f0e";

/// Up to about 7 round tick values covering `[low, high]`.
fn nice_ticks(low: f64, high: f64) -> Vec<f64> {
    let span = (high - low).max(1e-9);
    let raw = span / 6.0;
    let magnitude = 10f64.powf(raw.log10().floor());
    let step = [1.0, 2.0, 2.5, 5.0, 10.0]
        .iter()
        .map(|m| m * magnitude)
        .find(|&s| s >= raw)
        .unwrap_or(10.0 * magnitude);
    let first = (low / step).ceil() as i64;
    let last = (high / step + 1e-9).floor() as i64;
    (first..=last).map(|i| i as f64 * step).collect()
}

fn format_tick(value: f64) -> String {
    let text = format!("{value:.4}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".into()
    } else {
        text.into()
    }
}

/// One curve: `(name, colour, dashed, points (x, y))`.
type Series<'a> = (&'a str, &'a str, bool, Vec<(f64, f64)>);

/// One line chart: axes, ticks, labels, a polyline per series, a legend.
struct Chart<'a> {
    title: &'a str,
    y_label: &'a str,
    series: Vec<Series<'a>>,
    y_range: (f64, f64),
    /// Where the curves leave room: loss falls (legend top right), accuracy
    /// rises (legend bottom right).
    legend_at_bottom: bool,
}

impl Chart<'_> {
    /// Draws into a `width x height` box whose top-left corner is `(left, top)`.
    fn draw(&self, svg: &mut String, left: f64, top: f64, width: f64, height: f64) {
        let (plot_left, plot_top) = (left + 64.0, top + 34.0);
        let (plot_width, plot_height) = (width - 84.0, height - 84.0);
        let x_max = self
            .series
            .iter()
            .flat_map(|s| s.3.iter().map(|p| p.0))
            .fold(1.0, f64::max);
        let (x_low, x_high) = (if x_max > 1.0 { 1.0 } else { 0.5 }, x_max.max(1.5));
        let (y_low, y_high) = self.y_range;
        let sx = |x: f64| plot_left + (x - x_low) / (x_high - x_low) * plot_width;
        let sy = |y: f64| plot_top + plot_height - (y - y_low) / (y_high - y_low) * plot_height;

        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" {FONT} font-size=\"15\" font-weight=\"bold\" text-anchor=\"middle\">{}</text>",
            plot_left + plot_width / 2.0,
            top + 20.0,
            self.title
        );
        let _ = writeln!(
            svg,
            "<rect x=\"{plot_left:.1}\" y=\"{plot_top:.1}\" width=\"{plot_width:.1}\" height=\"{plot_height:.1}\" fill=\"white\" stroke=\"#333\"/>"
        );
        for y in nice_ticks(y_low, y_high) {
            let py = sy(y);
            let _ = writeln!(
                svg,
                "<line x1=\"{plot_left:.1}\" y1=\"{py:.1}\" x2=\"{:.1}\" y2=\"{py:.1}\" stroke=\"#ddd\"/>\
                 <text x=\"{:.1}\" y=\"{:.1}\" {FONT} font-size=\"11\" text-anchor=\"end\">{}</text>",
                plot_left + plot_width,
                plot_left - 6.0,
                py + 4.0,
                format_tick(y)
            );
        }
        let x_ticks: Vec<f64> = nice_ticks(x_low, x_high)
            .into_iter()
            .filter(|x| x.fract() == 0.0)
            .collect();
        for x in x_ticks {
            let px = sx(x);
            let _ = writeln!(
                svg,
                "<line x1=\"{px:.1}\" y1=\"{:.1}\" x2=\"{px:.1}\" y2=\"{:.1}\" stroke=\"#333\"/>\
                 <text x=\"{px:.1}\" y=\"{:.1}\" {FONT} font-size=\"11\" text-anchor=\"middle\">{}</text>",
                plot_top + plot_height,
                plot_top + plot_height + 5.0,
                plot_top + plot_height + 18.0,
                format_tick(x)
            );
        }
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" {FONT} font-size=\"12\" text-anchor=\"middle\">epoch</text>\n\
             <text transform=\"translate({:.1},{:.1}) rotate(-90)\" {FONT} font-size=\"12\" text-anchor=\"middle\">{}</text>",
            plot_left + plot_width / 2.0,
            plot_top + plot_height + 36.0,
            left + 16.0,
            plot_top + plot_height / 2.0,
            self.y_label
        );
        for (i, (name, colour, dashed, points)) in self.series.iter().enumerate() {
            let dash = if *dashed {
                " stroke-dasharray=\"6 4\""
            } else {
                ""
            };
            let path: Vec<String> = points
                .iter()
                .map(|&(x, y)| format!("{:.1},{:.1}", sx(x), sy(y)))
                .collect();
            let _ = writeln!(
                svg,
                "<polyline points=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\"{dash}/>",
                path.join(" ")
            );
            for &(x, y) in points {
                let _ = writeln!(
                    svg,
                    "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{colour}\"/>",
                    sx(x),
                    sy(y)
                );
            }
            // Legend, inside the plot on the right.
            let first_row = if self.legend_at_bottom {
                plot_top + plot_height - 14.0 - 18.0 * (self.series.len() - 1) as f64
            } else {
                plot_top + 16.0
            };
            let (lx, ly) = (plot_left + plot_width - 130.0, first_row + 18.0 * i as f64);
            let _ = writeln!(
                svg,
                "<line x1=\"{lx:.1}\" y1=\"{ly:.1}\" x2=\"{:.1}\" y2=\"{ly:.1}\" stroke=\"{colour}\" stroke-width=\"2\"{dash}/>\
                 <text x=\"{:.1}\" y=\"{:.1}\" {FONT} font-size=\"12\">{name}</text>",
                lx + 24.0,
                lx + 30.0,
                ly + 4.0
            );
        }
    }
}

fn svg_document(width: f64, height: f64, body: &str) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n{body}</svg>\n"
    )
}

/// Loss and accuracy per epoch, training and validation, side by side.
pub fn learning_curves_svg(history: &[EpochMetrics]) -> String {
    let x = |m: &EpochMetrics| m.epoch as f64;
    let series = |value: fn(&EpochMetrics) -> Option<f32>| -> Vec<(f64, f64)> {
        history
            .iter()
            .filter_map(|m| value(m).map(|v| (x(m), f64::from(v))))
            .collect()
    };
    let train_loss = series(|m| Some(m.train_loss));
    let val_loss = series(|m| m.val_loss);
    let to_percent = |points: Vec<(f64, f64)>| -> Vec<(f64, f64)> {
        points.into_iter().map(|(x, y)| (x, 100.0 * y)).collect()
    };
    let train_accuracy = to_percent(series(|m| Some(m.train_accuracy)));
    let val_accuracy = to_percent(series(|m| m.val_accuracy));

    let finite_max = |sets: &[&Vec<(f64, f64)>]| {
        sets.iter()
            .flat_map(|s| s.iter().map(|p| p.1))
            .filter(|v| v.is_finite())
            .fold(0.0f64, f64::max)
    };
    let loss_top = (finite_max(&[&train_loss, &val_loss]) * 1.1).max(1e-3);
    let lowest_accuracy = train_accuracy
        .iter()
        .chain(&val_accuracy)
        .map(|p| p.1)
        .fold(100.0f64, f64::min);
    let accuracy_bottom = ((lowest_accuracy - 1.0) / 5.0).floor().clamp(0.0, 19.0) * 5.0;

    let with_validation = |train, validation: Vec<(f64, f64)>| {
        let mut all = vec![("training", TRAIN_COLOUR, false, train)];
        if !validation.is_empty() {
            all.push(("validation", VALIDATION_COLOUR, true, validation));
        }
        all
    };
    let loss = Chart {
        title: "Loss per epoch",
        y_label: "cross-entropy loss",
        series: with_validation(train_loss, val_loss),
        y_range: (0.0, loss_top),
        legend_at_bottom: false,
    };
    let accuracy = Chart {
        title: "Accuracy per epoch",
        y_label: "accuracy (%)",
        series: with_validation(train_accuracy, val_accuracy),
        y_range: (accuracy_bottom, 100.0),
        legend_at_bottom: true,
    };
    let mut body = String::new();
    loss.draw(&mut body, 0.0, 0.0, 480.0, 360.0);
    accuracy.draw(&mut body, 480.0, 0.0, 480.0, 360.0);
    svg_document(960.0, 360.0, &body)
}

/// White (0) to dark blue (1).
fn blue_scale(fraction: f64) -> String {
    colour_scale(fraction, (8.0, 48.0, 107.0))
}

/// White to dark red, for the mistakes.
fn red_scale(fraction: f64) -> String {
    colour_scale(fraction, (165.0, 15.0, 21.0))
}

/// White at 0 to `dark` at 1.
fn colour_scale(fraction: f64, dark: (f64, f64, f64)) -> String {
    let f = fraction.clamp(0.0, 1.0);
    let channel = |dark: f64| (255.0 + (dark - 255.0) * f).round() as u8;
    format!(
        "rgb({},{},{})",
        channel(dark.0),
        channel(dark.1),
        channel(dark.2)
    )
}

/// `confusion[true][predicted]` as a heat map, each cell's count written in
/// it. Colours are shares of the true class (so rare and common digits read
/// alike): blue on the diagonal, from 0 to 100%; red off it, from 0 to the
/// largest mistake's share, so the mistakes stand out instead of fading
/// beside a diagonal of 98%.
pub fn confusion_svg(confusion: &[Vec<usize>]) -> String {
    let classes = confusion.len();
    let cell = 46.0;
    let (left, top) = (80.0, 60.0);
    let share = |true_class: usize, predicted: usize| {
        let row = &confusion[true_class];
        row[predicted] as f64 / row.iter().sum::<usize>().max(1) as f64
    };
    let worst_mistake = (0..classes)
        .flat_map(|t| (0..classes).filter(move |&p| p != t).map(move |p| (t, p)))
        .map(|(t, p)| share(t, p))
        .fold(0.0, f64::max);
    let mut body = String::new();
    let _ = writeln!(
        body,
        "<text x=\"{:.1}\" y=\"24\" {FONT} font-size=\"15\" font-weight=\"bold\" text-anchor=\"middle\">Confusion matrix (test set)</text>",
        left + cell * classes as f64 / 2.0
    );
    for (true_class, row) in confusion.iter().enumerate() {
        for (predicted, &count) in row.iter().enumerate() {
            let fraction = share(true_class, predicted);
            let (x, y) = (
                left + cell * predicted as f64,
                top + cell * true_class as f64,
            );
            let (fill, depth) = if predicted == true_class {
                (blue_scale(fraction), fraction)
            } else {
                let depth = fraction / worst_mistake.max(f64::MIN_POSITIVE);
                (red_scale(depth), depth)
            };
            let ink = if depth > 0.5 { "white" } else { "black" };
            let _ = writeln!(
                body,
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{cell}\" height=\"{cell}\" fill=\"{fill}\" stroke=\"#ccc\"/>\
                 <text x=\"{:.1}\" y=\"{:.1}\" {FONT} font-size=\"12\" text-anchor=\"middle\" fill=\"{ink}\">{count}</text>",
                x + cell / 2.0,
                y + cell / 2.0 + 4.0
            );
        }
    }
    let side = cell * classes as f64;
    for class in 0..classes {
        let middle = cell * class as f64 + cell / 2.0;
        let _ = writeln!(
            body,
            "<text x=\"{:.1}\" y=\"{:.1}\" {FONT} font-size=\"13\" text-anchor=\"middle\">{class}</text>\
             <text x=\"{:.1}\" y=\"{:.1}\" {FONT} font-size=\"13\" text-anchor=\"end\">{class}</text>",
            left + middle,
            top + side + 18.0,
            left - 8.0,
            top + middle + 4.0
        );
    }
    let _ = writeln!(
        body,
        "<text x=\"{:.1}\" y=\"{:.1}\" {FONT} font-size=\"13\" text-anchor=\"middle\">predicted digit</text>\n\
         <text transform=\"translate({:.1},{:.1}) rotate(-90)\" {FONT} font-size=\"13\" text-anchor=\"middle\">true digit</text>",
        left + side / 2.0,
        top + side + 40.0,
        left - 44.0,
        top + side / 2.0
    );
    // Two colour bars, each a share of the true digit: right answers, mistakes.
    let bars = [
        ("right (diagonal)", 1.0, blue_scale as fn(f64) -> String),
        ("mistakes", worst_mistake, red_scale),
    ];
    for (k, (title, top_share, scale)) in bars.into_iter().enumerate() {
        let bar_left = left + side + 30.0 + 90.0 * k as f64;
        for i in 0..50 {
            let _ = writeln!(
                body,
                "<rect x=\"{bar_left:.1}\" y=\"{:.1}\" width=\"18\" height=\"{:.2}\" fill=\"{}\"/>",
                top + side * i as f64 / 50.0,
                side / 50.0 + 0.5,
                scale(1.0 - i as f64 / 49.0)
            );
        }
        let _ = writeln!(
            body,
            "<rect x=\"{bar_left:.1}\" y=\"{top:.1}\" width=\"18\" height=\"{side:.1}\" fill=\"none\" stroke=\"#333\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" {FONT} font-size=\"11\">{}</text>\
             <text x=\"{:.1}\" y=\"{:.1}\" {FONT} font-size=\"11\">0%</text>\
             <text transform=\"translate({:.1},{:.1}) rotate(90)\" {FONT} font-size=\"12\" text-anchor=\"middle\">{title}: share of the true digit</text>",
            bar_left + 24.0,
            top + 8.0,
            percent(top_share),
            bar_left + 24.0,
            top + side,
            bar_left + 58.0,
            top + side / 2.0
        );
    }
    svg_document(left + side + 200.0, top + side + 60.0, &body)
}

/// `100%`, `2.5%`, `0.31%`: two significant digits below 10%.
fn percent(fraction: f64) -> String {
    let value = 100.0 * fraction;
    if value >= 10.0 {
        format!("{value:.0}%")
    } else if value >= 1.0 {
        format!("{value:.1}%")
    } else {
        format!("{value:.2}%")
    }
}

/// One test digit for the grid.
pub struct GridDigit<'a> {
    /// 28x28 pixels, 0 background to 255 ink.
    pub pixels: &'a [u8],
    pub label: usize,
    pub predicted: usize,
}

/// What the digit grid shows: a sample of the test set as it comes (right
/// answers and mistakes in their true proportion), then more of the
/// mistakes, with the totals that put both in context.
pub struct DigitGrid<'a> {
    /// The first images of the test set.
    pub sample: Vec<GridDigit<'a>>,
    /// Misclassified images after the sample.
    pub mistakes: Vec<GridDigit<'a>>,
    /// Images in the whole test set, and how many of them are wrong.
    pub images: usize,
    pub wrong: usize,
}

impl<'a> DigitGrid<'a> {
    /// The first `sample` images of `test`, then up to `mistakes` of the
    /// misclassified ones after them.
    pub fn of(
        test: &'a mnist_data::Dataset,
        predictions: &[usize],
        sample: usize,
        mistakes: usize,
    ) -> DigitGrid<'a> {
        let digit = |i: usize| GridDigit {
            pixels: test.image(i),
            label: usize::from(test.label(i)),
            predicted: predictions[i],
        };
        let is_wrong = |&i: &usize| usize::from(test.label(i)) != predictions[i];
        let sample = sample.min(test.len());
        DigitGrid {
            sample: (0..sample).map(digit).collect(),
            mistakes: (sample..test.len())
                .filter(is_wrong)
                .take(mistakes)
                .map(digit)
                .collect(),
            images: test.len(),
            wrong: (0..test.len()).filter(is_wrong).count(),
        }
    }
}

/// The grid of digits, each with "true → predicted" beneath, mistakes in
/// a red frame and red text: first the sample, then the further mistakes,
/// each part under a heading that says what it is. Each digit is a small
/// PNG inside the SVG.
pub fn digit_grid_svg(grid: &DigitGrid<'_>) -> String {
    const COLUMNS: usize = 10;
    let (cell_width, cell_height, heading_height, scale) = (76.0, 92.0, 30.0, 2.0);
    let mut body = String::new();
    let _ = writeln!(
        body,
        "<text x=\"{:.1}\" y=\"24\" {FONT} font-size=\"15\" font-weight=\"bold\" text-anchor=\"middle\">\
         Test digits, true → predicted: {} of {} wrong overall ({:.2}% accuracy)</text>",
        cell_width * COLUMNS as f64 / 2.0,
        grid.wrong,
        grid.images,
        100.0 * (1.0 - grid.wrong as f64 / grid.images.max(1) as f64)
    );
    let sample_wrong = grid
        .sample
        .iter()
        .filter(|d| d.label != d.predicted)
        .count();
    let parts = [
        (
            format!(
                "The first {} test images, as they come: {} right, {sample_wrong} wrong",
                grid.sample.len(),
                grid.sample.len() - sample_wrong
            ),
            &grid.sample,
        ),
        (
            format!(
                "{} of the {} other mistakes, in test-set order",
                grid.mistakes.len(),
                grid.wrong - sample_wrong
            ),
            &grid.mistakes,
        ),
    ];
    let mut y_top = 40.0;
    for (heading, digits) in parts {
        if digits.is_empty() {
            continue;
        }
        let _ = writeln!(
            body,
            "<text x=\"10\" y=\"{:.1}\" {FONT} font-size=\"13\" font-weight=\"bold\">{heading}</text>",
            y_top + 16.0
        );
        y_top += heading_height;
        for (i, digit) in digits.iter().enumerate() {
            let (x, y) = (
                10.0 + cell_width * (i % COLUMNS) as f64,
                y_top + cell_height * (i / COLUMNS) as f64,
            );
            let side = picture::SIDE as f64 * scale;
            let png = picture::encode_grey_png(picture::SIDE, picture::SIDE, digit.pixels);
            let wrong = digit.label != digit.predicted;
            let colour = if wrong { "#d62728" } else { "#222" };
            let _ = writeln!(
                body,
                "<image x=\"{x:.1}\" y=\"{y:.1}\" width=\"{side}\" height=\"{side}\" style=\"image-rendering:pixelated\" \
                 href=\"data:image/png;base64,{}\"/>",
                base64(&png)
            );
            if wrong {
                let _ = writeln!(
                    body,
                    "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"3\"/>",
                    x - 2.0,
                    y - 2.0,
                    side + 4.0,
                    side + 4.0
                );
            }
            let _ = writeln!(
                body,
                "<text x=\"{:.1}\" y=\"{:.1}\" {FONT} font-size=\"13\" text-anchor=\"middle\" fill=\"{colour}\">{} → {}</text>",
                x + side / 2.0,
                y + side + 17.0,
                digit.label,
                digit.predicted
            );
        }
        y_top += cell_height * digits.len().div_ceil(COLUMNS) as f64;
    }
    svg_document(20.0 + cell_width * COLUMNS as f64, y_top + 10.0, &body)
}

/// The first layer's filters as pictures: a convolution's kernels (each
/// input channel of each), or a dense layer's first 64 units' weights
/// seen as 28x28 images. Grey is zero, white positive, black negative,
/// each filter on its own scale (what it looks for, not how strongly).
pub fn first_layer_svg(model: &nn::Sequential) -> String {
    let (filters, side, title): (Vec<&[f32]>, usize, String) = match model.layers().next() {
        Some(nn::Layer::Conv2d(conv)) => {
            let k = conv.window().kernel;
            let kernels = conv.weight().as_slice().chunks(k * k).collect();
            (
                kernels,
                k,
                format!(
                    "First layer: {} convolution kernels, {k}x{k}",
                    conv.filters()
                ),
            )
        }
        Some(nn::Layer::Dense(dense)) if dense.inputs() == picture::SIDE * picture::SIDE => {
            let units = dense.outputs().min(64);
            let rows = (0..units).map(|o| dense.weight().row(o)).collect();
            let title = format!(
                "First layer: the weights of {units} of {} units",
                dense.outputs()
            );
            (rows, picture::SIDE, title)
        }
        _ => (Vec::new(), 1, "First layer: nothing to draw".to_string()),
    };
    const COLUMNS: usize = 16;
    let scale = (56 / side).max(4) as f64;
    let cell = side as f64 * scale + 6.0;
    let mut body = String::new();
    let _ = writeln!(
        body,
        "<text x=\"10\" y=\"22\" {FONT} font-size=\"15\" font-weight=\"bold\">{title}</text>"
    );
    for (i, weights) in filters.iter().enumerate() {
        let largest = weights
            .iter()
            .fold(0.0f32, |m, w| m.max(w.abs()))
            .max(1e-12);
        let pixels: Vec<u8> = weights
            .iter()
            .map(|w| (127.5 + 127.5 * w / largest).round().clamp(0.0, 255.0) as u8)
            .collect();
        let png = picture::encode_grey_png(side, side, &pixels);
        let (x, y) = (
            10.0 + cell * (i % COLUMNS) as f64,
            34.0 + cell * (i / COLUMNS) as f64,
        );
        let _ = writeln!(
            body,
            "<image x=\"{x:.1}\" y=\"{y:.1}\" width=\"{0}\" height=\"{0}\" style=\"image-rendering:pixelated\" \
             href=\"data:image/png;base64,{1}\"/>",
            side as f64 * scale,
            base64(&png)
        );
    }
    let rows = filters.len().div_ceil(COLUMNS).max(1);
    svg_document(
        20.0 + cell * COLUMNS.min(filters.len().max(1)) as f64 + 300.0,
        44.0 + cell * rows as f64,
        &body,
    )
}

/// Standard base64 (RFC 4648) with padding, for data URIs.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Writes the four pictures into `dir`.
pub fn write_plots(
    dir: &Path,
    history: &[EpochMetrics],
    confusion: &[Vec<usize>],
    grid: &DigitGrid<'_>,
    model: &nn::Sequential,
) -> Result<(), Error> {
    write_atomic(
        &dir.join("first_layer.svg"),
        first_layer_svg(model).as_bytes(),
    )?;
    write_atomic(
        &dir.join("learning_curves.svg"),
        learning_curves_svg(history).as_bytes(),
    )?;
    write_atomic(
        &dir.join("confusion_matrix.svg"),
        confusion_svg(confusion).as_bytes(),
    )?;
    write_atomic(
        &dir.join("test_digits.svg"),
        digit_grid_svg(grid).as_bytes(),
    )
}

#[cfg(test)]
pub(crate) mod tests {
    #[test]
    fn the_first_layer_picture_has_one_image_per_filter_or_unit() {
        let images = |spec: &str| {
            let spec = nn::ModelSpec::parse(spec).unwrap();
            let model = nn::Sequential::new(&spec, nn::Init::HeNormal, 1).unwrap();
            let svg = first_layer_svg(&model);
            assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
            (svg.matches("<image").count(), svg)
        };
        let (count, svg) = images("1x28x28 c6k5 p2 10");
        assert_eq!(count, 6);
        assert!(svg.contains("6 convolution kernels, 5x5"), "{svg}");
        assert_eq!(images("784-100-10").0, 64);
        assert_eq!(images("784-12-10").0, 12);
    }

    use super::*;

    pub(crate) fn sample_history() -> Vec<EpochMetrics> {
        (1..=5)
            .map(|epoch| {
                let e = epoch as f32;
                EpochMetrics {
                    epoch,
                    train_loss: 0.5 / e,
                    train_accuracy: 1.0 - 0.08 / e,
                    val_loss: Some(0.55 / e + 0.01),
                    val_accuracy: Some(1.0 - 0.09 / e),
                    test_loss: None,
                    test_accuracy: None,
                    lr: 1e-3,
                    seconds: 2.0,
                    samples_per_second: 27_500.0,
                }
            })
            .collect()
    }

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        let cases = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in cases {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
        assert_eq!(base64(&[0xFF, 0xEE]), "/+4=");
    }

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        assert_eq!(
            nice_ticks(0.0, 1.0),
            vec![0.0, 0.2, 0.4, 0.6000000000000001, 0.8, 1.0]
        );
        assert_eq!(
            nice_ticks(90.0, 100.0),
            vec![90.0, 92.0, 94.0, 96.0, 98.0, 100.0]
        );
        assert_eq!(
            nice_ticks(1.0, 30.0),
            vec![5.0, 10.0, 15.0, 20.0, 25.0, 30.0]
        );
        assert_eq!(format_tick(0.6000000000000001), "0.6");
        assert_eq!(format_tick(25.0), "25");
    }

    #[test]
    fn learning_curves_have_labelled_axes_a_legend_and_every_point() {
        let svg = learning_curves_svg(&sample_history());
        for text in [
            "epoch",
            "cross-entropy loss",
            "accuracy (%)",
            "training",
            "validation",
        ] {
            assert!(svg.contains(&format!(">{text}</text>")), "{text} missing");
        }
        assert_eq!(svg.matches("<polyline").count(), 4);
        assert_eq!(svg.matches("<circle").count(), 20);
        // Without a validation set only the training curves are drawn.
        let mut history = sample_history();
        history
            .iter_mut()
            .for_each(|m| (m.val_loss, m.val_accuracy) = (None, None));
        let svg = learning_curves_svg(&history);
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert!(!svg.contains(">validation<"));
        // A single epoch and a NaN loss still give a drawable picture.
        history.truncate(1);
        history[0].train_loss = f32::NAN;
        assert!(learning_curves_svg(&history).starts_with("<svg"));
    }

    #[test]
    fn the_confusion_matrix_writes_every_count_and_colours_mistakes_on_their_own_scale() {
        let mut confusion = vec![vec![0usize; 10]; 10];
        for (i, row) in confusion.iter_mut().enumerate() {
            row[i] = 900 + i;
        }
        // Shares of the true digit: 17 / 921 = 1.8% (the worst), 5 / 913 = 0.55%.
        confusion[4][9] = 17;
        confusion[8][3] = 5;
        let svg = confusion_svg(&confusion);
        assert!(svg.contains(">predicted digit<") && svg.contains(">true digit<"));
        assert!(svg.contains(">909<") && svg.contains(">17<"));
        assert_eq!(svg.matches(">0</text>").count(), 2 + 10 * 10 - 12);
        assert_eq!(blue_scale(0.0), "rgb(255,255,255)");
        assert_eq!(blue_scale(1.0), "rgb(8,48,107)");
        let cell = |count: &str| {
            let end = svg.find(&format!(">{count}</text>")).unwrap();
            let start = svg[..end].rfind("fill=\"rgb").unwrap() + 6;
            svg[start..svg[start..].find('"').unwrap() + start].to_string()
        };
        // The worst mistake is as dark as the red goes, however small its share.
        assert_eq!(cell("17"), red_scale(1.0));
        assert_eq!(cell("5"), red_scale((5.0 / 913.0) / (17.0 / 921.0)));
        assert_ne!(cell("5"), red_scale(0.0));
        assert_eq!(cell("909"), blue_scale(909.0 / 909.0));
        assert!(svg.contains("right (diagonal): share of the true digit"));
        assert!(svg.contains("mistakes: share of the true digit"));
        assert!(
            svg.contains(">1.8%<"),
            "the red bar's top is the worst share"
        );
    }

    #[test]
    fn the_digit_grid_says_what_it_shows() {
        // Ten images; the model gets 1, 6 and 8 wrong.
        let images: Vec<u8> = (0..10 * 784).map(|i| (i % 251) as u8).collect();
        let labels: Vec<u8> = (0..10).collect();
        let test = mnist_data::Dataset::new(images, labels, (28, 28), Some(10)).unwrap();
        let mut predictions: Vec<usize> = (0..10).collect();
        (predictions[1], predictions[6], predictions[8]) = (7, 5, 3);
        let grid = DigitGrid::of(&test, &predictions, 4, 1);
        assert_eq!((grid.sample.len(), grid.mistakes.len()), (4, 1));
        assert_eq!((grid.images, grid.wrong), (10, 3));
        assert_eq!((grid.mistakes[0].label, grid.mistakes[0].predicted), (6, 5));
        let svg = digit_grid_svg(&grid);
        assert_eq!(svg.matches("data:image/png;base64,").count(), 5);
        assert!(
            svg.contains("3 of 10 wrong overall (70.00% accuracy)"),
            "{svg}"
        );
        assert!(svg.contains("The first 4 test images, as they come: 3 right, 1 wrong"));
        assert!(svg.contains("1 of the 2 other mistakes"));
        assert!(svg.contains("fill=\"#d62728\">1 → 7<"));
        assert!(svg.contains("fill=\"#d62728\">6 → 5<"));
        assert!(svg.contains("fill=\"#222\">3 → 3<"));
        assert_eq!(
            svg.matches("stroke=\"#d62728\"").count(),
            2,
            "two framed mistakes"
        );
    }

    #[test]
    fn metrics_are_one_json_object_per_line() {
        let dir = crate::files::tests::temp_dir("metrics");
        let path = dir.join("metrics.jsonl");
        write_metrics(&path, &sample_history()).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<EpochMetrics> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines, sample_history());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
