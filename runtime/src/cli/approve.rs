//! The `ask` permission policy on a terminal: y/n on stderr and stdin.

use std::future::Future;
use std::io::{BufRead, IsTerminal, Write};
use std::pin::Pin;

use sortie_missions::Approver;

/// Asks on the terminal; with no terminal on stdin, denies without asking.
pub struct TtyApprover;

impl Approver for TtyApprover {
    fn approve<'a>(&'a self, summary: &'a str) -> Pin<Box<dyn Future<Output = bool> + Send + 'a>> {
        Box::pin(async move {
            if !std::io::stdin().is_terminal() {
                return false;
            }
            let question = format!("\n  allow {summary}? [y/N] ");
            tokio::task::spawn_blocking(move || {
                let _quiet = super::spinner::hold();
                let mut err = std::io::stderr().lock();
                let _ = write!(err, "{question}");
                let _ = err.flush();
                let mut answer = String::new();
                if std::io::stdin().lock().read_line(&mut answer).is_err() {
                    return false;
                }
                matches!(answer.trim().to_lowercase().as_str(), "y" | "yes")
            })
            .await
            .unwrap_or(false)
        })
    }
}
