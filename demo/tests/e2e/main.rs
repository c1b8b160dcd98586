//! End-to-end tests of the demo binary `micro`: the real process driven
//! from outside with real signals and real sockets on loopback. One test
//! binary, one module per subject; `support` starts and watches the
//! processes. The etcd tests need cargo feature `etcd` and the `etcd`
//! server on the PATH (scripts/prerequisites installs it).
//!
//! `cargo test -p micro-demo --test e2e` runs them all;
//! `cargo test -p micro-demo --test e2e reload::` one module.

mod support;

mod balancer;
mod cli;
mod config_errors;
mod connections;
mod documented;
#[cfg(feature = "etcd")]
mod etcd;
mod faults;
mod first_day;
mod grpc;
mod hostile;
mod http;
mod lifecycle;
mod metrics;
mod overload;
mod reload;
mod socket_activation;
mod streams;
mod systemd;
#[cfg(feature = "otel")]
mod telemetry;
mod under_load;
mod upgrade;
