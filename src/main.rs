//! The `herald` binary: a thin shell over the library.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    herald::cli::run().await
}
