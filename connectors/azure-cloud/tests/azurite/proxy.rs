//! A small fault-injecting HTTP/1.1 proxy in front of Azurite, for the faults Azurite cannot
//! make: `503 ServerBusy` (Azure Storage's throttling answer), a blob body that breaks off
//! before its `Content-Length`, a request never answered and a blob body that stops half-way,
//! both with the connection held open (timeouts). Every other request goes to Azurite
//! unchanged.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;

#[derive(Debug, Default)]
struct Plan {
    /// Requests still to answer with 503.
    busy: usize,
    /// GET requests of blobs (not listings) whose body is still to cut in half.
    truncate: usize,
    /// Requests still to leave unanswered, the connection held open.
    stall: usize,
    /// Blob downloads whose body is still to stop half-way, the connection held open.
    stall_body: usize,
    seen: usize,
    faulted: usize,
}

pub struct FaultProxy {
    /// `http://127.0.0.1:PORT`: use it as the endpoint.
    pub url: String,
    plan: Arc<Mutex<Plan>>,
}

impl FaultProxy {
    pub fn start(upstream: &str) -> FaultProxy {
        let upstream = upstream.trim_start_matches("http://").to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let plan = Arc::new(Mutex::new(Plan::default()));
        let shared = Arc::clone(&plan);
        thread::spawn(move || {
            for client in listener.incoming().flatten() {
                let plan = Arc::clone(&shared);
                let upstream = upstream.clone();
                thread::spawn(move || serve(client, &upstream, &plan));
            }
        });
        FaultProxy { url, plan }
    }

    /// Answers the next `n` requests with `503 ServerBusy`.
    pub fn busy_next(&self, n: usize) {
        self.plan.lock().expect("plan").busy = n;
    }

    /// Cuts the body of the next `n` blob downloads in half and drops the connection.
    pub fn truncate_next_downloads(&self, n: usize) {
        self.plan.lock().expect("plan").truncate = n;
    }

    /// Leaves the next `n` requests unanswered for a minute, the connection open.
    pub fn stall_next(&self, n: usize) {
        self.plan.lock().expect("plan").stall = n;
    }

    /// Sends half the body of the next `n` blob downloads, then nothing for a minute.
    pub fn stall_next_downloads(&self, n: usize) {
        self.plan.lock().expect("plan").stall_body = n;
    }

    /// (requests seen, requests answered with a fault).
    pub fn counts(&self) -> (usize, usize) {
        let plan = self.plan.lock().expect("plan");
        (plan.seen, plan.faulted)
    }
}

struct Request {
    head: Vec<String>,
    body: Vec<u8>,
}

fn read_head(reader: &mut impl BufRead) -> Option<Vec<String>> {
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end_matches(['\r', '\n']).to_owned();
        if line.is_empty() {
            return Some(head);
        }
        head.push(line);
    }
}

fn header<'a>(head: &'a [String], name: &str) -> Option<&'a str> {
    head.iter().skip(1).find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim().eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let head = read_head(reader)?;
    let length = header(&head, "content-length")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Request { head, body })
}

fn serve(client: TcpStream, upstream: &str, plan: &Mutex<Plan>) {
    let mut writer = client.try_clone().expect("clone the client stream");
    let mut reader = BufReader::new(client);
    while let Some(request) = read_request(&mut reader) {
        let line = &request.head[0];
        let download = line.starts_with("GET ") && !line.contains("comp=list");
        let (busy, truncate, stall, stall_body) = {
            let mut plan = plan.lock().expect("plan");
            plan.seen += 1;
            let busy = plan.busy > 0;
            let truncate = !busy && download && plan.truncate > 0;
            let stall = !busy && !truncate && plan.stall > 0;
            let stall_body = !busy && !truncate && !stall && download && plan.stall_body > 0;
            if busy {
                plan.busy -= 1;
            }
            if truncate {
                plan.truncate -= 1;
            }
            if stall {
                plan.stall -= 1;
            }
            if stall_body {
                plan.stall_body -= 1;
            }
            if busy || truncate || stall || stall_body {
                plan.faulted += 1;
            }
            (busy, truncate, stall, stall_body)
        };
        if stall {
            thread::sleep(std::time::Duration::from_secs(60));
            return;
        }
        if busy {
            let body = "<?xml version=\"1.0\" encoding=\"utf-8\"?><Error><Code>ServerBusy</Code>\
                        <Message>The server is busy.</Message></Error>";
            let head = format!(
                "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/xml\r\n\
                 x-ms-error-code: ServerBusy\r\nContent-Length: {}\r\n\r\n",
                body.len()
            );
            if writer.write_all(head.as_bytes()).is_err()
                || writer.write_all(body.as_bytes()).is_err()
            {
                return;
            }
            continue;
        }
        let Some((status, headers, body)) = forward(upstream, &request) else {
            return;
        };
        let mut head = format!("{status}\r\n");
        for line in &headers {
            let key = line.split(':').next().unwrap_or_default().trim();
            if !key.eq_ignore_ascii_case("connection")
                && !key.eq_ignore_ascii_case("content-length")
                && !key.eq_ignore_ascii_case("transfer-encoding")
            {
                head.push_str(line);
                head.push_str("\r\n");
            }
        }
        head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
        if writer.write_all(head.as_bytes()).is_err() {
            return;
        }
        if stall_body {
            let _ = writer.write_all(&body[..body.len() / 2]);
            let _ = writer.flush();
            thread::sleep(std::time::Duration::from_secs(60));
            return;
        }
        if truncate {
            let _ = writer.write_all(&body[..body.len() / 2]);
            let _ = writer.flush();
            let _ = writer.shutdown(std::net::Shutdown::Both);
            return;
        }
        if writer.write_all(&body).is_err() {
            return;
        }
    }
}

/// Sends the request to Azurite on a fresh connection and reads the whole answer.
fn forward(upstream: &str, request: &Request) -> Option<(String, Vec<String>, Vec<u8>)> {
    let mut stream = TcpStream::connect(upstream).ok()?;
    let mut head = format!("{}\r\n", request.head[0]);
    for line in request.head.iter().skip(1) {
        let key = line.split(':').next().unwrap_or_default().trim();
        if !key.eq_ignore_ascii_case("connection") {
            head.push_str(line);
            head.push_str("\r\n");
        }
    }
    head.push_str("Connection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).ok()?;
    stream.write_all(&request.body).ok()?;
    let mut reader = BufReader::new(stream);
    let mut status = String::new();
    reader.read_line(&mut status).ok()?;
    let status = status.trim_end().to_owned();
    let headers = read_head(&mut reader)?;
    let mut raw = Vec::new();
    reader.read_to_end(&mut raw).ok()?;
    let chunked = header(
        &std::iter::once(String::new())
            .chain(headers.iter().cloned())
            .collect::<Vec<_>>(),
        "transfer-encoding",
    )
    .is_some_and(|v| v.contains("chunked"));
    let body = if chunked { dechunk(&raw) } else { raw };
    Some((status, headers, body))
}

/// The body of a chunked transfer encoding.
fn dechunk(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = raw;
    loop {
        let Some(end) = rest.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let size_text = String::from_utf8_lossy(&rest[..end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("0").trim(), 16)
            .unwrap_or(0);
        if size == 0 {
            return out;
        }
        let start = end + 2;
        out.extend_from_slice(&rest[start..(start + size).min(rest.len())]);
        rest = &rest[(start + size + 2).min(rest.len())..];
    }
}
