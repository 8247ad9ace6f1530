//! A Server-Sent Events decoder for the transports that read SSE themselves.
//!
//! It frames on bytes and decodes each whole event as UTF-8, so a character split across
//! network chunks is never cut. Lines may end in `\n`, `\r\n` or `\r`.

/// One SSE event: its `event:` name (empty when absent) and its joined `data:` lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    pub event: String,
    pub data: String,
}

/// Why a stream could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SseError {
    #[error("a stream event is larger than {limit} bytes")]
    TooLarge { limit: usize },
    #[error("a stream event is not valid UTF-8")]
    NotUtf8,
}

/// Incremental decoder: feed chunks, take whole events.
#[derive(Debug)]
pub struct SseDecoder {
    buffer: Vec<u8>,
    /// Where scanning for the next line ending resumes.
    scanned: usize,
    event: Vec<u8>,
    data: Vec<u8>,
    has_data: bool,
    after_cr: bool,
    limit: usize,
}

/// The largest event accepted by default: very large deltas pass, a runaway stream does not.
pub const DEFAULT_EVENT_LIMIT: usize = 32 * 1024 * 1024;

impl Default for SseDecoder {
    fn default() -> Self {
        Self::with_limit(DEFAULT_EVENT_LIMIT)
    }
}

impl SseDecoder {
    pub fn with_limit(limit: usize) -> Self {
        Self {
            buffer: Vec::new(),
            scanned: 0,
            event: Vec::new(),
            data: Vec::new(),
            has_data: false,
            after_cr: false,
            limit,
        }
    }

    /// Adds a chunk and appends every event it completes to `out`.
    pub fn feed(&mut self, chunk: &[u8], out: &mut Vec<SseEvent>) -> Result<(), SseError> {
        self.buffer.extend_from_slice(chunk);
        let mut start = 0;
        let mut i = self.scanned;
        while i < self.buffer.len() {
            let b = self.buffer[i];
            // The `\n` of a `\r\n` pair, when the `\r` already ended the line.
            if self.after_cr && b == b'\n' && i == start {
                self.after_cr = false;
                start = i + 1;
                i += 1;
                continue;
            }
            self.after_cr = false;
            if b == b'\n' || b == b'\r' {
                let line = self.buffer[start..i].to_vec();
                self.line(&line, out)?;
                self.after_cr = b == b'\r';
                start = i + 1;
            }
            i += 1;
        }
        self.buffer.drain(..start);
        self.scanned = i - start;
        if self.buffer.len() + self.data.len() > self.limit {
            return Err(SseError::TooLarge { limit: self.limit });
        }
        Ok(())
    }

    /// Ends the stream: an event without its closing blank line is dropped, as the SSE
    /// specification says. Returns true when such a partial event was pending.
    pub fn finish(&mut self) -> bool {
        let pending = self.has_data || !self.buffer.is_empty();
        self.buffer.clear();
        self.scanned = 0;
        self.after_cr = false;
        self.reset();
        pending
    }

    fn reset(&mut self) {
        self.event.clear();
        self.data.clear();
        self.has_data = false;
    }

    fn line(&mut self, line: &[u8], out: &mut Vec<SseEvent>) -> Result<(), SseError> {
        if line.is_empty() {
            if self.has_data {
                let data = String::from_utf8(std::mem::take(&mut self.data))
                    .map_err(|_| SseError::NotUtf8)?;
                let event = String::from_utf8(std::mem::take(&mut self.event))
                    .map_err(|_| SseError::NotUtf8)?;
                out.push(SseEvent { event, data });
            }
            self.reset();
            return Ok(());
        }
        if line[0] == b':' {
            return Ok(()); // a comment, used as a keep-alive
        }
        let (field, value) = match line.iter().position(|b| *b == b':') {
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &[][..]),
        };
        match field {
            b"data" => {
                if self.has_data {
                    self.data.push(b'\n');
                }
                self.data.extend_from_slice(value);
                self.has_data = true;
                if self.data.len() > self.limit {
                    return Err(SseError::TooLarge { limit: self.limit });
                }
            }
            b"event" => {
                self.event.clear();
                self.event.extend_from_slice(value);
            }
            _ => {} // id, retry and unknown fields do not matter here
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_in_pieces(input: &[u8], piece: usize) -> Vec<SseEvent> {
        let mut d = SseDecoder::default();
        let mut out = Vec::new();
        for chunk in input.chunks(piece) {
            d.feed(chunk, &mut out).expect("decodes");
        }
        out
    }

    #[test]
    fn events_survive_any_chunking_and_line_ending() {
        let input = "event: a\ndata: {\"x\":\"héllo 🚀\"}\n\n: keep-alive\n\nevent: b\r\ndata: 1\r\ndata: 2\r\n\r\ndata: last\r\r".as_bytes();
        let want = vec![
            SseEvent {
                event: "a".into(),
                data: "{\"x\":\"héllo 🚀\"}".into(),
            },
            SseEvent {
                event: "b".into(),
                data: "1\n2".into(),
            },
            SseEvent {
                event: "".into(),
                data: "last".into(),
            },
        ];
        for piece in [1, 2, 3, 5, 7, 64, input.len()] {
            assert_eq!(decode_in_pieces(input, piece), want, "piece size {piece}");
        }
    }

    #[test]
    fn an_event_over_the_limit_is_refused() {
        let mut d = SseDecoder::with_limit(16);
        let mut out = Vec::new();
        let err = d
            .feed(b"data: 0123456789abcdefghij\n\n", &mut out)
            .expect_err("too large");
        assert_eq!(err, SseError::TooLarge { limit: 16 });
    }

    #[test]
    fn a_partial_event_at_the_end_is_reported() {
        let mut d = SseDecoder::default();
        let mut out = Vec::new();
        d.feed(b"data: {\"half\":", &mut out).expect("feed");
        assert!(out.is_empty());
        assert!(d.finish());
    }
}
