/// mimalloc: the daemon runs many missions at once on few cores, and glibc's allocator
/// spent a third of that CPU time in its own locks and free lists (see docs/BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    sortie::cli::main()
}
