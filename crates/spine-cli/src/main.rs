//! The `spine` binary: everything lives in the `spine_cli` library.

/// mimalloc rather than the system allocator: the request and commit paths allocate and free
/// many small buffers on several threads, and glibc's malloc spent about 14 % of the HTTP
/// ingest benchmark's time in `malloc`, `free` and their consolidation (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    spine_cli::main()
}
