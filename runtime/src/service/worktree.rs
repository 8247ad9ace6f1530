//! Missions that work in a git worktree of their own (`--worktree`): made from the
//! repository's HEAD on branch `sortie/<short id>` under the data dir, so the user's
//! checkout is never touched; what a mission changed (`sortie diff`); removing it (`sortie
//! worktree rm`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{bail, Context};
use sortie_missions::{
    Mission, MissionEvent, MissionId, MissionSpec, MissionStatus, MissionStore, MissionWorktree,
};

use crate::config::Config;

/// A worktree made for a mission, and what the person should know about where it started
/// (a dirty or detached checkout).
pub struct Made {
    pub worktree: MissionWorktree,
    /// The mission's working directory: the same place in the worktree as `--cwd` in the
    /// checkout.
    pub cwd: PathBuf,
    pub notes: Vec<String>,
}

/// `git` with the environment that could point it elsewhere removed.
fn git(dir: &Path) -> Command {
    let mut cmd = Command::new("git");
    cmd.arg("-C").arg(dir);
    for var in [
        "GIT_DIR",
        "GIT_WORK_TREE",
        "GIT_INDEX_FILE",
        "GIT_COMMON_DIR",
    ] {
        cmd.env_remove(var);
    }
    cmd
}

/// Runs `cmd` for its exit status only: nothing it prints reaches Sortie's own stdout or
/// stderr (a `sortie run --json` prints JSON lines only).
fn quiet_status(mut cmd: Command) -> std::io::Result<std::process::ExitStatus> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
}

/// Runs `cmd` and returns its trimmed stdout, or an error with `what` and git's stderr.
fn output(mut cmd: Command, what: &str) -> anyhow::Result<String> {
    let out = cmd
        .output()
        .with_context(|| format!("cannot run git to {what} (is git installed?)"))?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        bail!(
            "git could not {what}: {}",
            sortie_transports::text::head(err.trim(), 2000)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim_end().to_string())
}

/// The branch for mission `id`: `sortie/<first 8 of the id>`, or the whole id when that
/// branch exists already (missions made in the same minute share their first 8).
fn branch_for(repo: &Path, id: &MissionId) -> String {
    let full = id.to_string();
    let short = format!("sortie/{}", &full[..8]);
    let mut probe = git(repo);
    probe.args([
        "show-ref",
        "--verify",
        "--quiet",
        &format!("refs/heads/{short}"),
    ]);
    match quiet_status(probe) {
        Ok(s) if s.success() => format!("sortie/{full}"),
        _ => short,
    }
}

/// Stores a new mission that works in a worktree of the repository holding `spec.cwd`:
/// the worktree is made (under the data dir beside `config.toml`), the mission's working
/// directory moved into it, and the worktree and its notes recorded.
pub async fn create_mission(
    store: &dyn MissionStore,
    config: &Config,
    mut spec: MissionSpec,
) -> anyhow::Result<Mission> {
    let home = config
        .path
        .parent()
        .context("the config file has no directory")?;
    let id = MissionId::new();
    let made = create(home, &spec.cwd, &id)?;
    spec.cwd = made.cwd.clone();
    let stored = async {
        let m = store.create_mission_with_id(id, spec).await?;
        let worktree = made.worktree.clone();
        store
            .append(&m.id, MissionEvent::Worktree { worktree })
            .await?;
        for message in &made.notes {
            let message = message.clone();
            store
                .append(&m.id, MissionEvent::Warning { message })
                .await?;
        }
        store.mission(&m.id).await
    }
    .await;
    match stored {
        Ok(m) => Ok(m),
        Err(e) => {
            // Nothing refers to the worktree: it goes (its branch is new and empty).
            let mut rm = git(&made.worktree.repo);
            rm.args(["worktree", "remove", "--force"])
                .arg(&made.worktree.path);
            let _ = quiet_status(rm);
            Err(e.into())
        }
    }
}

/// The top of the repository holding `cwd`, or a clear error when it is in none.
pub fn check_repo(cwd: &Path) -> anyhow::Result<PathBuf> {
    let mut top = git(cwd);
    top.args(["rev-parse", "--show-toplevel"]);
    let repo = match top.output() {
        Ok(out) if out.status.success() => {
            PathBuf::from(String::from_utf8_lossy(&out.stdout).trim_end())
        }
        Ok(_) => bail!(
            "--worktree needs a git repository: {} is not in one (run `git init` and commit there, or leave out --worktree)",
            cwd.display()
        ),
        Err(e) => bail!("--worktree needs git, which did not run: {e}"),
    };
    Ok(repo.canonicalize().unwrap_or(repo))
}

/// Makes mission `id`'s worktree of the repository holding `cwd`, under `home/worktrees`.
pub fn create(home: &Path, cwd: &Path, id: &MissionId) -> anyhow::Result<Made> {
    let repo = check_repo(cwd)?;
    let mut head = git(&repo);
    head.args(["rev-parse", "--verify", "--quiet", "HEAD^{commit}"]);
    let base = output(head, "read HEAD").map_err(|_| {
        anyhow::anyhow!(
            "--worktree needs a commit to start from: the repository at {} has none yet (commit first)",
            repo.display()
        )
    })?;
    let short_base = &base[..base.len().min(12)];
    let mut notes = Vec::new();
    let mut symbolic = git(&repo);
    symbolic.args(["symbolic-ref", "--quiet", "HEAD"]);
    if !quiet_status(symbolic).is_ok_and(|s| s.success()) {
        notes.push(format!(
            "worktree: the checkout at {} is on a detached HEAD; the mission works from that commit ({short_base})",
            repo.display()
        ));
    }
    let mut status = git(&repo);
    status.args(["status", "--porcelain", "--untracked-files=normal"]);
    if !output(status, "read the checkout's status")?.is_empty() {
        notes.push(format!(
            "worktree: the checkout at {} has uncommitted changes; the mission works from HEAD ({short_base}) without them",
            repo.display()
        ));
    }
    let root = home.join("worktrees");
    sortie_sandbox::create_private_dir(&root)
        .with_context(|| format!("cannot create {}", root.display()))?;
    let path = root.join(id.to_string());
    let branch = branch_for(&repo, id);
    let mut add = git(&repo);
    add.args(["worktree", "add", "--quiet", "-b", &branch])
        .arg(&path)
        .arg(&base);
    output(add, &format!("add a worktree at {}", path.display()))?;
    owner_only(&path);
    let path = path.canonicalize().unwrap_or(path);
    let inside = cwd.strip_prefix(&repo).unwrap_or(Path::new(""));
    let mission_cwd = if inside.as_os_str().is_empty() {
        path.clone()
    } else {
        path.join(inside)
    };
    if !mission_cwd.is_dir() {
        notes.push(format!(
            "worktree: {} is not in the commit ({short_base}); the mission works at the worktree's top",
            inside.display()
        ));
    }
    let cwd = if mission_cwd.is_dir() {
        mission_cwd
    } else {
        path.clone()
    };
    Ok(Made {
        worktree: MissionWorktree {
            path,
            repo,
            branch,
            base,
        },
        cwd,
        notes,
    })
}

#[cfg(unix)]
fn owner_only(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Err(e) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700)) {
        tracing::warn!("cannot make {} owner-only: {e}", path.display());
    }
}

#[cfg(not(unix))]
fn owner_only(_: &Path) {}

/// The worktree of `mission`, or a clear error when it has none.
pub fn of(mission: &Mission) -> anyhow::Result<&MissionWorktree> {
    mission.worktree.as_ref().with_context(|| {
        format!(
            "mission {} has no worktree (it ran in {}; start one with --worktree)",
            mission.id,
            mission.cwd.display()
        )
    })
}

/// What the mission changed against the commit it started from: its commits and what is
/// not committed (new files included), as a unified diff (`stat`: a summary).
pub fn diff(home: &Path, mission: &Mission, stat: bool) -> anyhow::Result<String> {
    let wt = of(mission)?;
    if !wt.path.is_dir() {
        bail!(
            "the worktree of mission {} was removed ({}); its branch {} may still be there: git -C {} diff {}..{}",
            mission.id,
            wt.path.display(),
            wt.branch,
            wt.repo.display(),
            &wt.base[..wt.base.len().min(12)],
            wt.branch
        );
    }
    // A throwaway index of everything in the worktree: untracked files show as added, and
    // neither the worktree's own index nor the user's checkout is touched.
    let tmp = home.join("tmp");
    sortie_sandbox::create_private_dir(&tmp)?;
    let index = tempfile_path(&tmp, &mission.id);
    let result = (|| {
        let mut add = git(&wt.path);
        add.env("GIT_INDEX_FILE", &index)
            .args(["add", "--all", "."]);
        output(add, "read the worktree")?;
        let mut d = git(&wt.path);
        d.env("GIT_INDEX_FILE", &index)
            .args(["diff", "--cached", "--no-color", "--no-ext-diff"]);
        if stat {
            d.arg("--stat");
        }
        d.arg(&wt.base);
        output(d, "diff the worktree")
    })();
    let _ = std::fs::remove_file(&index);
    result
}

fn tempfile_path(dir: &Path, id: &MissionId) -> PathBuf {
    dir.join(format!("diff-index-{id}-{}", uuid::Uuid::now_v7().simple()))
}

/// Removes the mission's worktree (what is not committed in it is lost), and its branch
/// when `branch`. Refused while the mission is queued or running (`active`). Returns what
/// was done, one line each.
pub fn remove(mission: &Mission, active: bool, branch: bool) -> anyhow::Result<Vec<String>> {
    let wt = of(mission)?;
    if active
        || matches!(
            mission.status,
            MissionStatus::Running | MissionStatus::Queued
        )
    {
        bail!(
            "mission {} is {}; its worktree stays while it runs (wait for it to end, or cancel it first)",
            mission.id,
            if active { "queued or running".to_string() } else { mission.status.to_string() }
        );
    }
    let mut done = Vec::new();
    if wt.path.exists() {
        let mut rm = git(&wt.repo);
        rm.args(["worktree", "remove", "--force"]).arg(&wt.path);
        output(rm, &format!("remove the worktree {}", wt.path.display()))?;
        done.push(format!("removed the worktree {}", wt.path.display()));
    } else {
        let mut prune = git(&wt.repo);
        prune.args(["worktree", "prune"]);
        output(prune, "prune the repository's worktrees")?;
        done.push(format!(
            "the worktree {} was already gone",
            wt.path.display()
        ));
    }
    if branch {
        let mut del = git(&wt.repo);
        del.args(["branch", "-D", &wt.branch]);
        output(del, &format!("delete the branch {}", wt.branch))?;
        done.push(format!("deleted the branch {}", wt.branch));
    } else {
        done.push(format!(
            "kept the branch {} in {} (--branch deletes it too)",
            wt.branch,
            wt.repo.display()
        ));
    }
    Ok(done)
}
