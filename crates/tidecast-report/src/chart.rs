//! The report's charts, each drawn by plotters into an SVG string.

use crate::{Band, Cell, Error, ErrorRow, Replay};
use chrono::{TimeZone, Timelike};
use chrono_tz::Tz;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use std::ops::Range;

const WIDTH: u32 = 960;
const HEIGHT: u32 = 320;
/// More points than a wall of pixels shows only make the page heavy.
const MAX_POINTS: usize = 1500;
const SECS_PER_HOUR: f64 = 3600.0;

const ACTUAL: RGBColor = RGBColor(40, 40, 40);
const FORECAST: RGBColor = RGBColor(31, 119, 180);
const BIAS: RGBColor = RGBColor(214, 39, 40);
/// reactive, predictive, oracle, then any other run.
const RUNS: [RGBColor; 4] = [
    RGBColor(214, 39, 40),
    RGBColor(31, 119, 180),
    RGBColor(44, 160, 44),
    RGBColor(148, 103, 189),
];

/// Draws into an SVG string and names the chart in any error.
fn svg(
    chart: &'static str,
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<SVGBackend, plotters::coord::Shift>) -> Result<(), String>,
) -> Result<String, Error> {
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, size).into_drawing_area();
        let fail = |reason: String| Error::Draw { chart, reason };
        root.fill(&WHITE).map_err(|e| fail(e.to_string()))?;
        draw(&root).map_err(fail)?;
        root.present().map_err(|e| fail(e.to_string()))?;
    }
    Ok(out)
}

fn text<E: std::fmt::Display>(e: E) -> String {
    e.to_string()
}

/// Clock time as hours since the local midnight before the first instant, so ticks land on
/// whole local hours.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Clock {
    zone: Tz,
    origin: i64,
}

impl Clock {
    pub(crate) fn new(zone: Tz, first: i64) -> Self {
        let local = zone.timestamp_opt(first, 0).single();
        let origin = local
            .map(|d| first - i64::from(d.num_seconds_from_midnight()))
            .unwrap_or(first);
        Self { zone, origin }
    }

    fn x(&self, t: i64) -> f64 {
        (t - self.origin) as f64 / SECS_PER_HOUR
    }

    /// Local date and time of an axis position.
    fn label(&self, x: f64, with_date: bool) -> String {
        let t = self.origin + (x * SECS_PER_HOUR).round() as i64;
        match self.zone.timestamp_opt(t, 0).single() {
            Some(d) if with_date => d.format("%a %m-%d %H:%M").to_string(),
            Some(d) => d.format("%H:%M").to_string(),
            None => t.to_string(),
        }
    }

    /// Ticks every 1, 2, 3, 6 or 12 hours or 1, 2 or 7 days, at most ten over `[a, b]`.
    fn ticks(&self, a: f64, b: f64) -> Vec<f64> {
        let every = [1.0, 2.0, 3.0, 6.0, 12.0, 24.0, 48.0, 168.0]
            .into_iter()
            .find(|h| (b - a) / h <= 10.0)
            .unwrap_or(336.0);
        let first = (a / every).ceil() as i64;
        let last = (b / every).floor() as i64;
        (first..=last).map(|k| k as f64 * every).collect()
    }
}

/// The time axis of a chart over `t`: its range, ticks and labels.
fn time_axis(clock: Clock, t: &[i64]) -> (f64, f64, Vec<f64>, bool) {
    let a = t.first().map_or(0.0, |t| clock.x(*t));
    let b = t.last().map_or(1.0, |t| clock.x(*t)).max(a + 1.0 / 60.0);
    (a, b, clock.ticks(a, b), b - a > 24.0)
}

/// Every `k`-th index so that at most [`MAX_POINTS`] remain (bucket means would hide the
/// peaks an analyst looks for; a stride keeps them as often as it drops them, and the
/// caption says so).
pub(crate) fn stride(n: usize) -> usize {
    n.div_ceil(MAX_POINTS).max(1)
}

/// Runs of consecutive finite points, so a gap is drawn as a gap.
fn segments(points: impl Iterator<Item = (f64, f64)>) -> Vec<Vec<(f64, f64)>> {
    let mut out: Vec<Vec<(f64, f64)>> = vec![Vec::new()];
    for (x, y) in points {
        if y.is_finite() {
            out.last_mut().expect("never empty").push((x, y));
        } else if !out.last().expect("never empty").is_empty() {
            out.push(Vec::new());
        }
    }
    out.retain(|s| !s.is_empty());
    out
}

/// The range `[0, max * 1.05]` of finite values (`[0, 1]` when there are none).
fn y_range<'a>(values: impl Iterator<Item = &'a f64>) -> (f64, f64) {
    let max = values
        .filter(|v| v.is_finite())
        .fold(f64::NEG_INFINITY, |m, v| m.max(*v));
    let lo = 0.0f64;
    let hi = if max.is_finite() && max > 0.0 {
        max * 1.05
    } else {
        1.0
    };
    (lo, hi)
}

/// A linear axis whose ticks are given (plotters' own pick 1-2-5 steps, not clock hours).
#[derive(Debug, Clone)]
struct Ticked {
    range: Range<f64>,
    ticks: Vec<f64>,
}

impl Ranged for Ticked {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        RangedCoordf64::from(self.range.clone()).map(value, limit)
    }

    fn key_points<H: KeyPointHint>(&self, _: H) -> Vec<f64> {
        self.ticks.clone()
    }

    fn range(&self) -> Range<f64> {
        self.range.clone()
    }
}

type TimeChart<'a, 'b> = ChartContext<'a, SVGBackend<'b>, Cartesian2d<Ticked, RangedCoordf64>>;

/// A chart over time with labelled axes.
fn time_chart<'a, 'b>(
    root: &'a DrawingArea<SVGBackend<'b>, plotters::coord::Shift>,
    clock: Clock,
    t: &[i64],
    y: (f64, f64),
    y_desc: &str,
) -> Result<TimeChart<'a, 'b>, String> {
    let (a, b, ticks, with_date) = time_axis(clock, t);
    let mut chart = ChartBuilder::on(root)
        .margin(8)
        .x_label_area_size(28)
        .y_label_area_size(60)
        .build_cartesian_2d(Ticked { range: a..b, ticks }, y.0..y.1)
        .map_err(text)?;
    chart
        .configure_mesh()
        .x_label_formatter(&|x| clock.label(*x, with_date))
        .y_desc(y_desc)
        .y_label_formatter(&|v| crate::number(*v))
        .light_line_style(WHITE.mix(0.0))
        .draw()
        .map_err(text)?;
    Ok(chart)
}

fn legend_line(color: RGBColor) -> impl Fn((i32, i32)) -> PathElement<(i32, i32)> {
    move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
}

/// Draws `points` as a line broken at gaps, the first run labelled.
fn line<'a, 'b>(
    chart: &mut TimeChart<'a, 'b>,
    points: impl Iterator<Item = (f64, f64)>,
    style: ShapeStyle,
    label: &str,
) -> Result<(), String> {
    for (i, run) in segments(points).into_iter().enumerate() {
        let drawn = chart
            .draw_series(LineSeries::new(run, style))
            .map_err(text)?;
        if i == 0 {
            let color = style.color.to_rgba();
            let rgb = RGBColor(color.0, color.1, color.2);
            drawn.label(label).legend(legend_line(rgb));
        }
    }
    Ok(())
}

fn legend<'a, 'b: 'a>(chart: &mut TimeChart<'a, 'b>) -> Result<(), String> {
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .draw()
        .map_err(text)
}

/// Forecast with its interval against actual.
pub(crate) fn band(band: &Band, zone: Tz) -> Result<String, Error> {
    svg("forecast against actual", (WIDTH, HEIGHT), |root| {
        let clock = Clock::new(zone, band.t.first().copied().unwrap_or(0));
        let k = stride(band.t.len());
        let idx: Vec<usize> = (0..band.t.len()).step_by(k).collect();
        let y = y_range(band.upper.iter().chain(&band.actual).chain(&band.forecast));
        let mut chart = time_chart(root, clock, &band.t, y, "load")?;
        let x = |i: usize| clock.x(band.t[i]);
        for run in segments(idx.iter().map(|&i| (x(i), band.upper[i] + band.lower[i]))) {
            // A polygon per gap-free run: upper edge forward, lower edge back.
            let (first, last) = (run[0].0, run[run.len() - 1].0);
            let inside: Vec<usize> = idx
                .iter()
                .copied()
                .filter(|&i| x(i) >= first && x(i) <= last)
                .collect();
            let mut poly: Vec<(f64, f64)> = inside.iter().map(|&i| (x(i), band.upper[i])).collect();
            poly.extend(inside.iter().rev().map(|&i| (x(i), band.lower[i])));
            chart
                .draw_series(std::iter::once(Polygon::new(poly, FORECAST.mix(0.18))))
                .map_err(text)?;
        }
        let nominal = format!("{:.0} % interval", band.nominal * 100.0);
        chart
            .draw_series(std::iter::empty::<Polygon<(f64, f64)>>())
            .map_err(text)?
            .label(nominal)
            .legend(|(x, y)| {
                Rectangle::new([(x, y - 5), (x + 18, y + 5)], FORECAST.mix(0.18).filled())
            });
        let points = |v: &[f64]| idx.iter().map(|&i| (x(i), v[i])).collect::<Vec<_>>();
        line(
            &mut chart,
            points(&band.actual).into_iter(),
            ACTUAL.stroke_width(1),
            "actual",
        )?;
        line(
            &mut chart,
            points(&band.forecast).into_iter(),
            FORECAST.stroke_width(2),
            "forecast",
        )?;
        legend(&mut chart)
    })
}

/// MAE per local hour as bars, bias as a line.
pub(crate) fn by_hour(rows: &[ErrorRow]) -> Result<String, Error> {
    svg("error by hour", (WIDTH / 2, HEIGHT), |root| {
        let hi = rows
            .iter()
            .flat_map(|r| [r.mae, r.bias.abs()])
            .filter(|v| v.is_finite())
            .fold(0.0f64, f64::max)
            .max(f64::MIN_POSITIVE)
            * 1.1;
        let mut chart = ChartBuilder::on(root)
            .margin(8)
            .x_label_area_size(28)
            .y_label_area_size(60)
            .build_cartesian_2d(-0.5f64..23.5f64, -hi..hi)
            .map_err(text)?;
        chart
            .configure_mesh()
            .x_labels(12)
            .x_label_formatter(&|h| format!("{:02}", h.round() as i64))
            .x_desc("local hour")
            .y_desc("MAE / bias")
            .y_label_formatter(&|v| crate::number(*v))
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(text)?;
        let bars = rows.iter().filter(|r| r.mae.is_finite()).map(|r| {
            let h = r.key as f64;
            Rectangle::new(
                [(h - 0.4, 0.0), (h + 0.4, r.mae)],
                FORECAST.mix(0.6).filled(),
            )
        });
        chart
            .draw_series(bars)
            .map_err(text)?
            .label("MAE")
            .legend(|(x, y)| {
                Rectangle::new([(x, y - 5), (x + 18, y + 5)], FORECAST.mix(0.6).filled())
            });
        let bias = rows.iter().map(|r| (r.key as f64, r.bias));
        for (i, run) in segments(bias).into_iter().enumerate() {
            let drawn = chart
                .draw_series(LineSeries::new(run, BIAS.stroke_width(2)))
                .map_err(text)?;
            if i == 0 {
                drawn
                    .label("bias (forecast - actual)")
                    .legend(legend_line(BIAS));
            }
        }
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .draw()
            .map_err(text)
    })
}

/// MAE and interval coverage by horizon, coverage against its nominal level.
pub(crate) fn by_horizon(rows: &[ErrorRow], nominal: f64) -> Result<String, Error> {
    svg("error by horizon", (WIDTH / 2, HEIGHT), |root| {
        let minutes = |r: &ErrorRow| r.key as f64 / 60.0;
        let last = rows.last().map_or(1.0, minutes).max(1.0);
        let (_, hi) = y_range(rows.iter().map(|r| &r.mae));
        let mut chart = ChartBuilder::on(root)
            .margin(8)
            .x_label_area_size(28)
            .y_label_area_size(60)
            .right_y_label_area_size(50)
            .build_cartesian_2d(0f64..last, 0f64..hi)
            .map_err(text)?
            .set_secondary_coord(0f64..last, 0f64..1.0f64);
        chart
            .configure_mesh()
            .x_desc("minutes ahead")
            .x_label_formatter(&|v| crate::number(*v))
            .y_desc("MAE")
            .y_label_formatter(&|v| crate::number(*v))
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(text)?;
        chart
            .configure_secondary_axes()
            .y_desc("coverage")
            .y_label_formatter(&|v| format!("{:.0}%", v * 100.0))
            .draw()
            .map_err(text)?;
        let mae = rows.iter().map(|r| (minutes(r), r.mae));
        for (i, run) in segments(mae).into_iter().enumerate() {
            let drawn = chart
                .draw_series(LineSeries::new(run, FORECAST.stroke_width(2)))
                .map_err(text)?;
            if i == 0 {
                drawn.label("MAE").legend(legend_line(FORECAST));
            }
        }
        let coverage = rows.iter().map(|r| (minutes(r), r.coverage));
        for (i, run) in segments(coverage).into_iter().enumerate() {
            let drawn = chart
                .draw_secondary_series(LineSeries::new(run, RUNS[2].stroke_width(2)))
                .map_err(text)?;
            if i == 0 {
                drawn.label("coverage").legend(legend_line(RUNS[2]));
            }
        }
        chart
            .draw_secondary_series(LineSeries::new(
                [(0.0, nominal), (last, nominal)],
                RUNS[2].mix(0.5).stroke_width(1),
            ))
            .map_err(text)?
            .label(format!("nominal {:.0}%", nominal * 100.0))
            .legend(legend_line(RGBColor(150, 200, 150)));
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .draw()
            .map_err(text)
    })
}

/// The load and each replay's ready capacity.
pub(crate) fn replay(replay: &Replay, zone: Tz) -> Result<String, Error> {
    svg("replay", (WIDTH, HEIGHT), |root| {
        let clock = Clock::new(zone, replay.t.first().copied().unwrap_or(0));
        let k = stride(replay.t.len());
        let idx: Vec<usize> = (0..replay.t.len()).step_by(k).collect();
        let y = y_range(
            replay
                .load
                .iter()
                .chain(replay.runs.iter().flat_map(|r| &r.capacity)),
        );
        let mut chart = time_chart(root, clock, &replay.t, y, "load / ready capacity")?;
        let x = |i: usize| clock.x(replay.t[i]);
        let area: Vec<(f64, f64)> = idx
            .iter()
            .map(|&i| (x(i), replay.load[i]))
            .filter(|p| p.1.is_finite())
            .collect();
        if let (Some(first), Some(last)) = (area.first().copied(), area.last().copied()) {
            let mut poly = area.clone();
            poly.extend([(last.0, 0.0), (first.0, 0.0)]);
            chart
                .draw_series(std::iter::once(Polygon::new(poly, ACTUAL.mix(0.15))))
                .map_err(text)?
                .label("load")
                .legend(|(x, y)| {
                    Rectangle::new([(x, y - 5), (x + 18, y + 5)], ACTUAL.mix(0.15).filled())
                });
        }
        for (n, run) in replay.runs.iter().enumerate() {
            let color = RUNS[n.min(RUNS.len() - 1)];
            let points = idx.iter().map(|&i| (x(i), run.capacity[i]));
            line(&mut chart, points, color.stroke_width(1), &run.name)?;
        }
        legend(&mut chart)
    })
}

/// Breach minutes against pod-hours over the oracle's, one point per cell on the stretch
/// it is shown on; the budget as a line, the recommendation ringed.
pub(crate) fn frontier(cells: &[Cell], budget: f64, half: usize) -> Result<String, Error> {
    svg("frontier", (WIDTH / 2, HEIGHT), |root| {
        let xs = cells
            .iter()
            .map(|c| c.pod_ratio[half])
            .filter(|v| v.is_finite());
        let (lo, hi) = xs.fold((budget, budget), |(a, b), v| (a.min(v), b.max(v)));
        let pad = ((hi - lo) * 0.08).max(0.01);
        let (_, ymax) = y_range(cells.iter().map(|c| &c.breach_minutes[half]));
        let mut chart = ChartBuilder::on(root)
            .margin(8)
            .x_label_area_size(28)
            .y_label_area_size(60)
            .build_cartesian_2d((lo - pad)..(hi + pad), 0f64..ymax)
            .map_err(text)?;
        chart
            .configure_mesh()
            .x_desc("pod-hours / oracle's")
            .y_desc("breach minutes")
            .y_label_formatter(&|v| crate::number(*v))
            .x_label_formatter(&|v| format!("{v:.2}x"))
            .light_line_style(WHITE.mix(0.0))
            .draw()
            .map_err(text)?;
        chart
            .draw_series(LineSeries::new(
                [(budget, 0.0), (budget, ymax)],
                BIAS.mix(0.6).stroke_width(1),
            ))
            .map_err(text)?
            .label(format!("budget {budget}x"))
            .legend(legend_line(BIAS));
        let font = ("sans-serif", 10).into_font();
        let points = cells
            .iter()
            .filter(|c| c.pod_ratio[half].is_finite())
            .map(|c| {
                let at = (c.pod_ratio[half], c.breach_minutes[half]);
                let label = format!("{}m q{}", c.lead_secs / 60, c.quantile);
                EmptyElement::at(at)
                    + Circle::new((0, 0), 3, FORECAST.filled())
                    + Text::new(label, (4, -10), font.clone())
            });
        chart.draw_series(points).map_err(text)?;
        let chosen = cells
            .iter()
            .filter(|c| c.chosen && c.pod_ratio[half].is_finite());
        chart
            .draw_series(chosen.map(|c| {
                Circle::new(
                    (c.pod_ratio[half], c.breach_minutes[half]),
                    7,
                    BIAS.stroke_width(2),
                )
            }))
            .map_err(text)?
            .label("recommended")
            .legend(|(x, y)| Circle::new((x + 9, y), 5, BIAS.stroke_width(2)));
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .background_style(WHITE.mix(0.85))
            .border_style(BLACK.mix(0.3))
            .draw()
            .map_err(text)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_land_on_whole_local_hours_and_stay_few() {
        let zone: Tz = "Asia/Shanghai".parse().unwrap();
        // 2026-12-07 10:17:00 Shanghai.
        let clock = Clock::new(zone, 1_765_073_820);
        assert_eq!(clock.label(0.0, false), "00:00");
        let ticks = clock.ticks(10.2, 10.2 + 7.0 * 24.0);
        assert!(ticks.len() <= 10, "{ticks:?}");
        assert!(ticks.iter().all(|t| t.fract() == 0.0));
        assert_eq!(clock.label(ticks[0], false), "00:00");
    }

    #[test]
    fn gaps_split_lines_and_stride_bounds_points() {
        let runs = segments([(0.0, 1.0), (1.0, f64::NAN), (2.0, 2.0), (3.0, 3.0)].into_iter());
        assert_eq!(runs, vec![vec![(0.0, 1.0)], vec![(2.0, 2.0), (3.0, 3.0)]]);
        assert_eq!(stride(10), 1);
        assert!(100_000 / stride(100_000) <= MAX_POINTS);
    }
}
