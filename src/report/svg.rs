//! Small inline SVG charts for the HTML report: horizontal bars (negative values to the left
//! of a zero line) and monthly columns with gaps. Sizes are in CSS pixels; values are in the
//! unit the caller names (kg CO2e in the report). Every label is escaped; each bar carries a
//! `<title>` with its exact value, which a browser shows on hover.
//!
//! No crate is used: the charts need a few `<rect>` and `<text>` elements, and the plotting
//! crates (plotters and its SVG backend) bring a font stack into the build for that.

use std::fmt::Write as _;

use super::html::{escape, number};

/// Chart width in pixels.
const WIDTH: f64 = 640.0;
/// Height of one horizontal bar's lane.
const LANE: f64 = 22.0;
/// Room for the labels left of the bars.
const LABEL: f64 = 190.0;

/// A horizontal bar chart of `(label, value)`; bars to the right of zero for positive values
/// and to the left for negative ones.
pub fn bars(id: &str, title: &str, unit: &str, items: &[(String, f64)]) -> String {
    let height = LANE * items.len().max(1) as f64 + 30.0;
    let mut out = open(id, title, height);
    let max = items.iter().map(|(_, v)| v.abs()).fold(0.0, f64::max);
    let has_negative = items.iter().any(|(_, v)| *v < 0.0);
    let plot = WIDTH - LABEL - 90.0;
    // With negative values the zero line sits in the middle of the plot.
    let (zero, scale) = match (max > 0.0, has_negative) {
        (false, _) => (LABEL, 0.0),
        (true, false) => (LABEL, plot / max),
        (true, true) => (LABEL + plot / 2.0, plot / 2.0 / max),
    };
    for (i, (label, value)) in items.iter().enumerate() {
        let y = 24.0 + i as f64 * LANE;
        let w = (value.abs() * scale).max(if *value != 0.0 { 1.0 } else { 0.0 });
        let x = if *value < 0.0 { zero - w } else { zero };
        let class = if *value < 0.0 { "bar down" } else { "bar" };
        let text = escape(&shorten(label, 28));
        let shown = format!("{} {unit}", number(*value));
        let _ = write!(
            out,
            "<text x=\"{tx:.1}\" y=\"{ty:.1}\" text-anchor=\"end\">{text}</text>\
             <rect class=\"{class}\" x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" \
             height=\"{h:.1}\"><title>{full}: {shown}</title></rect>\
             <text x=\"{vx:.1}\" y=\"{ty:.1}\" class=\"value\">{shown}</text>",
            tx = LABEL - 6.0,
            ty = y + LANE * 0.6,
            h = LANE - 6.0,
            full = escape(label),
            shown = escape(&shown),
            vx = zero.max(x + w) + 4.0,
        );
    }
    let _ = write!(
        out,
        "<line class=\"axis\" x1=\"{zero:.1}\" y1=\"20\" x2=\"{zero:.1}\" y2=\"{:.1}\"/>",
        height - 6.0
    );
    out.push_str("</svg>");
    out
}

/// Monthly columns: one per `(month, value)`, `None` drawn as a gap marked "no data".
pub fn columns(id: &str, title: &str, unit: &str, items: &[(String, Option<f64>)]) -> String {
    let height = 240.0;
    let (top, bottom, left) = (24.0, 40.0, 70.0);
    let mut out = open(id, title, height);
    let max = items
        .iter()
        .filter_map(|(_, v)| *v)
        .fold(0.0, |m: f64, v| m.max(v.abs()));
    let plot_h = height - top - bottom;
    let step = (WIDTH - left - 10.0) / items.len().max(1) as f64;
    let base = top + plot_h;
    let _ = write!(
        out,
        "<line class=\"axis\" x1=\"{left}\" y1=\"{base:.1}\" x2=\"{:.1}\" y2=\"{base:.1}\"/>\
         <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\
         <text x=\"{:.1}\" y=\"{base:.1}\" text-anchor=\"end\">0</text>",
        WIDTH - 10.0,
        left - 4.0,
        top + 4.0,
        escape(&number(max)),
        left - 4.0,
    );
    for (i, (month, value)) in items.iter().enumerate() {
        let x = left + i as f64 * step + step * 0.15;
        let w = step * 0.7;
        let label_x = x + w / 2.0;
        match value {
            Some(v) => {
                let h = if max > 0.0 {
                    v.abs() / max * plot_h
                } else {
                    0.0
                };
                let h = if *v != 0.0 { h.max(1.0) } else { h };
                let _ = write!(
                    out,
                    "<rect class=\"bar\" x=\"{x:.1}\" y=\"{:.1}\" width=\"{w:.1}\" \
                     height=\"{h:.1}\"><title>{}: {} {}</title></rect>",
                    base - h,
                    escape(month),
                    escape(&number(*v)),
                    escape(unit),
                );
            }
            None => {
                let _ = write!(
                    out,
                    "<text class=\"gap\" x=\"{label_x:.1}\" y=\"{:.1}\" \
                     text-anchor=\"middle\">no data</text>",
                    base - 6.0
                );
            }
        }
        let _ = write!(
            out,
            "<text x=\"{label_x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            base + 16.0,
            escape(month.get(2..).unwrap_or(month)),
        );
    }
    out.push_str("</svg>");
    out
}

fn open(id: &str, title: &str, height: f64) -> String {
    format!(
        "<svg id=\"{id}\" class=\"chart\" viewBox=\"0 0 {WIDTH} {height:.0}\" \
         width=\"{WIDTH}\" height=\"{height:.0}\" \
         role=\"img\" aria-label=\"{t}\"><title>{t}</title>\
         <text x=\"0\" y=\"14\" class=\"chart-title\">{t}</text>",
        id = escape(id),
        t = escape(title),
    )
}

/// At most `max` characters, with an ellipsis when cut.
fn shorten(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let mut cut: String = text.chars().take(max - 1).collect();
        cut.push('…');
        cut
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_largest_value() {
        let svg = bars("b", "t", "kg", &[("a".into(), 2.0), ("b".into(), 1.0)]);
        // Plot width 640 - 190 - 90 = 360 px: 2 kg fills it, 1 kg takes half.
        assert!(svg.contains("width=\"360.0\""), "{svg}");
        assert!(svg.contains("width=\"180.0\""), "{svg}");
        assert_eq!(svg.matches("<rect").count(), 2);
    }

    #[test]
    fn negative_bars_go_left_of_a_middle_zero() {
        let svg = bars("b", "t", "kg", &[("up".into(), 4.0), ("down".into(), -2.0)]);
        // Zero at 190 + 180 = 370 px, 90 px per 2 kg: -2 kg spans 280..370.
        assert!(svg.contains("class=\"bar down\" x=\"280.0\""), "{svg}");
        assert!(svg.contains("x1=\"370.0\""), "{svg}");
    }

    #[test]
    fn missing_months_are_gaps_not_zeros() {
        let svg = columns(
            "c",
            "t",
            "kg",
            &[("2026-09".into(), None), ("2026-10".into(), Some(3.0))],
        );
        assert_eq!(svg.matches("<rect").count(), 1);
        assert!(svg.contains("no data"));
    }

    #[test]
    fn labels_are_escaped_and_shortened() {
        let svg = bars("b", "t", "kg", &[("<script>&".into(), 1.0)]);
        assert!(svg.contains("&lt;script&gt;&amp;"));
        assert!(!svg.contains("<script>"));
        assert_eq!(shorten("abcdef", 4), "abc…");
    }
}
