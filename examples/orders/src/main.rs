//! `orders --help` lists the flags every micro service has.

#[tokio::main]
async fn main() -> micro::ExitStatus {
    micro::cli::run(orders::service()).await
}
