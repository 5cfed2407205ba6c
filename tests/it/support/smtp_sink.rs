//! A real SMTP server on localhost that records what it receives: enough of RFC 5321 for lettre (EHLO, MAIL, RCPT,
//! DATA with dot-unstuffing, RSET, NOOP, QUIT). `reject_rcpt` answers 550 to one recipient, `tempfail_rcpt` 451.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::Notify;

#[derive(Debug, Clone, Default)]
pub struct Received {
    pub from: String,
    pub to: Vec<String>,
    /// The message as sent: headers, blank line, body.
    pub data: String,
}

#[derive(Clone)]
pub struct SmtpSink {
    pub port: u16,
    pub messages: Arc<Mutex<Vec<Received>>>,
}

/// Holds the next message: the sink reads its DATA and then neither records nor answers it (the sender waits), and
/// says so through `held`. For killing a sender while its email is in flight.
#[derive(Default)]
pub struct Hold {
    armed: AtomicBool,
    pub held: Notify,
}

impl Hold {
    pub fn armed() -> Arc<Hold> {
        let h = Hold::default();
        h.armed.store(true, Ordering::SeqCst);
        Arc::new(h)
    }
}

impl SmtpSink {
    pub async fn start(reject_rcpt: Option<&str>, tempfail_rcpt: Option<&str>) -> SmtpSink {
        SmtpSink::start_with_hold(reject_rcpt, tempfail_rcpt, None).await
    }

    pub async fn start_with_hold(
        reject_rcpt: Option<&str>,
        tempfail_rcpt: Option<&str>,
        hold: Option<Arc<Hold>>,
    ) -> SmtpSink {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().unwrap().port();
        let messages: Arc<Mutex<Vec<Received>>> = Arc::default();
        let (store, reject, tempfail) = (
            messages.clone(),
            reject_rcpt.map(str::to_string),
            tempfail_rcpt.map(str::to_string),
        );
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (store, reject, tempfail) = (store.clone(), reject.clone(), tempfail.clone());
                let hold = hold.clone();
                tokio::spawn(async move {
                    let (r, mut w) = stream.into_split();
                    let mut lines = BufReader::new(r).lines();
                    let _ = w.write_all(b"220 sink ESMTP ready\r\n").await;
                    let mut cur = Received::default();
                    while let Ok(Some(line)) = lines.next_line().await {
                        let upper = line.to_ascii_uppercase();
                        let reply: String = if upper.starts_with("EHLO") {
                            "250-sink\r\n250-8BITMIME\r\n250 SMTPUTF8".into()
                        } else if upper.starts_with("HELO") || upper.starts_with("NOOP") {
                            "250 ok".into()
                        } else if upper.starts_with("MAIL FROM:") {
                            cur = Received {
                                from: addr(&line[10..]),
                                ..Default::default()
                            };
                            "250 ok".into()
                        } else if upper.starts_with("RCPT TO:") {
                            let to = addr(&line[8..]);
                            if reject.as_deref() == Some(to.as_str()) {
                                "550 5.1.1 mailbox unavailable".into()
                            } else if tempfail.as_deref() == Some(to.as_str()) {
                                "451 4.3.0 try again later".into()
                            } else {
                                cur.to.push(to);
                                "250 ok".into()
                            }
                        } else if upper == "DATA" {
                            let _ = w.write_all(b"354 go ahead\r\n").await;
                            let mut data = String::new();
                            while let Ok(Some(l)) = lines.next_line().await {
                                if l == "." {
                                    break;
                                }
                                data.push_str(l.strip_prefix('.').filter(|_| l.starts_with("..")).unwrap_or(&l));
                                data.push('\n');
                            }
                            if let Some(h) = hold.as_ref().filter(|h| h.armed.swap(false, Ordering::SeqCst)) {
                                h.held.notify_one();
                                std::future::pending::<()>().await;
                            }
                            cur.data = data;
                            store.lock().unwrap().push(std::mem::take(&mut cur));
                            "250 queued".into()
                        } else if upper.starts_with("RSET") {
                            cur = Received::default();
                            "250 ok".into()
                        } else if upper.starts_with("QUIT") {
                            let _ = w.write_all(b"221 bye\r\n").await;
                            break;
                        } else {
                            "502 not implemented".into()
                        };
                        if w.write_all(format!("{reply}\r\n").as_bytes()).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        SmtpSink { port, messages }
    }

    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    pub fn received(&self) -> Vec<Received> {
        self.messages.lock().unwrap().clone()
    }
}

fn addr(s: &str) -> String {
    let s = s.trim();
    let s = s.split_whitespace().next().unwrap_or("");
    s.trim_start_matches('<').trim_end_matches('>').to_string()
}
