//! The standard command line of a service (feature `cli`): the same flags
//! for every service, one call to run with them.
//!
//! | flag | meaning |
//! |---|---|
//! | `--production` | JSON logs, port from `PORT` or `site.http.port`, no debug routes |
//! | `--host HOST` | address to listen on (debug: `127.0.0.1`; production: `site.http.host`) |
//! | `--port PORT` | port; `0` picks a free one (debug: `site.http.port`; production: a layer under `PORT`) |
//! | `--config PATH` | a directory of `<name>.yaml` files, or one YAML file of documents, over the service's defaults |
//! | `--watch-config` | reload by itself when a file under `--config` changes |
//! | `--check-config [--sources]` | load and validate as startup would, print the result, exit 0 or 78 |
//! | `--etcd URL,..` (feature `etcd`) | documents from etcd under `/micro/<service>/`, watched |
//!
//! The configuration stack is, lowest first: the service's own
//! [`config`](crate::ServiceBuilder::config) (its defaults), `--config`
//! files, etcd, `MICRO__<DOC>__<KEY>` variables, and in production `--port`.

use std::path::PathBuf;

use clap::{Args as _, FromArgMatches as _};
use micro_config::{EnvBackend, FileBackend, MemoryBackend};

use crate::service::Mode;
use crate::{ExitStatus, ServiceBuilder};

/// The standard flags of a service (see the [module](self) for the table).
///
/// Flatten it into a service's own parser to add flags of its own:
///
/// ```
/// use clap::Parser;
///
/// #[derive(Parser)]
/// struct Cli {
///     #[command(flatten)]
///     micro: micro::cli::Args,
///     /// A flag of the service's own.
///     #[arg(long)]
///     dry_run: bool,
/// }
///
/// let cli = Cli::parse_from(["orders", "--production", "--config", "/etc/orders", "--dry-run"]);
/// assert!(cli.micro.production && cli.dry_run);
/// assert_eq!(cli.micro.config.as_deref(), Some(std::path::Path::new("/etc/orders")));
/// ```
#[derive(Debug, Clone, Default, clap::Args)]
#[group(id = "micro")]
#[non_exhaustive]
pub struct Args {
    /// Address to listen on (debug default 127.0.0.1; in production site.http.host).
    #[arg(long)]
    pub host: Option<String>,
    /// Port to listen on; 0 picks any free port (default site.http.port; in
    /// production PORT wins).
    #[arg(long)]
    pub port: Option<u16>,
    /// Configuration read over the service's defaults: a directory of
    /// `<name>.yaml` files, or one YAML file whose top-level keys are the
    /// document names. `MICRO__<DOC>__<KEY>...` variables override both.
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Reload by itself when a file under --config changes.
    #[arg(long, requires = "config")]
    pub watch_config: bool,
    /// Load and validate the configuration as startup would, print it
    /// (secrets redacted) and exit 0, or 78 when it is invalid.
    #[arg(long)]
    pub check_config: bool,
    /// With --check-config: show where each value was set.
    #[arg(long, requires = "check_config")]
    pub sources: bool,
    /// Run in production mode: JSON logs, no debug routes.
    #[arg(long)]
    pub production: bool,
    /// Configuration from etcd.
    #[cfg(feature = "etcd")]
    #[command(flatten)]
    pub etcd: EtcdArgs,
}

/// Configuration from etcd, between the files and the environment (feature `etcd`).
///
/// ```
/// use clap::Parser;
/// #[derive(Parser)]
/// struct Cli {
///     #[command(flatten)]
///     micro: micro::cli::Args,
/// }
/// let cli = Cli::parse_from(["orders", "--etcd", "http://127.0.0.1:2379", "--etcd-fallback"]);
/// assert_eq!(cli.micro.etcd.etcd, ["http://127.0.0.1:2379"]);
/// assert!(cli.micro.etcd.etcd_fallback);
/// ```
#[cfg(feature = "etcd")]
#[derive(Debug, Clone, Default, clap::Args)]
#[group(id = "micro-etcd")]
#[non_exhaustive]
pub struct EtcdArgs {
    /// etcd endpoints, comma-separated: documents are the YAML values under
    /// --etcd-prefix, watched and reloaded on change.
    #[arg(long, value_name = "URL[,URL]", value_delimiter = ',')]
    pub etcd: Vec<String>,
    /// Key prefix of the documents (default `/micro/<service>/`).
    #[arg(long, value_name = "PREFIX", requires = "etcd")]
    pub etcd_prefix: Option<String>,
    /// How long startup keeps trying to reach etcd before exiting 69.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, requires = "etcd")]
    pub etcd_connect_timeout: Option<std::time::Duration>,
    /// When etcd cannot be reached at startup, start on the layers under it
    /// and take etcd's documents once it answers, instead of exiting 69.
    #[arg(long, requires = "etcd")]
    pub etcd_fallback: bool,
    /// Turn /health/ready 503 while the etcd watch is down (by default the
    /// service stays ready on its last good config).
    #[arg(long, requires = "etcd")]
    pub etcd_unready_on_outage: bool,
}

impl Args {
    /// Parses the process's arguments, with the service's name, description
    /// and version in `--help` and `--version`; exits with clap's usage
    /// error (code 2) on a bad flag, as command lines do.
    #[must_use]
    pub fn parse_for(builder: &ServiceBuilder) -> Self {
        Self::parse_from_for(builder, std::env::args_os())
    }

    /// [`parse_for`](Self::parse_for) from the given arguments (the first is
    /// the program's name).
    ///
    /// ```
    /// let builder = micro::Service::builder("orders", "takes orders");
    /// let args = micro::cli::Args::parse_from_for(&builder, ["orders", "--check-config", "--sources"]);
    /// assert!(args.check_config && args.sources && !args.production);
    /// ```
    #[must_use]
    pub fn parse_from_for<I, T>(builder: &ServiceBuilder, args: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let (name, description, version) = builder.identity();
        let mut command = clap::Command::new(name.to_owned()).about(description.to_owned());
        if let Some(version) = version {
            command = command.version(version.to_owned());
        }
        let matches = Self::augment_args(command).get_matches_from(args);
        Self::from_arg_matches(&matches).unwrap_or_else(|err| err.exit())
    }

    /// The builder with what the flags ask for: `--config` files, etcd and
    /// `MICRO__` variables layered over its configuration (and, in
    /// production, `--port`).
    ///
    /// ```
    /// let builder = micro::Service::builder("orders", "takes orders");
    /// let args = micro::cli::Args::parse_from_for(&builder, ["orders", "--config", "conf"]);
    /// let service = args.apply(builder).build();
    /// assert_eq!(
    ///     service.config().describe_backend(),
    ///     "no backend (in memory) < files in conf < environment variables MICRO__*"
    /// );
    /// ```
    pub fn apply(&self, builder: ServiceBuilder) -> ServiceBuilder {
        let mut builder = builder;
        if let Some(path) = &self.config {
            builder = builder.config_layer(FileBackend::new(path).watching(self.watch_config));
        }
        #[cfg(feature = "etcd")]
        {
            builder = self.etcd.apply(builder);
        }
        builder = builder.config_layer(EnvBackend::new("MICRO"));
        if let (true, Some(port)) = (self.production, self.port) {
            // In production the port comes from configuration; the flag is its top layer.
            let flag =
                MemoryBackend::labelled("--port").with_value("site", serde_json::json!({"http": {"port": port}}));
            builder = builder.config_layer(flag);
        }
        builder
    }

    /// Builds the service with [`apply`](Self::apply) and runs it as the
    /// flags say: `--check-config`, `--production`, or debug mode.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// use micro::config::{MemoryBackend, PreloadedConfig};
    /// let bad = MemoryBackend::new().with_yaml("site", "http: {port: eighty}").unwrap();
    /// let builder = micro::Service::builder("orders", "takes orders")
    ///     .config(PreloadedConfig::new(["site"]).backend(bad));
    /// let args = micro::cli::Args::parse_from_for(&builder, ["orders", "--check-config"]);
    /// assert_eq!(args.run(builder).await.code(), 78);
    /// # }
    /// ```
    pub async fn run(&self, builder: ServiceBuilder) -> ExitStatus {
        let service = self.apply(builder).build();
        if self.check_config {
            return service.check_config(self.sources).await;
        }
        let mode = if self.production {
            Mode::Production {
                host: self.host.clone(),
            }
        } else {
            Mode::Debug {
                host: self.host.clone().unwrap_or_else(|| "127.0.0.1".to_owned()),
                port: self.port,
            }
        };
        service.run(mode).await
    }
}

#[cfg(feature = "etcd")]
impl EtcdArgs {
    /// The etcd layer (and readiness check) the flags ask for, if any.
    fn apply(&self, builder: ServiceBuilder) -> ServiceBuilder {
        if self.etcd.is_empty() {
            return builder;
        }
        let (name, _, _) = builder.identity();
        let backend = match &self.etcd_prefix {
            Some(prefix) => micro_config::EtcdBackend::new(self.etcd.clone(), prefix.clone()),
            None => micro_config::EtcdBackend::for_service(name, self.etcd.clone()),
        };
        let backend = match self.etcd_connect_timeout {
            Some(bound) => backend.connect_timeout(bound),
            None => backend,
        };
        let backend = backend.fallback(self.etcd_fallback).watching(true);
        let builder = if self.etcd_unready_on_outage {
            let status = backend.status();
            builder.health_check("etcd", move || {
                let outcome = status.check().map_err(Into::into);
                async move { outcome }
            })
        } else {
            builder
        };
        builder.config_layer(backend)
    }
}

/// Parses the process's arguments ([`Args::parse_for`]) and runs the
/// service with them ([`Args::run`]): a service's whole `main`.
///
/// ```no_run
/// #[tokio::main]
/// async fn main() -> micro::ExitStatus {
///     let builder = micro::Service::builder("orders", "takes orders").version(micro::build_version!());
///     micro::cli::run(builder).await
/// }
/// ```
pub async fn run(builder: ServiceBuilder) -> ExitStatus {
    Args::parse_for(&builder).run(builder).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flags_form_a_valid_command_line_inside_another() {
        #[derive(clap::Parser)]
        struct Outer {
            #[command(flatten)]
            micro: Args,
            #[arg(long)]
            own: bool,
        }
        <Outer as clap::CommandFactory>::command().debug_assert();
        Args::augment_args(clap::Command::new("alone")).debug_assert();
    }

    #[test]
    fn port_is_a_configuration_layer_only_in_production() {
        let builder = crate::Service::builder("orders", "takes orders");
        let debug = Args::parse_from_for(&builder, ["orders", "--port", "9100"]);
        let service = debug.apply(builder).build();
        assert!(!service.config().describe_backend().contains("--port"));
        let builder = crate::Service::builder("orders", "takes orders");
        let production = Args::parse_from_for(&builder, ["orders", "--production", "--port", "9100"]);
        let service = production.apply(builder).build();
        assert!(service.config().describe_backend().ends_with("< --port (in memory)"));
    }
}
