//! Startup steps. Each runs in a task of its own — spawn the child, report
//! it, ask it to do its part, report the outcome — so the supervisor's
//! mailbox stays free for signals while a step is slow.

use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use futures::FutureExt as _;
use micro_actors::{
    Callback, CallbackActor, CallbackMsg, ConfigActor, ConfigMsg, HttpActor, HttpArgs, HttpLayers, HttpLimits, HttpMsg,
    InFlight, Listen, LoggerActor, LoggerMsg, Readiness,
};
use micro_actors::{Worker, WorkerActor};
use ractor::{Actor, ActorRef};

use crate::RestartPolicy;

use super::SupervisorMsg;
use super::children::{CallbackKind, Child, Children, Unanswered, ask, watched};
use crate::service::Mode;
use crate::{Service, StartError, routes};

/// One step of startup.
#[derive(Debug, Clone)]
pub(crate) enum Step {
    Config,
    Logger,
    /// Start the config backend's watch, once logging can report changes.
    Watch,
    Callback {
        callback: Callback,
        kind: CallbackKind,
    },
    Worker {
        worker: Worker,
        policy: RestartPolicy,
    },
    Http,
}

impl Step {
    /// The startup phase the step belongs to, as logged.
    pub(crate) fn phase(&self) -> &'static str {
        match self {
            Self::Config | Self::Watch => "config",
            Self::Logger => "logging",
            Self::Callback { .. } => "init",
            Self::Worker { .. } => "workers",
            Self::Http => "http",
        }
    }
}

/// What a step needs besides the step itself.
pub(crate) struct StepContext {
    pub(crate) supervisor: ActorRef<SupervisorMsg>,
    pub(crate) service: Service,
    pub(crate) mode: Mode,
    pub(crate) children: Children,
    pub(crate) readiness: Readiness,
    pub(crate) in_flight: InFlight,
    /// Bound for a step's first answer before the site config is loaded.
    pub(crate) startup_bound: Duration,
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
            Step::Callback { callback, kind } => run_callback(&ctx, callback, kind).await.map(|()| None),
            Step::Worker { worker, policy } => start_worker(&ctx, worker, policy).await.map(|()| None),
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
    let _ = ctx.supervisor.cast(SupervisorMsg::StepDone {
        phase,
        took: started.elapsed(),
        outcome,
    });
}

fn actor_error(step: &str, actor: &str, reason: impl std::fmt::Display) -> StartError {
    StartError::Actor {
        step: step.into(),
        actor: actor.into(),
        reason: reason.to_string(),
    }
}

fn unanswered(step: &str, actor: &str) -> impl FnOnce(Unanswered) -> StartError {
    move |err| actor_error(step, actor, err)
}

/// Records a child the moment it is spawned — no await in between — so a
/// stop that aborts this step still stops the child in order.
fn record(ctx: &StepContext, child: Child) {
    ctx.children.push(child);
}

async fn config(ctx: &StepContext) -> Result<(), StartError> {
    let config = ctx.service.config().clone();
    let (actor, _) = Actor::spawn_linked(None, ConfigActor, config.clone(), ctx.supervisor.get_cell())
        .await
        .map_err(|e| actor_error("config", "config", e))?;
    record(ctx, Child::Config(actor.clone()));
    let preload = ask(&actor, ConfigMsg::Preload, ctx.startup_bound);
    let backend = config.describe_backend();
    let snapshot = watched(preload, ctx.startup_bound, || format!("the preloads from {backend}"))
        .await
        .map_err(unanswered("config", "config"))?
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
    let Some(config) = ctx.children.config() else {
        return Err(actor_error("config", "config", "not started"));
    };
    let bound = ctx.service.config_site().actors.call_timeout;
    let watching = ask(&config, ConfigMsg::Watch, bound)
        .await
        .map_err(unanswered("config", "config"))?
        .map_err(StartError::Config)?;
    if let Some(what) = watching {
        tracing::info!(target: "micro", "watching {what} for changes");
    }
    Ok(())
}

async fn logger(ctx: &StepContext) -> Result<(), StartError> {
    let settings = ctx.service.log_settings(ctx.mode.is_debug());
    let (actor, _) = Actor::spawn_linked(None, LoggerActor, settings, ctx.supervisor.get_cell())
        .await
        .map_err(|e| actor_error("logging", "logger", e))?;
    record(ctx, Child::Logger(actor.clone()));
    let bound = ctx.service.config_site().actors.call_timeout;
    let layers = ctx.service.take_log_layers();
    ask(&actor, |reply| LoggerMsg::InstallWith(layers, reply), bound)
        .await
        .map_err(unanswered("logging", "logger"))?
        .map_err(StartError::Logging)?;
    // Before the watch, workers and HTTP, which record metrics.
    crate::metrics::joined(ctx.service.name(), &ctx.service.get_version(false));
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

async fn run_callback(ctx: &StepContext, callback: Callback, kind: CallbackKind) -> Result<(), StartError> {
    let name = callback.name().to_owned();
    let (actor, _) = Actor::spawn_linked(None, CallbackActor, callback.clone(), ctx.supervisor.get_cell())
        .await
        .map_err(|e| actor_error("init", &name, e))?;
    record(
        ctx,
        Child::Callback {
            name: name.clone(),
            kind,
            callback,
            actor: actor.clone(),
        },
    );
    if kind != CallbackKind::Init {
        return Ok(());
    }
    let site = ctx.service.config_site();
    let bound = site.startup.init_timeout;
    // The actor bounds the callback itself; the margin covers the messaging.
    let run = ask(
        &actor,
        |reply| CallbackMsg::Run { bound, reply },
        bound + site.actors.call_timeout,
    );
    let took = watched(run, bound, || format!("init callback {name}"))
        .await
        .map_err(unanswered("init", &name))?
        .map_err(StartError::Init)?;
    let what = if ctx.service.inner().release.iter().any(|r| r.name() == name) {
        "resource"
    } else {
        "init callback"
    };
    tracing::info!(target: "micro", "{what} {name} done in {}", crate::exit::humantime(took));
    Ok(())
}

/// Spawns a worker's actor (its task starts at once) and records it.
async fn start_worker(ctx: &StepContext, worker: Worker, policy: RestartPolicy) -> Result<(), StartError> {
    let (actor, _) = Actor::spawn_linked(None, WorkerActor, worker.clone(), ctx.supervisor.get_cell())
        .await
        .map_err(|e| actor_error("workers", worker.name(), e))?;
    record(ctx, Child::Worker { worker, policy, actor });
    Ok(())
}

async fn http(ctx: &StepContext) -> Result<SocketAddr, StartError> {
    let site = ctx.service.config_site();
    let inner = ctx.service.inner();
    let listen = match (inherited_listener()?, &ctx.mode) {
        // Socket activation: systemd holds the port across restarts.
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
        name: inner.name.clone(),
        description: inner.description.clone(),
        version: inner.version.clone(),
        build: inner.build.clone(),
        readiness: ctx.readiness.clone(),
        config: inner.config.clone(),
        debug: ctx.mode.is_debug(),
        handle: inner.handle.clone(),
        checks: inner.checks.iter().map(|check| check.name().to_owned()).collect(),
        health: inner.health.clone(),
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
    let (app, resources) = (inner.app.clone(), inner.resources.clone());
    let app = std::panic::catch_unwind(AssertUnwindSafe(move || app.router(&resources)))
        .map_err(|panic| StartError::App(micro_actors::callback::panic_message(panic.as_ref())))?;
    let router = std::panic::catch_unwind(AssertUnwindSafe(move || app.merge(builtin)))
        .map_err(|panic| StartError::Routes(micro_actors::callback::panic_message(panic.as_ref())))?;
    let (actor, addr) = serve(
        ctx,
        router,
        listen,
        ctx.readiness.clone(),
        ctx.in_flight.clone(),
        Child::Http,
    )
    .await?;
    if let Some((at, router)) = admin {
        let listen = Listen::Bind {
            host: at.ip().to_string(),
            port: at.port(),
        };
        let ready = Readiness::default();
        let (admin, admin_addr) = serve(ctx, router, listen, ready, InFlight::default(), Child::Admin).await?;
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
    child: fn(ActorRef<HttpMsg>) -> Child,
) -> Result<(ActorRef<HttpMsg>, SocketAddr), StartError> {
    let site = ctx.service.config_site();
    let args = HttpArgs {
        router,
        listen,
        limits: HttpLimits {
            header_read_timeout: site.http.header_read_timeout,
            request_timeout: site.http.request_timeout,
            body_limit: usize::try_from(site.http.body_limit.bytes()).unwrap_or(usize::MAX),
            backlog: site.http.backlog,
        },
        layers: HttpLayers::from(&site.http),
        readiness,
        in_flight,
    };
    let (actor, _) = Actor::spawn_linked(None, HttpActor, args, ctx.supervisor.get_cell())
        .await
        .map_err(|e| actor_error("http", "http", e))?;
    record(ctx, child(actor.clone()));
    let bound = site.actors.call_timeout;
    let addr = watched(ask(&actor, HttpMsg::Serve, bound), bound, || {
        "the listener to open".to_owned()
    })
    .await
    .map_err(unanswered("http", "http"))?
    .map_err(StartError::Bind)?;
    Ok((actor, addr))
}

/// The listening socket systemd passed (socket activation: `LISTEN_FDS`,
/// `LISTEN_PID`), if any; taken once per process.
fn inherited_listener() -> Result<Option<std::net::TcpListener>, StartError> {
    listenfd::ListenFd::from_env().take_tcp_listener(0).map_err(|source| {
        StartError::Bind(micro_actors::BindError {
            addr: "the socket passed in LISTEN_FDS".into(),
            source,
        })
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
