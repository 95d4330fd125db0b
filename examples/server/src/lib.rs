//! A small JSON service on hyper 1 and tokio, the kind of program a server
//! author tries an allocator on first (issue 12).
//!
//! Each `server_*` binary installs one global allocator and calls
//! [`serve_main`]; `loadgen` drives it over loopback from another process;
//! `server_bench` runs them all and prints requests/s and peak RSS side by
//! side. Endpoints:
//!
//! - `POST /orders` with `{"id", "customer", "items": [{"sku", "qty", "price"}]}`:
//!   parses the body into a `serde_json::Value`, builds a receipt, keeps it
//!   in a bounded store of recent orders (so blocks made by one worker are
//!   freed by another, as in a real service), answers with the receipt;
//! - `GET /orders/{id}`: a stored receipt, or 404;
//! - `GET /health`;
//! - `GET /metrics`: tinyalloc's `stats()` when tinyalloc is the allocator.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::io::Write;
use std::sync::{Arc, Mutex};

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpListener;

/// How many receipts the store keeps.
const STORE_LEN: usize = 512;

/// Recent receipts by order id, oldest first.
type Store = Arc<Mutex<VecDeque<(u64, Bytes)>>>;

/// Runs the service on `127.0.0.1` until killed. Prints `listening PORT` on
/// stdout once it accepts. Arguments: `--port P` (0 = any; default 0),
/// `--workers N` (tokio worker threads; default: the number of CPUs).
pub fn serve_main(allocator: &'static str) {
    let mut port = 0u16;
    let mut workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v = args.next().unwrap_or_default();
        match a.as_str() {
            "--port" => port = v.parse().expect("--port N"),
            "--workers" => workers = v.parse().expect("--workers N"),
            _ => panic!("unknown argument {a}"),
        }
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_io()
        .enable_time()
        .build()
        .expect("tokio runtime");
    rt.block_on(async move {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.expect("bind");
        let port = listener.local_addr().expect("local_addr").port();
        let mut out = std::io::stdout().lock();
        writeln!(out, "listening {port} {allocator}").expect("stdout");
        out.flush().expect("stdout");
        drop(out);
        let store: Store = Arc::new(Mutex::new(VecDeque::with_capacity(STORE_LEN)));
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let _ = stream.set_nodelay(true);
            let store = store.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| handle(req, store.clone(), allocator));
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
}

fn reply(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(Full::new(body.into()))
        .expect("response")
}

async fn handle(
    req: Request<Incoming>,
    store: Store,
    allocator: &'static str,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = req.uri().path().to_owned();
    Ok(match (req.method().clone(), path.as_str()) {
        (Method::GET, "/health") => reply(StatusCode::OK, r#"{"ok":true}"#),
        (Method::GET, "/metrics") => reply(StatusCode::OK, metrics(allocator)),
        (Method::POST, "/orders") => {
            let Ok(body) = req.into_body().collect().await else {
                return Ok(reply(StatusCode::BAD_REQUEST, r#"{"error":"body"}"#));
            };
            match receipt(&body.to_bytes()) {
                Some((id, bytes)) => {
                    let mut s = store.lock().expect("store");
                    if s.len() == STORE_LEN {
                        s.pop_front();
                    }
                    s.push_back((id, bytes.clone()));
                    drop(s);
                    reply(StatusCode::OK, bytes)
                }
                None => reply(StatusCode::BAD_REQUEST, r#"{"error":"order"}"#),
            }
        }
        (Method::GET, p) if p.starts_with("/orders/") => {
            let id: Option<u64> = p["/orders/".len()..].parse().ok();
            let found = id.and_then(|id| {
                let s = store.lock().expect("store");
                s.iter()
                    .rev()
                    .find(|(k, _)| *k == id)
                    .map(|(_, b)| b.clone())
            });
            match found {
                Some(b) => reply(StatusCode::OK, b),
                None => reply(StatusCode::NOT_FOUND, r#"{"error":"not found"}"#),
            }
        }
        _ => reply(StatusCode::NOT_FOUND, r#"{"error":"no route"}"#),
    })
}

/// The receipt for one order body, or `None` if it is not an order.
fn receipt(body: &[u8]) -> Option<(u64, Bytes)> {
    let order: Value = serde_json::from_slice(body).ok()?;
    let id = order.get("id")?.as_u64()?;
    let customer = order.get("customer")?.as_str()?;
    let items = order.get("items")?.as_array()?;
    let mut total = 0.0;
    let mut lines = Vec::with_capacity(items.len());
    for it in items {
        let sku = it.get("sku")?.as_str()?;
        let qty = it.get("qty")?.as_u64()?;
        let price = it.get("price")?.as_f64()?;
        total += qty as f64 * price;
        lines.push(json!({
            "sku": sku.to_uppercase(),
            "qty": qty,
            "amount": (qty as f64 * price * 100.0).round() / 100.0,
        }));
    }
    let out = json!({
        "id": id,
        "customer": customer,
        "greeting": format!("Thank you, {customer}!"),
        "lines": lines,
        "count": items.len(),
        "total": (total * 100.0).round() / 100.0,
    });
    Some((id, Bytes::from(serde_json::to_vec(&out).ok()?)))
}

/// tinyalloc's statistics as JSON (empty for the other allocators).
fn metrics(allocator: &str) -> String {
    if allocator != "tinyalloc" {
        return format!(r#"{{"allocator":"{allocator}"}}"#);
    }
    format!(
        r#"{{"allocator":"tinyalloc","stats":"{}"}}"#,
        format!("{:?}", tinyalloc::stats()).replace('"', "'")
    )
}
