//! The `herald` binary: a thin shell over the library.

/// mimalloc instead of the system allocator: Herald allocates many small, short-lived
/// objects (recipients, JSON values, HTTP buffers), where glibc's malloc showed up at 10–20 %
/// of the create and dispatch profiles.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    herald::cli::run().await
}
