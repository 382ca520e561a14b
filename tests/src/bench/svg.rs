//! The placement plot: guest memory on host node 0 and node 1 over time during one move,
//! written as a small self-contained SVG.

use std::fmt::Write;

/// One placement sample.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PlotPoint {
    /// Seconds since the move started (negative: before it).
    pub t: f64,
    /// Guest memory on node 0, MiB.
    pub node0_mib: f64,
    /// Guest memory on node 1, MiB.
    pub node1_mib: f64,
}

/// A plot of one move.
#[derive(Clone, Debug, PartialEq)]
pub struct PlacementPlot {
    /// The title line.
    pub title: String,
    /// The samples, in time order.
    pub points: Vec<PlotPoint>,
    /// When the move ended, in seconds since it started.
    pub move_end_s: f64,
}

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 420.0;
const LEFT: f64 = 70.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 50.0;
const BOTTOM: f64 = 60.0;
const COLORS: [&str; 2] = ["#1f77b4", "#ff7f0e"];

/// A plotted series: its legend and how to read its value from a point.
type Series = (&'static str, fn(&PlotPoint) -> f64);

/// A "nice" tick step (1, 2 or 5 times a power of ten) giving about `ticks` ticks over
/// `range`.
pub fn tick_step(range: f64, ticks: f64) -> f64 {
    if range.is_nan() || range <= 0.0 || range.is_infinite() {
        return 1.0;
    }
    let raw = range / ticks.max(1.0);
    let power = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .into_iter()
        .map(|m| m * power)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * power)
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn ticks(lo: f64, hi: f64, step: f64) -> Vec<f64> {
    let mut v = Vec::new();
    let mut t = (lo / step).ceil() * step;
    while t <= hi + step * 1e-9 && v.len() < 100 {
        v.push(if t.abs() < step * 1e-9 { 0.0 } else { t });
        t += step;
    }
    v
}

fn label(value: f64, step: f64) -> String {
    if step >= 1.0 {
        format!("{value:.0}")
    } else {
        format!("{value:.1}")
    }
}

/// The plot as an SVG document.
pub fn render(plot: &PlacementPlot) -> String {
    let t_min = plot.points.iter().map(|p| p.t).fold(0.0f64, f64::min);
    let t_max = plot
        .points
        .iter()
        .map(|p| p.t)
        .fold(plot.move_end_s.max(0.0), f64::max);
    let y_max = plot
        .points
        .iter()
        .map(|p| p.node0_mib.max(p.node1_mib))
        .fold(1.0f64, f64::max);
    let x_step = tick_step(t_max - t_min, 8.0);
    let y_step = tick_step(y_max, 5.0);
    let (t_lo, t_hi) = (
        (t_min / x_step).floor() * x_step,
        (t_max / x_step).ceil() * x_step,
    );
    let y_hi = (y_max / y_step).ceil() * y_step;
    let (pw, ph) = (WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM);
    let x = |t: f64| LEFT + (t - t_lo) / (t_hi - t_lo).max(1e-9) * pw;
    let y = |v: f64| TOP + ph - v / y_hi.max(1e-9) * ph;

    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(s, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(
        s,
        r#"<text x="{}" y="24" text-anchor="middle" font-size="14">{}</text>"#,
        WIDTH / 2.0,
        escape(&plot.title)
    );
    for t in ticks(t_lo, t_hi, x_step) {
        let _ = writeln!(
            s,
            r##"<line x1="{0:.1}" y1="{1}" x2="{0:.1}" y2="{2}" stroke="#ddd"/><text x="{0:.1}" y="{3}" text-anchor="middle">{4}</text>"##,
            x(t),
            TOP,
            TOP + ph,
            TOP + ph + 16.0,
            label(t, x_step)
        );
    }
    for v in ticks(0.0, y_hi, y_step) {
        let _ = writeln!(
            s,
            r##"<line x1="{0}" y1="{1:.1}" x2="{2}" y2="{1:.1}" stroke="#ddd"/><text x="{3}" y="{4:.1}" text-anchor="end">{5}</text>"##,
            LEFT,
            y(v),
            LEFT + pw,
            LEFT - 6.0,
            y(v) + 4.0,
            label(v, y_step)
        );
    }
    let _ = writeln!(
        s,
        r#"<rect x="{LEFT}" y="{TOP}" width="{pw}" height="{ph}" fill="none" stroke="black"/>"#
    );
    for (t, name) in [(0.0, "move starts"), (plot.move_end_s, "move ends")] {
        let _ = writeln!(
            s,
            r##"<line x1="{0:.1}" y1="{1}" x2="{0:.1}" y2="{2}" stroke="#888" stroke-dasharray="4 3"/><text x="{3:.1}" y="{4}" fill="#555">{5}</text>"##,
            x(t),
            TOP,
            TOP + ph,
            x(t) + 3.0,
            TOP + 12.0,
            name
        );
    }
    let _ = writeln!(
        s,
        r#"<text x="{}" y="{}" text-anchor="middle">seconds since the move started</text>"#,
        LEFT + pw / 2.0,
        HEIGHT - 18.0
    );
    let _ = writeln!(
        s,
        r#"<text x="18" y="{0}" text-anchor="middle" transform="rotate(-90 18 {0})">guest memory (MiB)</text>"#,
        TOP + ph / 2.0
    );
    let series: [Series; 2] = [
        ("host node 0", |p| p.node0_mib),
        ("host node 1", |p| p.node1_mib),
    ];
    for (i, ((name, value), color)) in series.iter().zip(COLORS).enumerate() {
        let path: Vec<String> = plot
            .points
            .iter()
            .map(|p| format!("{:.1},{:.1}", x(p.t), y(value(p))))
            .collect();
        let _ = writeln!(
            s,
            r#"<polyline fill="none" stroke="{color}" stroke-width="2" points="{}"/>"#,
            path.join(" ")
        );
        for p in &plot.points {
            let _ = writeln!(
                s,
                r#"<circle cx="{:.1}" cy="{:.1}" r="3" fill="{color}"/>"#,
                x(p.t),
                y(value(p))
            );
        }
        let ly = TOP + 30.0 + 18.0 * i as f64;
        let _ = writeln!(
            s,
            r#"<line x1="{0}" y1="{1}" x2="{2}" y2="{1}" stroke="{color}" stroke-width="2"/><text x="{3}" y="{4}">{name}</text>"#,
            LEFT + pw - 120.0,
            ly,
            LEFT + pw - 100.0,
            LEFT + pw - 94.0,
            ly + 4.0
        );
    }
    s.push_str("</svg>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_steps_are_round() {
        assert_eq!(tick_step(10.0, 5.0), 2.0);
        assert_eq!(tick_step(1024.0, 5.0), 500.0);
        assert_eq!(tick_step(7.3, 8.0), 1.0);
        assert_eq!(tick_step(0.0, 5.0), 1.0);
        assert_eq!(tick_step(f64::NAN, 5.0), 1.0);
        assert_eq!(ticks(-0.5, 2.0, 1.0), vec![0.0, 1.0, 2.0]);
    }

    #[test]
    fn renders_both_nodes_and_the_move() {
        let plot = PlacementPlot {
            title: "a <move> & more".into(),
            points: vec![
                PlotPoint {
                    t: -0.5,
                    node0_mib: 1024.0,
                    node1_mib: 0.0,
                },
                PlotPoint {
                    t: 2.0,
                    node0_mib: 512.0,
                    node1_mib: 512.0,
                },
                PlotPoint {
                    t: 4.2,
                    node0_mib: 0.0,
                    node1_mib: 1024.0,
                },
            ],
            move_end_s: 4.0,
        };
        let svg = render(&plot);
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert!(svg.contains("a &lt;move&gt; &amp; more"));
        assert_eq!(svg.matches("<polyline").count(), 2);
        assert_eq!(svg.matches("<circle").count(), 6);
        assert!(svg.contains("host node 0") && svg.contains("host node 1"));
        assert!(svg.contains("move ends"));
        // Every opened element is closed or self-closed: a cheap well-formedness check.
        let opens = svg.matches('<').count();
        let closes = svg.matches("/>").count() + svg.matches("</").count() * 2;
        assert_eq!(opens, closes);
    }

    #[test]
    fn an_empty_plot_still_renders() {
        let svg = render(&PlacementPlot {
            title: "none".into(),
            points: vec![],
            move_end_s: 0.0,
        });
        assert!(svg.contains(
            "<polyline fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"2\" points=\"\"/>"
        ));
    }
}
