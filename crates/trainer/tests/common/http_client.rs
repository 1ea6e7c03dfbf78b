//! A minimal HTTP/1.1 client over `std::net` for the tests of `trainer
//! serve` and for driving chromedriver: one request per connection
//! (`Connection: close`), Content-Length or chunked answers.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}): {}",
                String::from_utf8_lossy(&self.body[..self.body.len().min(400)])
            )
        })
    }
}

/// Sends one request to `address` (`127.0.0.1:PORT`) and reads the whole answer.
pub fn request(
    address: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<Answer> {
    let mut stream = TcpStream::connect(address)?;
    stream.set_read_timeout(Some(Duration::from_secs(120)))?;
    stream.set_write_timeout(Some(Duration::from_secs(120)))?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    if !body.is_empty() || method == "POST" {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    read_answer(&mut stream)
}

/// Reads one answer: its head, then as many bytes as Content-Length says,
/// or chunks up to the last, or (with neither) up to the end of the
/// connection. Servers may keep the connection open (chromedriver does).
pub fn read_answer(stream: &mut TcpStream) -> std::io::Result<Answer> {
    let mut bytes = Vec::new();
    let mut buffer = [0u8; 64 << 10];
    let complete = |bytes: &[u8]| -> bool {
        let Ok(answer) = parse_answer(bytes) else {
            return false;
        };
        let end = bytes.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        if let Some(length) = answer.header("content-length") {
            return bytes.len() - end >= length.parse().unwrap_or(0);
        }
        if answer.header("transfer-encoding").is_some() {
            return bytes.ends_with(b"0\r\n\r\n");
        }
        false
    };
    loop {
        let read = stream.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        bytes.extend_from_slice(&buffer[..read]);
        if complete(&bytes) {
            break;
        }
    }
    parse_answer(&bytes)
}

pub fn parse_answer(bytes: &[u8]) -> std::io::Result<Answer> {
    let invalid =
        |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
    let end = bytes
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| invalid("no end of head"))?;
    let head = String::from_utf8_lossy(&bytes[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|line| line.split(' ').nth(1))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| invalid("no status"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut answer = Answer {
        status,
        headers,
        body: bytes[end + 4..].to_vec(),
    };
    if answer
        .header("transfer-encoding")
        .is_some_and(|e| e.eq_ignore_ascii_case("chunked"))
    {
        answer.body = dechunk(&answer.body).ok_or_else(|| invalid("bad chunked body"))?;
    } else if let Some(length) = answer.header("content-length") {
        let length: usize = length.parse().map_err(|_| invalid("bad length"))?;
        answer.body.truncate(length);
    }
    Ok(answer)
}

fn dechunk(mut bytes: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = bytes.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&bytes[..line_end]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        bytes = &bytes[line_end + 2..];
        if size == 0 {
            return Some(body);
        }
        body.extend_from_slice(bytes.get(..size)?);
        bytes = bytes.get(size + 2..)?;
    }
}
