//! A local HTTP server for tests: answers each request with the next scripted response
//! (status, headers, body) and records what it received (method, path and query, body, time).
//! One request per connection (`Connection: close`); bound to 127.0.0.1 on a free port; the
//! thread ends when the script is used up.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// One scripted answer.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    /// Never answer: hold the connection open this long, then drop it (a stalled server).
    pub stall: Option<std::time::Duration>,
}

impl Reply {
    pub fn new(status: u16, body: impl Into<String>) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: body.into(),
            stall: None,
        }
    }

    /// A request that is read and never answered; the connection stays open for a minute
    /// (the next connection is served meanwhile).
    pub fn stalled() -> Reply {
        Reply {
            stall: Some(std::time::Duration::from_secs(60)),
            ..Reply::new(0, "")
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Reply {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

/// What the server received (not every test reads every field).
#[allow(dead_code)]
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    pub body: String,
    pub authorization: Option<String>,
    pub at: Instant,
}

/// A running server.
pub struct Server {
    pub base: String,
    pub received: Arc<Mutex<Vec<Received>>>,
}

impl Server {
    /// Starts a server answering with `script`, in order. `{BASE}` in a body is replaced by
    /// the server's own `http://127.0.0.1:PORT`.
    pub fn start(script: Vec<Reply>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&received);
        let own = base.clone();
        std::thread::spawn(move || {
            for reply in script {
                let Ok((stream, _)) = listener.accept() else {
                    return;
                };
                let mut reader = BufReader::new(stream.try_clone().expect("clone"));
                let mut first = String::new();
                if reader.read_line(&mut first).is_err() {
                    return;
                }
                let mut parts = first.split_whitespace();
                let method = parts.next().unwrap_or_default().to_owned();
                let target = parts.next().unwrap_or_default().to_owned();
                let mut length = 0usize;
                let mut authorization = None;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        break;
                    }
                    let line = line.trim_end();
                    if line.is_empty() {
                        break;
                    }
                    if let Some((name, value)) = line.split_once(':') {
                        let name = name.trim().to_ascii_lowercase();
                        if name == "content-length" {
                            length = value.trim().parse().unwrap_or(0);
                        } else if name == "authorization" {
                            authorization = Some(value.trim().to_owned());
                        }
                    }
                }
                let mut body = vec![0u8; length];
                let _ = reader.read_exact(&mut body);
                log.lock().expect("log").push(Received {
                    method,
                    target,
                    body: String::from_utf8_lossy(&body).into_owned(),
                    authorization,
                    at: Instant::now(),
                });
                if let Some(stall) = reply.stall {
                    std::thread::spawn(move || {
                        std::thread::sleep(stall);
                        drop(stream);
                    });
                    continue;
                }
                let text = reply.body.replace("{BASE}", &own);
                let mut head = format!(
                    "HTTP/1.1 {} Scripted\r\nContent-Type: application/json\r\n\
                     Content-Length: {}\r\nConnection: close\r\n",
                    reply.status,
                    text.len()
                );
                for (name, value) in &reply.headers {
                    head.push_str(&format!("{name}: {value}\r\n"));
                }
                head.push_str("\r\n");
                let mut stream = stream;
                let _ = stream.write_all(head.as_bytes());
                let _ = stream.write_all(text.as_bytes());
                let _ = stream.flush();
            }
        });
        Server { base, received }
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().expect("log").clone()
    }
}
