//! Load generator for the JSON service: `--conns` keep-alive HTTP/1.1
//! connections over loopback, each sending requests back to back for
//! `--secs` seconds (7 in 8 `POST /orders` with bodies of 1..=24 items, 1 in
//! 8 `GET /orders/{id}` of a recent order). Prints one line:
//! `requests N errors E secs S rps R`. Runs in its own process so that its
//! allocations do not count against the server's; bounded in time, and
//! talks to 127.0.0.1 only.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Args {
    port: u16,
    conns: usize,
    secs: f64,
    threads: usize,
}

fn parse_args() -> Args {
    let mut a = Args {
        port: 0,
        conns: 32,
        secs: 3.0,
        threads: 1,
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().unwrap_or_default();
        match k.as_str() {
            "--port" => a.port = v.parse().expect("--port N"),
            "--conns" => a.conns = v.parse().expect("--conns N"),
            "--secs" => a.secs = v.parse().expect("--secs S"),
            "--threads" => a.threads = v.parse().expect("--threads N"),
            _ => panic!("unknown argument {k}"),
        }
    }
    assert!(a.port != 0, "--port is required");
    assert!(a.secs > 0.0 && a.secs <= 600.0, "--secs in (0, 600]");
    a
}

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn order_request(id: u64, rng: &mut Rng) -> Vec<u8> {
    let items = 1 + rng.next() % 24;
    let mut body = format!(
        r#"{{"id":{id},"customer":"customer-{}","items":["#,
        rng.next() % 1000
    );
    for i in 0..items {
        if i > 0 {
            body.push(',');
        }
        body.push_str(&format!(
            r#"{{"sku":"sku-{:05}-{}","qty":{},"price":{}.{:02}}}"#,
            rng.next() % 100_000,
            "x".repeat((rng.next() % 16) as usize),
            1 + rng.next() % 9,
            rng.next() % 500,
            rng.next() % 100
        ));
    }
    body.push_str("]}");
    let mut req = format!(
        "POST /orders HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body.as_bytes());
    req
}

/// Reads one response from `buf`/`stream`; returns its status, or `None` on
/// a closed or malformed stream. Leftover bytes stay in `buf`.
async fn read_response(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<u16> {
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = std::str::from_utf8(&buf[..end]).ok()?;
            let status: u16 = head.split(' ').nth(1)?.parse().ok()?;
            let len: usize = head
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            let total = end + 4 + len;
            while buf.len() < total {
                read_more(stream, buf).await?;
            }
            buf.drain(..total);
            return Some(status);
        }
        read_more(stream, buf).await?;
    }
}

async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Option<()> {
    let mut chunk = [0u8; 16 * 1024];
    let n = stream.read(&mut chunk).await.ok()?;
    if n == 0 {
        return None;
    }
    buf.extend_from_slice(&chunk[..n]);
    Some(())
}

/// One connection's loop; returns (requests answered 2xx/404, errors).
async fn connection(port: u16, conn: usize, conns: usize, end: Instant) -> (u64, u64) {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)).await else {
        return (0, 1);
    };
    let _ = stream.set_nodelay(true);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ (conn as u64 + 1).wrapping_mul(0x1000_0001));
    let mut buf = Vec::with_capacity(64 * 1024);
    let (mut ok, mut errors) = (0u64, 0u64);
    let mut n = 0u64;
    while Instant::now() < end {
        // Ids are unique across connections: conn + k * conns.
        let id = conn as u64 + n * conns as u64;
        let req = if n % 8 == 7 && n >= 8 {
            let recent = conn as u64 + (n - 1 - rng.next() % 7) * conns as u64;
            format!("GET /orders/{recent} HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n").into_bytes()
        } else {
            order_request(id, &mut rng)
        };
        n += 1;
        if stream.write_all(&req).await.is_err() {
            errors += 1;
            break;
        }
        match read_response(&mut stream, &mut buf).await {
            Some(200) | Some(404) => ok += 1,
            Some(_) => errors += 1,
            None => {
                errors += 1;
                break;
            }
        }
    }
    (ok, errors)
}

fn main() {
    let a = parse_args();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(a.threads)
        .enable_io()
        .enable_time()
        .build()
        .expect("tokio runtime");
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(a.secs);
    let (ok, errors) = rt.block_on(async {
        let tasks: Vec<_> = (0..a.conns)
            .map(|c| tokio::spawn(connection(a.port, c, a.conns, end)))
            .collect();
        let (mut ok, mut errors) = (0, 0);
        for t in tasks {
            let (o, e) = t.await.unwrap_or((0, 1));
            ok += o;
            errors += e;
        }
        (ok, errors)
    });
    let secs = start.elapsed().as_secs_f64();
    println!(
        "requests {ok} errors {errors} secs {secs:.3} rps {:.0}",
        ok as f64 / secs
    );
}
