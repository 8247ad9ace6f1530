//! Reading a code a person pasted: a full redirect URL, `code#state`, or a bare code.

use super::OAuthError;

/// The code, and the state when the paste carried one.
pub fn parse_pasted(input: &str) -> Result<(String, Option<String>), OAuthError> {
    let text = input.trim();
    if text.is_empty() {
        return Err(OAuthError::Invalid(
            "nothing was pasted; paste the code or the whole redirect URL".into(),
        ));
    }
    if text.starts_with("http://") || text.starts_with("https://") {
        let url = reqwest::Url::parse(text)
            .map_err(|e| OAuthError::Invalid(format!("the pasted URL is not valid: {e}")))?;
        let redirect = super::read_redirect(&url)?;
        // Some providers put the state after a `#` in the fragment.
        let state = redirect.state.or_else(|| url.fragment().map(String::from));
        let code = redirect
            .code
            .ok_or_else(|| OAuthError::Invalid("the pasted URL has no `code` parameter".into()))?;
        return Ok((code, state.filter(|s| !s.is_empty())));
    }
    if text.chars().any(char::is_whitespace) {
        return Err(OAuthError::Invalid(
            "the pasted code contains spaces; paste it exactly as shown".into(),
        ));
    }
    match text.split_once('#') {
        Some((code, state)) if !code.is_empty() => Ok((
            code.to_string(),
            Some(state.to_string()).filter(|s| !s.is_empty()),
        )),
        Some(_) => Err(OAuthError::Invalid(
            "the pasted text has no code before `#`".into(),
        )),
        None => Ok((text.to_string(), None)),
    }
}

/// The `iss` (RFC 9207) of a pasted redirect URL, when it has one.
pub fn pasted_issuer(input: &str) -> Option<String> {
    let url = reqwest::Url::parse(input.trim()).ok()?;
    url.query_pairs()
        .find(|(k, _)| k == "iss")
        .map(|(_, v)| v.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_code_hash_state_and_bare_codes_are_understood() {
        let url = "http://127.0.0.1:5555/callback?code=abc&state=s1&iss=http%3A%2F%2Fidp";
        assert_eq!(
            parse_pasted(url).expect("url"),
            ("abc".into(), Some("s1".into()))
        );
        assert_eq!(
            parse_pasted(" abc#s2 \n").expect("hash"),
            ("abc".into(), Some("s2".into()))
        );
        assert_eq!(parse_pasted("abc").expect("bare"), ("abc".into(), None));
        let denied = parse_pasted("https://x/cb?error=access_denied&error_description=nope")
            .expect_err("denied");
        assert!(denied.to_string().contains("access_denied: nope"));
        assert!(parse_pasted("  ").is_err());
        assert!(parse_pasted("https://x/cb?state=1")
            .expect_err("no code")
            .to_string()
            .contains("no `code`"));
    }
}
