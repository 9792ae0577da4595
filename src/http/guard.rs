//! The checks right after SCIM authentication: the connection's allowed networks and rate
//! limit. This file reads the addresses (the peer, `X-Forwarded-For`); the engine decides.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use actix_web::HttpRequest;

use crate::auth::Principal;
use crate::engine::synclog::Ctx;
use crate::engine::Engine;
use crate::scim::ScimError;

/// Admits the request or refuses it: 403 from outside the connection's allowed networks, 429
/// (with `Retry-After`) over its rate limit.
pub async fn admit(req: &HttpRequest, engine: &Engine, p: &Principal) -> Result<(), ScimError> {
    // Without a peer (never over a socket) the request counts as from nowhere: an
    // allow-list then refuses it.
    let peer = req
        .peer_addr()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |a| a.ip());
    let hops: Vec<Option<IpAddr>> = req
        .headers()
        .get_all("x-forwarded-for")
        .flat_map(|v| match v.to_str() {
            Ok(text) => text.split(',').map(hop).collect::<Vec<_>>(),
            Err(_) => vec![None],
        })
        .collect();
    let client = engine.client_address(peer, &hops);
    let ctx = Ctx::new(
        format!("connection:{}", p.connection),
        req.method().as_str(),
        req.path(),
        super::scim::request_id(req),
    );
    engine.admit(p, client, &ctx).await
}

/// One `X-Forwarded-For` hop: an address, or an address with a port (`1.2.3.4:80`,
/// `[::1]:80`); None for anything else.
fn hop(text: &str) -> Option<IpAddr> {
    let t = text.trim();
    t.parse::<IpAddr>()
        .ok()
        .or_else(|| t.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

#[cfg(test)]
mod tests {
    use super::hop;

    #[test]
    fn hops_parse_with_and_without_ports() {
        assert_eq!(hop(" 10.1.2.3 "), Some([10, 1, 2, 3].into()));
        assert_eq!(hop("10.1.2.3:8080"), Some([10, 1, 2, 3].into()));
        assert_eq!(hop("[::1]:443"), Some(std::net::Ipv6Addr::LOCALHOST.into()));
        assert_eq!(hop("unknown"), None);
        assert_eq!(hop(""), None);
    }
}
