//! [`Call`]: one method call on a remote object, as an effect inside tasks and as a future
//! elsewhere.

use std::fmt;
use std::future::IntoFuture;
use std::marker::PhantomData;

use serde::de::DeserializeOwned;

use super::{BoxFuture, RawRemote, RemoteError, RemoteErrorKind};
use crate::task::{Cx, Effect, RequestKind, RequestKindBox, Response, ResponseKind};

/// A call of a method on a remote object, described but not yet made.
///
/// Await it: inside a `#[migratable]` function it is a suspension point (the task waits for
/// the reply as a request to the runtime); elsewhere it is an ordinary future. Either way it
/// resolves to the method's output, or the [`RemoteError`] that stopped the call.
#[must_use = "a call does nothing until it is awaited"]
pub struct Call<R> {
    spec: CallSpec,
    _r: PhantomData<fn() -> R>,
}

/// What a call needs once its result type is forgotten.
pub(crate) struct CallSpec {
    pub(crate) target: RawRemote,
    pub(crate) method: u16,
    /// The encoded arguments (taken when the call is sent), or why they did not encode.
    pub(crate) args: Result<Vec<u8>, postcard::Error>,
}

impl CallSpec {
    /// `Trait::method`, for errors and traces.
    pub(crate) fn describe(&self) -> String {
        self.target.handle.describe(self.method)
    }

    /// Makes the call: on this node, another node of the process, or over the network.
    pub(crate) fn invoke(self) -> BoxFuture<'static, Result<Vec<u8>, RemoteError>> {
        let handle = std::sync::Arc::clone(&self.target.handle);
        match self.args {
            Ok(args) => handle.invoke(self.method, args),
            Err(e) => {
                let err = handle.error(
                    self.method,
                    RemoteErrorKind::BadArgs,
                    format!("the arguments do not encode: {e}"),
                );
                Box::pin(async move { Err(err) })
            }
        }
    }
}

#[cfg(all(test, tern_loom))]
impl CallSpec {
    /// A call to nothing, for models of a task waiting in a call.
    pub(crate) fn dummy() -> CallSpec {
        CallSpec {
            target: RawRemote::from_handle(std::sync::Arc::new(super::Handle::dummy())),
            method: 0,
            args: Ok(Vec::new()),
        }
    }
}

impl fmt::Debug for CallSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} on {}", self.describe(), self.target.handle.owner)
    }
}

impl<R> Call<R> {
    pub(crate) fn new(
        target: RawRemote,
        method: u16,
        args: Result<Vec<u8>, postcard::Error>,
    ) -> Self {
        Call {
            spec: CallSpec {
                target,
                method,
                args,
            },
            _r: PhantomData,
        }
    }
}

impl<R> fmt::Debug for Call<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Call({:?})", self.spec)
    }
}

/// Decodes a reply as `R`.
fn decode<R: DeserializeOwned>(
    spec_describe: impl FnOnce() -> (String, String),
    reply: Result<Vec<u8>, RemoteError>,
) -> Result<R, RemoteError> {
    let bytes = reply?;
    // A result may hold channels or remote references: decode on a node.
    postcard::from_bytes(&bytes).map_err(|e| {
        let (method, node) = spec_describe();
        RemoteError {
            node,
            method,
            kind: RemoteErrorKind::BadResult,
            message: format!(
                "the result does not decode as `{}`: {e}",
                std::any::type_name::<R>()
            ),
            report: None,
        }
    })
}

impl<R: DeserializeOwned + Send + 'static> IntoFuture for Call<R> {
    type Output = Result<R, RemoteError>;
    type IntoFuture = BoxFuture<'static, Result<R, RemoteError>>;

    fn into_future(self) -> Self::IntoFuture {
        let handle = std::sync::Arc::clone(&self.spec.target.handle);
        let method = self.spec.method;
        let node = handle.node.upgrade();
        let reply = self.spec.invoke();
        Box::pin(async move {
            let reply = reply.await;
            let describe = || (handle.describe(method), handle.owner.to_string());
            match &node {
                Some(node) => crate::node::with_current(node, || decode(describe, reply)),
                None => decode(describe, reply),
            }
        })
    }
}

impl<R: DeserializeOwned + Send + 'static> Effect for Call<R> {
    type Output = Result<R, RemoteError>;

    fn into_request(self, _cx: &mut Cx<'_>) -> RequestKindBox {
        RequestKindBox(RequestKind::Remote {
            call: Box::new(self.spec),
        })
    }

    fn decode(response: Response) -> Self::Output {
        match response.0 {
            // The executor decodes on its worker, whose current node is the task's.
            ResponseKind::Remote(reply) => decode(
                || ("a remote method".to_owned(), "its owner".to_owned()),
                *reply,
            ),
            other => panic!("a remote call resumed with {other:?}, not its reply"),
        }
    }
}
