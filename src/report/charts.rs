//! Charts as self-contained SVG (plotters): a fleet's allocation over time stacked by tenant
//! with the reservation lines, queueing-delay CDFs per tenant, and sweep metrics against the
//! varied parameter with 95 % confidence bands. Every chart has a title, axis labels with units
//! and a legend.

use plotters::prelude::*;

/// Width and height of every chart, in pixels.
pub(crate) const SIZE: (u32, u32) = (960, 540);

/// Distinct series colours (Tableau 10), reused cyclically.
pub(crate) fn colour(i: usize) -> RGBColor {
    const C: [(u8, u8, u8); 10] = [
        (78, 121, 167),
        (242, 142, 43),
        (225, 87, 89),
        (118, 183, 178),
        (89, 161, 79),
        (237, 201, 72),
        (176, 122, 161),
        (255, 157, 167),
        (156, 117, 95),
        (186, 176, 172),
    ];
    let (r, g, b) = C[i % C.len()];
    RGBColor(r, g, b)
}

/// A line with an optional shaded band (`(x, low, high)` per point).
pub(crate) type Banded = (Series, Option<Vec<(f64, f64, f64)>>);

/// One line of a chart: a name and its points.
pub(crate) struct Series {
    /// Legend entry.
    pub name: String,
    /// `(x, y)` points in x order.
    pub points: Vec<(f64, f64)>,
}

fn range(xs: impl Iterator<Item = f64>, floor_zero: bool) -> (f64, f64) {
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for x in xs.filter(|x| x.is_finite()) {
        lo = lo.min(x);
        hi = hi.max(x);
    }
    if !lo.is_finite() {
        return (0.0, 1.0);
    }
    if floor_zero {
        lo = lo.min(0.0);
    }
    if hi <= lo {
        hi = lo + 1.0;
    }
    (lo, hi + (hi - lo) * 0.05)
}

fn finish<DB: DrawingBackend>(e: Result<(), DrawingAreaErrorKind<DB::ErrorType>>) -> String
where
    DB::ErrorType: 'static,
{
    e.map(|_| String::new())
        .unwrap_or_else(|err| format!("<!-- chart error: {err} -->"))
}

/// Stacked areas (`stacked`, bottom first) plus plain lines (`lines`, e.g. reservations and the
/// installed fleet), over a shared x axis.
pub(crate) fn stacked(
    title: &str,
    x_label: &str,
    y_label: &str,
    stacked: &[Series],
    lines: &[Series],
) -> String {
    let mut svg = String::new();
    let err = {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        (|| {
            root.fill(&WHITE)?;
            // Cumulative tops of the stack.
            let n = stacked.first().map_or(0, |s| s.points.len());
            let mut tops: Vec<Vec<(f64, f64)>> = Vec::new();
            let mut acc = vec![0.0; n];
            for s in stacked {
                let mut v = Vec::with_capacity(n);
                for (k, &(x, y)) in s.points.iter().enumerate().take(n) {
                    acc[k] += y;
                    v.push((x, acc[k]));
                }
                tops.push(v);
            }
            let xs = stacked
                .iter()
                .chain(lines)
                .flat_map(|s| s.points.iter().map(|p| p.0));
            let (x0, x1) = range(xs, false);
            let ys = tops
                .iter()
                .flatten()
                .map(|p| p.1)
                .chain(lines.iter().flat_map(|s| s.points.iter().map(|p| p.1)));
            let (_, y1) = range(ys, true);
            let mut chart = ChartBuilder::on(&root)
                .caption(title, ("sans-serif", 22))
                .margin(12)
                .x_label_area_size(45)
                .y_label_area_size(80)
                .build_cartesian_2d(x0..x1, 0.0..y1)?;
            chart
                .configure_mesh()
                .x_desc(x_label)
                .y_desc(y_label)
                .y_label_formatter(&y_tick)
                .draw()?;
            for (i, (s, top)) in stacked.iter().zip(&tops).enumerate().rev() {
                let c = colour(i);
                chart
                    .draw_series(
                        AreaSeries::new(top.iter().copied(), 0.0, c.mix(0.85)).border_style(c),
                    )?
                    .label(s.name.clone())
                    .legend(move |(x, y)| {
                        Rectangle::new([(x, y - 5), (x + 12, y + 5)], c.filled())
                    });
            }
            for (i, s) in lines.iter().enumerate() {
                let c = colour(stacked.len() + i);
                let style = ShapeStyle {
                    color: c.to_rgba(),
                    filled: false,
                    stroke_width: 2,
                };
                chart
                    .draw_series(LineSeries::new(s.points.iter().copied(), style))?
                    .label(s.name.clone())
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 14, y)], style));
            }
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperLeft)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK)
                .draw()?;
            root.present()
        })()
    };
    let note = finish::<SVGBackend>(err);
    svg + &note
}

/// Series with more points than this are drawn as lines only (a mark per point would hide the
/// line and grow the file with the samples).
const MAX_MARKED: usize = 60;

/// A y tick: thousands separators from 1,000 up, else at most six decimals.
fn y_tick(y: &f64) -> String {
    if y.abs() >= 1000.0 {
        crate::fleet::report::thousands(*y, 0)
    } else {
        format!("{}", (y * 1e6).round() / 1e6)
    }
}

/// Lines, optionally with a shaded band (`(x, lo, hi)` per point) each; `log_x` for a
/// logarithmic x axis (values must be positive).
pub(crate) fn lines(
    title: &str,
    x_label: &str,
    y_label: &str,
    series: &[Banded],
    log_x: bool,
    x_ticks: Option<&[String]>,
) -> String {
    let mut svg = String::new();
    let err = {
        let root = SVGBackend::with_string(&mut svg, SIZE).into_drawing_area();
        (|| {
            root.fill(&WHITE)?;
            let xs = series
                .iter()
                .flat_map(|(s, _)| s.points.iter().map(|p| p.0));
            let (mut x0, mut x1) = range(xs, false);
            let ys = series.iter().flat_map(|(s, b)| {
                s.points
                    .iter()
                    .map(|p| p.1)
                    .chain(b.iter().flatten().flat_map(|p| [p.1, p.2]))
            });
            let (y0, y1) = range(ys, true);
            if log_x {
                x0 = x0.max(1e-9);
                x1 = x1.max(x0 * 10.0);
            } else if x_ticks.is_some() {
                x0 -= 0.5;
                x1 += 0.5;
            }
            let mut builder = ChartBuilder::on(&root);
            builder
                .caption(title, ("sans-serif", 22))
                .margin(12)
                .x_label_area_size(45)
                .y_label_area_size(80);
            macro_rules! body {
                ($chart:ident) => {{
                    for (i, (s, band)) in series.iter().enumerate() {
                        let c = colour(i);
                        if let Some(b) = band {
                            let mut poly: Vec<(f64, f64)> = b.iter().map(|p| (p.0, p.2)).collect();
                            poly.extend(b.iter().rev().map(|p| (p.0, p.1)));
                            $chart.draw_series(std::iter::once(Polygon::new(poly, c.mix(0.2))))?;
                        }
                        let style = ShapeStyle {
                            color: c.to_rgba(),
                            filled: false,
                            stroke_width: 2,
                        };
                        $chart
                            .draw_series(LineSeries::new(s.points.iter().copied(), style))?
                            .label(s.name.clone())
                            .legend(move |(x, y)| {
                                PathElement::new(vec![(x, y), (x + 14, y)], style)
                            });
                        if s.points.len() <= MAX_MARKED {
                            $chart.draw_series(
                                s.points.iter().map(|&p| Circle::new(p, 3, c.filled())),
                            )?;
                        }
                    }
                    $chart
                        .configure_series_labels()
                        .position(SeriesLabelPosition::UpperRight)
                        .background_style(WHITE.mix(0.85))
                        .border_style(BLACK)
                        .draw()?;
                }};
            }
            if log_x {
                let mut chart = builder.build_cartesian_2d((x0..x1).log_scale(), y0..y1)?;
                chart
                    .configure_mesh()
                    .x_desc(x_label)
                    .y_desc(y_label)
                    .y_label_formatter(&y_tick)
                    .draw()?;
                body!(chart);
            } else {
                let mut chart = builder.build_cartesian_2d(x0..x1, y0..y1)?;
                let ticks: Vec<String> = x_ticks.map(<[String]>::to_vec).unwrap_or_default();
                let fmt = move |x: &f64| {
                    if ticks.is_empty() {
                        // Six decimals at most: 0.6, not the 0.6000000000000001 a tick step
                        // of 0.2 lands on.
                        format!("{}", (x * 1e6).round() / 1e6)
                    } else {
                        let k = x.round();
                        if (x - k).abs() < 1e-6 && k >= 0.0 && (k as usize) < ticks.len() {
                            ticks[k as usize].clone()
                        } else {
                            String::new()
                        }
                    }
                };
                let mut mesh = chart.configure_mesh();
                mesh.x_desc(x_label)
                    .y_desc(y_label)
                    .x_label_formatter(&fmt)
                    .y_label_formatter(&y_tick);
                if let Some(t) = x_ticks {
                    mesh.x_labels(t.len() + 2);
                }
                mesh.draw()?;
                body!(chart);
            }
            root.present()
        })()
    };
    let note = finish::<SVGBackend>(err);
    svg + &note
}

/// A self-contained HTML page: a title, paragraphs, inline SVG charts and HTML tables. A table
/// keeps its cells on one line and scrolls sideways inside its own box when wider than the page,
/// so a wide detail table never pushes the page (or the headline's last columns) off-screen;
/// its title is its caption.
pub(crate) fn html(title: &str, parts: &[Part]) -> String {
    let esc = |s: &str| {
        s.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
    };
    let mut h = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\n<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}}.scroll{{overflow-x:auto;max-width:100%;margin:1em 0}}table{{border-collapse:collapse;font-size:13px}}caption{{text-align:left;font-size:13px;padding:0 0 4px;white-space:normal}}td,th{{border:1px solid #ccc;padding:3px 6px;text-align:right;white-space:nowrap}}th{{background:#f3f3f3}}td:first-child,th:first-child{{text-align:left}}figure{{margin:1.5em 0}}</style></head><body>\n<h1>{t}</h1>\n",
        t = esc(title)
    );
    for p in parts {
        match p {
            Part::Heading(s) => h.push_str(&format!("<h2>{}</h2>\n", esc(s))),
            Part::Text(s) => h.push_str(&format!("<p>{}</p>\n", esc(s))),
            Part::Svg(s) => h.push_str(&format!("<figure>{s}</figure>\n")),
            Part::Table(t) => {
                h.push_str("<div class=\"scroll\"><table>");
                if let Some(c) = &t.title {
                    h.push_str(&format!("<caption>{}</caption>", esc(c)));
                }
                h.push_str("<tr>");
                for c in &t.columns {
                    h.push_str(&format!("<th>{}</th>", esc(c)));
                }
                h.push_str("</tr>\n");
                for r in &t.rows {
                    h.push_str("<tr>");
                    for v in r {
                        h.push_str(&format!("<td>{}</td>", esc(&super::cell_text(v))));
                    }
                    h.push_str("</tr>\n");
                }
                h.push_str("</table></div>\n");
            }
        }
    }
    h.push_str("</body></html>\n");
    h
}

/// A piece of an HTML report.
pub(crate) enum Part {
    /// A section heading.
    Heading(String),
    /// A paragraph.
    Text(String),
    /// An inline SVG chart.
    Svg(String),
    /// A table (its title as caption).
    Table(super::Table),
}
