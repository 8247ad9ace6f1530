//! The line `sortie run` shows at a terminal while nothing else moves: a spinner, what it
//! waits for (the model, or the tool that runs) and for how long. One per process (there is
//! one terminal); drawn only once [`enable`]d, which only a terminal's live view does.
//!
//! Lock order, everywhere: stdout first, then the spinner's state.

use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

const FRAMES: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
const EVERY: Duration = Duration::from_millis(100);

struct State {
    enabled: bool,
    /// What it waits for, and since when.
    waiting: Option<(String, Instant)>,
    /// True while its line is on the screen.
    drawn: bool,
    frame: usize,
    /// Questions being asked at the terminal: nothing is drawn meanwhile.
    holds: usize,
    color: bool,
}

static STATE: Mutex<State> = Mutex::new(State {
    enabled: false,
    waiting: None,
    drawn: false,
    frame: 0,
    holds: 0,
    color: false,
});

fn state() -> std::sync::MutexGuard<'static, State> {
    STATE.lock().unwrap_or_else(|p| p.into_inner())
}

/// Turns the spinner on for this process and starts its clock (once).
pub fn enable(color: bool) {
    let mut s = state();
    if s.enabled {
        return;
    }
    s.enabled = true;
    s.color = color;
    drop(s);
    std::thread::spawn(|| loop {
        std::thread::sleep(EVERY);
        let mut out = std::io::stdout().lock();
        draw(&mut state(), &mut out);
    });
}

/// Waits for `label` from now on (the clock keeps running while the label stays the same).
pub fn wait_for(label: &str) {
    let mut s = state();
    if s.waiting.as_ref().is_some_and(|(l, _)| l == label) {
        return;
    }
    s.waiting = Some((label.to_string(), Instant::now()));
}

/// Nothing to wait for any more.
pub fn stop() {
    state().waiting = None;
}

/// Erases the spinner's line, if it is drawn, so that `out` can print in its place.
pub fn clear(out: &mut impl Write) {
    let mut s = state();
    if s.drawn {
        let _ = write!(out, "\r\x1b[2K");
        s.drawn = false;
    }
}

/// Draws the spinner now (after other output), if it waits for something.
pub fn show(out: &mut impl Write) {
    draw(&mut state(), out);
}

fn draw(s: &mut State, out: &mut impl Write) {
    let Some((label, since)) = s.waiting.as_ref().filter(|_| s.enabled && s.holds == 0) else {
        return;
    };
    let clock = elapsed(since.elapsed());
    // One row, or `\r` would not take it all back: the label is cut to the terminal's width.
    let width = crossterm::terminal::size().map_or(80, |(w, _)| usize::from(w));
    let room = width.saturating_sub(clock.chars().count() + 6).max(1);
    let cut = label.chars().count() > room;
    let mut label: String = label.chars().take(room).collect();
    if cut {
        label.pop();
        label.push('…');
    }
    let line = format!("{} {label} · {clock}", FRAMES[s.frame % FRAMES.len()]);
    let line = if s.color {
        format!("\x1b[2m{line}\x1b[0m")
    } else {
        line
    };
    let _ = write!(out, "\r\x1b[2K{line}");
    let _ = out.flush();
    s.frame += 1;
    s.drawn = true;
}

/// `4s`, `1m 05s`.
pub fn elapsed(d: Duration) -> String {
    let secs = d.as_secs();
    if secs < 60 {
        format!("{secs}s")
    } else {
        format!("{}m {:02}s", secs / 60, secs % 60)
    }
}

/// Keeps the spinner off the screen while a question is asked at the terminal.
pub struct Hold(());

/// Erases the spinner and keeps it away until the returned [`Hold`] is dropped.
pub fn hold() -> Hold {
    let mut out = std::io::stdout().lock();
    clear(&mut out);
    let _ = out.flush();
    state().holds += 1;
    Hold(())
}

impl Drop for Hold {
    fn drop(&mut self) {
        let mut s = state();
        s.holds = s.holds.saturating_sub(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elapsed_time_reads_as_seconds_then_minutes() {
        assert_eq!(elapsed(Duration::from_millis(3_900)), "3s");
        assert_eq!(elapsed(Duration::from_secs(65)), "1m 05s");
    }
}
