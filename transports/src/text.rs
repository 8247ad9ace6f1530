//! Cutting text to a byte length without splitting a character: the one place every
//! bounded message, tail and preview of Sortie goes through.

/// The longest start of `text` of at most `max` bytes that ends on a character boundary.
pub fn head(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut cut = max;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    &text[..cut]
}

/// The longest end of `text` of at most `max` bytes that starts on a character boundary.
pub fn tail(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut cut = text.len() - max;
    while !text.is_char_boundary(cut) {
        cut += 1;
    }
    &text[cut..]
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn cuts_fall_before_or_after_a_character_never_inside() {
        let text = "aé€😀"; // 1 + 2 + 3 + 4 bytes
        assert_eq!(head(text, 2), "a");
        assert_eq!(head(text, 3), "aé");
        assert_eq!(head(text, 0), "");
        assert_eq!(head(text, 99), text);
        assert_eq!(tail(text, 5), "😀");
        assert_eq!(tail(text, 7), "€😀");
        assert_eq!(tail(text, 0), "");
        assert_eq!(tail(text, 99), text);
    }

    proptest! {
        #[test]
        fn a_cut_is_the_longest_that_fits(text in "\\PC{0,40}", max in 0usize..200) {
            let h = head(&text, max);
            prop_assert!(h.len() <= max && text.starts_with(h));
            // One more character would not fit.
            if let Some(c) = text[h.len()..].chars().next() {
                prop_assert!(h.len() + c.len_utf8() > max);
            }
            let t = tail(&text, max);
            prop_assert!(t.len() <= max && text.ends_with(t));
            if let Some(c) = text[..text.len() - t.len()].chars().next_back() {
                prop_assert!(t.len() + c.len_utf8() > max);
            }
        }
    }
}
