//! The page: one self-contained HTML document (inline CSS and SVG, nothing fetched).

use crate::{Error, Frontier, Replay, Report, TargetReport, chart};
use std::fmt::Write;

const STYLE: &str = "body{font-family:sans-serif;margin:1.5em auto;max-width:1000px;color:#222}\
h1{margin-bottom:0}p.sub{color:#666;margin-top:.2em}section{border-top:1px solid #ccc;margin-top:2em}\
table{border-collapse:collapse;margin:.6em 0}td,th{padding:.2em .6em;border-bottom:1px solid #eee;text-align:right}\
td:first-child,th:first-child{text-align:left}figure{margin:.8em 0}figcaption{color:#555;font-size:.9em}\
svg{max-width:100%;height:auto}.row{display:flex;gap:1em}.row figure{flex:1;min-width:0}\
tr.chosen{background:#fde8e8}";

/// The report as one HTML document.
pub fn render(report: &Report) -> Result<String, Error> {
    if report.targets.is_empty() {
        return Err(Error::Empty);
    }
    let mut out = String::new();
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width\"><title>{}</title>\
         <style>{STYLE}</style></head><body>\n<h1>{}</h1><p class=\"sub\">{}</p>\n",
        esc(&report.title),
        esc(&report.title),
        esc(&report.subtitle)
    );
    if report.targets.len() > 1 {
        overview(&mut out, &report.targets);
    }
    for (i, target) in report.targets.iter().enumerate() {
        section(&mut out, i, target, report.zone)?;
    }
    out.push_str("</body></html>\n");
    Ok(out)
}

/// One row per target with its headline numbers, each linking to its section.
fn overview(out: &mut String, targets: &[TargetReport]) {
    let labels: Vec<&str> = targets[0]
        .headline
        .iter()
        .map(|f| f.label.as_str())
        .collect();
    out.push_str("<h2 id=\"overview\">Overview</h2>\n<table class=\"overview\"><tr><th>target</th><th>model</th>");
    for l in &labels {
        let _ = write!(out, "<th>{}</th>", esc(l));
    }
    out.push_str("</tr>\n");
    for (i, t) in targets.iter().enumerate() {
        let _ = write!(
            out,
            "<tr><td><a href=\"#target-{i}\">{}</a></td><td>{}</td>",
            esc(&t.name),
            esc(short(&t.model))
        );
        for l in &labels {
            let v = t.headline.iter().find(|f| f.label == *l);
            let _ = write!(out, "<td>{}</td>", esc(v.map_or("-", |f| f.value.as_str())));
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</table>\n");
}

/// The model's name without its parameters, for the overview.
fn short(model: &str) -> &str {
    model.split([' ', '(']).next().unwrap_or(model)
}

fn section(out: &mut String, i: usize, t: &TargetReport, zone: chrono_tz::Tz) -> Result<(), Error> {
    let _ = write!(
        out,
        "<section id=\"target-{i}\"><h2>{}</h2><p class=\"sub\">{}</p>\n<table class=\"headline\">",
        esc(&t.name),
        esc(&t.model)
    );
    for f in &t.headline {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td></tr>",
            esc(&f.label),
            esc(&f.value)
        );
    }
    out.push_str("</table>\n");
    let (a, b) = t.band.ahead_secs;
    let thinned = chart::stride(t.band.t.len()) > 1;
    figure(
        out,
        &chart::band(&t.band, zone)?,
        &format!(
            "Forecast against actual, each instant forecast {}..{} min ahead, with the {:.0} % interval{}.",
            a / 60,
            b / 60,
            t.band.nominal * 100.0,
            if thinned {
                " (every n-th point drawn)"
            } else {
                ""
            }
        ),
    );
    out.push_str("<div class=\"row\">");
    figure(
        out,
        &chart::by_hour(&t.by_hour)?,
        &format!("Error of the point forecast by local hour ({zone})."),
    );
    figure(
        out,
        &chart::by_horizon(&t.by_horizon, t.band.nominal)?,
        "MAE and interval coverage by horizon.",
    );
    out.push_str("</div>\n");
    if let Some(r) = &t.replay {
        replay(out, r, zone)?;
    }
    if let Some(f) = &t.frontier {
        frontier(out, f)?;
    }
    out.push_str("</section>\n");
    Ok(())
}

fn replay(out: &mut String, r: &Replay, zone: chrono_tz::Tz) -> Result<(), Error> {
    out.push_str("<h3>HPA replay</h3>");
    figure(out, &chart::replay(r, zone)?, &r.caption);
    out.push_str(
        "<table class=\"replay\"><tr><th>replay</th><th>breach minutes</th><th>unserved</th>\
         <th>pod-hours</th><th>scale-ups</th><th>scale-downs</th></tr>\n",
    );
    for run in &r.runs {
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{:.1}</td><td>{:.1}</td><td>{:.1}</td><td>{}</td><td>{}</td></tr>",
            esc(&run.name),
            run.breach_minutes,
            run.unserved,
            run.pod_hours,
            run.scale_ups,
            run.scale_downs
        );
    }
    out.push_str("</table>\n");
    Ok(())
}

fn frontier(out: &mut String, f: &Frontier) -> Result<(), Error> {
    out.push_str("<h3>Lead x quantile frontier</h3><div class=\"row\">");
    figure(
        out,
        &chart::frontier(&f.cells, f.budget, 0)?,
        &format!("Chosen on {}.", f.chosen_on),
    );
    figure(
        out,
        &chart::frontier(&f.cells, f.budget, 1)?,
        &format!("Shown on {}, where it was not chosen.", f.shown_on),
    );
    out.push_str(
        "</div>\n<table class=\"frontier\"><tr><th>lead</th><th>quantile</th>\
         <th>breach min (chosen on)</th><th>pod-h / oracle (chosen on)</th>\
         <th>breach min (shown on)</th><th>pod-h / oracle (shown on)</th></tr>\n",
    );
    for c in &f.cells {
        let _ = writeln!(
            out,
            "<tr{}><td>{}m</td><td>{}</td><td>{:.1}</td><td>{:.3}</td><td>{:.1}</td><td>{:.3}</td></tr>",
            if c.chosen { " class=\"chosen\"" } else { "" },
            c.lead_secs / 60,
            c.quantile,
            c.breach_minutes[0],
            c.pod_ratio[0],
            c.breach_minutes[1],
            c.pod_ratio[1]
        );
    }
    let _ = writeln!(
        out,
        "</table><p>{}</p>",
        match f.cells.iter().find(|c| c.chosen) {
            Some(c) => format!(
                "Recommended: lead {}m, quantile {}: the fewest breach minutes within {}x the oracle's pod-hours on the first stretch.",
                c.lead_secs / 60,
                c.quantile,
                f.budget
            ),
            None => format!("No setting is within {}x the oracle's pod-hours.", f.budget),
        }
    );
    Ok(())
}

fn figure(out: &mut String, svg: &str, caption: &str) {
    let _ = write!(
        out,
        "<figure>{svg}<figcaption>{}</figcaption></figure>",
        esc(caption)
    );
}

/// Text for HTML content and attribute values.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Band, Cell, ErrorRow, Figure, Run};

    fn target(name: &str) -> TargetReport {
        let t: Vec<i64> = (0..600).map(|i| 1_765_000_000 + i * 60).collect();
        let actual: Vec<f64> = (0..600).map(|i| (i as f64 / 50.0).sin() + 2.0).collect();
        let mut with_gap = actual.clone();
        with_gap[100] = f64::NAN;
        let rows = |n: i64, step: i64| {
            (0..n)
                .map(|k| ErrorRow {
                    key: k * step,
                    mae: 0.1 + k as f64 * 0.01,
                    bias: -0.02,
                    coverage: 0.78,
                    n: 10,
                })
                .collect::<Vec<_>>()
        };
        TargetReport {
            name: name.into(),
            model: "auto (tidal 0.6, lagreg 0.4)".into(),
            headline: vec![Figure::new("MAE", "0.12"), Figure::new("coverage", "78 %")],
            band: Band {
                t: t.clone(),
                forecast: actual.iter().map(|v| v * 1.01).collect(),
                lower: actual.iter().map(|v| v * 0.9).collect(),
                upper: actual.iter().map(|v| v * 1.1).collect(),
                actual: with_gap,
                nominal: 0.8,
                ahead_secs: (60, 3600),
            },
            by_hour: rows(24, 1),
            by_horizon: rows(60, 60),
            replay: Some(Replay {
                t: t.clone(),
                load: actual.clone(),
                runs: ["reactive", "predictive", "oracle"]
                    .iter()
                    .map(|n| Run {
                        name: (*n).into(),
                        capacity: actual.iter().map(|v| v.ceil()).collect(),
                        breach_minutes: 3.0,
                        pod_hours: 10.0,
                        ..Run::default()
                    })
                    .collect(),
                caption: "replay".into(),
            }),
            frontier: Some(Frontier {
                budget: 1.1,
                chosen_on: "first".into(),
                shown_on: "second".into(),
                cells: vec![
                    Cell {
                        lead_secs: 900,
                        quantile: 0.9,
                        breach_minutes: [3.0, 4.0],
                        pod_ratio: [1.05, 1.07],
                        chosen: true,
                    },
                    Cell {
                        lead_secs: 600,
                        quantile: 0.5,
                        breach_minutes: [9.0, 8.0],
                        pod_ratio: [0.98, 0.99],
                        chosen: false,
                    },
                ],
            }),
        }
    }

    fn report(names: &[&str]) -> Report {
        Report {
            title: "tidecast report".into(),
            subtitle: "test".into(),
            zone: "Asia/Shanghai".parse().unwrap(),
            targets: names.iter().map(|n| target(n)).collect(),
        }
    }

    #[test]
    fn a_page_has_every_chart_inline_and_fetches_nothing() {
        let html = render(&report(&["svc"])).unwrap();
        assert_eq!(
            html.matches("<svg").count(),
            6,
            "band, hour, horizon, replay, 2 frontiers"
        );
        for word in [
            "actual",
            "forecast",
            "80 % interval",
            "reactive",
            "predictive",
            "oracle",
            "recommended",
        ] {
            assert!(html.contains(word), "{word} missing");
        }
        // Self-contained: no script, stylesheet or image is loaded from anywhere.
        for fetch in ["<script", "<link", "src=", "url("] {
            assert!(!html.contains(fetch), "{fetch} found");
        }
        assert!(
            !html.contains("NaN"),
            "a gap must not become a NaN coordinate"
        );
        assert!(!html.contains("Overview"), "one target needs no overview");
    }

    #[test]
    fn many_targets_get_an_overview_linking_each_section() {
        let html = render(&report(&["a", "b<script>"])).unwrap();
        assert!(html.contains("<h2 id=\"overview\">Overview</h2>"));
        assert!(html.contains("href=\"#target-0\""));
        assert!(html.contains("id=\"target-1\""));
        assert!(html.contains("b&lt;script&gt;"), "names are escaped");
        assert!(!html.contains("b<script>"));
    }

    #[test]
    fn an_empty_report_is_an_error() {
        assert!(matches!(render(&report(&[])), Err(Error::Empty)));
    }
}
