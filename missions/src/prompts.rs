//! The prompt templates, embedded at build time from `prompts/` and overridable by a file
//! of the same name in `$SORTIE_HOME/prompts/`.

use std::path::Path;

const SYSTEM: &str = include_str!("../../prompts/system.md");
const TITLE: &str = include_str!("../../prompts/title.md");
const COMPRESS: &str = include_str!("../../prompts/compress.md");
const CLAUDE_CODE: &str = include_str!("../../prompts/claude-code.md");

/// A named template: `system`, `claude-code` (appended to Claude Code's own system prompt),
/// `title` or `compress`.
pub fn template(name: &str, home: Option<&Path>) -> String {
    if let Some(home) = home {
        let path = home.join("prompts").join(format!("{name}.md"));
        if let Ok(text) = std::fs::read_to_string(&path) {
            return text;
        }
    }
    match name {
        "title" => TITLE,
        "compress" => COMPRESS,
        "claude-code" => CLAUDE_CODE,
        _ => SYSTEM,
    }
    .to_string()
}

/// Fills `{{key}}` placeholders.
pub fn render(template: &str, vars: &[(&str, &str)]) -> String {
    let mut out = template.to_string();
    for (key, value) in vars {
        out = out.replace(&format!("{{{{{key}}}}}"), value);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_system_prompt_names_the_working_directory() {
        let text = render(&template("system", None), &[("cwd", "/work/x")]);
        assert!(text.contains("You work inside one directory: /work/x"));
        assert!(!text.contains("{{"));
    }

    #[test]
    fn a_file_in_the_home_overrides_the_embedded_template() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("prompts")).expect("mkdir");
        std::fs::write(dir.path().join("prompts/system.md"), "custom {{cwd}}").expect("write");
        assert_eq!(template("system", Some(dir.path())), "custom {{cwd}}");
    }
}
