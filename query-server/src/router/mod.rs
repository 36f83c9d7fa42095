//! From a request to its handler: [`Router`] resolves `(method, path segments)` against the
//! route table ([`crate::routes::Route`]), answering 404 and 405 itself; [`Endpoint`] upgrades
//! WebSockets, reads the body and parameters, answers hot routes from the cache, and calls the
//! handler ([`dispatch`]).
//!
//! Between the two sits the admin check (`middleware::auth`), which needs the resolved
//! route; the router hands it over in the request's extensions as [`Matched`].

mod dispatch;
mod endpoint;
mod hot;
mod request;
mod resolve;

pub(crate) use endpoint::Endpoint;
pub(crate) use resolve::{Matched, Router};
