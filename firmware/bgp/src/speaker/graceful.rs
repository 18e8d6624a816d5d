//! Graceful restart, receiving side (RFC 4724 §4.2, RFC 8538), and the capability we
//! advertise.
//!
//! When the Established session of a peer that advertised graceful restart ends without
//! a NOTIFICATION (TCP closed or reset: [`CloseKind::Lost`]), its routes of every family
//! listed in its capability stay in Adj-RIB-In, Loc-RIB and the FIB, marked stale, for
//! the restart time it advertised. When both sides set the N bit (RFC 8538), a session
//! that ends with a NOTIFICATION sent or received (hold timer expiry included) is treated
//! the same way, unless it is Cease/Hard Reset; we send Hard Reset instead of Cease
//! Maximum Number of Prefixes, Administrative Shutdown and Peer De-configured (§5).
//! Without the N bit, a session that ends with a NOTIFICATION withdraws at once.
//!
//! When the session is back: families the new OPEN no longer lists, or lists without the
//! Forwarding State bit, lose their stale routes at once; routes received again replace
//! their stale copies (same attributes: no Loc-RIB or FIB change); the stale routes left
//! when the family's End-of-RIB arrives are withdrawn, and all of them after
//! [`STALE_ROUTES_TIME`] if it never does. If the session is not back within the restart
//! time, every stale route is withdrawn; a dynamic peer keeps its slot until then.
//!
//! [`CloseKind::Lost`]: crate::speaker::conns::CloseKind::Lost

use std::time::{Duration, Instant};

use crate::rib::SourceId;
use crate::session::open::GracefulRestartConfig;
use crate::speaker::Speaker;
use crate::speaker::peer::StaleRoutes;
use crate::wire::Afi;

/// How long stale routes wait for End-of-RIB once the session is back.
pub(super) const STALE_ROUTES_TIME: Duration = Duration::from_secs(360);

impl Speaker {
    /// Our graceful restart capability at `now`: the Restart State bit only during the
    /// restart time that follows the first OPEN sent with it.
    pub(super) fn advertised_restart(&mut self, now: Instant) -> GracefulRestartConfig {
        let mut gr = self.graceful_restart;
        if gr.restarting {
            let window = Duration::from_secs(u64::from(gr.restart_time));
            let ends = *self.restart_ends.get_or_insert(now + window);
            gr.restarting = now < ends;
        }
        gr
    }

    /// The Established session of `idx` was lost without a NOTIFICATION: keep its routes
    /// stale when it advertised graceful restart for their family. Returns whether any
    /// route is kept.
    pub(super) fn keep_stale(&mut self, now: Instant, idx: usize) -> bool {
        let src = SourceId(idx as u32 + 1);
        let Speaker { peers, loc, .. } = self;
        // NOTE(unwrap): callers pass indices of live slots only.
        let p = peers[idx].as_mut().expect("live peer slot");
        let Some(n) = p.negotiated else {
            return false;
        };
        let gr = n.peer_restart;
        let (v4, v6) = (gr.ipv4.is_some(), gr.ipv6.is_some());
        if !n.graceful_restart || gr.restart_time == 0 || !(v4 || v6) {
            return false;
        }
        // Routes of a family the capability does not list go now.
        p.adj_in.mark_stale(loc, src, true, true);
        let gone = p.adj_in.remove_stale(!v4, !v6);
        p.stale = Some(StaleRoutes {
            v4,
            v6,
            until: now + Duration::from_secs(u64::from(gr.restart_time)),
        });
        for prefix in gone {
            self.loc.update(prefix, src, None);
        }
        true
    }

    /// The session of `idx` is Established again: drop the stale routes of families the
    /// new OPEN does not preserve, and wait for End-of-RIB for the rest.
    pub(super) fn stale_session_up(&mut self, now: Instant, idx: usize) {
        let p = self.peer(idx);
        let (Some(stale), Some(n)) = (p.stale, p.negotiated) else {
            return;
        };
        let gr = n.peer_restart;
        let kept = |listed: bool, forwarding: Option<bool>| {
            listed && n.graceful_restart && forwarding == Some(true)
        };
        let (v4, v6) = (kept(stale.v4, gr.ipv4), kept(stale.v6, gr.ipv6));
        self.purge_stale(idx, stale.v4 && !v4, stale.v6 && !v6);
        if let Some(s) = self.peer_mut(idx).stale.as_mut() {
            s.until = now + STALE_ROUTES_TIME;
        }
    }

    /// End-of-RIB for `afi` from `idx`: its stale routes of that family are withdrawn.
    /// It also counts towards the end of our own selection deferral (`deferral`).
    pub(super) fn end_of_rib_received(&mut self, idx: usize, afi: Afi) {
        self.deferral_end_of_rib(idx, afi);
        match afi {
            Afi::Ipv4 => self.purge_stale(idx, true, false),
            Afi::Ipv6 => self.purge_stale(idx, false, true),
            Afi::Other(_) => {}
        }
    }

    /// Withdraw the stale routes of `idx` of IPv4 (`v4`) and/or IPv6 (`v6`).
    pub(super) fn purge_stale(&mut self, idx: usize, v4: bool, v6: bool) {
        let src = SourceId(idx as u32 + 1);
        let Speaker { peers, loc, .. } = self;
        let Some(p) = peers[idx].as_mut() else {
            return;
        };
        let Some(stale) = p.stale.as_mut() else {
            return;
        };
        stale.v4 &= !v4;
        stale.v6 &= !v6;
        if !(stale.v4 || stale.v6) {
            p.stale = None;
        }
        for prefix in p.adj_in.remove_stale(v4, v6) {
            loc.update(prefix, src, None);
        }
    }

    /// The restart or stale-routes time of `idx` is over at `now`: withdraw what is still
    /// stale; a dynamic peer that did not come back is dropped.
    pub(super) fn stale_timer(&mut self, now: Instant, idx: usize) {
        let Some(p) = self.peers[idx].as_ref() else {
            return;
        };
        if p.stale.is_none_or(|s| s.until > now) {
            return;
        }
        self.purge_stale(idx, true, true);
        let p = self.peer(idx);
        if p.dynamic.is_some() && p.conns.is_empty() {
            self.drop_peer(idx);
        }
    }
}
