//! Where one digit ends and the next begins when a row's digits touch.
//!
//! A mark too wide for one digit may be several digits written touching.
//! It is cut by recognition, the way strings of handwritten numerals are
//! read in the literature on NIST's numbers (over-segmentation into
//! candidate cuts, then the combination of cuts whose pieces a classifier
//! reads best; e.g. Oliveira, Sabourin, Bortolozzi and Suen, "Automatic
//! recognition of handwritten numerical strings: a recognition and
//! verification strategy", IEEE PAMI 24(11), 2002):
//!
//! 1. Candidate cuts are paths from the mark's top to its bottom crossing
//!    as little ink as they can, moving at most a column a row within a
//!    band around where they start: the valley between two slanted digits
//!    is seldom a straight column, and a straight cut gives a stroke of one
//!    digit to the other. Drop-fall paths (Congedo, Dimauro, Impedovo and
//!    Pirlo, "Segmentation of numeric strings", ICDAR 1995) from the top
//!    and from the bottom join them: a drop slides along the strokes into
//!    the gap between two digits and falls through where they touch.
//!    Paths crossing less ink than their neighbours, a tenth of a digit's
//!    height apart at least, are kept.
//! 2. The ink between any two cuts (or the mark's edges) that could be one
//!    digit is a piece, prepared as a digit.
//! 3. A reader (the model) gives each piece's probabilities; the reading is
//!    the chain of pieces from the mark's left edge to its right edge with
//!    the largest sum of each piece's log-probability of its likeliest
//!    digit (and a bonus for the model's margin over the next likeliest:
//!    the model has no "not a digit" class, and reads a merged pair or a
//!    fragment of a digit confidently, but with less margin than a whole
//!    digit), less a cost for each cut and for the strokes it crosses
//!    (touching digits meet at a point; a cut through one digit crosses
//!    its strokes), found by dynamic programming over the cuts
//!    ([`Mark::best_reading`]).

use super::find::{window_extreme, Glyph};
use super::{GreyImage, PixelBox};

/// A mark beside other digits wider than this many times its height may
/// be several touching digits (23% of MNIST's single digits are wider)...
const WIDE_IN_A_ROW: f64 = 0.9;
/// ...and alone, one wider than this (0.7% of MNIST's digits are; with
/// 1.1, 5%, a lone digit was cut in two often enough to cost 1.5% of
/// single digits in photos).
const WIDE_ALONE: f64 = 1.5;
/// Cut paths wander at most this many digit heights either side of their
/// start.
const CUT_BAND: f64 = 0.12;
/// Candidate cuts are at least this many digit heights apart, and from
/// the mark's edges (touching 1s are narrow).
const CUT_SPACING: f64 = 0.1;
/// A path crossing more strokes than this is no candidate.
const MOST_STROKES_CUT: f64 = 2.5;
/// A piece spanning several candidate cuts is at most this many digit
/// heights wide.
const WIDEST_PIECE: f64 = 1.4;
/// Log-probability a cut costs, whatever it crosses (negative: a bonus,
/// as a word insertion penalty is in speech recognition; the model reads a
/// narrow 1 stuck to its neighbour as that neighbour with confidence,
/// and this makes up for it)...
const CUT_COST: f32 = -0.75;
/// ...and per stroke width of ink it crosses.
const CUT_COST_PER_STROKE: f32 = 1.25;
/// Log-probability a piece costs per tenth of the digit height it is
/// narrower than the class it reads as, wider than any digit, or shorter
/// than any digit.
const SHAPE_COST: f32 = 0.5;
/// The 5th percentile of the width of MNIST's training digits of each
/// class, in heights of the row (the 20 pixels of MNIST's box): a piece
/// narrower than this that reads as that class is likely part of a digit.
const NARROWEST: [f32; 10] = [0.6, 0.2, 0.65, 0.5, 0.5, 0.6, 0.5, 0.5, 0.5, 0.5];
/// MNIST's digits are at most as wide as the row is tall (a row or digit
/// photographed at a slant looks a little wider).
const WIDEST: f32 = 1.1;
/// 99% of MNIST's digits are at least this many row heights tall.
const SHORTEST: f32 = 0.6;

/// Log-probability that passing over ink too small for a digit between
/// two cuts costs.
const SPECK_COST: f32 = 5.0;

/// What the reader says of a piece: its likeliest digit, that digit's
/// probability, and the next likeliest digit's.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PieceReading {
    pub digit: usize,
    pub probability: f32,
    pub runner_up: f32,
}

impl PieceReading {
    pub fn of(probabilities: &[f32]) -> PieceReading {
        let digit = tensor::ops::argmax(probabilities);
        let runner_up = (probabilities.iter().enumerate())
            .filter(|&(d, _)| d != digit)
            .map(|(_, &p)| p)
            .fold(0.0, f32::max);
        PieceReading {
            digit,
            probability: probabilities[digit],
            runner_up,
        }
    }

    /// The log-probability of the likeliest digit, and a bonus for the
    /// model's margin over the next one: a model without a "not a digit"
    /// class reads a merged pair or a digit's fragment at 99% too, but
    /// with less margin (log-odds) than a whole digit.
    fn score(&self) -> f32 {
        let log = |p: f32| p.max(1e-12).ln();
        let margin = (log(self.probability) - log(self.runner_up)).min(MARGIN_CAP);
        self.probability.max(1e-9).ln() + MARGIN_BONUS * margin
    }
}

/// Log-probability a piece earns per nat of the reader's margin (the
/// log-odds of its likeliest digit over the next). Chosen on photos drawn
/// with another seed than the table's in crates/trainer/README.md: rows
/// of touching digits read right went from 42% to 47% there (0.1: 48%,
/// but rows of separate digits lost a row), 52% to 63% on the table's.
const MARGIN_BONUS: f32 = 0.05;
/// ...counted up to this many nats (a probability ratio of e^25: past
/// float precision's noise).
const MARGIN_CAP: f32 = 25.0;

/// One mark of a row and the pieces it may be cut into: each piece spans
/// from one boundary to a later one, boundary 0 the mark's left edge, the
/// last its right edge, those between candidate cuts.
#[derive(Clone, Debug)]
pub struct Mark<D> {
    pub pieces: Vec<Piece<D>>,
    /// The cost (a log-probability) of cutting at each boundary; nothing
    /// at the mark's edges.
    cut_costs: Vec<f32>,
    /// Boundaries `i` with no digit between them and `i + 1`, and the cost
    /// of passing over what is there (nothing, or ink too small for a
    /// digit).
    blank_after: Vec<(usize, f32)>,
    /// The digits' height in pixels as the mark's columns suggest...
    digit_height: f32,
    /// ...and at least (the typical height of the other digits of the row).
    least_digit_height: f32,
}

/// A stretch of a mark that may be one digit.
#[derive(Clone, Debug)]
pub struct Piece<D> {
    from: usize,
    to: usize,
    /// Its ink's width and height in pixels (`None` for a mark read whole,
    /// whatever its shape).
    size: Option<(f32, f32)>,
    pub digit: D,
}

impl<D> Piece<D> {
    /// What the piece's shape says of it being a digit of class `digit`
    /// (a log-probability, 0 for a plausible one).
    fn shape_cost(&self, digit: usize, digit_height: f32) -> f32 {
        let Some((width, height)) = self.size else {
            return 0.0;
        };
        let (width, height) = (width / digit_height, height / digit_height);
        let tenths = |v: f32| 10.0 * v.max(0.0);
        SHAPE_COST
            * (tenths(NARROWEST[digit % 10] - width)
                + tenths(width - WIDEST)
                + tenths(SHORTEST - height))
    }
}

impl<D> Mark<D> {
    fn whole(digit: D) -> Mark<D> {
        Mark {
            pieces: vec![Piece {
                from: 0,
                to: 1,
                size: None,
                digit,
            }],
            cut_costs: vec![0.0, 0.0],
            blank_after: Vec::new(),
            digit_height: 1.0,
            least_digit_height: 1.0,
        }
    }

    pub fn map<E>(self, mut f: impl FnMut(D) -> E) -> Mark<E> {
        Mark {
            pieces: (self.pieces.into_iter())
                .map(|p| Piece {
                    from: p.from,
                    to: p.to,
                    size: p.size,
                    digit: f(p.digit),
                })
                .collect(),
            cut_costs: self.cut_costs,
            blank_after: self.blank_after,
            digit_height: self.digit_height,
            least_digit_height: self.least_digit_height,
        }
    }

    /// The pieces (indices into `pieces`) of the best chain from the left
    /// edge to the right, given what the reader says of each piece: the
    /// largest sum of `ln p` and margin bonuses ([`PieceReading`]) less
    /// the cuts' and the shapes' costs.
    pub fn best_reading(&self, reading: impl Fn(usize) -> PieceReading) -> Vec<usize> {
        let first = self.best_chain(self.digit_height, &reading);
        // The pieces read measure the digits' height better than the
        // mark's columns (taller where digits overlap in a slanted row).
        let mut heights: Vec<f32> = (first.iter())
            .filter_map(|&i| self.pieces[i].size.map(|(_, height)| height))
            .collect();
        if heights.is_empty() {
            return first;
        }
        heights.sort_by(f32::total_cmp);
        let digit_height = heights[heights.len() / 2].max(self.least_digit_height);
        self.best_chain(digit_height, &reading)
    }

    /// The best chain when the digits are `digit_height` pixels tall.
    fn best_chain(&self, digit_height: f32, reading: impl Fn(usize) -> PieceReading) -> Vec<usize> {
        let boundaries = self.cut_costs.len();
        // best[b]: the score of the best chain from the left edge to b, and
        // the step that reached b (the boundary before, and the piece, none
        // across a blank).
        let mut best: Vec<(f32, usize, Option<usize>)> =
            vec![(f32::NEG_INFINITY, 0, None); boundaries];
        best[0].0 = 0.0;
        let mut by_end: Vec<usize> = (0..self.pieces.len()).collect();
        by_end.sort_by_key(|&i| self.pieces[i].to);
        let mut next_piece = 0;
        for to in 1..boundaries {
            if let Some(&(_, cost)) = self.blank_after.iter().find(|(b, _)| *b == to - 1) {
                if best[to - 1].0 - cost > best[to].0 {
                    best[to] = (best[to - 1].0 - cost, to - 1, None);
                }
            }
            while next_piece < by_end.len() && self.pieces[by_end[next_piece]].to == to {
                let i = by_end[next_piece];
                let piece = &self.pieces[i];
                let read = reading(i);
                let score = best[piece.from].0 + read.score()
                    - piece.shape_cost(read.digit, digit_height)
                    - self.cut_costs[to];
                if score > best[to].0 {
                    best[to] = (score, piece.from, Some(i));
                }
                next_piece += 1;
            }
        }
        let mut chain = Vec::new();
        let mut at = boundaries - 1;
        if best[at].0 == f32::NEG_INFINITY {
            return chain;
        }
        while at > 0 {
            let (_, from, piece) = best[at];
            chain.extend(piece);
            at = from;
        }
        chain.reverse();
        chain
    }

    /// The reading without a reader: the whole mark if it may be one
    /// digit, or the cheapest cuts (each piece read as a sure 0).
    #[cfg(test)]
    pub fn reading_by_shape(&self) -> Vec<usize> {
        let last = self.cut_costs.len() - 1;
        match self.pieces.iter().position(|p| p.from == 0 && p.to == last) {
            Some(whole) => vec![whole],
            // No margin either, so no piece earns more than another.
            None => self.best_reading(|_| PieceReading {
                digit: 0,
                probability: 1.0,
                runner_up: 1.0,
            }),
        }
    }
}

/// What a glyph's ink is found in: each pixel's mark, the darkness of the
/// picture as searched, and the ink threshold.
pub struct Ink<'a> {
    pub labels: &'a [u32],
    pub darkness: &'a GreyImage,
    pub threshold: f32,
}

/// A glyph as one digit, or for one too wide for a digit (than
/// `WIDE_IN_A_ROW` heights beside other digits, whose typical height is
/// `row_height`, `WIDE_ALONE` alone), the pieces its candidate cuts make.
/// Each piece's ink is given to `digit` with its box, which may refuse it
/// (too small).
pub fn cut_into_pieces<D>(
    glyph: &Glyph,
    row_height: Option<usize>,
    ink: &Ink,
    mut digit: impl FnMut(GreyImage, PixelBox) -> Option<D>,
) -> Option<Mark<D>> {
    let (w, h) = (glyph.width(), glyph.height());
    let widest = if row_height.is_some() {
        WIDE_IN_A_ROW
    } else {
        WIDE_ALONE
    };
    let whole = |digit: &mut dyn FnMut(GreyImage, PixelBox) -> Option<D>| {
        let (image, bounds) = glyph_ink(glyph, &Span::WHOLE, ink)?;
        digit(image, bounds).map(Mark::whole)
    };
    if (w as f64) <= widest * h as f64 {
        return whole(&mut digit);
    }
    let mask = glyph_mask(glyph, ink.labels, ink.darkness.width);
    let stroke = stroke_width(&mask, w, h);
    let digit_height = digit_height(&mask, w, h).max(row_height.unwrap_or(0) as f64);
    let cuts = candidate_cuts(&mask, w, h, stroke, digit_height);
    // Boundaries: the left edge, the cuts left to right, the right edge.
    let boundaries = cuts.len() + 2;
    let position = |b: usize| match b {
        0 => 0.0,
        b if b == boundaries - 1 => w as f64,
        b => cuts[b - 1].mean,
    };
    let mut cut_costs = vec![0.0f32; boundaries];
    for (b, cut) in cuts.iter().enumerate() {
        cut_costs[b + 1] = CUT_COST + CUT_COST_PER_STROKE * cut.ink as f32 / stroke as f32;
    }
    let absolute: Vec<Vec<usize>> = cuts
        .iter()
        .map(|c| c.path.iter().map(|x| glyph.x0 + x).collect())
        .collect();
    let mut pieces = Vec::new();
    let mut blank_after = Vec::new();
    for from in 0..boundaries - 1 {
        for to in from + 1..boundaries {
            let adjacent = to == from + 1;
            // The whole mark is always a candidate if it is no wider than a
            // digit might be, as tall as it is.
            let whole = from == 0 && to == boundaries - 1 && w as f64 <= WIDEST_PIECE * h as f64;
            if !adjacent && !whole && position(to) - position(from) > WIDEST_PIECE * digit_height {
                continue;
            }
            let span = Span {
                y0: glyph.y0,
                left: (from > 0).then(|| &absolute[from - 1][..]),
                right: (to < boundaries - 1).then(|| &absolute[to - 1][..]),
            };
            let Some((image, bounds)) = glyph_ink(glyph, &span, ink) else {
                if adjacent {
                    blank_after.push((from, 0.0));
                }
                continue;
            };
            let size = Some((bounds.width as f32, bounds.height as f32));
            if let Some(digit) = digit(image, bounds) {
                pieces.push(Piece {
                    from,
                    to,
                    size,
                    digit,
                });
            } else if adjacent {
                // Too small to be a digit: a speck between two cuts, or
                // the end of a stroke better read with its digit.
                blank_after.push((from, SPECK_COST));
            }
        }
    }
    if pieces.is_empty() {
        return whole(&mut digit);
    }
    Some(Mark {
        pieces,
        cut_costs,
        blank_after,
        digit_height: digit_height as f32,
        least_digit_height: row_height.unwrap_or(0) as f32,
    })
}

/// The height of the digits in a glyph: the 90th percentile of its
/// columns' ink from top to bottom (a row photographed at a slant is
/// taller than its digits).
fn digit_height(mask: &[bool], w: usize, h: usize) -> f64 {
    let mut extents: Vec<usize> = (0..w)
        .filter_map(|x| {
            let top = (0..h).find(|&y| mask[y * w + x])?;
            let bottom = (0..h).rev().find(|&y| mask[y * w + x])?;
            Some(bottom + 1 - top)
        })
        .collect();
    if extents.is_empty() {
        return h as f64;
    }
    let index = extents.len() * 9 / 10;
    let (_, &mut extent, _) = extents.select_nth_unstable(index);
    extent as f64
}

/// Which pixels of a glyph's ink are a glyph's: `w x h`, row-major.
fn glyph_mask(glyph: &Glyph, labels: &[u32], width: usize) -> Vec<bool> {
    (glyph.y0..glyph.y1)
        .flat_map(|y| (glyph.x0..glyph.x1).map(move |x| glyph.has(labels[y * width + x])))
        .collect()
}

/// The width of the glyph's strokes in pixels: `2 * area / boundary` (a
/// stroke of width s and length l has area s*l and a boundary of 2*l).
fn stroke_width(mask: &[bool], w: usize, h: usize) -> f64 {
    let ink = |x: usize, y: usize| mask[y * w + x];
    let (mut area, mut boundary) = (0usize, 0usize);
    for y in 0..h {
        for x in 0..w {
            if !ink(x, y) {
                continue;
            }
            area += 1;
            let paper_beside = x == 0
                || y == 0
                || x + 1 == w
                || y + 1 == h
                || !ink(x - 1, y)
                || !ink(x + 1, y)
                || !ink(x, y - 1)
                || !ink(x, y + 1);
            boundary += usize::from(paper_beside);
        }
    }
    (2.0 * area as f64 / boundary.max(1) as f64).max(1.0)
}

/// A path from a glyph's top row to its bottom: its column in each row
/// (relative to the glyph), the ink pixels it crosses, its mean column.
#[derive(Clone, Debug)]
struct Cut {
    path: Vec<usize>,
    ink: usize,
    mean: f64,
}

/// The cost of a diagonal step of a cut path, in ink pixels: enough to
/// keep a path straight across paper, little enough to follow a valley.
const DIAGONAL_STEP_COST: f32 = 0.05;

/// The path that crosses least ink from the top row to the bottom, within
/// columns `from..=to`, moving at most a column a row (ties: the fewest
/// diagonal steps, then the leftmost).
fn valley_path(mask: &[bool], w: usize, h: usize, from: usize, to: usize) -> Cut {
    let span = to - from + 1;
    let ink = |x: usize, y: usize| f32::from(u8::from(mask[y * w + from + x]));
    let mut cost: Vec<f32> = (0..span).map(|x| ink(x, 0)).collect();
    let mut next = vec![0.0f32; span];
    // came[y * span + x]: the column of row y - 1 the best path to (x, y) came from.
    let mut came = vec![0u32; h * span];
    for y in 1..h {
        for x in 0..span {
            let mut best = (cost[x], x);
            if x > 0 && cost[x - 1] + DIAGONAL_STEP_COST < best.0 {
                best = (cost[x - 1] + DIAGONAL_STEP_COST, x - 1);
            }
            if x + 1 < span && cost[x + 1] + DIAGONAL_STEP_COST < best.0 {
                best = (cost[x + 1] + DIAGONAL_STEP_COST, x + 1);
            }
            next[x] = best.0 + ink(x, y);
            came[y * span + x] = best.1 as u32;
        }
        std::mem::swap(&mut cost, &mut next);
    }
    let mut x = (0..span)
        .min_by(|&a, &b| cost[a].total_cmp(&cost[b]))
        .expect("a band is at least a column wide");
    let mut path = vec![0; h];
    for y in (0..h).rev() {
        path[y] = from + x;
        x = came[y * span + x] as usize;
    }
    let ink = (0..h).filter(|&y| mask[y * w + path[y]]).count();
    let mean = path.iter().sum::<usize>() as f64 / h as f64 + 0.5;
    Cut { path, ink, mean }
}

/// The path of a drop falling from column `x` of the top row between
/// touching digits (Congedo, Dimauro, Impedovo and Pirlo, 1995): down
/// where there is paper below, else diagonally, else sideways along the
/// stroke (never back), else through the ink.
fn drop_fall(mask: &[bool], w: usize, h: usize, x: usize) -> Cut {
    let paper = |x: usize, y: usize| !mask[y * w + x];
    let mut path = vec![0; h];
    let (mut x, mut y) = (x, 0);
    // -1 left, 1 right, 0 down: the last sideways move, not to undo.
    let mut sideways = 0i8;
    loop {
        path[y] = x;
        if y + 1 == h {
            break;
        }
        if paper(x, y + 1) {
            y += 1;
            sideways = 0;
        } else if x > 0 && paper(x - 1, y + 1) {
            x -= 1;
            y += 1;
            sideways = 0;
        } else if x + 1 < w && paper(x + 1, y + 1) {
            x += 1;
            y += 1;
            sideways = 0;
        } else if sideways >= 0 && x + 1 < w && paper(x + 1, y) {
            x += 1;
            sideways = 1;
        } else if sideways <= 0 && x > 0 && paper(x - 1, y) {
            x -= 1;
            sideways = -1;
        } else {
            y += 1;
            sideways = 0;
        }
    }
    let ink = (0..h).filter(|&y| mask[y * w + path[y]]).count();
    let mean = path.iter().sum::<usize>() as f64 / h as f64 + 0.5;
    Cut { path, ink, mean }
}

/// The candidate cuts of a glyph, left to right: from each column (every
/// 40th of the height), the valley path within `CUT_BAND` of it and the
/// drop-fall paths from its top and its bottom; of those crossing at most
/// `MOST_STROKES_CUT` strokes, the ones crossing least ink first, each
/// `CUT_SPACING` from those kept and from the edges.
fn candidate_cuts(mask: &[bool], w: usize, h: usize, stroke: f64, digit_height: f64) -> Vec<Cut> {
    let band = ((CUT_BAND * digit_height) as usize).max(1);
    let spacing = (CUT_SPACING * digit_height).max(2.0);
    let step = (h / 40).max(1);
    let mut cuts: Vec<Cut> = (0..w)
        .step_by(step)
        .map(|centre| {
            valley_path(
                mask,
                w,
                h,
                centre.saturating_sub(band),
                (centre + band).min(w - 1),
            )
        })
        .filter(|cut| cut.ink as f64 <= MOST_STROKES_CUT * stroke)
        .collect();
    // Drops falling from the top and rising from the bottom find the
    // cuts between digits that touch over a stretch rather than at a
    // point, where a valley path within its band crosses more ink.
    let upside_down: Vec<bool> = (0..h)
        .rev()
        .flat_map(|y| mask[y * w..(y + 1) * w].iter().copied())
        .collect();
    for x in (0..w).step_by(step) {
        let mut rising = drop_fall(&upside_down, w, h, x);
        rising.path.reverse();
        for cut in [drop_fall(mask, w, h, x), rising] {
            if cut.ink as f64 <= MOST_STROKES_CUT * stroke {
                cuts.push(cut);
            }
        }
    }
    cuts.sort_by(|a, b| a.ink.cmp(&b.ink).then(a.mean.total_cmp(&b.mean)));
    let mut kept: Vec<Cut> = Vec::new();
    for cut in cuts {
        let clear_of = |x: f64| (cut.mean - x).abs() >= spacing;
        if clear_of(0.0) && clear_of(w as f64) && kept.iter().all(|k| clear_of(k.mean)) {
            kept.push(cut);
        }
    }
    kept.sort_by(|a, b| a.mean.total_cmp(&b.mean));
    kept
}

/// The columns of a glyph's rows a piece holds: from its left cut (or
/// anything left, at the glyph's edge) to before its right cut. Rows above
/// and below the glyph follow its top and bottom rows.
struct Span<'a> {
    y0: usize,
    left: Option<&'a [usize]>,
    right: Option<&'a [usize]>,
}

impl Span<'_> {
    const WHOLE: Span<'static> = Span {
        y0: 0,
        left: None,
        right: None,
    };

    fn holds(&self, x: usize, y: usize) -> bool {
        let row = |cut: &[usize]| cut[y.saturating_sub(self.y0).min(cut.len() - 1)];
        self.left.is_none_or(|cut| x >= row(cut)) && self.right.is_none_or(|cut| x < row(cut))
    }
}

/// How far, in pixels, the darkness around a glyph's ink is kept (its
/// anti-aliased edge): at least this...
const EDGE_MARGIN: usize = 2;
/// ...and this fraction of its height (a pixel of MNIST's 20-pixel box).
const EDGE_MARGIN_OF_HEIGHT: f64 = 0.05;

/// The glyph's ink within `span`, cropped to it with a margin of
/// `EDGE_MARGIN` (its anti-aliased edge; not across a cut): the darkness
/// of its pixels and of those within the margin of them, other marks and
/// paper set to 0, scaled so the core of the strokes is 1. The box is the
/// ink's, without the margin.
fn glyph_ink(glyph: &Glyph, span: &Span, ink: &Ink) -> Option<(GreyImage, PixelBox)> {
    let Ink {
        labels,
        darkness,
        threshold,
    } = *ink;
    let (width, height) = (darkness.width, darkness.height);
    let is_ink = |x: usize, y: usize| glyph.has(labels[y * width + x]) && span.holds(x, y);
    let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
    for y in glyph.y0..glyph.y1 {
        for x in glyph.x0..glyph.x1 {
            if is_ink(x, y) {
                x0 = x0.min(x);
                y0 = y0.min(y);
                x1 = x1.max(x + 1);
                y1 = y + 1;
            }
        }
    }
    if x0 >= x1 {
        return None;
    }
    let bounds = PixelBox {
        x: x0,
        y: y0,
        width: x1 - x0,
        height: y1 - y0,
    };
    let margin = EDGE_MARGIN.max((EDGE_MARGIN_OF_HEIGHT * (y1 - y0) as f64).round() as usize);
    let (cx0, cx1) = (x0.saturating_sub(margin), (x1 + margin).min(width));
    let (cy0, cy1) = (y0.saturating_sub(margin), (y1 + margin).min(height));
    let (cw, ch) = (cx1 - cx0, cy1 - cy0);
    let mut mask = vec![0.0f32; cw * ch];
    let mut core = Vec::new();
    for y in y0..y1 {
        for x in x0..x1 {
            if is_ink(x, y) {
                mask[(y - cy0) * cw + x - cx0] = 1.0;
                core.push(darkness.pixels[y * width + x]);
            }
        }
    }
    let near = window_extreme(
        &GreyImage {
            width: cw,
            height: ch,
            pixels: mask,
        },
        margin,
        f32::max,
        f32::NEG_INFINITY,
    );
    // The strokes' core: the 90th percentile of the ink's darkness.
    let index = core.len() * 9 / 10;
    let (_, &mut strong, _) = core.select_nth_unstable_by(index, f32::total_cmp);
    let strong = strong.max(threshold).max(1e-3);
    let mut pixels = Vec::with_capacity(cw * ch);
    for y in cy0..cy1 {
        for x in cx0..cx1 {
            let keep = near.pixels[(y - cy0) * cw + x - cx0] > 0.0 && span.holds(x, y);
            let v = darkness.pixels[y * width + x] / strong;
            pixels.push(if keep { v.clamp(0.0, 1.0) } else { 0.0 });
        }
    }
    Some((
        GreyImage {
            width: cw,
            height: ch,
            pixels,
        },
        bounds,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every chain of pieces (and blanks) from boundary `at` to the last,
    /// scored directly: the reference for the dynamic programme.
    fn best_by_trying_every_chain(mark: &Mark<usize>, p: &[f32], at: usize) -> f32 {
        let last = mark.cut_costs.len() - 1;
        if at == last {
            return 0.0;
        }
        let mut best = f32::NEG_INFINITY;
        if let Some(&(_, cost)) = mark.blank_after.iter().find(|(b, _)| *b == at) {
            best = best_by_trying_every_chain(mark, p, at + 1) - cost;
        }
        for (i, piece) in mark.pieces.iter().enumerate().filter(|(_, q)| q.from == at) {
            let here = score_of(mark, p, &[i]);
            best = best.max(here + best_by_trying_every_chain(mark, p, piece.to));
        }
        best
    }

    fn is_blank(mark: &Mark<usize>, at: usize) -> bool {
        mark.blank_after.iter().any(|(b, _)| *b == at)
    }

    /// Whether the chain passes from `at` to `at + 1` over a blank (no
    /// piece of it spans that stretch).
    fn chain_passes_over(mark: &Mark<usize>, chain: &[usize], at: usize) -> bool {
        !chain
            .iter()
            .any(|&i| (mark.pieces[i].from..mark.pieces[i].to).contains(&at))
    }

    /// The runner-up's probability the lattice tests give piece `i` read
    /// at probability `p`: some far below it, some close.
    fn runner_up(i: usize, p: f32) -> f32 {
        [1e-12, p * 0.5, (1.0 - p) * 0.9][i % 3]
    }

    fn score_of(mark: &Mark<usize>, p: &[f32], chain: &[usize]) -> f32 {
        chain
            .iter()
            .map(|&i| {
                let piece = &mark.pieces[i];
                let margin = (p[i] / runner_up(i, p[i])).ln().min(MARGIN_CAP);
                p[i].ln() + MARGIN_BONUS * margin
                    - piece.shape_cost(piece.digit, mark.digit_height)
                    - mark.cut_costs[piece.to]
            })
            .sum()
    }

    #[test]
    fn the_best_chain_is_the_best_of_every_chain() {
        // Pseudo-random lattices: 2-7 boundaries, pieces over 1-3 spans
        // (some missing) of every shape, some blanks.
        let mut seed = 12345u64;
        let mut next = |n: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        for _ in 0..500 {
            let boundaries = 2 + next(6) as usize;
            let mut cut_costs: Vec<f32> = (0..boundaries)
                .map(|_| next(40) as f32 / 10.0 - 1.0)
                .collect();
            cut_costs[0] = 0.0;
            cut_costs[boundaries - 1] = 0.0;
            let mut pieces = Vec::new();
            let mut blank_after = Vec::new();
            for from in 0..boundaries - 1 {
                if next(5) == 0 {
                    blank_after.push((from, [0.0, SPECK_COST][next(2) as usize]));
                }
                for to in from + 1..boundaries.min(from + 4) {
                    if next(4) > 0 {
                        let size = (next(4) > 0)
                            .then(|| ((5 + next(150)) as f32, (20 + next(100)) as f32));
                        pieces.push(Piece {
                            from,
                            to,
                            size,
                            digit: next(10) as usize,
                        });
                    }
                }
            }
            let p: Vec<f32> = pieces
                .iter()
                .map(|_| (1 + next(100)) as f32 / 100.0)
                .collect();
            let mark = Mark {
                pieces,
                cut_costs,
                blank_after,
                digit_height: 100.0,
                least_digit_height: 0.0,
            };
            let chain = mark.best_chain(mark.digit_height, |i| PieceReading {
                digit: mark.pieces[i].digit,
                probability: p[i],
                runner_up: runner_up(i, p[i]),
            });
            let expected = best_by_trying_every_chain(&mark, &p, 0);
            if expected == f32::NEG_INFINITY {
                assert!(chain.is_empty());
                continue;
            }
            // The chain is one: each piece starts where the last ended or
            // after blanks, and it reaches the right edge.
            let mut at = 0;
            for &i in &chain {
                while at < mark.pieces[i].from {
                    assert!(is_blank(&mark, at), "{chain:?} {mark:?}");
                    at += 1;
                }
                at = mark.pieces[i].to;
            }
            while at < boundaries - 1 {
                assert!(is_blank(&mark, at), "{chain:?} {mark:?}");
                at += 1;
            }
            let blanks: f32 = (mark.blank_after.iter())
                .filter(|(b, _)| chain_passes_over(&mark, &chain, *b))
                .map(|(_, cost)| cost)
                .sum();
            let got = score_of(&mark, &p, &chain) - blanks;
            assert!(
                (got - expected).abs() < 1e-4,
                "{got} vs {expected}: {mark:?}"
            );
        }
    }

    #[test]
    fn a_reading_is_the_likeliest_digit_and_the_next_likeliest() {
        let read = PieceReading::of(&[0.05, 0.7, 0.2, 0.05]);
        assert_eq!(
            read,
            PieceReading {
                digit: 1,
                probability: 0.7,
                runner_up: 0.2
            }
        );
        // Ties: the first is the likeliest, the other the runner-up.
        assert_eq!(PieceReading::of(&[0.5, 0.5]).runner_up, 0.5);
    }

    #[test]
    fn a_wider_margin_over_the_next_digit_scores_more_up_to_a_cap() {
        let read = |runner_up: f32| PieceReading {
            digit: 8,
            probability: 0.99,
            runner_up,
        };
        let ln = |p: f32| p.ln();
        // ln 0.99 + 0.05 * ln(0.99 / 0.01), by hand: -0.01005 + 0.22976.
        assert!((read(0.01).score() - 0.21971).abs() < 1e-4);
        let gained = read(1e-4).score() - read(1e-2).score();
        assert!((gained - MARGIN_BONUS * (ln(1e-2) - ln(1e-4))).abs() < 1e-4);
        // Past e^25 (float noise), no more.
        assert_eq!(read(1e-20).score(), read(1e-30).score());
        assert!((read(1e-20).score() - (ln(0.99) + MARGIN_BONUS * MARGIN_CAP)).abs() < 1e-5);
    }

    #[test]
    fn pieces_shaped_like_no_digit_of_their_class_cost_more() {
        let piece = |width: f32, height: f32| Piece {
            from: 0,
            to: 1,
            size: Some((width, height)),
            digit: (),
        };
        // Rows 100 pixels tall: a 1 may be 20 wide, an 8 not; nothing is
        // 130 wide or 40 tall; a mark read whole costs nothing.
        assert_eq!(piece(20.0, 100.0).shape_cost(1, 100.0), 0.0);
        assert!((piece(20.0, 100.0).shape_cost(8, 100.0) - SHAPE_COST * 3.0).abs() < 1e-4);
        assert!((piece(130.0, 100.0).shape_cost(0, 100.0) - SHAPE_COST * 2.0).abs() < 1e-4);
        assert!((piece(80.0, 40.0).shape_cost(0, 100.0) - SHAPE_COST * 2.0).abs() < 1e-4);
        assert_eq!(Mark::whole(()).pieces[0].shape_cost(8, 1.0), 0.0);
    }

    /// `w x h` of paper with ink where `ink(x, y)`.
    fn mask(w: usize, h: usize, ink: impl Fn(usize, usize) -> bool) -> Vec<bool> {
        (0..h)
            .flat_map(|y| (0..w).map(move |x| (x, y)))
            .map(|(x, y)| ink(x, y))
            .collect()
    }

    #[test]
    fn a_cut_follows_the_valley_between_slanted_strokes() {
        // Two strokes 4 pixels wide slanting one column in three, 3 apart,
        // joined by a 2-pixel bridge in rows 20-21: every straight column
        // between them crosses a stroke, the valley crosses only the bridge.
        let (w, h) = (40, 40);
        let left = |x: usize, y: usize| (5 + y / 3..9 + y / 3).contains(&x);
        let right = |x: usize, y: usize| (12 + y / 3..16 + y / 3).contains(&x);
        let bridge =
            |x: usize, y: usize| (20..22).contains(&y) && (9 + y / 3..12 + y / 3).contains(&x);
        let ink = mask(w, h, |x, y| left(x, y) || right(x, y) || bridge(x, y));
        for x in 9..=20 {
            let straight = (0..h).filter(|&y| ink[y * w + x]).count();
            assert!(straight >= 4, "column {x} crosses {straight}");
        }
        let cut = valley_path(&ink, w, h, 9, 24);
        assert_eq!(cut.ink, 2, "{:?}", cut.path);
        for y in 0..h {
            for x in 0..w {
                if left(x, y) {
                    assert!(
                        x < cut.path[y],
                        "left stroke at ({x}, {y}) right of the cut"
                    );
                }
                if right(x, y) {
                    assert!(
                        x >= cut.path[y],
                        "right stroke at ({x}, {y}) left of the cut"
                    );
                }
            }
        }
    }

    #[test]
    fn a_drop_slides_off_a_bridge_and_falls_through_it_beside_the_stroke() {
        // Two strokes (columns 3-5 and 9-11) joined by a bridge 3 rows
        // thick (rows 8-10): a drop from column 7 lands on the bridge,
        // slides right to the last paper before the right stroke (column
        // 8), falls through the bridge there and on to the bottom.
        let (w, h) = (16, 20);
        let left = |x: usize| (3..6).contains(&x);
        let right = |x: usize| (9..12).contains(&x);
        let ink = mask(w, h, |x, y| {
            left(x) || right(x) || ((8..11).contains(&y) && x < 9)
        });
        let cut = drop_fall(&ink, w, h, 7);
        let expected: Vec<usize> = (0..h).map(|y| if y < 7 { 7 } else { 8 }).collect();
        assert_eq!(cut.path, expected);
        assert_eq!(cut.ink, 3);
        // In a cup, a drop slides to the wall it first moved toward (never
        // back: no endless left-right) and falls through the bottom there.
        let cup = mask(w, h, |x, y| {
            (5..16).contains(&y) && ((4..6).contains(&x) || (13..15).contains(&x))
                || (14..16).contains(&y) && (4..15).contains(&x)
        });
        let cut = drop_fall(&cup, w, h, 9);
        assert_eq!(cut.path[..13], [9; 13]);
        assert_eq!(cut.path[13..], [12; 7]);
        assert_eq!(cut.ink, 2);
    }

    #[test]
    fn strokes_are_measured_as_wide_as_drawn() {
        // A ring 5 pixels wide: area / half its boundary.
        let (w, h) = (60, 60);
        let ring = mask(w, h, |x, y| {
            let r = ((x as f64 - 30.0).powi(2) + (y as f64 - 30.0).powi(2)).sqrt();
            (20.0..25.0).contains(&r)
        });
        let width = stroke_width(&ring, w, h);
        assert!((4.0..=6.0).contains(&width), "{width}");
    }
}
