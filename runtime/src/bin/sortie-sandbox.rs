//! The sandbox launcher on its own: what `sortie __sandbox` does, in a binary small enough
//! to start in a fraction of the time (Sortie starts one per tool call). The `sortie`
//! binary uses it when it stands beside it, and runs the launcher itself otherwise.

fn main() -> std::process::ExitCode {
    let mut args = std::env::args_os();
    if args.nth(1).as_deref() != Some(std::ffi::OsStr::new(sortie_sandbox::LAUNCHER_ARG)) {
        eprintln!("sortie-sandbox is started by sortie for each process a mission runs; it is not a command of its own");
        return std::process::ExitCode::from(125);
    }
    let code = sortie_sandbox::launcher::main(args.collect());
    std::process::ExitCode::from(u8::try_from(code).unwrap_or(125))
}
