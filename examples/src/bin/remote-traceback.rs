//! Remote tracebacks: what you get when a task fails on another node, and when a method of a
//! remote object panics on its owner.
//!
//! Two nodes, `alpha` and `beta`, run in this process, each listening on loopback (QUIC with
//! mutual TLS from the per-process dev CA). The program shows two post-mortems:
//!
//! 1. **A task that fails after moving.** `alpha` exposes an `Inventory` object and spawns a
//!    `#[tern::migratable]` task, `picker`, that takes items from a channel, takes each one out
//!    of the inventory with a remote call, and counts it in one of four bins. It holds live
//!    state: a counter, the `Vec<String>` of items it processed, the bin counts, the item at
//!    hand and the `Remote<dyn Inventory>`. After three items `alpha` moves it to `beta`
//!    (`handle.move_to("beta")`); its calls to the inventory keep going back to `alpha`. On
//!    `beta` it gets an item for bin 7 and indexes out of bounds. `alpha`'s
//!    `handle.join().await` returns `Err(JoinError::Failed(report))`: the
//!    [`tern::TaskReport`] names the node it failed on, the task, the panic and its source
//!    line, and every frame with its live state — printed below like a debugger's traceback.
//!    The picker does each item in a nested `#[tern::migratable]` frame, `pick`: the outer
//!    frame is suspended in that call and shows its locals; the frame that panicked was
//!    running and shows only its name (its locals are not in its state while it runs).
//! 2. **A remote method that panics.** `beta` calls `take` for an item `alpha` never stocked;
//!    the method panics on `alpha`. The caller gets a `RemoteError` of kind `Panicked` with
//!    the owner's report (node, method, panic and location), and `alpha` keeps serving.
//!
//! Run: `cargo run -p tern-examples --bin remote-traceback`. It exits 0 when it showed both.

use std::collections::BTreeMap;
use std::error::Error;
use std::sync::Mutex;

use tern::{Channel, JoinError, Node, Remote, RemoteErrorKind, TaskReport};

/// A stock of items, kept on the node that exposes it.
#[tern::remote]
pub trait Inventory {
    /// Takes one unit of `item`; returns the units left. Panics when `item` was never stocked
    /// (the bug part 2 shows).
    async fn take(&self, item: String) -> u64;
    /// The units left of `item`.
    async fn left(&self, item: String) -> Option<u64>;
}

/// The inventory `alpha` exposes.
struct Shelf(Mutex<BTreeMap<String, u64>>);

#[tern::remote]
impl Inventory for Shelf {
    async fn take(&self, item: String) -> u64 {
        let mut stock = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let units = stock
            .get_mut(&item)
            .unwrap_or_else(|| panic!("no shelf holds {item:?}"));
        *units = units.saturating_sub(1);
        *units
    }

    async fn left(&self, item: String) -> Option<u64> {
        let stock = self.0.lock().unwrap_or_else(|e| e.into_inner());
        stock.get(&item).copied()
    }
}

/// Takes items named `name@bin` from `items` and picks each with [`pick`]; sends the units
/// left on `progress` after each. Returns the number of items when `items` closes.
#[tern::migratable]
async fn picker(
    items: Channel<String>,
    progress: Channel<u64>,
    inventory: Remote<dyn Inventory>,
) -> u64 {
    let mut counter: u64 = 0;
    let mut processed: Vec<String> = Vec::new();
    let mut bins: Vec<u64> = vec![0; 4];
    while let Ok(item) = items.recv().await {
        let item: String = item;
        // A nested frame: while it runs, this frame is suspended here with its locals.
        let (next, left): (Vec<u64>, u64) =
            pick(inventory.clone(), item.clone(), bins.clone()).await;
        bins.clone_from(&next);
        counter += 1;
        processed.push(item);
        if progress.send(left).await.is_err() {
            break;
        }
    }
    counter
}

/// Takes one `name@bin` out of `inventory` and counts it in its bin; returns the bins and the
/// units left. An item for a bin past the fourth is the bug: it indexes out of bounds.
#[tern::migratable]
async fn pick(
    inventory: Remote<dyn Inventory>,
    item: String,
    mut bins: Vec<u64>,
) -> (Vec<u64>, u64) {
    let (name, bin) = item.split_once('@').unwrap_or((item.as_str(), "0"));
    let bin: usize = bin.parse().unwrap_or(0);
    let name: String = name.to_owned();
    let left: u64 = inventory.take(name).await.expect("the inventory answers");
    bins[bin] += 1; // the bug: nothing checks that `bin` < 4
    (bins, left)
}

/// Prints a task's post-mortem the way a debugger prints a remote traceback.
fn print_traceback(report: &TaskReport) {
    println!("Remote traceback (from node {:?}):", report.node);
    // TaskReport's Display already reads as a traceback: header, panic with its location,
    // last suspension point, then the frames outermost first with their live state.
    for line in report.to_string().lines() {
        println!("  {line}");
    }
}

/// Starts a node listening on loopback. It keeps each running frame's state as of its last
/// resume (`capture_locals`), so the frame that panics shows its locals too.
async fn listening(id: &str) -> Result<Node, Box<dyn Error>> {
    let node = Node::builder(id)
        .workers(1)
        .capture_locals(true)
        .listen("127.0.0.1:0".parse()?)
        .start()
        .await?;
    Ok(node)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn Error>> {
    // The panics below are caught by tern and reported; keep the default hook's backtrace
    // note off the terminal (tern chains its own hook, installed when a node starts, to this).
    std::panic::set_hook(Box::new(|info| {
        eprintln!("(a panic on a worker thread, caught by tern: {info})");
    }));
    let alpha = listening("alpha").await?;
    let beta = listening("beta").await?;
    let addr = beta.local_addr().ok_or("beta is not listening")?;
    alpha.connect(addr).await?;
    while alpha.members().len() < 2 || beta.members().len() < 2 {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }

    let stock = [("bolt", 10), ("nut", 10), ("gear", 5)]
        .map(|(k, v)| (k.to_owned(), v))
        .into_iter()
        .collect();
    let inventory: Remote<dyn Inventory> = alpha.expose(Shelf(Mutex::new(stock)));

    // ---- 1. a task that fails on the node it was moved to -----------------------------------
    println!("== 1. a task moved from alpha to beta fails there ==");
    let items = alpha.channel::<String>("picker/items");
    let progress = alpha.channel::<u64>("picker/progress");
    let task = alpha.spawn(picker(items.clone(), progress.clone(), inventory.clone()));
    for item in ["bolt@0", "nut@1", "gear@3"] {
        items.send(item.to_owned()).await?;
        println!("alpha: {item} picked, {} left", progress.recv().await?);
    }
    task.move_to("beta").await?;
    println!("alpha: moved the picker to {}", task.location());
    items.send("bolt@2".to_owned()).await?;
    println!(
        "alpha: bolt@2 picked on beta, {} left",
        progress.recv().await?
    );
    items.send("gear@7".to_owned()).await?; // bin 7 of 4: the picker panics on beta
    let report = match task.join().await {
        Err(JoinError::Failed(report)) => report,
        other => return Err(format!("expected the picker to fail, got {other:?}").into()),
    };
    print_traceback(&report);
    let panic = report.panic.as_ref().ok_or("the report has no panic")?;
    let outer_state = report.frames.first().map_or("", |f| f.state.as_str());
    if report.node != "beta"
        || !panic.message.contains("index out of bounds")
        || !outer_state.contains("processed")
    {
        return Err(format!("unexpected report: {report:?}").into());
    }
    let frames = report.frames.len();

    // ---- 2. a remote method that panics on its owner ------------------------------------------
    println!("\n== 2. a method called from beta panics on alpha ==");
    let refs = alpha.buffered_channel::<Remote<dyn Inventory>>("inventory", 1);
    refs.send(inventory.clone()).await?;
    let on_beta = beta
        .buffered_channel::<Remote<dyn Inventory>>("inventory", 1)
        .recv()
        .await?;
    let err = match on_beta.take("sprocket".to_owned()).await {
        Err(err) => err,
        Ok(left) => return Err(format!("take(sprocket) answered {left}").into()),
    };
    println!("beta: the call failed: {err}");
    println!(
        "  owner node: {:?}, method: {}, kind: {:?}",
        err.node, err.method, err.kind
    );
    let report = err.report.as_deref().ok_or("no report with the panic")?;
    if err.kind != RemoteErrorKind::Panicked || err.node != "alpha" {
        return Err(format!("unexpected error: {err:?}").into());
    }
    println!("Remote traceback (from node {:?}):", report.node);
    println!("  method {} panicked", report.task_type);
    if let Some(p) = &report.panic {
        match &p.location {
            Some(l) => println!("  at {l}: {}", p.message),
            None => println!("  (no location): {}", p.message),
        }
    }
    let gears = on_beta.left("gear".to_owned()).await?;
    println!("beta: alpha still serves: {gears:?} gears left");

    alpha.shutdown().await;
    beta.shutdown().await;
    println!(
        "\nshown: a task moved alpha → beta failed on beta with a traceback of {} frame(s), and a \
         method panic on alpha reached beta as RemoteError::Panicked with its report",
        frames
    );
    Ok(())
}
