//! [`History::plot_png`](crate::fit::History::plot_png) (feature `plot`):
//! a run's loss curves (training and validation) and validation accuracy,
//! drawn with plotters to a PNG. Text uses an embedded font
//! (`assets/fonts/DejaVuSansMono.ttf`), so no system font is needed.

use std::path::Path;
use std::string::{String, ToString};
use std::sync::OnceLock;
use std::vec::Vec;

use forma_core::{Error, Result};
use plotters::prelude::*;
use plotters::style::{FontStyle, register_font};

use crate::fit::History;

const FONT: &[u8] = include_bytes!("../assets/fonts/DejaVuSansMono.ttf");
const FAMILY: &str = "sans-serif";

fn failed(path: &Path, what: impl ToString) -> Error {
    Error::Data {
        what: path.display().to_string(),
        line: 0,
        column: None,
        message: std::format!("expected a plot written, got {}", what.to_string()),
    }
}

/// Registers the embedded font once.
fn font(path: &Path) -> Result<()> {
    static REGISTERED: OnceLock<std::result::Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            register_font(FAMILY, FontStyle::Normal, FONT)
                .map_err(|_| "an invalid font".to_string())
        })
        .clone()
        .map_err(|e| failed(path, e))
}

/// One curve: its name, colour and points `(epoch, value)`.
type Curve<'a> = (&'a str, RGBColor, Vec<(f64, f64)>);

/// A line chart of `series` on `area`.
fn chart<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    title: &str,
    epochs: usize,
    series: &[Curve<'_>],
) -> std::result::Result<(), String> {
    let values = series
        .iter()
        .flat_map(|(_, _, p)| p.iter().map(|(_, y)| *y));
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), y| {
        (l.min(y), h.max(y))
    });
    let (lo, hi) = match (lo.is_finite() && hi.is_finite(), hi > lo) {
        (true, true) => (lo, hi),
        // One value throughout (one epoch, 100% accuracy): a band around it.
        (true, false) => (lo - lo.abs().max(1.0) * 0.5, hi + hi.abs().max(1.0) * 0.5),
        (false, _) => (0.0, 1.0),
    };
    let pad = (hi - lo) * 0.05;
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FAMILY, 20))
        .margin(12)
        .x_label_area_size(32)
        .y_label_area_size(56)
        .build_cartesian_2d(1.0..(epochs.max(2)) as f64, (lo - pad)..(hi + pad))
        .map_err(|e| e.to_string())?;
    chart
        .configure_mesh()
        .x_desc("epoch")
        .label_style((FAMILY, 13))
        .draw()
        .map_err(|e| e.to_string())?;
    for (name, colour, points) in series {
        let colour = *colour;
        chart
            .draw_series(LineSeries::new(
                points.iter().copied(),
                colour.stroke_width(2),
            ))
            .map_err(|e| e.to_string())?
            .label(*name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .label_font((FAMILY, 13))
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(|e| e.to_string())
}

impl History {
    /// Draws the loss curves (training, and validation if any) and, for
    /// class labels, the validation accuracy, side by side, to a PNG of
    /// 960 x 400 pixels. `Err` naming the file if it cannot be written.
    pub fn plot_png(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        font(path)?;
        let e = self.epochs();
        let points = |f: &dyn Fn(&crate::fit::Epoch) -> Option<f64>| -> Vec<(f64, f64)> {
            e.iter()
                .filter_map(|r| f(r).map(|v| (r.epoch as f64, v)))
                .collect()
        };
        let train = points(&|r| Some(r.train_loss));
        let val = points(&|r| r.val_loss);
        let accuracy = points(&|r| r.val_accuracy.map(|a| 100.0 * a));
        let root = BitMapBackend::new(path, (960, 400)).into_drawing_area();
        root.fill(&WHITE).map_err(|x| failed(path, x))?;
        let (left, right) = root.split_horizontally(480);
        let mut losses = vec![("train loss", BLUE, train)];
        if !val.is_empty() {
            losses.push(("validation loss", RED, val));
        }
        chart(&left, "loss", e.len(), &losses).map_err(|x| failed(path, x))?;
        if !accuracy.is_empty() {
            let acc = [("validation accuracy (%)", GREEN, accuracy)];
            chart(&right, "accuracy", e.len(), &acc).map_err(|x| failed(path, x))?;
        }
        root.present().map_err(|x| failed(path, x))
    }
}
