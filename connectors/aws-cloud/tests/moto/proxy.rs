//! A small fault-injecting HTTP/1.1 proxy in front of moto, for the faults moto cannot make:
//! Cost Explorer throttling (`LimitExceededException`, as AWS sends it), an S3 body that
//! breaks off before its `Content-Length`, a request that is never answered (the connection
//! stays open: a timeout) and a body that stops half-way without the connection closing.
//! Every other request goes to moto unchanged.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;

#[derive(Debug, Default)]
struct Plan {
    /// Requests still to answer with throttling.
    throttle: usize,
    /// GET requests whose body is still to cut in half.
    truncate: usize,
    /// GET requests still to leave unanswered, the connection held open.
    stall: usize,
    /// GET requests whose body is still to stop half-way, the connection held open.
    stall_body: usize,
    /// Requests seen.
    seen: usize,
    /// Requests answered with a fault.
    faulted: usize,
}

pub struct FaultProxy {
    pub url: String,
    plan: Arc<Mutex<Plan>>,
}

impl FaultProxy {
    pub fn start(upstream: &str) -> FaultProxy {
        let upstream = upstream
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_owned();
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

    /// Answers the next `n` Cost Explorer requests with its throttling error.
    pub fn throttle_next(&self, n: usize) {
        self.plan.lock().expect("plan").throttle = n;
    }

    /// Cuts the body of the next `n` GET responses in half and drops the connection.
    pub fn truncate_next_gets(&self, n: usize) {
        self.plan.lock().expect("plan").truncate = n;
    }

    /// Leaves the next `n` GET requests unanswered for a minute, the connection open.
    pub fn stall_next_gets(&self, n: usize) {
        self.plan.lock().expect("plan").stall = n;
    }

    /// Sends half the body of the next `n` GET responses, then nothing for a minute.
    pub fn stall_next_bodies(&self, n: usize) {
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

fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Request> {
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let line = line.trim_end_matches(['\r', '\n']).to_owned();
        if line.is_empty() {
            break;
        }
        head.push(line);
    }
    let length = header(&head, "content-length")
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(Request { head, body })
}

fn header<'a>(head: &'a [String], name: &str) -> Option<&'a str> {
    head.iter().skip(1).find_map(|line| {
        let (key, value) = line.split_once(':')?;
        key.trim().eq_ignore_ascii_case(name).then(|| value.trim())
    })
}

fn serve(client: TcpStream, upstream: &str, plan: &Mutex<Plan>) {
    let mut writer = client.try_clone().expect("clone the client stream");
    let mut reader = BufReader::new(client);
    while let Some(request) = read_request(&mut reader) {
        let is_get = request.head[0].starts_with("GET ");
        // Throttling is Cost Explorer's (a JSON-protocol call); STS and S3 pass.
        let is_cost_explorer = header(&request.head, "x-amz-target")
            .is_some_and(|t| t.starts_with("AWSInsightsIndexService."));
        // A GET of a listing (`?list-type=2`) is a request like any other here.
        let (throttle, truncate, stall, stall_body) = {
            let mut plan = plan.lock().expect("plan");
            plan.seen += 1;
            let throttle = is_cost_explorer && plan.throttle > 0;
            let truncate = !throttle && is_get && plan.truncate > 0;
            let stall = !throttle && !truncate && is_get && plan.stall > 0;
            let stall_body = !throttle && !truncate && !stall && is_get && plan.stall_body > 0;
            if throttle {
                plan.throttle -= 1;
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
            if throttle || truncate || stall || stall_body {
                plan.faulted += 1;
            }
            (throttle, truncate, stall, stall_body)
        };
        if stall {
            thread::sleep(std::time::Duration::from_secs(60));
            return;
        }
        if throttle {
            let body = br#"{"__type":"LimitExceededException","message":"Rate exceeded"}"#;
            let head = format!(
                "HTTP/1.1 400 Bad Request\r\nContent-Type: application/x-amz-json-1.1\r\n\
                 x-amzn-ErrorType: LimitExceededException\r\nContent-Length: {}\r\n\r\n",
                body.len()
            );
            if writer.write_all(head.as_bytes()).is_err() || writer.write_all(body).is_err() {
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
            // Half the announced body, then silence with the connection open.
            let _ = writer.write_all(&body[..body.len() / 2]);
            let _ = writer.flush();
            thread::sleep(std::time::Duration::from_secs(60));
            return;
        }
        if truncate {
            // Half the announced body, then the connection drops.
            let _ = writer.write_all(&body[..body.len() / 2]);
            let _ = writer.shutdown(std::net::Shutdown::Both);
            return;
        }
        if writer.write_all(&body).is_err() {
            return;
        }
    }
}

/// Sends the request to moto on a fresh connection and reads the whole answer.
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
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            break;
        }
        let line = line.trim_end_matches(['\r', '\n']).to_owned();
        if line.is_empty() {
            break;
        }
        headers.push(line);
    }
    let chunked = headers
        .iter()
        .any(|h| h.to_ascii_lowercase().starts_with("transfer-encoding") && h.contains("chunked"));
    let mut raw = Vec::new();
    reader.read_to_end(&mut raw).ok()?;
    let body = if chunked { dechunk(&raw) } else { raw };
    Some((status, headers, body))
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(end) = raw.windows(2).position(|w| w == b"\r\n") else {
            break;
        };
        let size_text = String::from_utf8_lossy(&raw[..end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("0").trim(), 16)
            .unwrap_or(0);
        raw = &raw[end + 2..];
        if size == 0 || raw.len() < size {
            break;
        }
        out.extend_from_slice(&raw[..size]);
        raw = &raw[(size + 2).min(raw.len())..];
    }
    out
}
