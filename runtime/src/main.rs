/// mimalloc: the daemon runs many missions at once on few cores, and glibc's allocator
/// spent a third of that CPU time in its own locks and free lists (see docs/BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// No transparent huge pages for this process: mimalloc asks for them on its arenas, and
/// every 2 MiB region it touches then stays resident whole (an idle daemon held 56 MB, 41 MB
/// of it in huge pages; 18 MB without). Set before the runtime starts allocating; a kernel
/// without the flag just keeps its default.
fn small_pages() {
    #[cfg(target_os = "linux")]
    let _ = nix::sys::prctl::set_thp_disable(true);
}

fn main() -> std::process::ExitCode {
    // The sandbox launcher: re-entered by Sortie itself for every process a mission starts,
    // before anything else of the CLI (no runtime, no threads: a user namespace needs that).
    let mut args = std::env::args_os();
    if args.nth(1).as_deref() == Some(std::ffi::OsStr::new(sortie_sandbox::LAUNCHER_ARG)) {
        let code = sortie_sandbox::launcher::main(args.collect());
        return std::process::ExitCode::from(u8::try_from(code).unwrap_or(125));
    }
    // What Sortie starts runs as the same user: it must not read our keys through /proc.
    sortie_sandbox::protect_owner();
    small_pages();
    sortie::cli::main(sortie::cli::FrontEnds {
        tui: |home| Box::pin(async move { sortie::tui::run(&home).await }),
        serve: |home, options| Box::pin(async move { sortie::daemon::serve(&home, options).await }),
    })
}
