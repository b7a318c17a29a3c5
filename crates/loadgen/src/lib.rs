//! Load generator: placeholder until written.

/// Options of `agora loadgen`.
#[derive(Debug, clap::Args)]
pub struct LoadgenArgs {
    /// Base URL of the server to drive.
    #[arg(long, default_value = "http://127.0.0.1:8081")]
    pub server: String,
}

pub async fn run(_args: LoadgenArgs) -> anyhow::Result<()> {
    anyhow::bail!("not written yet")
}
