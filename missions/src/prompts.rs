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
    read(home.map(|h| h.join("prompts")).as_deref(), name)
}

/// A template from `dir` if it holds one, else the embedded one.
fn read(dir: Option<&Path>, name: &str) -> String {
    dir.and_then(|d| std::fs::read_to_string(d.join(format!("{name}.md"))).ok())
        .unwrap_or_else(|| {
            match name {
                "title" => TITLE,
                "compress" => COMPRESS,
                "claude-code" => CLAUDE_CODE,
                _ => SYSTEM,
            }
            .to_string()
        })
}

/// All four templates, with the home's overrides: what a mission needs, with one look at
/// `$SORTIE_HOME/prompts/` when there is none (most homes) rather than one per template.
#[derive(Debug, Clone)]
pub struct Templates {
    pub system: String,
    pub claude_code: String,
    pub title: String,
    pub compress: String,
}

impl Templates {
    pub fn load(home: Option<&Path>) -> Self {
        let dir = home.map(|h| h.join("prompts")).filter(|dir| dir.is_dir());
        let dir = dir.as_deref();
        Self {
            system: read(dir, "system"),
            claude_code: read(dir, "claude-code"),
            title: read(dir, "title"),
            compress: read(dir, "compress"),
        }
    }
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
    fn the_system_prompt_names_the_working_directory_and_the_sandbox() {
        let vars = [("cwd", "/work/x"), ("sandbox", "Sandbox: read-only.")];
        for name in ["system", "claude-code"] {
            let text = render(&template(name, None), &vars);
            assert!(text.contains("/work/x"), "{name}");
            assert!(text.contains("Sandbox: read-only."), "{name}");
            assert!(!text.contains("{{"), "{name}");
        }
        let text = render(&template("system", None), &vars);
        assert!(text.contains("You work inside one directory: /work/x"));
    }

    #[test]
    fn a_file_in_the_home_overrides_the_embedded_template() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("prompts")).expect("mkdir");
        std::fs::write(dir.path().join("prompts/system.md"), "custom {{cwd}}").expect("write");
        assert_eq!(template("system", Some(dir.path())), "custom {{cwd}}");
        let all = Templates::load(Some(dir.path()));
        assert_eq!(all.system, "custom {{cwd}}");
        assert_eq!(all.title, TITLE, "the others stay embedded");
        let none = Templates::load(Some(&dir.path().join("no such home")));
        assert_eq!(
            (none.system.as_str(), none.compress.as_str()),
            (SYSTEM, COMPRESS)
        );
    }
}
