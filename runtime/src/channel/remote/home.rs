//! A channel's home: remote parties in the ordinary queues, the exactly-once log, and the
//! credit it grants other nodes' streams (see the [parent module](super)).

use super::*;

impl StateGuard<'_> {
    /// Logs and sends the outcome of a remote party's operation.
    pub(in crate::channel) fn answer(&mut self, node: &NodeId, op: OpId, outcome: Outcome) {
        self.net().log.complete(op, outcome.clone());
        // Counts first: whoever learns of the outcome sees them.
        self.publish();
        let sent = matches!(outcome, Outcome::Sent);
        let chan = wire_id(self.core);
        self.transmit(
            node,
            Message::FromHome(FromHome::Done { chan, op, outcome }),
        );
        if sent {
            self.maybe_grant(node);
        }
    }

    /// Grants `node` credit on a buffered channel when the buffer has room no one waits
    /// for, and acknowledges its stream so far.
    pub(in crate::channel) fn maybe_grant(&mut self, node: &NodeId) {
        let cap = self.core.id.cap;
        if cap == 0 {
            return;
        }
        let len = self.buffer.len();
        let others_wait = !self.senders.is_empty() || self.closed;
        let g = grant_size(cap);
        let net = self.net();
        let free = cap.saturating_sub(len + net.reserved);
        let i = match net.grants.iter().position(|x| x.node == *node) {
            Some(i) => i,
            None => {
                net.grants.push(Grant {
                    node: node.clone(),
                    reserved: 0,
                    last_seq: 0,
                    acked_sent: 0,
                });
                net.grants.len() - 1
            }
        };
        let grant = &mut net.grants[i];
        let add = if others_wait || grant.reserved * 2 > g {
            0
        } else {
            free.min(g - grant.reserved)
        };
        if add == 0 && grant.acked_sent == grant.last_seq {
            return;
        }
        grant.reserved += add;
        grant.acked_sent = grant.last_seq;
        let acked = grant.last_seq;
        net.reserved += add;
        let msg = FromHome::Credit {
            chan: wire_id(self.core),
            stream: stream_party(node),
            acked,
            credit: add as u64,
        };
        self.transmit(node, Message::FromHome(msg));
    }

    /// A value `from` sent against credit: take it (room was reserved for it).
    pub(in crate::channel) fn take_stream(&mut self, from: &NodeId, op: OpId, value: Payload) {
        let g = grant_size(self.core.id.cap);
        let net = self.net();
        let Some(grant) = net.grants.iter_mut().find(|x| x.node == *from) else {
            return self.uncredited(from);
        };
        if op.seq <= grant.last_seq {
            if let Some(c) = &self.core.cluster {
                c.count_repeat();
            }
            return;
        }
        if grant.reserved == 0 || op.party != stream_party(from) {
            return self.uncredited(from);
        }
        grant.last_seq = op.seq;
        grant.reserved -= 1;
        let top_up = grant.reserved * 2 <= g;
        net.reserved -= 1;
        if let Some(c) = &self.core.cluster {
            c.count_streamed();
        }
        if let Err(v) = self.deliver(Value::Encoded(value.0)) {
            self.buffer.push_back(v);
        }
        self.publish();
        if top_up {
            self.maybe_grant(from);
        }
    }

    /// A stream value with no credit behind it: a peer breaking the protocol. Refused and
    /// counted; nothing else changes.
    pub(in crate::channel) fn uncredited(&self, from: &NodeId) {
        tracing::warn!(channel = ?self.core.id, %from, "stream value without credit refused");
        if let Some(c) = &self.core.cluster {
            c.count_uncredited();
        }
    }

    /// Hands `v` to a remote receiver, or gives it back when it does not encode (the
    /// receiver is then told to ask again later).
    pub(in crate::channel) fn deliver_remote(
        &mut self,
        party: RemoteParty,
        v: Value,
    ) -> Result<(), Value> {
        match into_bytes(v) {
            Ok(bytes) => {
                self.publish();
                self.answer(&party.node, party.op, Outcome::Received(Payload(bytes)));
                Ok(())
            }
            Err(v) => {
                self.net().log.forget(party.op);
                let outcome = Outcome::Rejected {
                    reason: Rejection::Overloaded,
                    value: None,
                };
                let chan = wire_id(self.core);
                self.transmit(
                    &party.node,
                    Message::FromHome(FromHome::Done {
                        chan,
                        op: party.op,
                        outcome,
                    }),
                );
                Err(v)
            }
        }
    }

    /// Takes a remote sender's value and completes its send.
    pub(in crate::channel) fn take_remote(&mut self, mut party: RemoteParty) -> Option<Value> {
        let value = party.value.take();
        self.publish();
        self.answer(&party.node, party.op, Outcome::Sent);
        value
    }

    /// Answers a remote party of a closing channel: `Closed`, with a sender's value.
    pub(in crate::channel) fn answer_closed(&mut self, party: RemoteParty) {
        let value = party.value.and_then(|v| into_bytes(v).ok()).map(Payload);
        self.answer(&party.node, party.op, Outcome::Closed { value });
    }

    /// Performs a `Send`/`Recv`/`Withdraw`/`Ack`/`Close`/`Balance` from `from` at this home.
    pub(in crate::channel) fn at_home(&mut self, from: &NodeId, msg: ToHome) {
        match msg {
            ToHome::Send { op, value, .. } => {
                if !self.admit(from, op) {
                    return;
                }
                if self.closed {
                    let outcome = Outcome::Closed { value: Some(value) };
                    return self.answer(from, op, outcome);
                }
                let cap = self.core.id.cap;
                match self.offer(Value::Encoded(value.0), cap) {
                    Ok(()) => self.answer(from, op, Outcome::Sent),
                    Err(v) => {
                        self.senders.push_back(Waiter::Remote(Box::new(RemoteParty {
                            node: from.clone(),
                            op,
                            value: Some(v),
                        })));
                        self.publish();
                    }
                }
            }
            ToHome::Recv { op, .. } => {
                if !self.admit(from, op) {
                    return;
                }
                let cap = self.core.id.cap;
                if let Some(v) = self.take_value(cap) {
                    match into_bytes(v) {
                        Ok(bytes) => self.answer(from, op, Outcome::Received(Payload(bytes))),
                        Err(v) => {
                            self.buffer.push_front(v);
                            self.net().log.forget(op);
                            self.reply(from, op, Rejection::Overloaded, None);
                        }
                    }
                } else if self.closed {
                    self.answer(from, op, Outcome::Closed { value: None });
                } else {
                    self.receivers
                        .push_back(Waiter::Remote(Box::new(RemoteParty {
                            node: from.clone(),
                            op,
                            value: None,
                        })));
                    self.publish();
                }
            }
            ToHome::Withdraw { op, .. } => {
                let waiting = self.net().log.is_waiting(op);
                let logged = self.net().log.outcome(op).cloned();
                if waiting {
                    let mut value = None;
                    let mine = |w: &Waiter| matches!(w, Waiter::Remote(p) if p.op == op);
                    let st: &mut ChanState = self;
                    for queue in [&mut st.senders, &mut st.receivers] {
                        if let Some(i) = queue.iter().position(mine) {
                            if let Some(Waiter::Remote(p)) = queue.remove(i) {
                                value = p.value.and_then(|v| into_bytes(v).ok()).map(Payload);
                            }
                        }
                    }
                    if let Some(c) = &self.core.cluster {
                        c.count_withdrawn();
                    }
                    self.answer(from, op, Outcome::Withdrawn { value });
                } else if let Some(outcome) = logged {
                    let chan = wire_id(self.core);
                    self.transmit(
                        from,
                        Message::FromHome(FromHome::Done { chan, op, outcome }),
                    );
                } else {
                    self.reply(from, op, Rejection::UnknownOp, None);
                }
            }
            ToHome::Ack { op, .. } => {
                self.net().log.ack(op);
            }
            ToHome::Close { .. } => {
                // Closing takes the lock again; done by the caller.
            }
            ToHome::Balance { query, .. } => {
                let seen_balance = self.core.balance() as i64;
                let chan = wire_id(self.core);
                let msg = FromHome::BalanceIs {
                    chan,
                    query,
                    balance: seen_balance,
                    len: self.buffer.len() as u64,
                    closed: self.closed,
                };
                self.transmit(from, Message::FromHome(msg));
            }
            ToHome::Open { .. } => {
                let chan = wire_id(self.core);
                let closed = self.closed;
                self.transmit(from, Message::FromHome(FromHome::Opened { chan, closed }));
            }
            ToHome::Release { .. } => {}
            ToHome::Stream { op, value, .. } => self.take_stream(from, op, value),
        }
    }

    /// Whether `op` is new (to be performed); repeats are answered or dropped here.
    pub(in crate::channel) fn admit(&mut self, from: &NodeId, op: OpId) -> bool {
        match self.net().log.admit(op) {
            proto::Admission::New => true,
            proto::Admission::Waiting | proto::Admission::Obsolete => {
                if let Some(c) = &self.core.cluster {
                    c.count_repeat();
                }
                false
            }
            proto::Admission::Repeat(outcome) => {
                if let Some(c) = &self.core.cluster {
                    c.count_repeat();
                }
                let chan = wire_id(self.core);
                self.transmit(
                    from,
                    Message::FromHome(FromHome::Done { chan, op, outcome }),
                );
                false
            }
            proto::Admission::Stale { current } => {
                self.reply(from, op, Rejection::Stale { current }, None);
                false
            }
        }
    }

    /// Sends a refusal of `op` that is not logged (the party may ask again).
    pub(in crate::channel) fn reply(
        &mut self,
        to: &NodeId,
        op: OpId,
        reason: Rejection,
        value: Option<Payload>,
    ) {
        let chan = wire_id(self.core);
        let outcome = Outcome::Rejected { reason, value };
        self.transmit(to, Message::FromHome(FromHome::Done { chan, op, outcome }));
    }

    /// Drops the waiting operations of `node`'s parties (it restarted: at most once).
    pub(in crate::channel) fn forget_node(&mut self, node: &NodeId, restarted: bool) {
        let keep = |w: &Waiter| !matches!(w, Waiter::Remote(p) if p.node == *node);
        self.senders.retain(keep);
        self.receivers.retain(keep);
        if restarted {
            // Its stream died with it: release the room its credit held.
            if let Some(net) = self.net.as_mut() {
                if let Some(i) = net.grants.iter().position(|x| x.node == *node) {
                    let grant = net.grants.swap_remove(i);
                    net.reserved -= grant.reserved;
                }
            }
        }
        self.publish();
    }
}
