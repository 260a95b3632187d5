//! A proxy: this node's operations in flight at another node's home, its stream of
//! credited sends, and what it does with the home's answers (see the [parent module](super)).

use super::*;

impl StateGuard<'_> {
    /// Completes a send against this node's credit, if it has any: the value goes to the
    /// home as the next of this node's stream. Gives the bytes back without credit.
    pub(in crate::channel) fn try_stream(
        &mut self,
        home: &NodeId,
        bytes: Vec<u8>,
    ) -> Result<(), Vec<u8>> {
        // A closed channel takes no more credited sends (a grant may arrive after the close).
        if self.core.id.cap == 0 || self.closed || self.net().credit == 0 {
            return Err(bytes);
        }
        let Some(me) = self.core.cluster.as_ref().map(|c| c.me.clone()) else {
            return Err(bytes);
        };
        let chan = wire_id(self.core);
        let net = self.net();
        net.credit -= 1;
        net.stream_seq += 1;
        let seq = net.stream_seq;
        let msg = ToHome::Stream {
            chan,
            op: OpId {
                party: stream_party(&me),
                epoch: 0,
                seq,
            },
            value: Payload(bytes),
        };
        net.unacked.push_back((seq, msg.clone()));
        // Sent under the lock, not after it like other messages: the stream's numbers must
        // leave in order (the home drops a number not above the last it took).
        if let Some(cluster) = &self.core.cluster {
            cluster.transmit(home, Message::ToHome(msg));
        }
        Ok(())
    }

    // ---- proxy side --------------------------------------------------------------------------

    /// Starts an operation at the home.
    pub(super) fn issue(
        &mut self,
        home: NodeId,
        op: OpId,
        msg: ToHome,
        party: Party,
        is_send: bool,
    ) {
        self.transmit(&home, Message::ToHome(msg.clone()));
        self.net().in_flight.push(InFlight {
            op,
            home,
            msg,
            party,
            is_send,
            adopted: false,
        });
        self.publish();
    }

    pub(in crate::channel) fn new_op(&self, party: proto::PartyId, epoch: u64) -> Option<OpId> {
        self.core.cluster.as_ref().map(|c| c.op(party, epoch))
    }

    /// A task's send on a channel whose home is `home`.
    pub(in crate::channel) fn proxy_task_send(
        &mut self,
        home: NodeId,
        chan: Arc<ChanCore>,
        mut task: Box<Task>,
        value: Value,
    ) -> Option<Box<Task>> {
        let bytes = match value.to_bytes() {
            Ok(bytes) => bytes,
            Err(_) => {
                task.chans.put(chan);
                let e = ChannelError::Undecodable {
                    type_name: "a value that does not encode",
                };
                task.respond(crate::task::Response(ResponseKind::Channel(e, Some(value))));
                return Some(task);
            }
        };
        let bytes = match self.try_stream(&home, bytes) {
            Ok(()) => {
                task.chans.put(chan);
                task.respond(crate::task::Response(ResponseKind::Unit));
                return Some(task);
            }
            Err(bytes) => bytes,
        };
        let op = self.new_op(task.shared.id.party(), task.epoch)?;
        let msg = ToHome::Send {
            chan: wire_id(self.core),
            op,
            value: Payload(bytes),
        };
        task.set_pending(crate::task::RequestKind::Send {
            chan,
            value: Some(value),
        });
        self.issue(home, op, msg, Party::Task(Parked::park(task)), true);
        None
    }

    /// A task's receive on a channel whose home is `home`.
    pub(in crate::channel) fn proxy_task_recv(
        &mut self,
        home: NodeId,
        chan: Arc<ChanCore>,
        mut task: Box<Task>,
    ) -> Option<Box<Task>> {
        if let Some(v) = self.net().returned.pop_front() {
            task.chans.put(chan);
            task.respond(crate::task::Response(ResponseKind::Value(v)));
            return Some(task);
        }
        let op = self.new_op(task.shared.id.party(), task.epoch)?;
        task.set_pending(crate::task::RequestKind::Recv { chan });
        let party = match self.adopt(Party::Task(Parked::park(task))) {
            Ok(()) => return None,
            Err(party) => party,
        };
        let msg = ToHome::Recv {
            chan: wire_id(self.core),
            op,
        };
        self.issue(home, op, msg, party, false);
        None
    }

    /// Gives `party` the oldest receive in flight whose future was dropped, if there is one:
    /// a value the home handed to it is older than any a new receive would get, so taking
    /// it over keeps the order this node's receivers see (what a value handed back to the
    /// front of a local channel does).
    pub(super) fn adopt(&mut self, party: Party) -> Result<(), Party> {
        let home = self.net().home.clone();
        let home = home.as_ref();
        let net = self.net();
        match net
            .in_flight
            .iter_mut()
            .find(|f| !f.is_send && matches!(f.party, Party::Gone) && Some(&f.home) == home)
        {
            Some(f) => {
                f.party = party;
                f.adopted = true;
                self.publish();
                Ok(())
            }
            None => Err(party),
        }
    }

    pub(in crate::channel) fn ext_party(&self) -> proto::PartyId {
        let origin = self
            .core
            .cluster
            .as_ref()
            .map_or(0, |c| crate::channel::fnv1a(c.me.as_str().as_bytes()));
        crate::task::TaskId::next(origin).party()
    }

    /// An external future's send on a channel whose home is `home`.
    pub(in crate::channel) fn proxy_ext_send(
        &mut self,
        home: NodeId,
        reg: &mut ExtReg,
        v: Value,
        cx: &mut Context<'_>,
    ) -> Poll<Result<(), (ChannelError, Option<Value>)>> {
        let bytes = match v.to_bytes() {
            Ok(bytes) => bytes,
            Err(_) => {
                let e = ChannelError::Undecodable {
                    type_name: "a value that does not encode",
                };
                return Poll::Ready(Err((e, Some(v))));
            }
        };
        let bytes = match self.try_stream(&home, bytes) {
            Ok(()) => return Poll::Ready(Ok(())),
            Err(bytes) => bytes,
        };
        let party = self.ext_party();
        let Some(op) = self.new_op(party, 0) else {
            return Poll::Ready(Err((ChannelError::Closed, Some(v))));
        };
        let slot = Arc::new(ExtSlot::default());
        {
            let mut s = slot.state.lock();
            s.value = Some(v);
            s.waker = Some(cx.waker().clone());
        }
        let msg = ToHome::Send {
            chan: wire_id(self.core),
            op,
            value: Payload(bytes),
        };
        self.issue(home, op, msg, Party::Ext(Arc::clone(&slot)), true);
        reg.slot = Some(slot);
        Poll::Pending
    }

    /// An external future's receive on a channel whose home is `home`.
    pub(in crate::channel) fn proxy_ext_recv(
        &mut self,
        home: NodeId,
        reg: &mut ExtReg,
        cx: &mut Context<'_>,
    ) -> Poll<Result<Value, ChannelError>> {
        if let Some(v) = self.net().returned.pop_front() {
            return Poll::Ready(Ok(v));
        }
        let party = self.ext_party();
        let Some(op) = self.new_op(party, 0) else {
            return Poll::Ready(Err(ChannelError::Closed));
        };
        let slot = Arc::new(ExtSlot::default());
        slot.state.lock().waker = Some(cx.waker().clone());
        reg.slot = Some(Arc::clone(&slot));
        if let Err(party) = self.adopt(Party::Ext(slot)) {
            let msg = ToHome::Recv {
                chan: wire_id(self.core),
                op,
            };
            self.issue(home, op, msg, party, false);
        }
        Poll::Pending
    }

    /// Closes a channel whose home is `home`: there, for everyone.
    pub(in crate::channel) fn proxy_close(&mut self, home: NodeId) {
        self.closed = true;
        self.net().credit = 0;
        self.publish();
        let chan = wire_id(self.core);
        self.transmit(&home, Message::ToHome(ToHome::Close { chan }));
    }

    /// A freezer takes `shared`'s task: if its operation is in flight at the home, ask the
    /// home to withdraw it.
    pub(in crate::channel) fn withdraw_in_flight(
        &mut self,
        shared: &TaskShared,
    ) -> Option<Withdrawal> {
        let chan = wire_id(self.core);
        let net = self.net.as_mut()?;
        let i = net.in_flight.iter().position(|f| match &f.party {
            Party::Task(p) => p.is(shared),
            Party::Decided(p, _) => std::ptr::eq(*p, shared),
            _ => false,
        })?;
        let (tx, rx) = oneshot::channel();
        if matches!(net.in_flight[i].party, Party::Decided(..)) {
            if let Party::Decided(_, outcome) = net.in_flight.remove(i).party {
                tx.send(outcome).ok();
            }
            self.publish();
            return Some(rx);
        }
        let f = &mut net.in_flight[i];
        f.party = Party::Freezer(tx);
        let home = f.home.clone();
        let msg = ToHome::Withdraw { chan, op: f.op };
        self.publish();
        self.transmit(&home, Message::ToHome(msg));
        Some(rx)
    }

    /// A future with `slot` was dropped. Returns whether the slot was this proxy's (its
    /// operation is then withdrawn at the home, or its value kept for the next receiver).
    pub(in crate::channel) fn cancel_in_flight(&mut self, slot: &Arc<ExtSlot>) -> bool {
        let chan = wire_id(self.core);
        let Some(net) = self.net.as_mut() else {
            return false;
        };
        let Some(f) = net
            .in_flight
            .iter_mut()
            .find(|f| matches!(&f.party, Party::Ext(s) if Arc::ptr_eq(s, slot)))
        else {
            if net.home.is_some() {
                // Completed: a receiver that never read its value gives it back here.
                let mut s = slot.state.lock();
                if matches!(s.done, Some(Ok(()))) {
                    if let Some(v) = s.value.take() {
                        net.returned.push_front(v);
                    }
                }
                return true;
            }
            return false;
        };
        slot.state.lock().cancelled = true;
        f.party = Party::Gone;
        let home = f.home.clone();
        let msg = ToHome::Withdraw { chan, op: f.op };
        self.publish();
        self.transmit(&home, Message::ToHome(msg));
        true
    }

    /// The home answered `op` with `outcome`.
    pub(super) fn settle(&mut self, from: &NodeId, op: OpId, outcome: Outcome) -> Settled {
        let Some(net) = self.net.as_mut() else {
            return Settled::Unknown;
        };
        let Some(i) = net.in_flight.iter().position(|f| f.op == op) else {
            return Settled::Unknown;
        };
        if let Outcome::Rejected {
            reason: Rejection::NotHome { .. } | Rejection::Overloaded | Rejection::UnknownOp,
            ..
        } = outcome
        {
            if !matches!(net.in_flight[i].party, Party::Freezer(_) | Party::Gone) {
                return Settled::Retry;
            }
        }
        let f = net.in_flight.remove(i);
        if f.home != *from {
            // An answer from a node that is no longer the one asked: ignore it, keep waiting.
            net.in_flight.insert(i, f);
            return Settled::Unknown;
        }
        if f.adopted && matches!(outcome, Outcome::Withdrawn { .. }) {
            // The dropped receive was withdrawn before it matched: its new party receives
            // with an operation of its own.
            let op = self.new_op(self.ext_party(), 0);
            if let Some(op) = op {
                let msg = ToHome::Recv {
                    chan: wire_id(self.core),
                    op,
                };
                self.issue(f.home, op, msg, f.party, false);
            }
            return Settled::Done;
        }
        let core = self.core;
        match f.party {
            Party::Task(parked) => {
                let address = parked.0.as_ptr() as *const TaskShared;
                let Some(mut task) = parked.unpark() else {
                    // A freezer has the task and will withdraw under this lock: keep the
                    // answer for it.
                    let net = self.net();
                    net.in_flight.push(InFlight {
                        party: Party::Decided(address, outcome),
                        ..f
                    });
                    return Settled::Done;
                };
                {
                    let kind = match outcome {
                        Outcome::Sent => ResponseKind::Unit,
                        Outcome::Received(p) => ResponseKind::Value(Value::Encoded(p.0)),
                        Outcome::Closed { .. } => {
                            self.closed = true;
                            self.net().credit = 0;
                            ResponseKind::Channel(ChannelError::Closed, task.take_send_value())
                        }
                        Outcome::Rejected {
                            reason:
                                Rejection::Mismatch {
                                    found_ty,
                                    found_cap,
                                },
                            ..
                        } => ResponseKind::Channel(
                            mismatch(core, found_ty, found_cap),
                            task.take_send_value(),
                        ),
                        Outcome::Withdrawn { .. } | Outcome::Rejected { .. } => {
                            ResponseKind::Channel(node_down(&f.home), task.take_send_value())
                        }
                    };
                    self.publish();
                    respond(task, kind);
                }
            }
            Party::Ext(slot) => {
                let mut s = slot.state.lock();
                let result = match outcome {
                    Outcome::Sent => {
                        s.value = None;
                        Ok(())
                    }
                    Outcome::Received(p) => {
                        s.value = Some(Value::Encoded(p.0));
                        Ok(())
                    }
                    Outcome::Closed { .. } => {
                        self.closed = true;
                        self.net().credit = 0;
                        Err(ChannelError::Closed)
                    }
                    Outcome::Rejected {
                        reason:
                            Rejection::Mismatch {
                                found_ty,
                                found_cap,
                            },
                        ..
                    } => Err(mismatch(core, found_ty, found_cap)),
                    Outcome::Withdrawn { .. } | Outcome::Rejected { .. } => Err(node_down(&f.home)),
                };
                self.publish();
                s.complete(result);
            }
            Party::Freezer(tx) => {
                self.publish();
                // The freezer may have given up (its future dropped): then nobody waits.
                tx.send(outcome).ok();
            }
            Party::Gone => {
                if let Outcome::Received(p) = outcome {
                    self.net().returned.push_back(Value::Encoded(p.0));
                }
                self.publish();
            }
            // A repeated answer: the first one is kept.
            decided @ Party::Decided(..) => {
                self.net().in_flight.push(InFlight {
                    party: decided,
                    ..f
                });
            }
        }
        Settled::Done
    }

    /// Sends every operation in flight at `peer` again (its connection came back).
    pub(in crate::channel) fn resend_to(&mut self, peer: &NodeId) -> usize {
        let Some(net) = self.net.as_mut() else {
            return 0;
        };
        let mut again: Vec<(NodeId, Message)> = Vec::new();
        if net.home.as_ref() == Some(peer) {
            for (_, msg) in &net.unacked {
                again.push((peer.clone(), Message::ToHome(msg.clone())));
            }
        }
        for f in net
            .in_flight
            .iter()
            .filter(|f| f.home == *peer && !matches!(f.party, Party::Decided(..)))
        {
            let msg = match &f.party {
                Party::Freezer(_) | Party::Gone => ToHome::Withdraw {
                    chan: f.msg.chan().clone(),
                    op: f.op,
                },
                _ => f.msg.clone(),
            };
            again.push((peer.clone(), Message::ToHome(msg)));
        }
        let n = again.len();
        // Under the lock, so that a stream value sent meanwhile cannot overtake these.
        if let Some(cluster) = &self.core.cluster {
            for (to, message) in again {
                cluster.transmit(&to, message);
            }
        }
        n
    }

    /// Fails every operation in flight at `peer` with `NodeDown`. When the peer restarted,
    /// it lost them: they are forgotten. When it was only unreachable for too long, they may
    /// still wait there: they stay in flight without a party (a value the home hands one
    /// later goes to the next receiver here; they are withdrawn when the peer is back).
    pub(in crate::channel) fn fail_home(&mut self, peer: &NodeId, restarted: bool) -> usize {
        let Some(net) = self.net.as_mut() else {
            return 0;
        };
        if net.home.as_ref() == Some(peer) {
            net.credit = 0;
            if restarted {
                // Completed here, lost there: at most once across a crash.
                net.unacked.clear();
            }
        }
        let mut failed = Vec::new();
        let mut kept = Vec::new();
        for mut f in std::mem::take(&mut net.in_flight) {
            if f.home != *peer
                || matches!(f.party, Party::Decided(..))
                || (!restarted && matches!(f.party, Party::Gone))
            {
                kept.push(f);
                continue;
            }
            failed.push(std::mem::replace(&mut f.party, Party::Gone));
            if !restarted {
                f.adopted = false;
                kept.push(f);
            }
        }
        net.in_flight = kept;
        self.publish();
        let mut n = 0;
        for party in failed {
            match party {
                Party::Task(parked) => {
                    if let Some(mut task) = parked.unpark() {
                        let value = task.take_send_value();
                        respond(task, ResponseKind::Channel(node_down(peer), value));
                        n += 1;
                    }
                }
                Party::Ext(slot) => {
                    let mut s = slot.state.lock();
                    if s.is_live() {
                        s.complete(Err(node_down(peer)));
                        n += 1;
                    }
                }
                // Dropping the sender tells the freezer the home is gone.
                Party::Freezer(_) | Party::Gone | Party::Decided(..) => {}
            }
        }
        n
    }

    /// The home refused `op` for now (not home, overloaded, unknown): ask again, at the home
    /// as this node now computes it. When that is this node, the party starts over here.
    pub(in crate::channel) fn retry(&mut self, op: OpId) -> Option<Box<Task>> {
        let net = self.net.as_mut()?;
        let i = net.in_flight.iter().position(|f| f.op == op)?;
        net.epoch = 0;
        match self.remote_home() {
            Some(home) => {
                let net = self.net();
                let f = &mut net.in_flight[i];
                f.home = home.clone();
                let msg = f.msg.clone();
                self.transmit(&home, Message::ToHome(msg));
                None
            }
            None => {
                let f = self.net().in_flight.remove(i);
                self.publish();
                match f.party {
                    // Performed again from its pending request, once the lock is left.
                    Party::Task(parked) => parked.unpark(),
                    Party::Ext(slot) => {
                        let mut s = slot.state.lock();
                        s.restart = true;
                        if let Some(w) = s.waker.take() {
                            w.wake();
                        }
                        None
                    }
                    Party::Freezer(_) | Party::Gone | Party::Decided(..) => None,
                }
            }
        }
    }
}
