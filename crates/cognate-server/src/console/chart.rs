//! Small server-rendered SVG charts (no JavaScript): bars of a daily series.

/// One bar: its label (a day) and value.
pub(crate) struct Bar {
    pub label: String,
    pub value: i64,
}

/// An SVG bar chart of `bars`, `title` its accessible name. Values are drawn to scale
/// against the largest; each bar carries its figure as a tooltip and in the text
/// alternative (a table beside the chart lists them too).
pub(crate) fn bars(title: &str, bars: &[Bar]) -> String {
    const HEIGHT: i64 = 160;
    const BAR: i64 = 18;
    const GAP: i64 = 6;
    let max = bars.iter().map(|b| b.value).max().unwrap_or(0).max(1);
    let width = (bars.len() as i64 * (BAR + GAP)).max(BAR + GAP) + GAP;
    let mut out = format!(
        "<svg class=\"chart\" role=\"img\" aria-label=\"{}\" viewBox=\"0 0 {width} {}\" width=\"{width}\" height=\"{}\">",
        escape(title),
        HEIGHT + 30,
        HEIGHT + 30
    );
    for (i, bar) in bars.iter().enumerate() {
        let h = (bar.value.max(0) * HEIGHT) / max;
        let x = GAP + i as i64 * (BAR + GAP);
        let y = HEIGHT - h;
        out.push_str(&format!(
            "<rect class=\"bar\" x=\"{x}\" y=\"{y}\" width=\"{BAR}\" height=\"{h}\"><title>{}: {}</title></rect>",
            escape(&bar.label),
            bar.value
        ));
        if i % 7 == 0 {
            let short: String = bar.label.chars().skip(5).collect();
            out.push_str(&format!("<text x=\"{x}\" y=\"{}\">{}</text>", HEIGHT + 20, escape(&short)));
        }
    }
    out.push_str("</svg>");
    out
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_to_the_largest_and_escape_labels() {
        let svg =
            bars("Calls <a>", &[Bar { label: "2026-01-01".into(), value: 5 }, Bar { label: "x\"".into(), value: 10 }]);
        assert!(svg.contains("aria-label=\"Calls &lt;a&gt;\""));
        assert!(svg.contains("height=\"80\""), "{svg}");
        assert!(svg.contains("height=\"160\""));
        assert!(svg.contains("x&quot;: 10"));
        assert!(bars("empty", &[]).starts_with("<svg"));
    }
}
