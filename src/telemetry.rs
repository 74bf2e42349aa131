//! Logging: structured `tracing` output to stderr, filtered by `RUST_LOG`.

use std::io::IsTerminal as _;

use tracing_subscriber::EnvFilter;

/// Installs the global subscriber once; later calls do nothing (tests call it repeatedly).
/// Colours only on a terminal: redirected to a file or a pipe (or with `NO_COLOR` set), the
/// text is plain.
pub fn init(json: bool) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,tower_http=info"));
    let ansi = use_colour(
        std::io::stderr().is_terminal(),
        std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
    );
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    let _ = if json {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}

/// Colour codes only for a person watching a terminal who did not ask for none.
fn use_colour(terminal: bool, no_color: bool) -> bool {
    terminal && !no_color
}

#[cfg(test)]
mod tests {
    #[test]
    fn colour_only_on_a_terminal() {
        assert!(super::use_colour(true, false));
        assert!(!super::use_colour(false, false));
        assert!(!super::use_colour(true, true));
    }
}
