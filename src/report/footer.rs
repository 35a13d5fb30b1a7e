//! The live view's "running" footer, cut to the terminal's width: a footer that wrapped
//! would take two lines, and the carriage return that erases it reaches back only one, so
//! every redraw would leave a stale line behind.

/// The footer for the steps running now, at most `columns - 1` characters wide (a line that
/// fills the last column makes some terminals wrap early), ending in `…` when cut.
pub(crate) fn footer(running: &[String], columns: usize) -> String {
    let full = format!("  … running: {}", running.join(", "));
    let room = columns.saturating_sub(1).max(1);
    if full.chars().count() <= room {
        return full;
    }
    let mut cut: String = full.chars().take(room - 1).collect();
    cut.push('…');
    cut
}

/// The width of the terminal on stdout now (asked at every redraw, so a resize is followed);
/// `COLUMNS`, then 80, when it cannot say.
pub(crate) fn terminal_columns() -> usize {
    rustix::termios::tcgetwinsize(std::io::stdout())
        .ok()
        .map(|size| usize::from(size.ws_col))
        .filter(|&columns| columns > 0)
        .or_else(|| std::env::var("COLUMNS").ok()?.parse().ok())
        .unwrap_or(80)
}

#[cfg(test)]
mod tests {
    use super::footer;

    #[test]
    fn a_footer_that_fits_is_whole_and_a_long_one_is_cut_to_the_width() {
        let steps = vec!["a".to_string(), "b".to_string()];
        assert_eq!(footer(&steps, 80), "  … running: a, b");
        let long = vec!["x".repeat(100)];
        let cut = footer(&long, 40);
        assert_eq!(cut.chars().count(), 39);
        assert!(cut.ends_with('…'));
    }
}
