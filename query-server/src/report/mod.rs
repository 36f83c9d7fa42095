//! Reports rendered by the API.
