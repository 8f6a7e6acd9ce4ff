//! Latency plots: percentile curves (x = nines: 0 is p0, 1 p90, 2 p99,
//! 3 p99.9, 4 p99.99) as SVG.

use std::path::Path;

use hdrhistogram::Histogram;
use plotters::prelude::*;

/// The deepest percentile plotted, in nines (p99.99).
const NINES: f64 = 4.0;
/// Points per curve.
const STEPS: u32 = 200;

/// The percentile curve of a histogram of microseconds, in milliseconds.
pub fn curve(histogram: &Histogram<u64>) -> Vec<(f64, f64)> {
    (0..=STEPS)
        .map(|i| {
            let nines = NINES * f64::from(i) / f64::from(STEPS);
            let quantile = 1.0 - 10f64.powf(-nines);
            let ms = histogram.value_at_quantile(quantile) as f64 / 1000.0;
            (nines, ms)
        })
        .collect()
}

/// `p99.9` for 3 nines.
fn percentile_label(nines: f64) -> String {
    let p = 100.0 * (1.0 - 10f64.powf(-nines));
    let text = format!("p{p:.2}");
    text.trim_end_matches('0').trim_end_matches('.').to_owned()
}

/// Draw one curve per `(label, histogram)` into an SVG at `path`.
pub fn write_svg(
    path: &Path,
    title: &str,
    series: &[(String, &Histogram<u64>)],
) -> anyhow::Result<()> {
    let curves: Vec<(String, Vec<(f64, f64)>)> = series
        .iter()
        .filter(|(_, h)| !h.is_empty())
        .map(|(label, h)| (label.clone(), curve(h)))
        .collect();
    let top = curves
        .iter()
        .flat_map(|(_, c)| c.iter().map(|(_, ms)| *ms))
        .fold(0.0_f64, f64::max)
        .max(0.1)
        * 1.1;
    let root = SVGBackend::new(path, (960, 540)).into_drawing_area();
    root.fill(&WHITE).map_err(plot_error)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..NINES, (0.01..top).log_scale())
        .map_err(plot_error)?;
    chart
        .configure_mesh()
        .x_desc("percentile")
        .y_desc("latency (ms, log scale)")
        .x_labels(5)
        .x_label_formatter(&|x| percentile_label(*x))
        .y_label_formatter(&|y| format!("{y}"))
        .draw()
        .map_err(plot_error)?;
    let colors = [BLUE, RED, GREEN, MAGENTA, CYAN, BLACK];
    for (i, (label, points)) in curves.into_iter().enumerate() {
        let color = colors[i % colors.len()];
        let points = points.into_iter().map(|(x, y)| (x, y.max(0.01)));
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(plot_error)?
            .label(label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .draw()
        .map_err(plot_error)?;
    root.present().map_err(plot_error)?;
    println!("wrote {}", path.display());
    Ok(())
}

fn plot_error<E: std::error::Error + Send + Sync + 'static>(e: E) -> anyhow::Error {
    anyhow::Error::new(e).context("drawing the plot")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_name_the_percentiles() {
        assert_eq!(percentile_label(0.0), "p0");
        assert_eq!(percentile_label(1.0), "p90");
        assert_eq!(percentile_label(2.0), "p99");
        assert_eq!(percentile_label(3.0), "p99.9");
    }

    #[test]
    fn writes_an_svg() {
        let mut h = Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).unwrap();
        for us in 100..2000 {
            h.record(us).unwrap();
        }
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("plot.svg");
        write_svg(&path, "test", &[("blytz".into(), &h)]).unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..50.min(svg.len())]);
    }
}
