//! `notes-api`: configured by `NOTES_*` environment variables (see `config.rs`).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "notes_api=info,warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    notes_api::serve(notes_api::Config::from_env()?).await
}
