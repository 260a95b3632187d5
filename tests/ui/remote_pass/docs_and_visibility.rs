//! A public trait in a module: its doc comments are kept (on the trait's methods and copied
//! onto the proxy's), `missing_docs` and `unreachable_pub` find nothing to complain about,
//! and `main` calls it from outside the module. A private trait's proxy is private.
#![deny(missing_docs, unreachable_pub)]

/// Interfaces.
pub mod api {
    /// A clock.
    #[tern::remote]
    pub trait Clock {
        /// The time, in ticks.
        async fn now(&self) -> u64;
    }

    /// A clock that is always at the same time.
    pub struct Stopped(pub u64);

    #[tern::remote]
    impl Clock for Stopped {
        async fn now(&self) -> u64 {
            self.0
        }
    }

    #[tern::remote]
    trait Hidden {
        async fn secret(&self) -> u64;
    }

    struct Nothing;

    #[tern::remote]
    impl Hidden for Nothing {
        async fn secret(&self) -> u64 {
            7
        }
    }

    /// Calls the private interface from inside its module.
    pub async fn secret(node: &tern::Node) -> u64 {
        let hidden: tern::Remote<dyn Hidden> = node.expose(Nothing);
        hidden.secret().await.unwrap()
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let node = tern::Node::builder("ui").workers(1).start().await.unwrap();
    let clock: tern::Remote<dyn api::Clock> = node.expose(api::Stopped(12));
    let proxy: &api::ClockProxy = &clock;
    assert_eq!(proxy.now().await.unwrap(), 12);
    assert_eq!(api::secret(&node).await, 7);
    assert!(<dyn api::Clock as tern::remote::Interface>::NAME.ends_with("::api::Clock"));
    assert_eq!(
        <dyn api::Clock as tern::remote::Interface>::METHODS,
        ["now"]
    );
    node.shutdown().await;
}
