//! A config file holds keys; its errors must not show them. A TOML parse error names the
//! line and column and says what is wrong, without the excerpt of the line the parser
//! prints, and anything shaped like a key is masked.

/// `line L, column C: <what is wrong>`, from a TOML parse error of `text`.
pub fn parse_error(e: &toml::de::Error, text: &str) -> String {
    let message = sortie_transports::classify::redact(e.message().trim());
    match e.span() {
        Some(span) => {
            let before = &text[..span.start.min(text.len())];
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |i| i + 1) + 1;
            format!("line {line}, column {column}: {message} (the line is not shown: it may hold a key)")
        }
        None => message,
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_parse_error_names_the_place_but_not_the_line() {
        let text = "model = \"m\"\napi_key = \"zz-plain-key-998877\" oops\n";
        let e = toml::from_str::<toml::Value>(text).expect_err("bad toml");
        let message = super::parse_error(&e, text);
        assert!(message.starts_with("line 2, column"), "{message}");
        assert!(!message.contains("zz-plain-key-998877"), "{message}");
    }
}
