//! A small HTTP/1.1 server on `std::net`, with every resource bounded.
//!
//! Why not a crate: the lean ones (`tiny_http` 0.12) give each connection
//! a thread from a pool that grows without limit and read without a
//! timeout, so clients that connect and send nothing hold a thread each
//! for ever; the bounded ones bring an async runtime whose build costs
//! minutes on two cores. What the page needs is small: GET, POST with a
//! `Content-Length` body, keep-alive. Here:
//!
//! - at most [`Limits::connections`] connections are served at once, one
//!   thread each; a connection over the limit is answered 503 and closed;
//! - a request's head must arrive within [`Limits::head_timeout`] and fit
//!   in [`Limits::max_head`] bytes, its body within [`Limits::body_timeout`];
//!   an idle keep-alive connection is closed after the head timeout;
//! - a body over [`Limits::max_body`] is answered 413 before it is read,
//!   and bodies held at once may add up to [`Limits::max_bodies`] (more
//!   is answered 503), so memory stays bounded however many clients send.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How much a client may ask of the server.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Connections served at once (each holds one thread).
    pub connections: usize,
    /// Bytes of a request line and headers.
    pub max_head: usize,
    /// Bytes of a request body.
    pub max_body: usize,
    /// Bytes of all the request bodies held at once.
    pub max_bodies: usize,
    /// Time to send a request's head, and to start the next one on a kept-alive connection.
    pub head_timeout: Duration,
    /// Time to send a request's body.
    pub body_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            connections: 256,
            max_head: 16 << 10,
            max_body: 20 << 20,
            max_bodies: 256 << 20,
            head_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(30),
        }
    }
}

/// A request as the handler sees it: the body is complete.
#[derive(Debug)]
pub struct Request {
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The query string after `?`, empty when there is none.
    pub query: String,
    headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The body's share of [`Limits::max_bodies`], given back on drop.
    _reservation: Option<Reservation>,
}

/// Bytes of request bodies held at once, shared by every connection.
#[derive(Default)]
struct BodyBytes(AtomicUsize);

/// A share of [`BodyBytes`], returned when dropped.
#[derive(Debug)]
struct Reservation {
    bytes: usize,
    held: Arc<BodyBytes>,
}

impl std::fmt::Debug for BodyBytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} bytes", self.0.load(Ordering::SeqCst))
    }
}

impl Reservation {
    /// `bytes` more, if the total stays within `limit`.
    fn take(held: &Arc<BodyBytes>, bytes: usize, limit: usize) -> Option<Reservation> {
        held.0
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |total| {
                total.checked_add(bytes).filter(|&sum| sum <= limit)
            })
            .ok()?;
        Some(Reservation {
            bytes,
            held: held.clone(),
        })
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        self.held.0.fetch_sub(self.bytes, Ordering::SeqCst);
    }
}

impl Request {
    /// The value of header `name` (case-insensitive), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The value of `key` in the query string (`?model=a&x=1`),
    /// percent-decoded (a malformed escape is kept as it is, invalid UTF-8
    /// replaced: such a value names nothing, rather than being taken as absent).
    pub fn query_value(&self, key: &str) -> Option<String> {
        self.query
            .split('&')
            .filter_map(|pair| pair.split_once('='))
            .find(|(k, _)| *k == key)
            .map(|(_, v)| percent_decode(v))
    }
}

/// `a%20b+c` -> `a b c` (the form encoding browsers use in query strings).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = bytes
            .get(i + 1..i + 3)
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match (bytes[i], escaped) {
            (b'%', Some(byte)) => {
                decoded.push(byte);
                i += 3;
            }
            (b'+', _) => {
                decoded.push(b' ');
                i += 1;
            }
            (byte, _) => {
                decoded.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}

/// What the handler answers.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
}

impl Response {
    pub fn new(status: u16, content_type: &'static str, body: impl Into<Vec<u8>>) -> Response {
        Response {
            status,
            content_type,
            body: body.into(),
        }
    }

    /// `{"error": message}` with `status`.
    pub fn error(status: u16, message: &str) -> Response {
        let body = serde_json::json!({ "error": message }).to_string();
        Response::new(status, "application/json", body)
    }

    pub fn json(value: &impl serde::Serialize) -> Response {
        Response::json_with_status(200, value)
    }

    pub fn json_with_status(status: u16, value: &impl serde::Serialize) -> Response {
        let body = serde_json::to_vec(value).expect("answers serialise");
        Response::new(status, "application/json", body)
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Content",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "",
    }
}

/// The handler of every request; it runs on the connection's thread.
pub type Handler = dyn Fn(&Request) -> Response + Send + Sync;

/// Accepts connections on `listener` until `stop` is set, serving each on
/// its own thread. Returns once every connection's thread has finished
/// (each finishes its request in progress, then closes).
pub fn serve(
    listener: TcpListener,
    limits: Limits,
    stop: &'static AtomicBool,
    handler: Arc<Handler>,
) -> std::io::Result<()> {
    // Accept blocks (a polled, non-blocking accept would delay every new
    // connection by up to the polling interval); a signal's handler only
    // sets `stop`, so a watcher wakes the accept by connecting.
    let mut wake_address = listener.local_addr()?;
    if wake_address.ip().is_unspecified() {
        wake_address.set_ip(match wake_address {
            std::net::SocketAddr::V4(_) => std::net::Ipv4Addr::LOCALHOST.into(),
            std::net::SocketAddr::V6(_) => std::net::Ipv6Addr::LOCALHOST.into(),
        });
    }
    std::thread::Builder::new()
        .name("http-stop-watcher".into())
        .spawn(move || {
            while !stop.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = TcpStream::connect_timeout(&wake_address, Duration::from_secs(1));
        })?;
    let open = Arc::new(AtomicUsize::new(0));
    let body_bytes = Arc::new(BodyBytes::default());
    let limits = Arc::new(limits);
    while !stop.load(Ordering::SeqCst) {
        let stream = match listener.accept() {
            Ok((_, _)) if stop.load(Ordering::SeqCst) => break,
            Ok((stream, _)) => stream,
            // Out of file descriptors, a connection reset before accept:
            // the listener itself is fine; wait and go on.
            Err(_) => {
                std::thread::sleep(Duration::from_millis(20));
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        if open.fetch_add(1, Ordering::SeqCst) >= limits.connections {
            open.fetch_sub(1, Ordering::SeqCst);
            refuse_busy(stream);
            continue;
        }
        let (still_open, limits, handler) = (open.clone(), limits.clone(), handler.clone());
        let body_bytes = body_bytes.clone();
        // The main thread's stack size: a picture is prepared here as
        // `predict` prepares it there. Untouched stack is only address space.
        let spawned = std::thread::Builder::new()
            .name("http-connection".into())
            .stack_size(8 << 20)
            .spawn(move || {
                serve_connection(stream, &limits, &body_bytes, stop, &*handler);
                still_open.fetch_sub(1, Ordering::SeqCst);
            });
        if spawned.is_err() {
            // The closure (and the stream) is dropped: the client sees the
            // connection close, and the count must not leak.
            open.fetch_sub(1, Ordering::SeqCst);
        }
    }
    // Connections finish what they are doing; idle ones see `stop` within
    // one poll of their read timeout.
    let deadline = Instant::now() + Duration::from_secs(5);
    while open.load(Ordering::SeqCst) > 0 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

fn refuse_busy(mut stream: TcpStream) {
    let _ = stream.set_write_timeout(Some(Duration::from_secs(1)));
    let response = Response::error(503, "the server has too many connections; try again");
    let _ = write_response(&mut stream, &response, false);
}

/// Why reading a request stopped.
enum ReadFailure {
    /// The client closed the connection, or was idle too long between
    /// requests: nothing to answer.
    Gone,
    /// A bad or too large request: answer it, then close.
    Answer(Response),
}

/// How long one blocking read waits before the loop looks at the
/// deadline and at `stop` again.
const READ_SLICE: Duration = Duration::from_millis(200);

fn serve_connection(
    stream: TcpStream,
    limits: &Limits,
    body_bytes: &Arc<BodyBytes>,
    stop: &AtomicBool,
    handler: &Handler,
) {
    let _ = stream.set_write_timeout(Some(limits.body_timeout));
    let _ = stream.set_read_timeout(Some(READ_SLICE));
    let Ok(mut writer) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    loop {
        let request = match read_request(&mut reader, &mut writer, limits, body_bytes, stop) {
            Ok(request) => request,
            Err(ReadFailure::Gone) => return,
            Err(ReadFailure::Answer(response)) => {
                let _ = write_response(&mut writer, &response, false);
                discard_unread_input(&mut reader, &writer);
                return;
            }
        };
        let keep_alive = wants_keep_alive(&request) && !stop.load(Ordering::SeqCst);
        // A handler that panics would take the connection's thread down
        // with it; the client gets a 500 and the server goes on.
        let response = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| handler(&request)))
            .unwrap_or_else(|_| Response::error(500, "internal error"));
        if write_response(&mut writer, &response, keep_alive).is_err() || !keep_alive {
            let _ = writer.shutdown(Shutdown::Write);
            return;
        }
    }
}

fn wants_keep_alive(request: &Request) -> bool {
    let connection = request.header("connection").unwrap_or("");
    !connection.eq_ignore_ascii_case("close")
}

/// After an early answer (413 to a body not read), the client may still be
/// sending: closing with unread bytes makes the kernel reset the
/// connection, and the client may then lose the answer. Read and drop what
/// comes for a short while, bounded in time and bytes.
fn discard_unread_input(reader: &mut BufReader<TcpStream>, writer: &TcpStream) {
    let _ = writer.shutdown(Shutdown::Write);
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut budget: usize = 64 << 20;
    let mut buffer = [0u8; 16 << 10];
    while Instant::now() < deadline && budget > 0 {
        match reader.read(&mut buffer) {
            Ok(0) => return,
            Ok(n) => budget = budget.saturating_sub(n),
            Err(e) if is_timeout(&e) => continue,
            Err(_) => return,
        }
    }
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    )
}

fn read_request(
    reader: &mut impl BufRead,
    writer: &mut impl Write,
    limits: &Limits,
    body_bytes: &Arc<BodyBytes>,
    stop: &AtomicBool,
) -> Result<Request, ReadFailure> {
    let head = read_head(reader, limits, stop)?;
    let bad = |message: &str| ReadFailure::Answer(Response::error(400, message));
    let head = String::from_utf8(head).map_err(|_| bad("the request head is not UTF-8"))?;
    let mut lines = head.split("\r\n");
    let request_line = lines.next().unwrap_or("");
    let mut parts = request_line.split(' ');
    let (Some(method), Some(target), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(bad("malformed request line"));
    };
    if !version.starts_with("HTTP/1.") {
        return Err(ReadFailure::Answer(Response::error(
            505,
            "only HTTP/1.x is spoken here",
        )));
    }
    let mut headers = Vec::new();
    for line in lines.filter(|line| !line.is_empty()) {
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| bad("malformed header line"))?;
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut request = Request {
        method: method.to_string(),
        path: path.to_string(),
        query: query.to_string(),
        headers,
        body: Vec::new(),
        _reservation: None,
    };
    if version == "HTTP/1.0" && request.header("connection").is_none() {
        request.headers.push(("connection".into(), "close".into()));
    }
    if request.header("transfer-encoding").is_some() {
        return Err(ReadFailure::Answer(Response::error(
            411,
            "send the body with a Content-Length (chunked transfer encoding is not supported)",
        )));
    }
    let length = match request.header("content-length") {
        None => 0,
        Some(text) => text
            .parse::<usize>()
            .map_err(|_| bad("Content-Length is not a number"))?,
    };
    if length > limits.max_body {
        return Err(ReadFailure::Answer(Response::error(
            413,
            &format!(
                "the body is {length} bytes; the limit is {} bytes ({} MB)",
                limits.max_body,
                limits.max_body >> 20
            ),
        )));
    }
    request._reservation = Some(
        Reservation::take(body_bytes, length, limits.max_bodies).ok_or_else(|| {
            ReadFailure::Answer(Response::error(
                503,
                "the server is receiving too many pictures at once; try again",
            ))
        })?,
    );
    if length > 0
        && request
            .header("expect")
            .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"))
    {
        writer
            .write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
            .map_err(|_| ReadFailure::Gone)?;
    }
    request.body = read_body(reader, length, limits.body_timeout)?;
    Ok(request)
}

/// Reads up to and including the blank line that ends a request's head.
fn read_head(
    reader: &mut impl BufRead,
    limits: &Limits,
    stop: &AtomicBool,
) -> Result<Vec<u8>, ReadFailure> {
    let deadline = Instant::now() + limits.head_timeout;
    let mut head = Vec::new();
    loop {
        if head.ends_with(b"\r\n\r\n") {
            return Ok(head);
        }
        // An idle connection (nothing of a request yet) closes quietly on
        // timeout or stop; a half-sent head is told why.
        let started = !head.is_empty();
        if Instant::now() >= deadline {
            return Err(match started {
                true => {
                    ReadFailure::Answer(Response::error(408, "the request head came too slowly"))
                }
                false => ReadFailure::Gone,
            });
        }
        if stop.load(Ordering::SeqCst) && !started {
            return Err(ReadFailure::Gone);
        }
        let available = match reader.fill_buf() {
            Ok([]) => return Err(ReadFailure::Gone),
            Ok(bytes) => bytes,
            Err(e) if is_timeout(&e) || e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return Err(ReadFailure::Gone),
        };
        // Take bytes up to the end of the head, never past it (the body follows).
        let mut taken = 0;
        for &byte in available {
            head.push(byte);
            taken += 1;
            if head.ends_with(b"\r\n\r\n") {
                break;
            }
        }
        reader.consume(taken);
        if head.len() > limits.max_head {
            return Err(ReadFailure::Answer(Response::error(
                431,
                &format!("the request head is over {} bytes", limits.max_head),
            )));
        }
    }
}

fn read_body(
    reader: &mut impl BufRead,
    length: usize,
    timeout: Duration,
) -> Result<Vec<u8>, ReadFailure> {
    let deadline = Instant::now() + timeout;
    let mut body = vec![0u8; length];
    let mut filled = 0;
    while filled < length {
        if Instant::now() >= deadline {
            return Err(ReadFailure::Answer(Response::error(
                408,
                "the request body came too slowly",
            )));
        }
        match reader.read(&mut body[filled..]) {
            Ok(0) => return Err(ReadFailure::Gone),
            Ok(n) => filled += n,
            Err(e) if is_timeout(&e) || e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(_) => return Err(ReadFailure::Gone),
        }
    }
    Ok(body)
}

fn write_response(
    stream: &mut TcpStream,
    response: &Response,
    keep_alive: bool,
) -> std::io::Result<()> {
    // The page's assets are compiled in and the API's answers depend on
    // the request: nothing should be cached stale, nothing fetched from
    // elsewhere (the page works offline, with no third-party requests).
    let head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nCache-Control: no-store\r\n\
         X-Content-Type-Options: nosniff\r\n\
         Content-Security-Policy: default-src 'self'; img-src 'self' data: blob:; \
         style-src 'self'; script-src 'self'; connect-src 'self'\r\nConnection: {}\r\n\r\n",
        response.status,
        reason(response.status),
        response.content_type,
        response.body.len(),
        if keep_alive { "keep-alive" } else { "close" },
    );
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(&response.body);
    stream.write_all(&bytes)?;
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn query_values_are_percent_decoded() {
        let request = Request {
            method: "POST".into(),
            path: "/api/predict".into(),
            query: "x=1&model=run%20one%2Fa+b&bad=%zz".into(),
            headers: vec![("Content-Type".into(), "image/png".into())],
            body: Vec::new(),
            _reservation: None,
        };
        assert_eq!(request.query_value("model").as_deref(), Some("run one/a b"));
        assert_eq!(request.query_value("x").as_deref(), Some("1"));
        assert_eq!(request.query_value("bad").as_deref(), Some("%zz"));
        assert_eq!(request.query_value("missing"), None);
        assert_eq!(request.header("content-type"), Some("image/png"));
    }

    /// Reads one request from `bytes` with small limits: the request, or
    /// the status it is answered with, or `None` when the bytes end first.
    fn read_from(bytes: &[u8], body_bytes: &Arc<BodyBytes>) -> Result<Request, Option<u16>> {
        let limits = Limits {
            max_head: 1 << 10,
            max_body: 1 << 12,
            max_bodies: 1 << 13,
            ..Limits::default()
        };
        let mut reader = std::io::Cursor::new(bytes);
        let mut written = Vec::new();
        let stop = AtomicBool::new(false);
        read_request(&mut reader, &mut written, &limits, body_bytes, &stop).map_err(|failure| {
            match failure {
                ReadFailure::Gone => None,
                ReadFailure::Answer(response) => Some(response.status),
            }
        })
    }

    #[test]
    fn requests_are_parsed_and_bad_ones_answered() {
        let held = Arc::new(BodyBytes::default());
        let request = read_from(
            b"POST /api/predict?model=a HTTP/1.1\r\nHost: x\r\ncontent-length: 3\r\n\r\nabcdef",
            &held,
        )
        .unwrap();
        assert_eq!(
            (request.method.as_str(), request.path.as_str()),
            ("POST", "/api/predict")
        );
        assert_eq!(request.query_value("model").as_deref(), Some("a"));
        assert_eq!(request.body, b"abc");
        assert_eq!(held.0.load(Ordering::SeqCst), 3);
        drop(request);
        assert_eq!(held.0.load(Ordering::SeqCst), 0);
        let answered = |bytes: &[u8]| read_from(bytes, &held).err().flatten();
        assert_eq!(answered(b"GET /\r\n\r\n"), Some(400));
        assert_eq!(answered(b"GET / SPDY/3\r\n\r\n"), Some(505));
        assert_eq!(
            answered(b"POST / HTTP/1.1\r\nContent-Length: 4097\r\n\r\n"),
            Some(413)
        );
        assert_eq!(
            answered(b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n"),
            Some(400)
        );
        let head = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(2000));
        assert_eq!(answered(head.as_bytes()), Some(431));
        // The bytes end before the head or the body does: nothing to answer.
        assert_eq!(answered(b"GET / HTTP/1.1\r\nHost:"), None);
        assert_eq!(
            answered(b"POST / HTTP/1.1\r\nContent-Length: 9\r\n\r\nabc"),
            None
        );
        // Bodies held at once stay within their limit.
        let first = read_from(b"POST / HTTP/1.1\r\nContent-Length: 4096\r\n\r\n", &held);
        assert!(first.is_err()); // the body never came, and its share is back
        let _holding = Reservation::take(&held, 6000, 1 << 13).unwrap();
        let post = b"POST / HTTP/1.1\r\nContent-Length: 4096\r\n\r\n";
        assert_eq!(answered(post), Some(503));
    }

    /// Any bytes from a client give a request within the limits, an answer
    /// with an error status, or nothing (the bytes ended): never a panic.
    #[test]
    fn fuzz_http_requests() {
        let seeds: Vec<Vec<u8>> = [
            &b"GET / HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nConnection: keep-alive\r\n\r\n"[..],
            b"POST /api/predict?model=run%20a HTTP/1.1\r\nContent-Type: image/png\r\n\
              Expect: 100-continue\r\nContent-Length: 8\r\n\r\n\x89PNG\r\n\x1a\n",
            b"GET /api/models HTTP/1.0\r\n\r\n",
        ]
        .iter()
        .map(|seed| seed.to_vec())
        .collect();
        let regressions = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/regressions/http");
        let held = Arc::new(BodyBytes::default());
        let report = byte_fuzz::run("http", &seeds, &regressions, byte_fuzz::budget(), {
            let held = held.clone();
            move |bytes: &[u8]| match read_from(bytes, &held) {
                Ok(request) if request.body.len() <= 1 << 12 => Ok(()),
                Ok(request) => Err(format!("a body of {} bytes", request.body.len())),
                Err(None) => Ok(()),
                Err(Some(status)) if (400..600).contains(&status) => Ok(()),
                Err(Some(status)) => Err(format!("answered {status}")),
            }
        });
        assert!(report.mutants > 0 || byte_fuzz::budget().is_zero());
        assert_eq!(
            held.0.load(Ordering::SeqCst),
            0,
            "body bytes not given back"
        );
    }

    #[test]
    fn body_reservations_stay_within_the_limit_and_are_given_back() {
        let held = Arc::new(BodyBytes::default());
        let first = Reservation::take(&held, 60, 100).unwrap();
        let second = Reservation::take(&held, 40, 100).unwrap();
        assert!(Reservation::take(&held, 1, 100).is_none());
        drop(first);
        let third = Reservation::take(&held, 60, 100).unwrap();
        assert!(Reservation::take(&held, usize::MAX, usize::MAX).is_none());
        drop((second, third));
        assert_eq!(held.0.load(Ordering::SeqCst), 0);
    }
}
