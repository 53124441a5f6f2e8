//! The timeline plot: files completed against virtual time, one line per strategy, and
//! the OS-bounded ideal (`ideal.rs`), as SVG (plotters).
//!
//! What it must never do: run a scenario; it draws what it is given.

use std::path::Path;

use plotters::prelude::*;

use super::Outcome;

/// Draws `outcomes` (one scenario, several strategies) to an SVG file at `path`.
pub fn write_svg(path: &Path, outcomes: &[Outcome]) -> Result<(), String> {
    let Some(first) = outcomes.first() else {
        return Err("nothing to plot".into());
    };
    let total = first.total;
    let x_max = outcomes
        .iter()
        .flat_map(|o| o.timeline.points.iter().map(|(s, _)| *s))
        .chain([first.ideal_secs].into_iter().filter(|s| s.is_finite()))
        .fold(1.0_f64, f64::max)
        * 1.05;
    let fail = |e: &dyn std::fmt::Display| format!("plotting {}: {e}", path.display());
    let root = SVGBackend::new(path, (900, 500)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("{}: files completed over virtual time", first.scenario),
            ("sans-serif", 20),
        )
        .margin(12)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .build_cartesian_2d(0.0..x_max, 0u64..(total + total / 20 + 1))
        .map_err(|e| fail(&e))?;
    chart
        .configure_mesh()
        .x_desc("virtual seconds")
        .y_desc("files completed (stored by the server)")
        .draw()
        .map_err(|e| fail(&e))?;
    let colours = [RED, BLUE, GREEN, MAGENTA];
    for (outcome, colour) in outcomes.iter().zip(colours) {
        let mut steps = Vec::new();
        let mut previous = 0;
        for (secs, count) in &outcome.timeline.points {
            steps.push((*secs, previous));
            steps.push((*secs, *count));
            previous = *count;
        }
        chart
            .draw_series(LineSeries::new(steps, colour.stroke_width(2)))
            .map_err(|e| fail(&e))?
            .label(format!(
                "{} (longest stall {:.0} s)",
                outcome.strategy.name(),
                outcome.longest_stall_secs
            ))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour));
    }
    // Files in proportion to bytes: the ideal moves bytes, and the plot counts files.
    let ideal = first
        .ideal_points
        .iter()
        .map(|(secs, fraction)| (secs.min(x_max), (fraction * total as f64).round() as u64));
    chart
        .draw_series(LineSeries::new(ideal, BLACK.stroke_width(1)))
        .map_err(|e| fail(&e))?
        .label(format!("OS-bounded ideal ({:.0} s)", first.ideal_secs))
        .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLACK));
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(SeriesLabelPosition::LowerRight)
        .draw()
        .map_err(|e| fail(&e))?;
    root.present().map_err(|e| fail(&e))?;
    Ok(())
}
