//! The `spine` binary: everything lives in the `spine_cli` library.

fn main() -> std::process::ExitCode {
    spine_cli::main()
}
