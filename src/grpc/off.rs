//! Without feature `grpc`: no tonic services, the app served as given.

use axum::Router;
use micro_actors::Readiness;

use crate::Resources;

/// No services can be registered without the feature.
#[derive(Clone, Default)]
pub(crate) struct GrpcServices {}

impl GrpcServices {
    pub(crate) fn merge_into(&self, app: Router, _resources: &Resources, _readiness: &Readiness) -> Router {
        app
    }
}
