//! Small server-rendered SVG charts (no chart library, no JavaScript): a line over the
//! recent runs' sizes or durations.

/// What a template needs to draw one chart.
pub struct Chart {
    /// `x,y x,y …` for an SVG polyline in a `WIDTH` × `HEIGHT` box.
    pub points: String,
    /// One dot per run, with its label for the tooltip (`<title>`).
    pub dots: Vec<Dot>,
    pub min_label: String,
    pub max_label: String,
    /// A sentence for screen readers.
    pub summary: String,
}

pub struct Dot {
    pub x: String,
    pub y: String,
    pub label: String,
}

pub const WIDTH: f64 = 600.0;
pub const HEIGHT: f64 = 120.0;
const PAD: f64 = 8.0;

/// `values` oldest first, each with its label; `None` when there is nothing to draw.
pub fn line_chart(
    what: &str,
    values: &[(f64, String)],
    format: impl Fn(f64) -> String,
) -> Option<Chart> {
    if values.len() < 2 {
        return None;
    }
    let min = values.iter().map(|(v, _)| *v).fold(f64::INFINITY, f64::min);
    let max = values
        .iter()
        .map(|(v, _)| *v)
        .fold(f64::NEG_INFINITY, f64::max);
    let span = if max > min { max - min } else { 1.0 };
    let step = (WIDTH - 2.0 * PAD) / (values.len() - 1) as f64;
    let dots: Vec<Dot> = values
        .iter()
        .enumerate()
        .map(|(i, (v, label))| {
            let x = PAD + i as f64 * step;
            // With every value equal, draw the line across the middle.
            let y = if max > min {
                HEIGHT - PAD - (v - min) / span * (HEIGHT - 2.0 * PAD)
            } else {
                HEIGHT / 2.0
            };
            Dot {
                x: format!("{x:.1}"),
                y: format!("{y:.1}"),
                label: format!("{label}: {}", format(*v)),
            }
        })
        .collect();
    let points = dots
        .iter()
        .map(|d| format!("{},{}", d.x, d.y))
        .collect::<Vec<_>>()
        .join(" ");
    let last = values.last().map(|(v, _)| format(*v)).unwrap_or_default();
    Some(Chart {
        points,
        summary: format!(
            "{what} of the last {} runs, from {} to {}; the newest is {last}.",
            values.len(),
            format(min),
            format(max)
        ),
        min_label: format(min),
        max_label: format(max),
        dots,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_span_the_box_from_oldest_to_newest() {
        let values = vec![(10.0, "a".into()), (30.0, "b".into()), (20.0, "c".into())];
        let chart = line_chart("Size", &values, |v| format!("{v} B")).unwrap();
        assert_eq!(chart.points, "8.0,112.0 300.0,8.0 592.0,60.0");
        assert_eq!(chart.dots[1].label, "b: 30 B");
        assert_eq!(
            (chart.min_label.as_str(), chart.max_label.as_str()),
            ("10 B", "30 B")
        );
        assert!(chart.summary.contains("last 3 runs"));
    }

    #[test]
    fn flat_and_tiny_series() {
        assert!(line_chart("Size", &[(1.0, "a".into())], |v| v.to_string()).is_none());
        let flat = line_chart("Size", &[(5.0, "a".into()), (5.0, "b".into())], |v| {
            v.to_string()
        })
        .unwrap();
        assert_eq!(flat.points, "8.0,60.0 592.0,60.0");
    }
}
