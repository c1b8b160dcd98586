//! Configuration from etcd: documents under `/micro/orders/`, files under
//! them as a fallback, reloaded on every change, readiness tied to the
//! watch.
//!
//! Run (with an etcd on 127.0.0.1:2379, e.g. `apt-get install etcd-server`):
//!
//! ```text
//! etcdctl put /micro/orders/orders 'greeting: from etcd'
//! cargo run --features etcd --example 03_etcd
//! curl localhost:7000/hello            # from etcd
//! etcdctl put /micro/orders/orders 'greeting: changed'
//! curl localhost:7000/hello            # changed, no restart
//! ```

use std::time::Duration;

use axum::{Router, routing::get};
use micro::config::{EtcdBackend, Layered, MemoryBackend, PreloadedConfig};

async fn hello() -> String {
    micro::get_config()
        .get_path::<String>("orders.greeting")
        .unwrap_or_else(|err| format!("misconfigured: {err}"))
}

#[tokio::main]
async fn main() -> micro::ExitStatus {
    let endpoints = std::env::var("ETCD_ENDPOINTS").unwrap_or_else(|_| "http://127.0.0.1:2379".into());
    let etcd = EtcdBackend::for_service("orders", endpoints.split(','))
        .connect_timeout(Duration::from_secs(10))
        // Start on the defaults below when etcd is down, take etcd's
        // documents once it answers.
        .fallback(true)
        .watching(true);
    // By default the service stays ready on its last good config while etcd
    // is out of reach; this check turns /health/ready 503 instead.
    let watch = etcd.status();
    let defaults = MemoryBackend::labelled("orders defaults")
        .with_yaml("orders", "greeting: hello from the defaults\n")
        .expect("valid YAML");
    let config = PreloadedConfig::new(["site", "orders"]).backend(Layered::new().layer(defaults).layer(etcd));

    micro::Service::builder("orders", "takes orders")
        .app(Router::new().route("/hello", get(hello)))
        .config(config)
        .health_check("etcd", move || {
            let outcome = watch.check().map_err(Into::into);
            async move { outcome }
        })
        .build()
        .debug("127.0.0.1", 7000)
        .await
}
