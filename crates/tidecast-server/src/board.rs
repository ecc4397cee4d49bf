//! The live board: one read-only HTML page of every target for a wall display (the served
//! value, the recent actual with the forecast band, the state and the data age), on its own
//! listener with its own access rule: source addresses and an optional token.

use crate::policy::{Freshness, Mode, TargetView, Trail};
use crate::{Clock, MetricStore};
use axum::Router;
use axum::extract::{ConnectInfo, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::fmt::Write;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use tidecast_core::{format_number, format_timestamp};

/// What the board shows and who may see it.
#[derive(Debug, Clone)]
pub struct BoardSettings {
    /// Source networks allowed; a request from elsewhere is refused with 403.
    pub allow: Vec<IpNet>,
    /// When set, a request must carry it (`Authorization: Bearer ...` or `?token=...`, for
    /// displays that cannot set headers); otherwise 401.
    pub token: Option<String>,
    /// The page reloads itself this often, in seconds.
    pub reload_secs: u64,
    /// At most this many targets on the page (the worst states first); a filter narrows.
    pub max_targets: usize,
}

/// A network in CIDR notation (`10.0.0.0/8`, `::1/128`; a bare address is a /32 or /128).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

/// A CIDR that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not an address or a network in CIDR notation (10.0.0.0/8, ::1/128)")]
pub struct IpNetError(String);

impl std::str::FromStr for IpNet {
    type Err = IpNetError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || IpNetError(s.to_string());
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s.trim(), None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(bad)?,
            None => max,
        };
        Ok(Self { addr, prefix })
    }
}

impl IpNet {
    /// Whether `ip` is inside (an IPv4-mapped IPv6 address counts as its IPv4 address).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        let p = u32::from(self.prefix);
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - p).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - p).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

#[derive(Debug, Clone)]
struct Board {
    store: Arc<MetricStore>,
    clock: Arc<dyn Clock>,
    settings: Arc<BoardSettings>,
}

/// The board's router; serve it with `into_make_service_with_connect_info::<SocketAddr>()`
/// so the access rule sees the peer's address.
pub fn board_router(
    store: Arc<MetricStore>,
    clock: Arc<dyn Clock>,
    settings: BoardSettings,
) -> Router {
    Router::new().route("/", get(page)).with_state(Board {
        store,
        clock,
        settings: Arc::new(settings),
    })
}

#[derive(Debug, serde::Deserialize, Default)]
struct PageQuery {
    /// Only targets whose name or metric contains this.
    q: Option<String>,
    /// Only targets in this state.
    state: Option<String>,
    token: Option<String>,
}

async fn page(
    State(board): State<Board>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    Query(query): Query<PageQuery>,
    headers: HeaderMap,
) -> Response {
    if let Err(refused) = board.admit(peer.ip(), &headers, query.token.as_deref()) {
        return refused;
    }
    let now = board.clock.now().floor() as i64;
    let registry = board.store.registry();
    let views: Vec<Arc<TargetView>> = (0..registry.len()).map(|i| registry.get(i)).collect();
    let html = render(&views, now, &board.settings, &query);
    let mut response = (StatusCode::OK, html).into_response();
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // No script, nothing fetched: the policy says so to the browser too.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

impl Board {
    /// The access rule: the peer's network, then the token when one is set.
    #[allow(clippy::result_large_err)] // the refusal is the response itself
    fn admit(&self, ip: IpAddr, headers: &HeaderMap, token: Option<&str>) -> Result<(), Response> {
        if !self.settings.allow.iter().any(|n| n.contains(ip)) {
            tracing::warn!(%ip, "board: refused, the address is not in board.allow");
            let msg = format!("board: {ip} is not in board.allow\n");
            return Err((StatusCode::FORBIDDEN, msg).into_response());
        }
        let Some(want) = &self.settings.token else {
            return Ok(());
        };
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        match bearer.or(token) {
            Some(got) if same(got.as_bytes(), want.as_bytes()) => Ok(()),
            got => {
                let why = if got.is_some() { "a wrong" } else { "no" };
                tracing::warn!(%ip, "board: refused, {why} token");
                let msg = "board: a token is required (Authorization: Bearer, or ?token=)\n";
                Err((StatusCode::UNAUTHORIZED, msg).into_response())
            }
        }
    }
}

/// Equal bytes, in time independent of where they differ.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The worst first: what a wall display is for.
fn severity(s: Freshness) -> u8 {
    match s {
        Freshness::Expired => 0,
        Freshness::NoData => 1,
        Freshness::ModelOnly => 2,
        Freshness::LastGood => 3,
        Freshness::Fresh => 4,
    }
}

const STYLE: &str = "body{background:#111;color:#eee;font-family:sans-serif;margin:12px}\
h1{font-size:20px;margin:0 0 6px}.sub{color:#aaa;font-size:13px;margin-bottom:10px}\
.counts span{display:inline-block;margin-right:8px;padding:2px 8px;border-radius:4px;font-size:13px}\
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(300px,1fr));gap:8px}\
.card{background:#1c1c1c;border-radius:6px;padding:8px;border-left:6px solid #555}\
.name{font-weight:bold;font-size:15px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}\
.metric{color:#999;font-size:11px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}\
.served{font-size:30px;font-weight:bold;margin:2px 0}.meta{font-size:12px;color:#bbb}\
.err{font-size:11px;color:#f99;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}\
svg{display:block;width:100%;height:56px;margin-top:4px}\
.fresh{border-color:#2ca02c}.last_good{border-color:#e0c020}.model_only{border-color:#ff7f0e}\
.expired{border-color:#d62728}.no_data{border-color:#777}\
span.fresh{background:#1d4d1d}span.last_good{background:#5a4d10}span.model_only{background:#6a3a0a}\
span.expired{background:#6a1414}span.no_data{background:#3a3a3a}";

/// The page for `views` at `now`, filtered by `query`.
fn render(views: &[Arc<TargetView>], now: i64, s: &BoardSettings, query: &PageQuery) -> String {
    let mut rows: Vec<(&TargetView, Freshness)> = views
        .iter()
        .map(|v| (v.as_ref(), v.freshness(now)))
        .collect();
    let mut counts = [0usize; 5];
    for (_, state) in &rows {
        counts[severity(*state) as usize] += 1;
    }
    if let Some(q) = query.q.as_deref().filter(|q| !q.is_empty()) {
        rows.retain(|(v, _)| v.name.contains(q) || v.metric.contains(q));
    }
    if let Some(st) = query.state.as_deref().filter(|s| !s.is_empty()) {
        rows.retain(|(_, state)| state.as_str() == st);
    }
    rows.sort_by(|a, b| (severity(a.1), &a.0.name).cmp(&(severity(b.1), &b.0.name)));
    let matching = rows.len();
    rows.truncate(s.max_targets);
    let mut out = String::with_capacity(1024 + rows.len() * 1500);
    let _ = write!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta http-equiv=\"refresh\" content=\"{}\"><title>tidecast board</title>\
         <style>{STYLE}</style></head><body><h1>tidecast board</h1>\
         <div class=\"sub\" id=\"summary\">{} targets, {} shown; as of {}; reloads every {} s</div>\
         <div class=\"counts\">",
        s.reload_secs,
        views.len(),
        rows.len(),
        format_timestamp(now),
        s.reload_secs
    );
    for state in [
        Freshness::Expired,
        Freshness::NoData,
        Freshness::ModelOnly,
        Freshness::LastGood,
        Freshness::Fresh,
    ] {
        let _ = write!(
            out,
            "<span class=\"{0}\" data-count=\"{0}\">{0}: {1}</span>",
            state.as_str(),
            counts[severity(state) as usize]
        );
    }
    out.push_str("</div>");
    if matching > rows.len() {
        let _ = write!(
            out,
            "<div class=\"sub\">{} more not shown (board.max_targets); narrow with ?q=NAME or ?state=STATE</div>",
            matching - rows.len()
        );
    }
    out.push_str("<div class=\"grid\">");
    for (view, state) in rows {
        card(&mut out, view, state, now);
    }
    out.push_str("</div></body></html>\n");
    out
}

fn card(out: &mut String, v: &TargetView, state: Freshness, now: i64) {
    let served = v.serve(now);
    let labels: Vec<String> = v.labels.iter().map(|(k, l)| format!("{k}={l:?}")).collect();
    let _ = write!(
        out,
        "<div class=\"card {st}\" data-target=\"{name}\" data-state=\"{st}\"><div class=\"name\">{name}</div>\
         <div class=\"metric\">{metric}{{{labels}}}{mode}</div>",
        st = state.as_str(),
        name = esc(&v.name),
        metric = esc(&v.metric),
        labels = esc(&labels.join(",")),
        mode = if v.mode == Mode::Observe {
            " (observe)"
        } else {
            ""
        },
    );
    let value = match &served.value {
        Ok(x) => format_number(*x),
        Err(_) => "\u{2014}".into(),
    };
    let _ = write!(
        out,
        "<div class=\"served\" data-served=\"{value}\">{value}</div>"
    );
    let live = v.live.map_or("-".into(), |l| format_number(l.value));
    let age = served
        .age
        .map_or("no data".into(), |a| format!("{} old", age_text(a)));
    let _ = write!(
        out,
        "<div class=\"meta\">live {live} \u{b7} {age} \u{b7} {}</div>",
        state.as_str()
    );
    let err = match (&served.value, &v.last_error) {
        (Err(why), _) => Some(why.as_str()),
        (_, Some(e)) => Some(e.as_str()),
        _ => None,
    };
    if let Some(e) = err {
        let _ = write!(out, "<div class=\"err\" title=\"{0}\">{0}</div>", esc(e));
    }
    if let Some(trail) = &v.trail {
        spark(out, trail, served.value.as_ref().ok().copied(), now);
    }
    out.push_str("</div>");
}

fn age_text(secs: i64) -> String {
    match secs {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s => format!("{:.1} h", s as f64 / 3600.0),
    }
}

/// The recent actual, the band ahead and the served level in a small SVG.
fn spark(out: &mut String, t: &Trail, served: Option<f64>, now: i64) {
    const W: f64 = 300.0;
    const H: f64 = 56.0;
    let band_end = t.band_start + t.step * t.lower.len() as i64;
    let from = if t.actual.is_empty() {
        now
    } else {
        t.actual_start.min(now)
    };
    let to = band_end.max(now + 1);
    let hi = t
        .actual
        .iter()
        .map(|a| f64::from(*a))
        .chain(t.upper.iter().map(|u| f64::from(*u)))
        .chain(served)
        .filter(|v| v.is_finite())
        .fold(0.0f64, f64::max)
        .max(f64::MIN_POSITIVE)
        * 1.08;
    let x = |ts: i64| (ts - from) as f64 / (to - from) as f64 * W;
    let y = |v: f64| H - v / hi * H;
    let _ = write!(
        out,
        "<svg viewBox=\"0 0 {W} {H}\" preserveAspectRatio=\"none\">"
    );
    if !t.lower.is_empty() {
        let at = |i: usize| t.band_start + t.step * i as i64;
        let mut pts: Vec<String> = (0..t.upper.len())
            .map(|i| format!("{:.1},{:.1}", x(at(i)), y(f64::from(t.upper[i]))))
            .collect();
        pts.extend(
            (0..t.lower.len())
                .rev()
                .map(|i| format!("{:.1},{:.1}", x(at(i)), y(f64::from(t.lower[i])))),
        );
        let _ = write!(
            out,
            "<polygon class=\"band\" points=\"{}\" fill=\"#3b8fd9\" fill-opacity=\"0.6\"/>",
            pts.join(" ")
        );
    }
    let points: Vec<(i64, f32)> = t
        .actual
        .iter()
        .enumerate()
        .map(|(i, v)| (t.actual_start + t.step * i as i64, *v))
        .collect();
    for run in points.split(|a| !a.1.is_finite()).filter(|r| !r.is_empty()) {
        let pts: Vec<String> = run
            .iter()
            .map(|(ts, v)| format!("{:.1},{:.1}", x(*ts), y(f64::from(*v))))
            .collect();
        let _ = write!(
            out,
            "<polyline class=\"actual\" points=\"{}\" fill=\"none\" stroke=\"#eee\" stroke-width=\"1.2\"/>",
            pts.join(" ")
        );
    }
    if let Some(v) = served.filter(|v| v.is_finite()) {
        let _ = write!(
            out,
            "<line class=\"served\" x1=\"0\" x2=\"{W}\" y1=\"{0:.1}\" y2=\"{0:.1}\" stroke=\"#ffbf00\" stroke-dasharray=\"4 3\"/>",
            y(v)
        );
    }
    let _ = write!(
        out,
        "<line x1=\"{0:.1}\" x2=\"{0:.1}\" y1=\"0\" y2=\"{H}\" stroke=\"#888\"/></svg>",
        x(now)
    );
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{Observation, ServedForecast, Staleness};
    use std::collections::BTreeMap;

    fn net(s: &str) -> IpNet {
        s.parse().unwrap()
    }

    #[test]
    fn networks_contain_their_addresses_only() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(net("10.0.0.0/8").contains(ip("10.200.1.2")));
        assert!(!net("10.0.0.0/8").contains(ip("11.0.0.1")));
        assert!(net("127.0.0.1").contains(ip("127.0.0.1")));
        assert!(!net("127.0.0.1").contains(ip("127.0.0.2")));
        assert!(net("0.0.0.0/0").contains(ip("8.8.8.8")));
        assert!(
            !net("0.0.0.0/0").contains(ip("::1")),
            "v4 rules do not admit v6"
        );
        assert!(net("::1/128").contains(ip("::1")));
        assert!(net("fd00::/8").contains(ip("fd12::1")));
        assert!(
            net("192.168.1.0/24").contains(ip("::ffff:192.168.1.9")),
            "v4-mapped"
        );
        for bad in ["10.0.0.0/33", "nonsense", "::1/129", "10.0.0/8"] {
            assert!(bad.parse::<IpNet>().is_err(), "{bad}");
        }
    }

    fn view(name: &str, live: Option<(i64, f64)>) -> Arc<TargetView> {
        Arc::new(TargetView {
            name: name.into(),
            metric: "lb_connections_predicted".into(),
            labels: Arc::new(BTreeMap::from([("service".into(), name.into())])),
            namespaces: None,
            mode: Mode::Scale,
            lead: 900,
            staleness: Staleness::default(),
            live: live.map(|(t, value)| Observation { t, value }),
            forecast: ServedForecast {
                start: 1_000_060,
                step: 60,
                values: vec![150.0; 30],
            },
            horizons: Vec::new(),
            accuracy: Vec::new(),
            refresh_ok: 1,
            refresh_failed: 0,
            last_error: None,
            model_refit_point: None,
            trail: Some(Arc::new(Trail {
                step: 60,
                actual_start: 999_880,
                actual: vec![90.0, 95.0, f32::NAN, 100.0],
                band_start: 1_000_060,
                lower: vec![80.0; 30],
                upper: vec![160.0; 30],
            })),
        })
    }

    fn settings() -> BoardSettings {
        BoardSettings {
            allow: vec![net("127.0.0.1/32")],
            token: None,
            reload_secs: 15,
            max_targets: 1000,
        }
    }

    #[test]
    fn the_worst_states_come_first_and_every_card_has_its_numbers() {
        let now = 1_000_000;
        let views = [view("b-fresh", Some((now, 100.0))), view("a-none", None)];
        let html = render(&views, now, &settings(), &PageQuery::default());
        let none = html.find("data-target=\"a-none\"").unwrap();
        let fresh = html.find("data-target=\"b-fresh\"").unwrap();
        assert!(none < fresh, "no data before fresh");
        assert!(
            html.contains("data-served=\"150\""),
            "max(live, forecast over the lead)"
        );
        assert!(html.contains("class=\"band\"") && html.contains("class=\"actual\""));
        assert_eq!(
            html.matches("class=\"actual\"").count(),
            4,
            "a gap splits the line"
        );
        assert!(html.contains("fresh: 1") && html.contains("no_data: 1"));
        assert!(!html.contains("NaN"));
    }

    #[test]
    fn filters_and_the_cap_narrow_the_page_but_not_the_counts() {
        let now = 1_000_000;
        let views: Vec<_> = (0..5)
            .map(|i| view(&format!("svc-{i}"), Some((now, 1.0))))
            .collect();
        let q = PageQuery {
            q: Some("svc-3".into()),
            ..PageQuery::default()
        };
        let html = render(&views, now, &settings(), &q);
        assert_eq!(html.matches("class=\"card ").count(), 1);
        assert!(html.contains("5 targets, 1 shown") && html.contains("fresh: 5"));
        let capped = BoardSettings {
            max_targets: 2,
            ..settings()
        };
        let html = render(&views, now, &capped, &PageQuery::default());
        assert_eq!(html.matches("class=\"card ").count(), 2);
        assert!(html.contains("3 more not shown"));
    }

    #[test]
    fn names_are_escaped() {
        let html = render(
            &[view("<b>x</b>", None)],
            0,
            &settings(),
            &PageQuery::default(),
        );
        assert!(html.contains("&lt;b&gt;x&lt;/b&gt;") && !html.contains("<b>x"));
    }
}
