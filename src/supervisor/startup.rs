//! Startup steps. Each runs in a task of its own — spawn the child, report
//! it, ask it to do its part, report the outcome — so the supervisor's
//! mailbox stays free for signals while a step is slow.

use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use futures::FutureExt as _;
use micro_actors::{
    CallbackMsg, ConfigMsg, HttpActor, HttpArgs, HttpLayers, HttpLimits, HttpMsg, InFlight, Listen, LoggerMsg,
    Readiness,
};
use ractor::{Actor, ActorRef};

use super::SupervisorMsg;
use super::blueprint::{Blueprint, Mode};
use super::children::{CallbackKind, Child, ChildId, Spawner, Unanswered, ask, watched};
use crate::{StartError, StartupPhase, routes};

/// One step of startup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    Config,
    Logger,
    /// Start the config backend's watch, once logging can report changes.
    Watch,
    /// Spawn a callback actor that runs later (finish, on-reload, release).
    Spawn(CallbackKind, usize),
    /// Spawn init callback `index`'s actor and run it.
    Init(usize),
    Worker(usize),
    Http,
}

impl Step {
    /// The startup phase the step belongs to.
    pub(crate) fn phase(self) -> StartupPhase {
        match self {
            Self::Config => StartupPhase::Config,
            Self::Logger => StartupPhase::Logging,
            Self::Watch => StartupPhase::Watch,
            Self::Spawn(..) | Self::Init(_) => StartupPhase::Init,
            Self::Worker(_) => StartupPhase::Workers,
            Self::Http => StartupPhase::Http,
        }
    }

    /// Every step of `blueprint`'s startup, in order.
    pub(crate) fn all(blueprint: &Blueprint) -> Vec<Self> {
        let mut steps = vec![Self::Config, Self::Logger, Self::Watch];
        let spawn = |kind| (0..blueprint.callbacks(kind).len()).map(move |i| Self::Spawn(kind, i));
        // Releases are in place before any resource opens, so a startup
        // that fails after one opened still releases it.
        steps.extend(spawn(CallbackKind::Release));
        steps.extend((0..blueprint.callbacks(CallbackKind::Init).len()).map(Self::Init));
        steps.extend(spawn(CallbackKind::Finish));
        steps.extend(spawn(CallbackKind::Reload));
        steps.extend((0..blueprint.workers.len()).map(Self::Worker));
        steps.push(Self::Http);
        steps
    }
}

/// What a step needs besides the step itself.
pub(crate) struct StepContext {
    pub(crate) spawner: Spawner,
    pub(crate) readiness: Readiness,
    pub(crate) in_flight: InFlight,
    /// Bound for a step's first answer before the site config is loaded.
    pub(crate) startup_bound: Duration,
}

impl StepContext {
    fn blueprint(&self) -> &Blueprint {
        &self.spawner.blueprint
    }
}

/// Runs `step` and casts `StepDone` to the supervisor, even if it panicked.
pub(crate) async fn run(step: Step, ctx: StepContext) {
    let started = Instant::now();
    let phase = step.phase();
    let outcome = async {
        match step {
            Step::Config => config(&ctx).await.map(|()| None),
            Step::Logger => logger(&ctx).await.map(|()| None),
            Step::Watch => watch(&ctx).await.map(|()| None),
            Step::Spawn(kind, index) => spawn(&ctx, phase, ChildId::Callback(kind, index)).await.map(|_| None),
            Step::Init(index) => init(&ctx, index).await.map(|()| None),
            Step::Worker(index) => spawn(&ctx, phase, ChildId::Worker(index)).await.map(|_| None),
            Step::Http => http(&ctx).await.map(Some),
        }
    };
    let outcome = AssertUnwindSafe(outcome).catch_unwind().await.unwrap_or_else(|panic| {
        let message = micro_actors::callback::panic_message(panic.as_ref());
        Err(actor_error(
            phase,
            "supervisor",
            format!("startup step panicked: {message}"),
        ))
    });
    let _ = ctx.spawner.supervisor.cast(SupervisorMsg::StepDone {
        step,
        took: started.elapsed(),
        outcome,
    });
}

fn actor_error(step: StartupPhase, actor: &str, reason: impl std::fmt::Display) -> StartError {
    StartError::Actor {
        step,
        actor: actor.into(),
        reason: reason.to_string(),
    }
}

fn unanswered(step: StartupPhase, actor: &str) -> impl FnOnce(Unanswered) -> StartError {
    move |err| actor_error(step, actor, err)
}

/// Spawns and records the child `id` in startup phase `phase` (the shared
/// path restarts take too).
async fn spawn(ctx: &StepContext, phase: StartupPhase, id: ChildId) -> Result<Child, StartError> {
    let name = ctx.blueprint().child_name(id);
    ctx.spawner
        .spawn(id)
        .await
        .map_err(|err| actor_error(phase, &name, err))
}

async fn config(ctx: &StepContext) -> Result<(), StartError> {
    let Child::Config(actor) = spawn(ctx, StartupPhase::Config, ChildId::Config).await? else {
        unreachable!("ChildId::Config spawns a config actor")
    };
    let preload = ask(&actor, ConfigMsg::Preload, ctx.startup_bound);
    let config = &ctx.blueprint().config;
    let backend = config.describe_backend();
    let snapshot = watched(preload, ctx.startup_bound, || format!("the preloads from {backend}"))
        .await
        .map_err(unanswered(StartupPhase::Config, "config"))?
        .map_err(StartError::Config)?;
    let names: Vec<&str> = snapshot.names().collect();
    tracing::debug!(
        target: "micro",
        "config generation {} loaded from {}: {}",
        snapshot.generation(),
        config.describe_backend(),
        names.join(", ")
    );
    Ok(())
}

async fn watch(ctx: &StepContext) -> Result<(), StartError> {
    let Some(config) = ctx.spawner.children.config() else {
        return Err(actor_error(StartupPhase::Watch, "config", "not started"));
    };
    let bound = ctx.blueprint().site().actors.call_timeout;
    let watching = ask(&config, ConfigMsg::Watch, bound)
        .await
        .map_err(unanswered(StartupPhase::Watch, "config"))?
        .map_err(StartError::Config)?;
    if let Some(what) = watching {
        tracing::info!(target: "micro", "watching {what} for changes");
    }
    Ok(())
}

async fn logger(ctx: &StepContext) -> Result<(), StartError> {
    let Child::Logger(actor) = spawn(ctx, StartupPhase::Logging, ChildId::Logger).await? else {
        unreachable!("ChildId::Logger spawns a logger actor")
    };
    let blueprint = ctx.blueprint();
    let bound = blueprint.site().actors.call_timeout;
    #[allow(unused_mut, reason = "telemetry adds a layer with the feature `otel`")]
    let mut layers = blueprint.take_log_layers();
    #[cfg(feature = "otel")]
    layers.0.push(crate::telemetry::layer());
    #[cfg(feature = "otel")]
    let telemetry =
        crate::telemetry::Telemetry::start(&blueprint.site().telemetry, blueprint.name(), &blueprint.version)
            .map_err(StartError::Telemetry)?;
    #[cfg(feature = "otel")]
    blueprint
        .telemetry
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone_from(&telemetry);
    ask(&actor, |reply| LoggerMsg::InstallWith(layers, reply), bound)
        .await
        .map_err(unanswered(StartupPhase::Logging, "logger"))?
        .map_err(StartError::Logging)?;
    #[cfg(feature = "otel")]
    if let Some(telemetry) = &telemetry {
        tracing::info!("{}", telemetry.describe());
    }
    // Before the watch, workers and HTTP, which record metrics.
    crate::metrics::joined(blueprint.name(), &blueprint.version);
    // A series present from the start, at 0, while spans are exported.
    #[cfg(feature = "otel")]
    if telemetry.is_some() {
        metrics::counter!(crate::telemetry::DROPPED).increment(0);
    }
    raise_open_files_limit();
    Ok(())
}

/// Raises the soft limit on open files to the hard one before the listener
/// opens, as Go's runtime does: systemd starts services with a soft limit
/// of 1024 (hard 524288), which a service with many clients reaches long
/// before its memory or CPU.
fn raise_open_files_limit() {
    let before = rlimit::getrlimit(rlimit::Resource::NOFILE).map(|(soft, _)| soft);
    match (before, rlimit::increase_nofile_limit(u64::MAX)) {
        (Ok(before), Ok(now)) if now > before => {
            tracing::debug!(target: "micro", "open files limit raised from {before} to {now}");
        }
        (_, Err(err)) => tracing::warn!(target: "micro", "open files limit not raised: {err}"),
        _ => {}
    }
}

async fn init(ctx: &StepContext, index: usize) -> Result<(), StartError> {
    let id = ChildId::Callback(CallbackKind::Init, index);
    let Child::Callback(_, _, actor) = spawn(ctx, StartupPhase::Init, id).await? else {
        unreachable!("ChildId::Callback spawns a callback actor")
    };
    let name = ctx.blueprint().callback(CallbackKind::Init, index).name().to_owned();
    let site = ctx.blueprint().site();
    let bound = site.startup.init_timeout;
    // The actor bounds the callback itself; the margin covers the messaging.
    let run = ask(
        &actor,
        |reply| CallbackMsg::Run { bound, reply },
        bound + site.actors.call_timeout,
    );
    let took = watched(run, bound, || format!("init callback {name}"))
        .await
        .map_err(unanswered(StartupPhase::Init, &name))?
        .map_err(StartError::Init)?;
    let what = if ctx.blueprint().opens_resource(index) {
        "resource"
    } else {
        "init callback"
    };
    tracing::info!(target: "micro", "{what} {name} done in {}", crate::exit::humantime(took));
    Ok(())
}

async fn http(ctx: &StepContext) -> Result<SocketAddr, StartError> {
    let site = ctx.blueprint().site();
    let blueprint = ctx.blueprint();
    let mode = &blueprint.mode;
    let inherited = blueprint.inherited().http().map_err(inherited_error)?;
    let listen = match (inherited, mode) {
        // Socket activation (systemd holds the port across restarts), or
        // the socket the process this one upgraded handed over.
        (Some(listener), _) => Listen::Listener(listener),
        (None, Mode::Debug { host, port }) => Listen::Bind {
            host: host.clone(),
            port: port.unwrap_or(site.http.port),
        },
        (None, Mode::Production { host }) => Listen::Bind {
            host: host.clone().unwrap_or_else(|| site.http.host.clone()),
            port: production_port(site.http.port)?,
        },
    };
    let info = routes::Info {
        name: blueprint.name.clone(),
        description: blueprint.description.clone(),
        version: blueprint.version.clone(),
        build: blueprint.build.clone(),
        readiness: ctx.readiness.clone(),
        config: blueprint.config.clone(),
        debug: mode.is_debug(),
        handle: blueprint.handle.clone(),
        checks: blueprint.checks.iter().map(|check| check.name().to_owned()).collect(),
        health: blueprint.health.clone(),
        in_flight: ctx.in_flight.clone(),
    };
    let admin = site
        .admin
        .own_listener()
        .map(|at| (at, routes::admin_router(info.clone())));
    let builtin = routes::router(info);
    // axum panics on overlapping routes; that is a startup error here.
    // The service's routes, made now when they need what init opened; a
    // panic there (a resource not registered) is a startup error too.
    let (routes, resources) = (&blueprint.routes, &blueprint.resources);
    let (grpc, readiness) = (&blueprint.grpc, &ctx.readiness);
    let app = std::panic::catch_unwind(AssertUnwindSafe(|| {
        grpc.merge_into(routes(resources), resources, readiness)
    }))
    .map_err(|panic| StartError::App(micro_actors::callback::panic_message(panic.as_ref())))?;
    let router = std::panic::catch_unwind(AssertUnwindSafe(move || app.merge(builtin)))
        .map_err(|panic| StartError::Routes(micro_actors::callback::panic_message(panic.as_ref())))?;
    let (actor, addr) = serve(
        ctx,
        router,
        listen,
        ctx.readiness.clone(),
        ctx.in_flight.clone(),
        limits(&site),
        Child::Http,
    )
    .await?;
    if let Some((at, router)) = admin {
        let listen = match blueprint.inherited().admin().map_err(inherited_error)? {
            Some(listener) => Listen::Listener(listener),
            None => Listen::Bind {
                host: at.ip().to_string(),
                port: at.port(),
            },
        };
        let ready = Readiness::default();
        // The operator's routes are never refused for the service's load.
        let limits = HttpLimits {
            max_in_flight: 0,
            unready_shed_percent: 0,
            ..limits(&site)
        };
        let (admin, admin_addr) = serve(ctx, router, listen, ready, InFlight::default(), limits, Child::Admin).await?;
        let _ = admin.cast(HttpMsg::SetReady(true));
        tracing::info!(target: "micro", "admin routes served on {admin_addr} (site.admin.listen)");
    }
    let _ = actor.cast(HttpMsg::SetReady(true));
    Ok(addr)
}

/// Spawns an HttpActor for `router`, records it as `child`, and has it
/// open its listener.
async fn serve(
    ctx: &StepContext,
    router: axum::Router,
    listen: Listen,
    readiness: Readiness,
    in_flight: InFlight,
    limits: HttpLimits,
    child: fn(ActorRef<HttpMsg>) -> Child,
) -> Result<(ActorRef<HttpMsg>, SocketAddr), StartError> {
    let site = ctx.blueprint().site();
    let args = HttpArgs {
        router,
        listen,
        limits,
        layers: HttpLayers {
            server_spans: exports_spans(ctx),
            ..HttpLayers::from(&site.http)
        },
        readiness,
        in_flight,
    };
    let (actor, _) = Actor::spawn_linked(None, HttpActor, args, ctx.spawner.supervisor.get_cell())
        .await
        .map_err(|e| actor_error(StartupPhase::Http, "http", e))?;
    // Recorded with no await in between, as every child is.
    ctx.spawner.children.push(child(actor.clone()));
    let bound = site.actors.call_timeout;
    let addr = watched(ask(&actor, HttpMsg::Serve, bound), bound, || {
        "the listener to open".to_owned()
    })
    .await
    .map_err(unanswered(StartupPhase::Http, "http"))?
    .map_err(StartError::Bind)?;
    Ok((actor, addr))
}

/// Whether the run's telemetry exports spans (then each request has a
/// server span).
fn exports_spans(ctx: &StepContext) -> bool {
    #[cfg(feature = "otel")]
    return ctx.blueprint().telemetry().is_some();
    #[cfg(not(feature = "otel"))]
    {
        let _ = ctx;
        false
    }
}

/// The service listener's bounds, from `site.http`.
fn limits(site: &micro_config::SiteConfig) -> HttpLimits {
    HttpLimits {
        header_read_timeout: site.http.header_read_timeout,
        request_timeout: site.http.request_timeout,
        body_limit: usize::try_from(site.http.body_limit.bytes()).unwrap_or(usize::MAX),
        backlog: site.http.backlog,
        quiet_period: site.shutdown.quiet_period,
        max_in_flight: usize::try_from(site.http.max_in_flight).unwrap_or(usize::MAX),
        retry_after: site.http.retry_after,
        max_connections: usize::try_from(site.http.max_connections).unwrap_or(usize::MAX),
        unready_shed_percent: site.http.unready_shed_percent,
        unready_shed_window: site.http.unready_shed_window,
    }
}

/// An inherited descriptor (`LISTEN_FDS`) that is no listening TCP socket.
fn inherited_error(source: std::io::Error) -> StartError {
    StartError::Bind(micro_actors::BindError {
        addr: "the socket passed in LISTEN_FDS".into(),
        source,
    })
}

/// `PORT` when set (as platforms such as Kubernetes and Heroku set it), else
/// the configured port.
fn production_port(configured: u16) -> Result<u16, StartError> {
    match std::env::var("PORT") {
        Ok(value) if !value.trim().is_empty() => value.trim().parse().map_err(|_| StartError::Port { value }),
        _ => Ok(configured),
    }
}
