//! `orders` in process, as its team tests it day to day: micro's testing
//! support runs the very service `main` runs, on a port of its own, with
//! configuration given in memory over the service's own.

use micro::config::MemoryBackend;
use micro::testing::TestService;

type Error = Box<dyn std::error::Error + Send + Sync>;

/// POSTs an order of `quantity` items; the status code.
async fn order(url: String, quantity: u32) -> Result<u16, Error> {
    tokio::task::spawn_blocking(move || {
        let body = format!(r#"{{"item": "widget", "quantity": {quantity}}}"#);
        match ureq::post(&url)
            .set("content-type", "application/json")
            .send_string(&body)
        {
            Ok(response) => Ok(response.status()),
            Err(ureq::Error::Status(code, _)) => Ok(code),
            Err(err) => Err(err.into()),
        }
    })
    .await?
}

async fn count(url: String) -> Result<String, Error> {
    tokio::task::spawn_blocking(move || Ok(ureq::get(&url).call()?.into_string()?)).await?
}

/// Overrides with a data directory of the test's own.
fn overrides(data: &std::path::Path, max_items: u32) -> Result<MemoryBackend, Error> {
    let yaml = format!("max_items: {max_items}\ndata_dir: {}\n", data.display());
    Ok(MemoryBackend::labelled("test").with_yaml("orders", &yaml)?)
}

#[tokio::test]
async fn orders_are_taken_within_the_configured_limit_and_a_reload_moves_it() -> Result<(), Error> {
    let data = tempfile::tempdir()?;
    let config = overrides(data.path(), 2)?;
    let orders = TestService::start(orders::service(), config.clone()).await?;
    assert!(
        data.path().join("orders.lock").exists(),
        "the store holds its lock while running"
    );

    assert_eq!(order(orders.url("/orders"), 2).await?, 201);
    assert_eq!(order(orders.url("/orders"), 3).await?, 422);
    assert_eq!(count(orders.url("/orders")).await?, r#"{"orders":1}"#);

    config.set_yaml(
        "orders",
        &format!("max_items: 3\ndata_dir: {}\n", data.path().display()),
    )?;
    let report = orders.reload().await?;
    assert_eq!(report.changed, ["orders.max_items"]);
    assert_eq!(order(orders.url("/orders"), 3).await?, 201);

    let exit = orders.stop().await?;
    assert_eq!(exit.code(), 0, "{exit:?}");
    assert!(!data.path().join("orders.lock").exists(), "the store released its lock");
    Ok(())
}

#[tokio::test]
async fn a_reload_with_a_wrong_type_is_refused_and_the_limit_in_force_stays() -> Result<(), Error> {
    let data = tempfile::tempdir()?;
    let config = overrides(data.path(), 2)?;
    let orders = TestService::start(orders::service(), config.clone()).await?;

    config.set_yaml("orders", "max_items: lots\n")?;
    let refused = orders.reload().await.expect_err("a wrong type is refused");
    assert!(
        refused.to_string().contains("orders.max_items: invalid type"),
        "{refused}"
    );
    assert_eq!(order(orders.url("/orders"), 2).await?, 201);

    assert_eq!(orders.stop().await?.code(), 0);
    Ok(())
}
