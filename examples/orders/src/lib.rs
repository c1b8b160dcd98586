//! `orders`: takes orders. An example of a service built on micro, as a
//! team would write it in its own repository.
//!
//! - its own config document `orders`, typed as [`OrdersConfig`] and checked
//!   at load, at every reload and by `--check-config`;
//! - a paired resource, the [`Store`]: opened at startup (it takes a lock
//!   file in `orders.data_dir`), handed to the handlers as axum state,
//!   released at shutdown — and when a later startup step fails;
//! - the standard command line (`micro::cli`), in `main.rs`.
//!
//! [`service`] is the whole service, so its integration tests run the very
//! same thing in process with `micro::testing`.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};

use micro::axum::extract::State;
use micro::axum::http::StatusCode;
use micro::axum::routing::get;
use micro::axum::{Json, Router};
use micro::config::{MemoryBackend, PreloadedConfig};
use serde::Deserialize;
use serde_json::{Value, json};

/// The `orders` config document.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrdersConfig {
    /// The most items one order may hold.
    pub max_items: u32,
    /// Where the store keeps its lock file.
    pub data_dir: PathBuf,
}

/// The orders taken, kept while the service runs; holds
/// `<data_dir>/orders.lock` so two processes never share a data directory.
#[derive(Debug, Clone)]
pub struct Store {
    lock: Arc<PathBuf>,
    orders: Arc<Mutex<Vec<Order>>>,
}

/// One order.
#[derive(Debug, Clone, Deserialize)]
pub struct Order {
    /// What is ordered.
    pub item: String,
    /// How many.
    pub quantity: u32,
}

impl Store {
    /// Takes the data directory's lock file; fails when another process holds it.
    pub async fn open(data_dir: PathBuf) -> std::io::Result<Self> {
        tokio::fs::create_dir_all(&data_dir).await?;
        let lock = data_dir.join("orders.lock");
        tokio::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&lock)
            .await
            .map_err(|err| std::io::Error::new(err.kind(), format!("cannot take {}: {err}", lock.display())))?;
        tracing::info!("store open, holding {}", lock.display());
        Ok(Self {
            lock: Arc::new(lock),
            orders: Arc::default(),
        })
    }

    /// Gives the lock file back.
    pub async fn close(self) -> std::io::Result<()> {
        let taken = self.orders.lock().unwrap_or_else(PoisonError::into_inner).len();
        tokio::fs::remove_file(&*self.lock).await?;
        tracing::info!("store closed after {taken} orders, {} released", self.lock.display());
        Ok(())
    }
}

/// The service: a builder `main` runs with the command line, and tests
/// run in process.
pub fn service() -> micro::ServiceBuilder {
    let defaults = MemoryBackend::labelled("orders defaults")
        .with_yaml("orders", include_str!("../config/orders.yaml"))
        .expect("the embedded defaults are valid YAML");
    micro::Service::builder("orders", "takes orders")
        .version(micro::build_version!())
        .config(PreloadedConfig::new(["site", "orders"]).backend(defaults))
        .document::<OrdersConfig>("orders")
        .resource(
            "store",
            || async {
                let config = micro::get_config().typed::<OrdersConfig>("orders")?;
                Ok(Store::open(config.data_dir.clone()).await?)
            },
            |store: Store| async move { Ok(store.close().await?) },
        )
        .app_with(|resources| {
            Router::new()
                .route("/orders", get(count).post(take))
                .with_state(resources.get::<Store>())
        })
}

async fn count(State(store): State<Store>) -> Json<Value> {
    let taken = store.orders.lock().unwrap_or_else(PoisonError::into_inner).len();
    Json(json!({ "orders": taken }))
}

async fn take(State(store): State<Store>, Json(order): Json<Order>) -> (StatusCode, Json<Value>) {
    let max = match micro::get_config().typed::<OrdersConfig>("orders") {
        Ok(config) => config.max_items,
        Err(err) => {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({ "error": err.to_string() })),
            );
        }
    };
    if order.quantity == 0 || order.quantity > max {
        let error = format!("an order holds 1 to {max} items (orders.max_items)");
        return (StatusCode::UNPROCESSABLE_ENTITY, Json(json!({ "error": error })));
    }
    let mut orders = store.orders.lock().unwrap_or_else(PoisonError::into_inner);
    orders.push(order);
    (StatusCode::CREATED, Json(json!({ "id": orders.len() })))
}
