//! `sortie store migrate | copy`: the PostgreSQL store's schema, and moving a data dir's
//! sled store into it. Both work here, never through the daemon.

use std::path::Path;
use std::process::ExitCode;

use clap::{Args, Subcommand};

use super::render::Style;
use crate::config::Config;
use crate::service::store_copy::{self, CopyReport, CopyRequest, Progress};
use crate::service::store_migrate::{self, Migrated};

/// What `sortie store --help` teaches after the commands.
pub const HELP: &str =
    "Moving a data dir's store to PostgreSQL (see README \"Moving a store to PostgreSQL\"):
  initdb -D ~/pg -U sortie -W && pg_ctl -D ~/pg -l ~/pg/log start   # or a server you run already
  createdb -U sortie sortie
  export SORTIE_DB_PASSWORD=...                       # the database password
  export SORTIE_STORE_KEY=$(openssl rand -base64 32)  # seals the credentials; every daemon needs it
  SORTIE_STORE_URL=postgres://sortie:$SORTIE_DB_PASSWORD@127.0.0.1:5432/sortie sortie store migrate
  sortie serve --stop                                 # the copy needs the sled store to itself
  sortie store copy --to postgres://sortie@127.0.0.1:5432/sortie \\
      --password-env SORTIE_DB_PASSWORD --key-env SORTIE_STORE_KEY
then in config.toml:
  [store]
  url = \"postgres://sortie@127.0.0.1:5432/sortie\"
  password_env = \"SORTIE_DB_PASSWORD\"
  key_env = \"SORTIE_STORE_KEY\"

The copy checks first (a mission already there under the same id must be this store's own earlier
copy) and counts both sides at the end (exit 1 when they differ). Run it again after an
interruption: it completes the copy and writes nothing twice.";

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Bring the configured PostgreSQL store's schema up to this sortie's (`[store] url` with
    /// `password_env`, or SORTIE_STORE_URL); prints the version before and after.
    #[command(
        after_help = "Examples:\n  SORTIE_STORE_URL=postgres://sortie:PW@db:5432/sortie sortie store migrate\n  sortie store migrate --json     # with [store] url in config.toml\n\nThe sled store has nothing to migrate (it upgrades itself). A schema from a newer sortie is refused."
    )]
    Migrate {
        /// Print {"backend", "store", "before", "after", "applied", "latest"} as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Copy this data dir's sled store (missions, events, schedules, credentials, pending
    /// logins, the models cache) into a PostgreSQL database, then count both sides.
    #[command(
        after_help = "Examples:\n  sortie store copy --to postgres://sortie@db:5432/sortie --password-env SORTIE_DB_PASSWORD --key-env SORTIE_STORE_KEY\n  sortie store copy --json        # into the configured store ([store] url, or SORTIE_STORE_URL)\n\nExit status: 0 copied and the counts agree, 1 the counts differ, 2 refused or failed."
    )]
    Copy(CopyArgs),
}

#[derive(Debug, Args)]
pub struct CopyArgs {
    /// The database to copy into: postgres://USER@HOST:PORT/DB (default: the configured
    /// store). Better without the password: see --password-env.
    #[arg(long, value_name = "URL")]
    to: Option<String>,
    /// The variable holding the database password (default: `[store] password_env`).
    #[arg(long, value_name = "VAR")]
    password_env: Option<String>,
    /// The variable holding the key (base64, 32 bytes) the credentials are sealed with in
    /// PostgreSQL; the daemons of the store need the same (default: `[store] key_env`).
    #[arg(long, value_name = "VAR")]
    key_env: Option<String>,
    /// Report progress on stderr every N missions.
    #[arg(long, value_name = "N", default_value_t = 100)]
    progress_every: u64,
    /// Print the counts as one JSON object.
    #[arg(long)]
    json: bool,
}

pub async fn run(home: &Path, cmd: StoreCommand) -> anyhow::Result<ExitCode> {
    let config = Config::load(home)?;
    match cmd {
        StoreCommand::Migrate { json } => {
            let migrated = store_migrate::migrate(home, &config).await?;
            print_migrated(&migrated, json)?;
            Ok(ExitCode::SUCCESS)
        }
        StoreCommand::Copy(args) => copy(home, &config, args).await,
    }
}

fn print_migrated(m: &Migrated, json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string_pretty(m)?);
        return Ok(());
    }
    match (m.before, m.after) {
        (Some(before), Some(after)) if m.applied > 0 => println!(
            "{}: schema {before} → {after} ({} migration{} applied)",
            m.store,
            m.applied,
            if m.applied == 1 { "" } else { "s" }
        ),
        (_, Some(after)) => println!("{}: schema {after}, up to date (nothing to apply)", m.store),
        _ => println!(
            "the store is the sled store at {}: nothing to migrate (it upgrades itself when opened).\nTo move it to PostgreSQL, see `sortie store --help`.",
            m.store
        ),
    }
    Ok(())
}

async fn copy(home: &Path, config: &Config, args: CopyArgs) -> anyhow::Result<ExitCode> {
    let request = CopyRequest {
        to: args.to,
        password_env: args.password_env,
        key_env: args.key_env,
    };
    let mut progress = |p: Progress| {
        eprintln!(
            "copied {} of {} missions ({} events) …",
            p.done, p.total, p.events
        );
    };
    let report =
        store_copy::copy(home, config, &request, args.progress_every, &mut progress).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print_report(&report);
    }
    if report.ok {
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!(
        "error: the counts differ after the copy: {}; run it again (it completes an interrupted copy), and if they still differ, look at the warnings above",
        report.mismatches.join("; ")
    );
    Ok(ExitCode::from(1))
}

fn print_report(r: &CopyReport) {
    let style = Style::detect();
    for w in &r.warnings {
        eprintln!("warning: {w}");
    }
    println!("copied {} → {}", r.from, r.to);
    println!("{:<16}{:>10}{:>12}", "", "sled", "postgres");
    for (name, c) in r.rows() {
        let line = format!("{name:<16}{:>10}{:>12}", c.sled, c.postgres);
        if c.sled == c.postgres {
            println!("{line}");
        } else {
            println!("{line}  {}", style.red("differs"));
        }
    }
    println!(
        "{}",
        style.dim(&format!(
            "{} missions copied, {} already there from an earlier copy",
            r.copied, r.already_there
        ))
    );
}
