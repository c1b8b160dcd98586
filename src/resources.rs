//! [`Resources`]: what the service's paired resources opened, handed to its
//! handlers as axum state.
//!
//! A resource is opened by an init step and released by its pair, in
//! reverse order of opening, at shutdown — and also when a later startup
//! step fails, so nothing an init opened is left behind.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};

use micro_actors::{BoxError, Callback};

/// The values the service's resources opened, one per type; a cheap clone
/// of a shared map. Given to [`ServiceBuilder::app_with`](crate::ServiceBuilder::app_with)
/// once every init step ran.
///
/// ```
/// let resources = micro::Resources::default();
/// assert!(resources.try_get::<String>().is_none());
/// ```
#[derive(Clone, Default)]
pub struct Resources {
    open: Arc<Mutex<HashMap<TypeId, Entry>>>,
}

struct Entry {
    name: String,
    value: Box<dyn Any + Send + Sync>,
}

impl Resources {
    /// The open resource of type `T`, if there is one.
    ///
    /// ```
    /// let resources = micro::Resources::default();
    /// assert_eq!(resources.try_get::<u32>(), None);
    /// ```
    #[must_use]
    pub fn try_get<T: Clone + Send + Sync + 'static>(&self) -> Option<T> {
        self.lock()
            .get(&TypeId::of::<T>())
            .and_then(|entry| entry.value.downcast_ref::<T>())
            .cloned()
    }

    /// The open resource of type `T`.
    ///
    /// # Panics
    ///
    /// When no resource of type `T` is open: the service registered none
    /// with [`ServiceBuilder::resource`](crate::ServiceBuilder::resource).
    /// Called from [`app_with`](crate::ServiceBuilder::app_with), the panic
    /// is caught and fails startup (exit 70) with this message.
    ///
    /// ```should_panic
    /// let resources = micro::Resources::default();
    /// let _pool: String = resources.get(); // no resource of type String is open
    /// ```
    #[must_use]
    pub fn get<T: Clone + Send + Sync + 'static>(&self) -> T {
        self.try_get().unwrap_or_else(|| {
            panic!(
                "no resource of type {} is open: register it with ServiceBuilder::resource",
                std::any::type_name::<T>()
            )
        })
    }

    /// Whether the resource called `name` is open.
    pub(crate) fn is_open(&self, name: &str) -> bool {
        self.lock().values().any(|entry| entry.name == name)
    }

    fn insert<T: Send + Sync + 'static>(&self, name: &str, value: T) -> Result<(), BoxError> {
        let mut open = self.lock();
        if let Some(other) = open.get(&TypeId::of::<T>()) {
            return Err(format!(
                "resource {name}: a resource of type {} is already open ({}); wrap one of them in a type of its own",
                std::any::type_name::<T>(),
                other.name
            )
            .into());
        }
        open.insert(
            TypeId::of::<T>(),
            Entry {
                name: name.to_owned(),
                value: Box::new(value),
            },
        );
        Ok(())
    }

    fn take<T: Send + Sync + 'static>(&self) -> Option<T> {
        let entry = self.lock().remove(&TypeId::of::<T>())?;
        entry.value.downcast::<T>().ok().map(|value| *value)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<TypeId, Entry>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl std::fmt::Debug for Resources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let open = self.lock();
        f.debug_set().entries(open.values().map(|entry| &entry.name)).finish()
    }
}

/// The two callbacks of a resource: `open` stores the value in `resources`;
/// `release` takes it back out and hands it to the service's release
/// function (nothing to do when it was never opened).
pub(crate) fn pair<T, Open, OpenFut, Release, ReleaseFut>(
    resources: &Resources,
    name: &str,
    open: Open,
    release: Release,
) -> (Callback, Callback)
where
    T: Clone + Send + Sync + 'static,
    Open: Fn() -> OpenFut + Send + Sync + 'static,
    OpenFut: Future<Output = Result<T, BoxError>> + Send + 'static,
    Release: Fn(T) -> ReleaseFut + Send + Sync + 'static,
    ReleaseFut: Future<Output = Result<(), BoxError>> + Send + 'static,
{
    let opener = {
        let (resources, name) = (resources.clone(), name.to_owned());
        Callback::new(&name.clone(), move || {
            let (resources, name, opening) = (resources.clone(), name.clone(), open());
            async move { resources.insert(&name, opening.await?) }
        })
    };
    let release = Arc::new(release);
    let releaser = {
        let resources = resources.clone();
        Callback::new(name, move || {
            let value = resources.take::<T>();
            let release = Arc::clone(&release);
            async move {
                match value {
                    Some(value) => release(value).await,
                    None => Ok(()),
                }
            }
        })
    };
    (opener, releaser)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_resource_is_there_once_opened_and_gone_once_released() {
        let resources = Resources::default();
        let (open, release) = pair(
            &resources,
            "pool",
            || async { Ok(7_u32) },
            |value: u32| async move {
                assert_eq!(value, 7);
                Ok(())
            },
        );
        assert!(!resources.is_open("pool"));
        open.run(Duration::from_secs(5)).await.expect("opened");
        assert_eq!(resources.try_get::<u32>(), Some(7));
        assert!(resources.is_open("pool"));
        release.run(Duration::from_secs(5)).await.expect("released");
        assert_eq!(resources.try_get::<u32>(), None);
        // Releasing what is not open does nothing.
        release.run(Duration::from_secs(5)).await.expect("nothing to release");
    }

    #[tokio::test]
    async fn two_resources_of_one_type_are_refused_by_name() {
        let resources = Resources::default();
        let (first, _) = pair(&resources, "a", || async { Ok(1_u8) }, |_| async { Ok(()) });
        let (second, _) = pair(&resources, "b", || async { Ok(2_u8) }, |_| async { Ok(()) });
        first.run(Duration::from_secs(5)).await.expect("first opened");
        let err = second.run(Duration::from_secs(5)).await.expect_err("same type refused");
        assert!(err.to_string().contains("already open (a)"), "{err}");
    }
}
