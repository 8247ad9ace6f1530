//! The real Claude Code CLI (pinned in `tests/claude-code/package.json`, installed by
//! `scripts/test.sh`), and a scripted fake `claude` for what a real one will not do on
//! demand: crash, hang, print garbage.

use std::path::{Path, PathBuf};

/// The pinned `claude` executable. Panics with the command that installs it.
pub fn claude_bin() -> PathBuf {
    let bin = Path::new(env!("CARGO_MANIFEST_DIR")).join("claude-code/node_modules/.bin/claude");
    assert!(
        bin.exists(),
        "the Claude Code CLI is not installed at {}; run `npm ci --prefix tests/claude-code` (scripts/test.sh does)",
        bin.display()
    );
    bin
}

/// The environment every test run of the real CLI gets: no telemetry, no updates, no
/// traffic but the API calls, no retries of its own.
pub fn claude_env() -> Vec<(String, String)> {
    [
        ("DISABLE_TELEMETRY", "1"),
        ("DISABLE_AUTOUPDATER", "1"),
        ("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1"),
        ("DISABLE_ERROR_REPORTING", "1"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// A data dir whose default provider is `claude-code`: the pinned CLI against the mock API
/// at `root_url`, model `claude-mock`, with [`claude_env`], titles off.
pub fn write_claude_code_config(home: &Path, root_url: &str) {
    let env: Vec<String> = claude_env()
        .into_iter()
        .map(|(k, v)| format!("{k} = \"{v}\""))
        .collect();
    std::fs::write(
        home.join("config.toml"),
        format!(
            "default_provider = \"claude-code\"\n\n[providers.claude-code]\nkind = \"claude-code\"\nprogram = \"{}\"\nbase_url = \"{root_url}\"\nmodel = \"claude-mock\"\nenv = {{ {} }}\n\n[auxiliary]\ntitles = false\n",
            claude_bin().display(),
            env.join(", ")
        ),
    )
    .expect("config");
}

/// A fake `claude` in `dir`: run N does `cases[N-1]` (the last case repeats). Each run logs
/// its arguments to `calls.log` (one line per run), its stdin to `stdin-N.txt` and its pid
/// to `pid-N`. In a case, `$SID` is the session of `--session-id`/`--resume`, and these
/// shell functions print real stream-json lines: `init`, `say TEXT`, `ok` (a success
/// result), `api_error STATUS TEXT` (an API error the way 2.1.328 reports one).
pub fn fake_claude(dir: &Path, cases: &[&str]) -> PathBuf {
    let mut script = String::from(
        r#"#!/usr/bin/env bash
dir="$(cd "$(dirname "$0")" && pwd)"
n=$(( $(cat "$dir/count" 2>/dev/null || echo 0) + 1 ))
echo "$n" > "$dir/count"
args="$*"
printf '%s\n' "${args//$'\n'/ }" >> "$dir/calls.log"
echo $$ > "$dir/pid-$n"
SID=""
while [ $# -gt 0 ]; do
  case "$1" in
    --session-id|--resume) SID="$2"; shift ;;
  esac
  shift
done
cat > "$dir/stdin-$n.txt"
init() { printf '{"type":"system","subtype":"init","session_id":"%s","model":"fake"}\n' "$SID"; }
say() { printf '{"type":"assistant","message":{"role":"assistant","content":[{"type":"text","text":"%s"}]},"session_id":"%s"}\n' "$1" "$SID"; }
ok() { printf '{"type":"result","subtype":"success","is_error":false,"terminal_reason":"completed","session_id":"%s","total_cost_usd":0.001,"usage":{"input_tokens":10,"output_tokens":2}}\n' "$SID"; }
api_error() { printf '{"type":"assistant","message":{"role":"assistant","content":[{"type":"text","text":"API Error: %s %s"}]},"is_api_error_message":true,"error":"unknown","session_id":"%s"}\n{"type":"result","subtype":"success","is_error":true,"terminal_reason":"api_error","api_error_status":%s,"result":"API Error: %s %s","session_id":"%s"}\n' "$1" "$2" "$SID" "$1" "$1" "$2" "$SID"; exit 1; }
case "$n" in
"#,
    );
    for (i, case) in cases.iter().enumerate() {
        let label = if i + 1 == cases.len() {
            "*".to_string()
        } else {
            (i + 1).to_string()
        };
        script.push_str(&format!("{label})\n{case}\n;;\n"));
    }
    script.push_str("esac\n");
    let path = dir.join("claude");
    std::fs::write(&path, script).expect("write fake claude");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    path
}

/// What the fake was run with: one line of arguments per run.
pub fn fake_calls(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("calls.log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

/// The pid of run `n` of the fake.
pub fn fake_pid(dir: &Path, n: usize) -> Option<i32> {
    std::fs::read_to_string(dir.join(format!("pid-{n}")))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// True while a process with this pid exists (a zombie counts: it was not reaped).
pub fn process_exists(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}
