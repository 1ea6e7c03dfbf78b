//! Line charts on log-log axes, written as SVG by hand (a plotting crate
//! would cost more build time than these hundred lines): one or more panels
//! side by side sharing both axes, a line with markers per series, optional
//! horizontal reference lines (a peak), a right-hand axis that relabels the
//! left one (a share of that peak), and a legend.
//!
//! Coordinates: SVG's y grows downwards, so an axis maps its minimum to the
//! bottom of the plot and its maximum to the top.

use std::fmt::Write;

/// A logarithmic axis from `min` to `max` (both > 0), with labelled ticks.
#[derive(Clone, Debug)]
pub struct LogAxis {
    pub label: String,
    pub min: f64,
    pub max: f64,
    pub ticks: Vec<f64>,
}

impl LogAxis {
    /// The axis `label` over the 1-2-5 range that holds every value of
    /// `values` (those > 0), with a tick at each 1, 2 and 5 in it.
    pub fn around(label: &str, values: impl IntoIterator<Item = f64>) -> LogAxis {
        let (low, high) = values
            .into_iter()
            .filter(|v| *v > 0.0 && v.is_finite())
            .fold((f64::INFINITY, 0.0f64), |(low, high), v| {
                (low.min(v), high.max(v))
            });
        let (min, max) = if high > 0.0 {
            (one_two_five_at_most(low), one_two_five_at_least(high))
        } else {
            (1.0, 10.0)
        };
        LogAxis {
            label: label.to_string(),
            min,
            max,
            ticks: one_two_five_between(min, max),
        }
    }

    /// Where `value` falls on a line from `start` (the axis minimum) to
    /// `end` (its maximum), in pixels: equal ratios, equal distances.
    pub fn position(&self, value: f64, start: f64, end: f64) -> f64 {
        let fraction = (value.ln() - self.min.ln()) / (self.max.ln() - self.min.ln());
        start + (end - start) * fraction
    }

    fn contains(&self, value: f64) -> bool {
        // A hair of tolerance: ticks computed by multiplication land a
        // rounding error beyond the ends.
        value >= self.min * (1.0 - 1e-9) && value <= self.max * (1.0 + 1e-9)
    }
}

/// The largest value of the form 1, 2 or 5 times a power of ten that is at
/// most `value` (> 0).
fn one_two_five_at_most(value: f64) -> f64 {
    let decade = 10f64.powf(value.log10().floor());
    [5.0, 2.0, 1.0]
        .into_iter()
        .map(|m| m * decade)
        .find(|v| *v <= value * (1.0 + 1e-9))
        .unwrap_or(decade)
}

/// The smallest 1, 2 or 5 times a power of ten that is at least `value`.
fn one_two_five_at_least(value: f64) -> f64 {
    let decade = 10f64.powf(value.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * decade)
        .find(|v| *v >= value * (1.0 - 1e-9))
        .unwrap_or(10.0 * decade)
}

/// Every 1, 2 and 5 times a power of ten from `min` to `max`.
pub fn one_two_five_between(min: f64, max: f64) -> Vec<f64> {
    let mut ticks = Vec::new();
    let mut decade = 10f64.powf(min.log10().floor());
    while decade <= max * (1.0 + 1e-9) {
        for m in [1.0, 2.0, 5.0] {
            let tick = m * decade;
            if tick >= min * (1.0 - 1e-9) && tick <= max * (1.0 + 1e-9) {
                ticks.push(tick);
            }
        }
        decade *= 10.0;
    }
    ticks
}

/// A right-hand axis showing the left axis's values times `scale` (a
/// share of a peak, say), with ticks in its own units.
#[derive(Clone, Debug)]
pub struct SecondaryAxis {
    pub label: String,
    pub scale: f64,
    pub ticks: Vec<f64>,
    /// Appended to each tick label (`%`).
    pub unit: &'static str,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Marker {
    Circle,
    Square,
}

/// How a series is drawn; series of the same name must share it (the legend
/// shows each name once).
#[derive(Clone, Copy, Debug)]
pub struct Style {
    pub color: &'static str,
    pub dashed: bool,
    pub marker: Marker,
}

#[derive(Clone, Debug)]
pub struct Series {
    pub name: String,
    pub style: Style,
    /// (x, y); points outside the axes (or not > 0) are left out.
    pub points: Vec<(f64, f64)>,
}

/// A horizontal line across every panel at `value` of the y axis.
#[derive(Clone, Debug)]
pub struct Reference {
    pub label: String,
    pub value: f64,
}

#[derive(Clone, Debug)]
pub struct Panel {
    pub title: String,
    pub series: Vec<Series>,
}

#[derive(Clone, Debug)]
pub struct Chart {
    pub title: String,
    /// Lines under the title (the machine, the date, the commit).
    pub notes: Vec<String>,
    pub x: LogAxis,
    pub y: LogAxis,
    pub right: Option<SecondaryAxis>,
    pub references: Vec<Reference>,
    pub panels: Vec<Panel>,
}

/// Pixel sizes of the layout. A panel is the plot and the margins that hold
/// its tick labels and axis titles.
const PANEL_WIDTH: f64 = 470.0;
const PANEL_HEIGHT: f64 = 350.0;
const MARGIN_LEFT: f64 = 70.0;
const MARGIN_RIGHT: f64 = 62.0;
const MARGIN_TOP: f64 = 30.0;
const MARGIN_BOTTOM: f64 = 50.0;
const NOTE_LINE: f64 = 16.0;
const LEGEND_HEIGHT: f64 = 30.0;

/// The plot area of panel `index`: (left, top, right, bottom) in pixels.
fn plot_area(index: usize, header: f64) -> (f64, f64, f64, f64) {
    let left = index as f64 * PANEL_WIDTH + MARGIN_LEFT;
    let top = header + MARGIN_TOP;
    (
        left,
        top,
        left + PANEL_WIDTH - MARGIN_LEFT - MARGIN_RIGHT,
        top + PANEL_HEIGHT - MARGIN_TOP - MARGIN_BOTTOM,
    )
}

impl Chart {
    fn header_height(&self) -> f64 {
        30.0 + NOTE_LINE * self.notes.len() as f64
    }

    /// Where the point (x, y) is drawn in panel `index`.
    pub fn point_position(&self, index: usize, x: f64, y: f64) -> (f64, f64) {
        let (left, top, right, bottom) = plot_area(index, self.header_height());
        (
            self.x.position(x, left, right),
            self.y.position(y, bottom, top),
        )
    }

    /// The whole chart as an SVG document.
    pub fn to_svg(&self) -> String {
        let header = self.header_height();
        let width = PANEL_WIDTH * self.panels.len().max(1) as f64;
        let height = header + PANEL_HEIGHT + LEGEND_HEIGHT;
        let mut svg = String::new();
        let _ = writeln!(
            svg,
            r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">"#
        );
        let _ = writeln!(
            svg,
            r#"<rect width="{width}" height="{height}" fill="white"/>"#
        );
        let _ = writeln!(
            svg,
            r#"<text x="12" y="22" font-size="16" font-weight="bold">{}</text>"#,
            escape(&self.title)
        );
        for (line, note) in self.notes.iter().enumerate() {
            let _ = writeln!(
                svg,
                r##"<text x="12" y="{}" fill="#444">{}</text>"##,
                22.0 + NOTE_LINE * (line + 1) as f64,
                escape(note)
            );
        }
        for (index, panel) in self.panels.iter().enumerate() {
            self.draw_panel(&mut svg, index, panel, header);
        }
        self.draw_legend(&mut svg, header + PANEL_HEIGHT + 4.0);
        svg.push_str("</svg>\n");
        svg
    }

    fn draw_panel(&self, svg: &mut String, index: usize, panel: &Panel, header: f64) {
        let (left, top, right, bottom) = plot_area(index, header);
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="middle" font-weight="bold">{}</text>"#,
            (left + right) / 2.0,
            top - 10.0,
            escape(&panel.title)
        );
        // Grid and ticks of x.
        for &tick in self.x.ticks.iter().filter(|t| self.x.contains(**t)) {
            let x = self.x.position(tick, left, right);
            let _ = writeln!(
                svg,
                r##"<line x1="{x:.1}" y1="{top}" x2="{x:.1}" y2="{bottom}" stroke="#e4e4e4"/>"##
            );
            let _ = writeln!(
                svg,
                r#"<text x="{x:.1}" y="{}" text-anchor="middle">{}</text>"#,
                bottom + 16.0,
                number(tick)
            );
        }
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
            (left + right) / 2.0,
            bottom + 36.0,
            escape(&self.x.label)
        );
        // Grid and ticks of y, left.
        for &tick in self.y.ticks.iter().filter(|t| self.y.contains(**t)) {
            let y = self.y.position(tick, bottom, top);
            let _ = writeln!(
                svg,
                r##"<line x1="{left}" y1="{y:.1}" x2="{right}" y2="{y:.1}" stroke="#e4e4e4"/>"##
            );
            let _ = writeln!(
                svg,
                r#"<text x="{}" y="{:.1}" text-anchor="end">{}</text>"#,
                left - 6.0,
                y + 4.0,
                number(tick)
            );
        }
        let middle = (top + bottom) / 2.0;
        let _ = writeln!(
            svg,
            r#"<text transform="translate({},{middle}) rotate(-90)" text-anchor="middle">{}</text>"#,
            left - 48.0,
            escape(&self.y.label)
        );
        // The right-hand axis: its ticks where value / scale sits on the left one.
        if let Some(right_axis) = &self.right {
            for &tick in &right_axis.ticks {
                let value = tick / right_axis.scale;
                if !self.y.contains(value) {
                    continue;
                }
                let y = self.y.position(value, bottom, top);
                let _ = writeln!(
                    svg,
                    r##"<line x1="{right}" y1="{y:.1}" x2="{}" y2="{y:.1}" stroke="#444"/>"##,
                    right + 4.0
                );
                let _ = writeln!(
                    svg,
                    r#"<text x="{}" y="{:.1}">{}{}</text>"#,
                    right + 7.0,
                    y + 4.0,
                    number(tick),
                    right_axis.unit
                );
            }
            let _ = writeln!(
                svg,
                r#"<text transform="translate({},{middle}) rotate(90)" text-anchor="middle">{}</text>"#,
                right + 48.0,
                escape(&right_axis.label)
            );
        }
        let _ = writeln!(
            svg,
            r##"<rect x="{left}" y="{top}" width="{}" height="{}" fill="none" stroke="#444"/>"##,
            right - left,
            bottom - top
        );
        for reference in self.references.iter().filter(|r| self.y.contains(r.value)) {
            let y = self.y.position(reference.value, bottom, top);
            let _ = writeln!(
                svg,
                r##"<line x1="{left}" y1="{y:.1}" x2="{right}" y2="{y:.1}" stroke="#888" stroke-dasharray="2 3"/>"##
            );
            let _ = writeln!(
                svg,
                r##"<text x="{}" y="{:.1}" fill="#666" font-size="11">{}</text>"##,
                left + 4.0,
                y - 4.0,
                escape(&reference.label)
            );
        }
        for series in &panel.series {
            let points: Vec<(f64, f64)> = series
                .points
                .iter()
                .filter(|(x, y)| self.x.contains(*x) && self.y.contains(*y))
                .map(|&(x, y)| self.point_position(index, x, y))
                .collect();
            draw_series(svg, series, &points);
        }
    }

    /// Each series name once, in order of first appearance, in one row.
    fn draw_legend(&self, svg: &mut String, top: f64) {
        let mut seen: Vec<&Series> = Vec::new();
        for series in self.panels.iter().flat_map(|p| &p.series) {
            if !seen.iter().any(|s| s.name == series.name) {
                seen.push(series);
            }
        }
        let mut x = MARGIN_LEFT;
        let y = top + LEGEND_HEIGHT / 2.0;
        for series in seen {
            let sample = [(x, y), (x + 28.0, y)];
            draw_series(
                svg,
                &Series {
                    points: Vec::new(),
                    ..series.clone()
                },
                &sample,
            );
            let _ = writeln!(
                svg,
                r#"<text x="{}" y="{}">{}</text>"#,
                x + 34.0,
                y + 4.0,
                escape(&series.name)
            );
            // Room for the sample line and the name at ~7 px a character.
            x += 48.0 + 7.0 * series.name.chars().count() as f64;
        }
    }
}

/// A polyline through `points` (pixels) in the series' style, and a marker
/// on each, carrying the series name and point as a tooltip.
fn draw_series(svg: &mut String, series: &Series, points: &[(f64, f64)]) {
    let Style {
        color,
        dashed,
        marker,
    } = series.style;
    let path: Vec<String> = points
        .iter()
        .map(|(x, y)| format!("{x:.1},{y:.1}"))
        .collect();
    let dash = if dashed {
        r#" stroke-dasharray="6 4""#
    } else {
        ""
    };
    let _ = writeln!(
        svg,
        r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="1.8"{dash}/>"#,
        path.join(" ")
    );
    let at_data = !series.points.is_empty();
    for (index, (x, y)) in points.iter().enumerate() {
        if !at_data && index == 0 {
            continue; // The legend's sample: one marker, at its end.
        }
        let shape = match marker {
            Marker::Circle => format!(r#"<circle cx="{x:.1}" cy="{y:.1}" r="3.5" fill="{color}""#),
            Marker::Square => format!(
                r#"<rect x="{:.1}" y="{:.1}" width="7" height="7" fill="{color}""#,
                x - 3.5,
                y - 3.5
            ),
        };
        match series.points.get(index) {
            Some(&(data_x, data_y)) if at_data => {
                let _ = writeln!(
                    svg,
                    "{shape}><title>{}: ({}, {})</title>{}",
                    escape(&series.name),
                    number(data_x),
                    number(data_y),
                    match marker {
                        Marker::Circle => "</circle>",
                        Marker::Square => "</rect>",
                    }
                );
            }
            _ => {
                let _ = writeln!(svg, "{shape}/>");
            }
        }
    }
}

/// `1024`, `0.5`, `12.3`: at most three significant decimals, no trailing zeros.
pub fn number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        return format!("{value:.0}");
    }
    let text = if value.abs() >= 10.0 {
        format!("{value:.1}")
    } else {
        format!("{value:.3}")
    };
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Text made safe for SVG content and attribute values.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks that `svg` is well-formed XML as far as this module writes it:
    /// every element closed in order, attribute values quoted, no bare `<`
    /// or `&` in text. Returns the element names in order of opening.
    fn well_formed(svg: &str) -> Result<Vec<String>, String> {
        let (mut open, mut names) = (Vec::<String>::new(), Vec::new());
        let mut rest = svg;
        while let Some(start) = rest.find('<') {
            check_text(&rest[..start])?;
            let end = rest[start..].find('>').ok_or("a tag is never closed")? + start;
            let tag = &rest[start + 1..end];
            rest = &rest[end + 1..];
            if let Some(name) = tag.strip_prefix('/') {
                let top = open.pop().ok_or(format!("</{name}> closes nothing"))?;
                if top != name {
                    return Err(format!("</{name}> closes <{top}>"));
                }
                continue;
            }
            let self_closing = tag.ends_with('/');
            let tag = tag.trim_end_matches('/');
            let name: String = tag.chars().take_while(|c| !c.is_whitespace()).collect();
            if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(format!("bad element name in <{tag}>"));
            }
            if !tag.matches('"').count().is_multiple_of(2) || tag[name.len()..].contains('<') {
                return Err(format!("bad attributes in <{tag}>"));
            }
            names.push(name.clone());
            if !self_closing {
                open.push(name);
            }
        }
        check_text(rest)?;
        match open.last() {
            Some(name) => Err(format!("<{name}> is never closed")),
            None => Ok(names),
        }
    }

    fn check_text(text: &str) -> Result<(), String> {
        for (at, _) in text.match_indices('&') {
            let entity = &text[at..];
            if !["&amp;", "&lt;", "&gt;", "&quot;"]
                .iter()
                .any(|e| entity.starts_with(e))
            {
                return Err(format!("a bare & in {text:?}"));
            }
        }
        Ok(())
    }

    fn axis(min: f64, max: f64) -> LogAxis {
        LogAxis {
            label: "x".into(),
            min,
            max,
            ticks: vec![],
        }
    }

    #[test]
    fn a_log_axis_puts_equal_ratios_at_equal_distances() {
        let x = axis(1.0, 1024.0);
        assert_eq!(x.position(1.0, 100.0, 300.0), 100.0);
        assert_eq!(x.position(1024.0, 100.0, 300.0), 300.0);
        // 32 is 5 doublings of 10 from 1: half way.
        assert!((x.position(32.0, 100.0, 300.0) - 200.0).abs() < 1e-9);
        // 2 is a tenth of the way; a y axis runs from bottom (400) to top (0).
        assert!((x.position(2.0, 400.0, 0.0) - 360.0).abs() < 1e-9);
    }

    #[test]
    fn an_axis_around_values_spans_them_with_one_two_five_ends_and_ticks() {
        let y = LogAxis::around("GFLOP/s", [0.7, 3.0, 0.0, f64::NAN, 118.0]);
        assert_eq!((y.min, y.max), (0.5, 200.0));
        assert_eq!(
            y.ticks,
            [0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0]
        );
        let exact = LogAxis::around("", [2.0, 50.0]);
        assert_eq!((exact.min, exact.max), (2.0, 50.0));
        assert_eq!(LogAxis::around("", []).max, 10.0);
    }

    #[test]
    fn numbers_are_short() {
        assert_eq!(number(1024.0), "1024");
        assert_eq!(number(0.5), "0.5");
        assert_eq!(number(0.02), "0.02");
        assert_eq!(number(12.34), "12.3");
        assert_eq!(escape(r#"a<b & "c""#), "a&lt;b &amp; &quot;c&quot;");
    }

    fn chart() -> Chart {
        let style = Style {
            color: "#1f77b4",
            dashed: false,
            marker: Marker::Circle,
        };
        Chart {
            title: "Training & inference <test>".into(),
            notes: vec!["one note".into()],
            x: LogAxis {
                ticks: vec![1.0, 32.0, 1024.0],
                ..axis(1.0, 1024.0)
            },
            y: LogAxis {
                ticks: vec![1.0, 10.0, 100.0],
                ..axis(1.0, 100.0)
            },
            right: Some(SecondaryAxis {
                label: "% of peak".into(),
                scale: 2.0,
                ticks: vec![2.0, 20.0, 2000.0],
                unit: "%",
            }),
            references: vec![Reference {
                label: "peak".into(),
                value: 50.0,
            }],
            panels: vec![
                Panel {
                    title: "left".into(),
                    series: vec![Series {
                        name: "ours".into(),
                        style,
                        // The last point lies above the axis: left out.
                        points: vec![(1.0, 1.0), (32.0, 10.0), (1024.0, 1000.0)],
                    }],
                },
                Panel {
                    title: "right".into(),
                    series: vec![Series {
                        name: "ours".into(),
                        style: Style {
                            marker: Marker::Square,
                            dashed: true,
                            ..style
                        },
                        points: vec![(32.0, 10.0)],
                    }],
                },
            ],
        }
    }

    #[test]
    fn a_chart_is_well_formed_svg_with_its_points_where_the_axes_put_them() {
        let chart = chart();
        let svg = chart.to_svg();
        let names = well_formed(&svg).unwrap();
        assert_eq!(names[0], "svg");
        assert!(svg.contains("Training &amp; inference &lt;test&gt;"));
        // The point (32, 10) of the left panel: half way along x, half way up y.
        let (left, top, right, bottom) = plot_area(0, chart.header_height());
        let (x, y) = chart.point_position(0, 32.0, 10.0);
        assert!((x - (left + right) / 2.0).abs() < 1e-9);
        assert!((y - (top + bottom) / 2.0).abs() < 1e-9);
        assert!(svg.contains(&format!(r#"<circle cx="{x:.1}" cy="{y:.1}""#)));
        // Two points in the left panel, one in the right; the legend shows
        // "ours" once, with a circle (the first series' style).
        assert_eq!(names.iter().filter(|n| *n == "circle").count(), 2 + 1);
        assert_eq!(names.iter().filter(|n| *n == "title").count(), 3);
        let (right_x, _) = chart.point_position(1, 32.0, 10.0);
        assert_eq!(right_x - x, PANEL_WIDTH);
        // The right axis: 20% sits at 10 on the left; 2000% is off the chart.
        assert!(svg.contains(&format!(r#"y="{:.1}">20%</text>"#, y + 4.0)));
        assert!(!svg.contains(">2000%<"));
        assert!(svg.contains(">peak</text>"));
    }

    #[test]
    fn the_checker_refuses_broken_svg() {
        assert!(well_formed("<svg><g></svg></g>").is_err());
        assert!(well_formed("<svg><text>a & b</text></svg>").is_err());
        assert!(well_formed(r#"<svg><rect x="1/></svg>"#).is_err());
        assert!(well_formed("<svg>").is_err());
        assert_eq!(
            well_formed(r#"<svg><rect x="1"/><text>&amp;</text></svg>"#).unwrap(),
            ["svg", "rect", "text"]
        );
    }
}
