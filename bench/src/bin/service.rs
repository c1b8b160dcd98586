//! The bench handlers on micro, in production mode: what a team ships.
//! Port, layers and limits come from `site` as usual, here through the
//! environment: `MICRO__SITE__HTTP__PORT=0`, `MICRO__SITE__HTTP__METRICS=false`...
//! Logs `listening on ADDR` (JSON) on stderr.

#[tokio::main]
async fn main() -> micro::ExitStatus {
    micro::Service::builder("micro-bench", "the bench handlers on micro")
        .app(micro_bench::app())
        .build()
        .production(None)
        .await
}
