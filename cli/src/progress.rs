//! Progress bars (indicatif) on standard error, for anything that can take
//! seconds. Hidden with `--json` or `--quiet`, and by indicatif itself when
//! standard error is not a terminal.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};

use crate::ctx::Ctx;

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar())
}

/// A bar over `total` bytes.
pub(crate) fn bytes(ctx: &Ctx, total: u64, message: &str) -> ProgressBar {
    if !ctx.progress() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(total);
    pb.set_style(style("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} eta {eta}"));
    pb.set_message(message.to_string());
    pb
}

/// A counter of bytes when the total is not known.
pub(crate) fn bytes_unknown(ctx: &Ctx, message: &str) -> ProgressBar {
    if !ctx.progress() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::no_length();
    pb.set_style(
        ProgressStyle::with_template("{spinner} {msg} {bytes} {bytes_per_sec} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    pb.set_message(message.to_string());
    pb.enable_steady_tick(Duration::from_millis(120));
    pb
}

/// A bar over `total` items (records, iterations).
pub(crate) fn items(ctx: &Ctx, total: u64, message: &str) -> ProgressBar {
    if !ctx.progress() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(total);
    pb.set_style(style("{msg} [{bar:30}] {human_pos}/{human_len} {per_sec} eta {eta}"));
    pb.set_message(message.to_string());
    pb
}

/// A spinner for work whose length is unknown, with the elapsed time.
pub(crate) fn spinner(ctx: &Ctx, message: &str) -> ProgressBar {
    if !ctx.progress() {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new_spinner();
    pb.set_style(
        ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    pb.set_message(message.to_string());
    pb.enable_steady_tick(Duration::from_millis(120));
    pb
}
