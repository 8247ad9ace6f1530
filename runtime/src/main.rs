fn main() -> std::process::ExitCode {
    sortie::cli::main()
}
