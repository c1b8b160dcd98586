//! The actors of micro. Each owns one concern and does what its messages
//! say; none knows about signals or startup order (that policy lives in the
//! `micro` crate's supervisor).
//!
//! | actor | owns | messages |
//! |---|---|---|
//! | [`ConfigActor`] | the backend, its watch and the current snapshot | [`ConfigMsg::Preload`], [`ConfigMsg::Reload`], [`ConfigMsg::Changed`] |
//! | [`LoggerActor`] | the tracing subscriber | [`LoggerMsg::Install`], [`LoggerMsg::SetLevel`], [`LoggerMsg::Flush`] |
//! | [`CallbackActor`] | one user callback | [`CallbackMsg::Run`], [`CallbackMsg::Reloaded`] |
//! | [`WorkerActor`] | one background task of the service | [`WorkerMsg::Stop`] |
//! | [`HttpActor`] | the listener and its connections | [`HttpMsg::Serve`], [`HttpMsg::SetReady`], [`HttpMsg::Drain`] |
//!
//! Nothing here sits on the request path: requests are served by their own
//! tasks, and readiness and the in-flight count are atomics
//! ([`Readiness`], [`InFlight`]).
//!
//! ```
//! use micro_actors::{ConfigActor, ConfigMsg};
//! use micro_config::{MemoryBackend, PreloadedConfig};
//! use ractor::{Actor, call};
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! let config = PreloadedConfig::new(["demo"])
//!     .backend(MemoryBackend::new().with_yaml("demo", "greeting: hi").unwrap());
//! let (actor, handle) = Actor::spawn(None, ConfigActor, config.clone()).await.unwrap();
//! let snapshot = call!(actor, ConfigMsg::Preload).unwrap().unwrap();
//! assert_eq!(snapshot.generation(), 1);
//! assert_eq!(config.get_path::<String>("demo.greeting").unwrap(), "hi");
//! actor.stop(None);
//! handle.await.unwrap();
//! # });
//! ```

pub mod callback;
pub mod config;
pub mod http;
pub mod logger;
pub mod worker;

pub use callback::{BoxError, Callback, CallbackActor, CallbackError, CallbackMsg, Changes};
pub use config::{ConfigActor, ConfigMsg, ConfigState, ReloadError, ReloadReport};
pub use http::{
    BindError, DrainReport, HttpActor, HttpArgs, HttpLayers, HttpLimits, HttpMsg, InFlight, Listen, Readiness, Traffic,
};
pub use logger::{BoxedLayer, LogError, LogFormat, LogOutput, LogSettings, LoggerActor, LoggerMsg};
pub use worker::{Shutdown, Worker, WorkerActor, WorkerEnd, WorkerMsg, WorkerState};
