//! HEAD is answered as GET (the router resolves it so) with the body dropped here, for every
//! answer including errors, as HTTP requires.

use bytes::Bytes;
use hyper::body::Incoming;
use hyper::{Method, Request, Response};

use crate::http::{full, Body, Service};

pub(crate) struct Head<S> {
    inner: S,
}

impl<S> Head<S> {
    pub(crate) fn new(inner: S) -> Self {
        Self { inner }
    }
}

impl<S: Service> Service for Head<S> {
    async fn call(&self, request: Request<Incoming>) -> Response<Body> {
        let head = request.method() == Method::HEAD;
        let mut response = self.inner.call(request).await;
        if head {
            *response.body_mut() = full(Bytes::new());
        }
        response
    }
}
