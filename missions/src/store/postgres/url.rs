//! The store URL as messages show it: never with its password.

use tokio_postgres::config::Host;

/// `postgres://USER@HOST:PORT/DATABASE` of a parsed URL (or key=value string), without
/// the password or any other option.
pub fn shown_url(config: &tokio_postgres::Config) -> String {
    let user = config
        .get_user()
        .map(|u| format!("{u}@"))
        .unwrap_or_default();
    let ports = config.get_ports();
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let name = match host {
                Host::Tcp(name) if name.contains(':') => format!("[{name}]"),
                Host::Tcp(name) => name.clone(),
                Host::Unix(path) => path.display().to_string().replace('/', "%2F"),
            };
            match ports.get(i).or(ports.first()) {
                Some(port) => format!("{name}:{port}"),
                None => name,
            }
        })
        .collect();
    let db = config.get_dbname().unwrap_or_default();
    format!("postgres://{user}{}/{db}", hosts.join(","))
}

/// The text of an URL that could not be parsed, with what may be a password taken out:
/// the part between `:` and `@` of a URL's user info, and any `password=` value.
pub(super) fn scrub_unparsed(url: &str, error: &str) -> String {
    let mut shown = url.to_string();
    if let Some(scheme_end) = shown.find("://") {
        let rest = &shown[scheme_end + 3..];
        let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
        if let Some(at) = rest[..authority_end].rfind('@') {
            if let Some(colon) = rest[..at].find(':') {
                let start = scheme_end + 3 + colon;
                shown.replace_range(start..scheme_end + 3 + at, ":***");
            }
        }
    }
    let mut out = String::new();
    let mut text = shown.as_str();
    while let Some(i) = text.find("password=") {
        let value_start = i + "password=".len();
        out.push_str(&text[..value_start]);
        out.push_str("***");
        let rest = &text[value_start..];
        let value_end = rest.find(['&', ' ']).unwrap_or(rest.len());
        text = &rest[value_end..];
    }
    out.push_str(text);
    format!("`{out}`: {error}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shown_url_has_no_password() {
        for url in [
            "postgres://sortie:s3cret-pw@db.example:5433/missions",
            "postgresql://sortie:s3cret-pw@db.example:5433/missions?sslmode=disable",
            "host=db.example port=5433 user=sortie password=s3cret-pw dbname=missions",
        ] {
            let config: tokio_postgres::Config = url.parse().expect("parse");
            let shown = shown_url(&config);
            assert_eq!(shown, "postgres://sortie@db.example:5433/missions", "{url}");
        }
    }

    #[test]
    fn an_unparsable_url_is_shown_without_what_may_be_its_password() {
        let shown = scrub_unparsed("postgres://sortie:s3cret@host:notaport/db", "bad port");
        assert_eq!(shown, "`postgres://sortie:***@host:notaport/db`: bad port");
        let shown = scrub_unparsed("host=h password=s3cret port=x", "bad port");
        assert!(!shown.contains("s3cret"), "{shown}");
        let shown = scrub_unparsed("postgres://h/db?password=s3cret&port=x", "bad");
        assert!(!shown.contains("s3cret"), "{shown}");
    }
}
