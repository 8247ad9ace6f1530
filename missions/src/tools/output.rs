//! What a running command writes, held in bounded memory: the head and the tail of each
//! stream, with the bytes in between counted; and the same bytes passed on live, at a
//! bounded rate, to whoever follows the mission.

use std::collections::VecDeque;

use super::MAX_OUTPUT;

/// Bytes kept from the start, and from the end, of one stream.
const KEEP: usize = MAX_OUTPUT / 2;
/// Live output passed on per stream between two flushes; the rest is counted and said.
pub(super) const LIVE_PER_FLUSH: usize = 16 * 1024;

/// Receives live tool output: the stream (`stdout` or `stderr`) and a piece of its text.
pub type LiveOutput<'a> = dyn Fn(&str, &str) + Send + Sync + 'a;

/// The two streams of a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    pub(super) fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// One stream, in at most `2 * KEEP` bytes however much it writes.
#[derive(Debug, Default)]
pub(super) struct Bounded {
    head: Vec<u8>,
    tail: VecDeque<u8>,
    seen: u64,
}

impl Bounded {
    pub(super) fn push(&mut self, mut bytes: &[u8]) {
        self.seen += bytes.len() as u64;
        if self.head.len() < KEEP {
            let take = bytes.len().min(KEEP - self.head.len());
            self.head.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
        }
        if bytes.len() >= KEEP {
            self.tail.clear();
            self.tail.extend(&bytes[bytes.len() - KEEP..]);
            return;
        }
        let over = (self.tail.len() + bytes.len()).saturating_sub(KEEP);
        self.tail.drain(..over);
        self.tail.extend(bytes);
    }

    pub(super) fn is_empty(&self) -> bool {
        self.seen == 0
    }

    /// Bytes the stream would take whole (at most what is kept).
    fn size(&self) -> usize {
        self.head.len() + self.tail.len()
    }

    /// The stream as text in about `budget` bytes: whole when it fits, else its head and
    /// its tail with the number of bytes left out between them.
    pub(super) fn render(&self, budget: usize) -> String {
        let tail: Vec<u8> = self.tail.iter().copied().collect();
        let dropped = self.seen - self.size() as u64;
        if dropped == 0 && self.size() <= budget {
            let mut all = self.head.clone();
            all.extend_from_slice(&tail);
            return String::from_utf8_lossy(&all).into_owned();
        }
        let half = budget / 2;
        let mut head_end = self.head.len().min(half);
        // Cut on character boundaries: never inside a UTF-8 sequence.
        while head_end > 0 && head_end < self.head.len() && is_continuation(self.head[head_end]) {
            head_end -= 1;
        }
        let mut tail_start = tail.len() - tail.len().min(half);
        while tail_start < tail.len() && is_continuation(tail[tail_start]) {
            tail_start += 1;
        }
        let omitted = self.seen - (head_end + tail.len() - tail_start) as u64;
        format!(
            "{}\n[... output truncated: {omitted} bytes omitted ...]\n{}",
            String::from_utf8_lossy(&self.head[..head_end]),
            String::from_utf8_lossy(&tail[tail_start..])
        )
    }
}

fn is_continuation(b: u8) -> bool {
    b & 0xC0 == 0x80
}

/// The budget of each stream in a result of about `total` bytes: a small stream whole,
/// the other the rest; two large ones half each.
pub(super) fn budgets(out: &Bounded, err: &Bounded, total: usize) -> (usize, usize) {
    let half = total / 2;
    match (out.size(), err.size()) {
        (o, e) if o + e <= total => (o, e),
        (o, _) if o <= half => (o, total - o),
        (_, e) if e <= half => (total - e, e),
        _ => (half, half),
    }
}

/// Passes output on live: what came since the last flush, at most [`LIVE_PER_FLUSH`]
/// bytes of it per stream (the rest counted and said), cut on character boundaries.
pub(super) struct LiveTap<'a> {
    sink: &'a LiveOutput<'a>,
    pending: [Vec<u8>; 2],
    skipped: [u64; 2],
}

impl<'a> LiveTap<'a> {
    pub(super) fn new(sink: &'a LiveOutput<'a>) -> Self {
        Self {
            sink,
            pending: [Vec::new(), Vec::new()],
            skipped: [0, 0],
        }
    }

    pub(super) fn push(&mut self, stream: Stream, bytes: &[u8]) {
        let i = stream as usize;
        let room = LIVE_PER_FLUSH.saturating_sub(self.pending[i].len());
        let take = bytes.len().min(room);
        self.pending[i].extend_from_slice(&bytes[..take]);
        self.skipped[i] += (bytes.len() - take) as u64;
    }

    /// Sends what is pending; an incomplete character at the end waits for the next flush
    /// (or, with `last`, is sent as it is).
    pub(super) fn flush(&mut self, last: bool) {
        for stream in [Stream::Stdout, Stream::Stderr] {
            let i = stream as usize;
            let pending = &mut self.pending[i];
            let keep = match std::str::from_utf8(pending) {
                Err(e) if e.error_len().is_none() && !last && self.skipped[i] == 0 => {
                    pending.len() - e.valid_up_to()
                }
                _ => 0,
            };
            let rest = pending.split_off(pending.len() - keep);
            let mut text = String::from_utf8_lossy(pending).into_owned();
            *pending = rest;
            if self.skipped[i] > 0 {
                if !text.ends_with('\n') {
                    text.push('\n');
                }
                text.push_str(&format!(
                    "[... {} bytes not shown live ...]\n",
                    self.skipped[i]
                ));
                self.skipped[i] = 0;
            }
            if !text.is_empty() {
                (self.sink)(stream.name(), &text);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn a_stream_keeps_its_head_and_tail_and_counts_the_middle() {
        let mut b = Bounded::default();
        b.push(b"START");
        for _ in 0..10_000 {
            b.push(&[b'x'; 1000]);
        }
        b.push(b"END");
        assert!(b.size() <= 2 * KEEP);
        let text = b.render(1000);
        assert!(text.starts_with("STARTxxx"), "{}", &text[..20]);
        assert!(text.ends_with("xxxEND"));
        assert!(
            text.contains("[... output truncated: 9999008 bytes omitted ...]"),
            "{text}"
        );
        let mut small = Bounded::default();
        small.push("héllo\n".as_bytes());
        assert_eq!(small.render(1000), "héllo\n");
    }

    #[test]
    fn a_small_stream_goes_whole_and_the_other_takes_the_rest() {
        let (mut out, mut err) = (Bounded::default(), Bounded::default());
        out.push(&[b'a'; 20_000]);
        err.push(b"oops\n");
        assert_eq!(budgets(&out, &err, 10_000), (9_995, 5));
        err.push(&[b'b'; 20_000]);
        assert_eq!(budgets(&out, &err, 10_000), (5_000, 5_000));
    }

    #[test]
    fn live_output_is_bounded_per_flush_and_never_splits_a_character() {
        let seen = Mutex::new(Vec::new());
        let sink =
            |stream: &str, text: &str| seen.lock().expect("lock").push(format!("{stream}:{text}"));
        let mut tap = LiveTap::new(&sink);
        let e_acute = "é".as_bytes();
        tap.push(Stream::Stdout, &[b'a', e_acute[0]]);
        tap.flush(false);
        tap.push(Stream::Stdout, &e_acute[1..]);
        tap.push(Stream::Stderr, &vec![b'z'; LIVE_PER_FLUSH + 10]);
        tap.flush(false);
        let seen = seen.into_inner().expect("lock");
        assert_eq!(seen[0], "stdout:a");
        assert_eq!(seen[1], "stdout:é");
        assert!(
            seen[2].ends_with("z\n[... 10 bytes not shown live ...]\n"),
            "{}",
            &seen[2][seen[2].len() - 60..]
        );
    }
}
