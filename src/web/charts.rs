//! Charts drawn by plotters onto the page's canvases: training curves and the confusion matrix.

use plotters::prelude::*;
use plotters_canvas::CanvasBackend;
use serde::Deserialize;
use wasm_bindgen::prelude::*;
use web_sys::HtmlCanvasElement;

use crate::data::CLASS_NAMES;
use crate::facts::{PALETTE, rgb};

fn color(hex: &str) -> RGBColor {
    let (r, g, b) = rgb(hex);
    RGBColor(r, g, b)
}

fn bg() -> RGBColor {
    color(PALETTE.chart_bg)
}

fn grid() -> RGBColor {
    color(PALETTE.chart_grid)
}

fn text() -> RGBColor {
    color(PALETTE.chart_text)
}

#[derive(Deserialize)]
struct Series {
    label: String,
    /// CSS hex colour, e.g. "#4f9dff".
    color: String,
    /// (x, y) points; x is the (fractional) epoch.
    points: Vec<(f64, f64)>,
    #[serde(default)]
    dots: bool,
}

fn err(e: impl std::fmt::Display) -> JsError {
    JsError::new(&e.to_string())
}

/// The canvas as a plotters drawing area, cleared to the chart background.
fn blank(canvas: HtmlCanvasElement) -> Result<DrawingArea<CanvasBackend, plotters::coord::Shift>, JsError> {
    let root = CanvasBackend::with_canvas_object(canvas)
        .ok_or_else(|| err("no 2D canvas"))?
        .into_drawing_area();
    root.fill(&bg()).map_err(err)?;
    Ok(root)
}

/// Line chart of several series over epochs. `series`: [{label, color, points: [[x, y]], dots}].
#[wasm_bindgen]
pub fn draw_curves(
    canvas: HtmlCanvasElement,
    series: JsValue,
    epochs: f64,
    y_label: &str,
    percent: bool,
) -> Result<(), JsError> {
    let series: Vec<Series> = serde_wasm_bindgen::from_value(series).map_err(err)?;
    let root = blank(canvas)?;
    let ys = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .filter(|y| y.is_finite());
    let (mut lo, mut hi) = ys.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), y| (a.min(y), b.max(y)));
    if !lo.is_finite() {
        (lo, hi) = if percent { (0.0, 1.0) } else { (0.0, 2.5) };
    }
    let pad = ((hi - lo) * 0.08).max(1e-3);
    let (lo, hi) = if percent {
        ((lo - pad).max(0.0), (hi + pad).min(1.0))
    } else {
        ((lo - pad).max(0.0), hi + pad)
    };
    let mut chart = ChartBuilder::on(&root)
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(48)
        .build_cartesian_2d(0f64..epochs.max(1.0), lo..hi)
        .map_err(err)?;
    chart
        .configure_mesh()
        .bold_line_style(grid())
        .light_line_style(bg())
        .axis_style(grid())
        .label_style(("sans-serif", 12).into_font().color(&text()))
        .x_desc("epoch")
        .y_desc(y_label)
        .y_label_formatter(&|v| {
            if percent {
                format!("{:.0}%", v * 100.0)
            } else {
                format!("{v:.2}")
            }
        })
        .draw()
        .map_err(err)?;
    for s in &series {
        let color = color(&s.color);
        let points = s.points.iter().copied().filter(|p| p.1.is_finite());
        if s.dots {
            chart
                .draw_series(points.map(|p| Circle::new(p, 3, color.filled())))
                .map_err(err)?
                .label(s.label.clone())
                .legend(move |(x, y)| Circle::new((x + 8, y), 3, color.filled()));
        } else {
            chart
                .draw_series(LineSeries::new(points, color.stroke_width(2)))
                .map_err(err)?
                .label(s.label.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(2)));
        }
    }
    chart
        .configure_series_labels()
        .background_style(bg().mix(0.85))
        .border_style(grid())
        .label_font(("sans-serif", 12).into_font().color(&text()))
        .position(if percent {
            SeriesLabelPosition::LowerRight
        } else {
            SeriesLabelPosition::UpperRight
        })
        .draw()
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}

/// A class name for a label on a segmented (one slot per class) axis, `flip` for the y axis,
/// where class 0 is drawn at the top.
fn class_label(v: &SegmentValue<i32>, flip: bool) -> String {
    match v {
        SegmentValue::CenterOf(i) if (0..10).contains(i) => {
            let i = if flip { 9 - *i } else { *i };
            format!("{} {i}", CLASS_NAMES.get(i as usize).copied().unwrap_or(""))
        }
        _ => String::new(),
    }
}

/// Just the class number: the x axis of the matrix has no room for names.
fn class_number(v: &SegmentValue<i32>) -> String {
    match v {
        SegmentValue::CenterOf(i) if (0..10).contains(i) => i.to_string(),
        _ => String::new(),
    }
}

/// Heatmap of a 10x10 confusion matrix (row-major counts, rows = true class), each row
/// coloured by its share so every class reads the same, with the counts written in.
#[wasm_bindgen]
pub fn draw_confusion(canvas: HtmlCanvasElement, matrix: Vec<u32>) -> Result<(), JsError> {
    if matrix.len() != 100 {
        return Err(err("the confusion matrix needs 100 counts"));
    }
    let root = blank(canvas)?;
    let mut chart = ChartBuilder::on(&root)
        .margin(8)
        .x_label_area_size(44)
        .y_label_area_size(104)
        .build_cartesian_2d((0i32..10).into_segmented(), (0i32..10).into_segmented())
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_mesh()
        .axis_style(grid())
        .x_labels(10)
        .y_labels(10)
        .x_label_formatter(&class_number)
        .y_label_formatter(&|y| class_label(y, true))
        .x_label_style(("sans-serif", 12).into_font().color(&text()))
        .y_label_style(("sans-serif", 12).into_font().color(&text()))
        .x_desc("predicted")
        .y_desc("true")
        .draw()
        .map_err(err)?;
    let row_sum = |t: usize| matrix[t * 10..t * 10 + 10].iter().sum::<u32>().max(1) as f64;
    let cell = |t: usize, p: usize| {
        let y = 9 - t as i32;
        [
            (SegmentValue::Exact(p as i32), SegmentValue::Exact(y + 1)),
            (SegmentValue::Exact(p as i32 + 1), SegmentValue::Exact(y)),
        ]
    };
    let cells: Vec<(usize, usize)> = (0..10).flat_map(|t| (0..10).map(move |p| (t, p))).collect();
    chart
        .draw_series(cells.iter().map(|&(t, p)| {
            let share = matrix[t * 10 + p] as f64 / row_sum(t);
            let color = if t == p {
                RGBColor(20, (60.0 + 170.0 * share) as u8, (70.0 + 90.0 * share) as u8)
            } else {
                RGBColor((30.0 + 225.0 * share.sqrt()) as u8, 40, 60)
            };
            Rectangle::new(cell(t, p), color.filled())
        }))
        .map_err(err)?;
    let font = ("sans-serif", 12)
        .into_font()
        .color(&WHITE.mix(0.9))
        .pos(plotters::style::text_anchor::Pos::new(
            plotters::style::text_anchor::HPos::Center,
            plotters::style::text_anchor::VPos::Center,
        ));
    chart
        .draw_series(cells.iter().map(|&(t, p)| {
            Text::new(
                matrix[t * 10 + p].to_string(),
                (SegmentValue::CenterOf(p as i32), SegmentValue::CenterOf(9 - t as i32)),
                font.clone(),
            )
        }))
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}

/// Horizontal bars of per-class accuracy.
#[wasm_bindgen]
pub fn draw_per_class(canvas: HtmlCanvasElement, accuracy: Vec<f64>) -> Result<(), JsError> {
    let root = blank(canvas)?;
    let mut chart = ChartBuilder::on(&root)
        .margin(8)
        .x_label_area_size(40)
        .y_label_area_size(104)
        .build_cartesian_2d(0f64..1f64, (0i32..10).into_segmented())
        .map_err(err)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .bold_line_style(grid())
        .light_line_style(bg())
        .axis_style(grid())
        .x_labels(5)
        .y_labels(10)
        .x_label_formatter(&|v| format!("{:.0}%", v * 100.0))
        .y_label_formatter(&|y| class_label(y, true))
        .label_style(("sans-serif", 12).into_font().color(&text()))
        .x_desc("per-class accuracy")
        .draw()
        .map_err(err)?;
    chart
        .draw_series(accuracy.iter().take(10).enumerate().map(|(c, &a)| {
            let y = 9 - c as i32;
            let color = color(if a >= 0.9 {
                PALETTE.ok
            } else if a >= 0.75 {
                PALETTE.accent
            } else {
                PALETTE.warn
            });
            let mut bar = Rectangle::new(
                [
                    (0.0, SegmentValue::Exact(y + 1)),
                    (a.clamp(0.0, 1.0), SegmentValue::Exact(y)),
                ],
                color.filled(),
            );
            bar.set_margin(3, 3, 0, 0);
            bar
        }))
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}
