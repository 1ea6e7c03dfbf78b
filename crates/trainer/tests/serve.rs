//! `trainer serve` through its HTTP API, without a browser: the answers of
//! `POST /api/predict` against `trainer predict --json`, every kind of bad
//! request, idle clients, a bounded load test, and stopping by signal.

mod common;

use common::http_client::{self, request, Answer};
use common::pictures::{canvas_png, grey_png};
use common::server::Server;
use common::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// One small trained model shared by the tests of this file.
fn model() -> &'static PathBuf {
    static MODEL: OnceLock<PathBuf> = OnceLock::new();
    MODEL.get_or_init(|| small_model(&temp_dir("serve-model")))
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn post_picture(server: &Server, path: &str, content_type: &str, body: &[u8]) -> Answer {
    request(
        &server.address,
        "POST",
        path,
        &[("Content-Type", content_type)],
        body,
    )
    .expect("the server answers")
}

fn get(server: &Server, path: &str) -> Answer {
    request(&server.address, "GET", path, &[], b"").expect("the server answers")
}

/// A JSON error answer with `status`, whose message contains `expected`.
fn assert_error(answer: &Answer, status: u16, expected: &str) {
    let text = String::from_utf8_lossy(&answer.body);
    assert_eq!(answer.status, status, "{text}");
    assert_eq!(answer.header("content-type"), Some("application/json"));
    let message = answer.json()["error"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        message.contains(expected),
        "{expected:?} not in {message:?}"
    );
}

#[test]
fn predict_api_answers_what_predict_json_prints() {
    let model = model();
    let server = Server::with_model(model);
    for picture in ["seven-grey.jpg", "two-rgb.jpg", "four-cmyk.jpg"] {
        let path = fixture(picture);
        let bytes = std::fs::read(&path).unwrap();
        let answer = post_picture(&server, "/api/predict", "image/jpeg", &bytes);
        assert_eq!(answer.status, 200, "{}", text(&answer.body));
        let served = answer.json();
        let printed: serde_json::Value = serde_json::from_str(&assert_success(&run(&[
            "predict",
            "--json",
            "--model",
            path_arg(model),
            path_arg(&path),
        ])))
        .unwrap();
        let printed = &printed["predictions"][0];
        // Every field predict prints for a picture, but its file name.
        for (key, value) in printed.as_object().unwrap() {
            if key != "file" {
                assert_eq!(&served[key], value, "{picture}: {key}");
            }
        }
        assert_eq!(served["model"], "run");
        let input = served["input"].as_array().unwrap();
        assert_eq!(input.len(), 784);
        assert!(input.iter().all(|v| v.as_u64().is_some_and(|v| v <= 255)));
        // MNIST's preparation: the ink fits in the central 20x20 box's rows
        // and columns after centring, and the corners are background.
        assert_eq!(input[0], 0);
        assert_eq!(input[783], 0);
        assert!(input.iter().filter(|v| v.as_u64() > Some(128)).count() > 20);
    }
    // A canvas picture (PNG), without a Content-Type: recognised by its bytes.
    let (png, _) = canvas_png(0);
    let answer = request(&server.address, "POST", "/api/predict", &[], &png).unwrap();
    assert_eq!(answer.status, 200, "{}", text(&answer.body));
    let probabilities = answer.json()["probabilities"].as_array().unwrap().clone();
    let sum: f64 = probabilities.iter().map(|p| p.as_f64().unwrap()).sum();
    assert!((sum - 1.0).abs() < 1e-4, "{sum}");
}

#[test]
fn the_page_and_model_list_are_served_from_the_binary() {
    let server = Server::with_model(model());
    let page = get(&server, "/");
    assert_eq!(page.status, 200);
    assert!(page
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));
    let html = text(&page.body);
    for testid in ["prediction", "canvas", "clear", "probabilities"] {
        assert!(
            html.contains(&format!("data-testid=\"{testid}\"")),
            "{testid}"
        );
    }
    // Everything the page loads comes from this server, and the browser is
    // told to load nothing from anywhere else.
    assert!(!html.contains("http://") && !html.contains("https://"));
    let policy = page.header("content-security-policy").unwrap();
    assert!(policy.contains("default-src 'self'"), "{policy}");
    for asset in ["/app.js", "/style.css"] {
        let answer = get(&server, asset);
        assert_eq!(answer.status, 200, "{asset}");
        assert!(html.contains(asset), "{asset} not linked");
        assert!(!text(&answer.body).contains("https://"), "{asset}");
    }
    let models = get(&server, "/api/models").json();
    let models = models["models"].as_array().unwrap();
    assert_eq!(models.len(), 1);
    assert_eq!(models[0]["id"], "run");
    assert_eq!(
        models[0]["architecture"],
        "1x28x28 c16k3bn p2 c32k3bn p2 10"
    );
    assert_eq!(models[0]["default"], true);
    assert!(models[0]["parameters"].as_u64().unwrap() > 1000);
}

#[test]
fn bad_requests_get_clear_answers_and_the_server_goes_on() {
    let server = Server::with_model(model());
    let (png, _) = canvas_png(1);

    let oversized = vec![0u8; 21 << 20];
    assert_error(
        &post_picture(&server, "/api/predict", "image/png", &oversized),
        413,
        "limit is 20971520 bytes",
    );
    let truncated = &png[..png.len() / 2];
    let answer = post_picture(&server, "/api/predict", "image/png", truncated);
    assert_error(&answer, 400, "PNG");
    assert_error(
        &post_picture(&server, "/api/predict", "image/png", b"hello"),
        400,
        "not a PNG or JPEG",
    );
    assert_error(
        &post_picture(&server, "/api/predict", "image/png", b""),
        400,
        "empty",
    );
    for content_type in [
        "text/plain",
        "multipart/form-data; boundary=x",
        "application/json",
    ] {
        assert_error(
            &post_picture(&server, "/api/predict", content_type, &png),
            415,
            "image/png",
        );
    }
    // A blank picture: read, but nothing to recognise (422, and the
    // `no_digit` that predict --json gives such a picture).
    let blank = grey_png(&[255u8; 64 * 64], 64);
    let answer = post_picture(&server, "/api/predict", "image/png", &blank);
    assert_error(&answer, 422, "no digit found");
    assert_eq!(answer.json()["no_digit"], true);
    assert_eq!(answer.json()["input"], serde_json::Value::Null);

    // Paths: only the listed pages and models, never a file.
    for path in [
        "/nope",
        "/../../etc/passwd",
        "/%2e%2e/%2e%2e/etc/passwd",
        "/api",
        "/src/web/page/app.js",
    ] {
        assert_error(&get(&server, path), 404, "no such page");
    }
    for id in [
        "../../etc/passwd",
        "/etc/passwd",
        "nope",
        "run%2F..%2F..",
        "%zz",
        "%ff",
        "",
    ] {
        let path = format!("/api/predict?model={id}");
        assert_error(
            &post_picture(&server, &path, "image/png", &png),
            404,
            "no such model",
        );
    }
    assert_error(&get(&server, "/api/predict"), 405, "method");
    let answer = request(&server.address, "DELETE", "/", &[], b"").unwrap();
    assert_eq!(answer.status, 405);

    // Broken HTTP: each answered, then the connection closes.
    for (raw, status) in [
        (&b"hello\r\n\r\n"[..], 400),
        (b"GET / HTTP/2.0\r\n\r\n", 505),
        (
            b"POST /api/predict HTTP/1.1\r\nContent-Length: many\r\n\r\n",
            400,
        ),
        (
            b"POST /api/predict HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            411,
        ),
        (b"GET / HTTP/1.1\r\nno colon here\r\n\r\n", 400),
    ] {
        let mut stream = TcpStream::connect(&server.address).unwrap();
        stream.write_all(raw).unwrap();
        let answer = http_client::read_answer(&mut stream).unwrap();
        assert_eq!(answer.status, status, "{}", String::from_utf8_lossy(raw));
    }
    let huge_head = format!("GET / HTTP/1.1\r\nX-Filler: {}\r\n\r\n", "a".repeat(20_000));
    let mut stream = TcpStream::connect(&server.address).unwrap();
    let _ = stream.write_all(huge_head.as_bytes());
    assert_eq!(http_client::read_answer(&mut stream).unwrap().status, 431);

    // And after all that, the page and the API still work.
    assert_eq!(get(&server, "/").status, 200);
    let answer = post_picture(&server, "/api/predict", "image/png", &png);
    assert_eq!(answer.status, 200, "{}", text(&answer.body));
}

#[test]
fn keep_alive_serves_several_requests_on_one_connection() {
    let server = Server::with_model(model());
    let (png, _) = canvas_png(2);
    let mut stream = TcpStream::connect(&server.address).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    for _ in 0..3 {
        let head = format!(
            "POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n\
             Content-Length: {}\r\n\r\n",
            png.len()
        );
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(&png).unwrap();
        // Read exactly one answer: the head, then Content-Length bytes.
        let mut bytes = Vec::new();
        let mut byte = [0u8; 1];
        while !bytes.ends_with(b"\r\n\r\n") {
            stream.read_exact(&mut byte).unwrap();
            bytes.push(byte[0]);
        }
        let head = http_client::parse_answer(&bytes).unwrap();
        assert_eq!(head.status, 200);
        assert_eq!(head.header("connection"), Some("keep-alive"));
        let length: usize = head.header("content-length").unwrap().parse().unwrap();
        let mut body = vec![0u8; length];
        stream.read_exact(&mut body).unwrap();
        let answer: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert!(answer["digit"].is_u64());
    }
}

#[test]
fn idle_and_slow_clients_do_not_stop_the_page() {
    let server = Server::with_model(model());
    let threads_before = server.threads();
    // 100 clients that connect and send nothing, and 10 that start a
    // request and stall.
    let idle: Vec<TcpStream> = (0..100)
        .map(|_| TcpStream::connect(&server.address).unwrap())
        .collect();
    let mut stalled: Vec<TcpStream> = (0..10)
        .map(|_| {
            let mut stream = TcpStream::connect(&server.address).unwrap();
            stream
                .write_all(b"POST /api/predict HTTP/1.1\r\nHost:")
                .unwrap();
            stream
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(get(&server, "/").status, 200);
    let (png, _) = canvas_png(3);
    assert_eq!(
        post_picture(&server, "/api/predict", "image/png", &png).status,
        200
    );
    // One thread per open connection, within the server's limit (256).
    let threads = server.threads();
    assert!(
        threads <= threads_before + 110 + 4,
        "{threads_before} -> {threads}"
    );
    // The server gives up on them after its head timeout (10 s): a stalled
    // request is told so, an idle connection is closed.
    let mut stalled_client = stalled.pop().unwrap();
    stalled_client
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let answer = http_client::read_answer(&mut stalled_client).unwrap();
    assert_eq!(answer.status, 408);
    let mut idle_client = idle.into_iter().next().unwrap();
    idle_client
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut rest = Vec::new();
    assert_eq!(idle_client.read_to_end(&mut rest).unwrap(), 0);
    drop(stalled);
    // Their threads are gone.
    let deadline = Instant::now() + Duration::from_secs(10);
    while server.threads() > threads_before + 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        server.threads() <= threads_before + 2,
        "{}",
        server.threads()
    );
}

#[test]
fn connections_over_the_limit_are_refused_then_served_again() {
    let server = Server::with_model(model());
    let threads_before = server.threads();
    let held: Vec<TcpStream> = (0..256)
        .map(|_| TcpStream::connect(&server.address).unwrap())
        .collect();
    let deadline = Instant::now() + Duration::from_secs(20);
    while server.threads() < threads_before + 256 {
        assert!(Instant::now() < deadline, "{} threads", server.threads());
        std::thread::sleep(Duration::from_millis(20));
    }
    let refused = get(&server, "/");
    assert_error(&refused, 503, "too many connections");
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let answer = get(&server, "/");
        if answer.status == 200 {
            break;
        }
        assert_eq!(answer.status, 503);
        assert!(Instant::now() < deadline, "still refused after 20 s");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_thousand_requests_from_eight_clients_without_error_or_memory_growth() {
    let server = Server::with_model(model());
    let pictures: Vec<Vec<u8>> = (0..8).map(|i| canvas_png(i).0).collect();
    let load = |requests_per_client: usize| -> Vec<Duration> {
        std::thread::scope(|scope| {
            let clients: Vec<_> = pictures
                .iter()
                .map(|png| {
                    let server = &server;
                    scope.spawn(move || {
                        let mut latencies = Vec::new();
                        for _ in 0..requests_per_client {
                            let start = Instant::now();
                            let answer = post_picture(server, "/api/predict", "image/png", png);
                            latencies.push(start.elapsed());
                            assert_eq!(answer.status, 200, "{}", text(&answer.body));
                            assert!(answer.json()["digit"].is_u64());
                        }
                        latencies
                    })
                })
                .collect();
            clients
                .into_iter()
                .flat_map(|client| client.join().unwrap())
                .collect()
        })
    };
    // Warm up: the allocator's arenas, the model's buffers.
    load(25);
    let before = server.resident_kib();
    let mut latencies = load(125);
    let after = server.resident_kib();
    assert_eq!(latencies.len(), 1000);
    // Growth would show as MBs over 1000 requests of 280x280 pictures
    // (each decodes to 78 KB of pixels and 300 KB of floats).
    assert!(
        after <= before + 4096,
        "resident memory grew from {before} KiB to {after} KiB"
    );
    latencies.sort();
    eprintln!(
        "1000 requests from 8 clients: p50 {:?}, p99 {:?}, max {:?}; RSS {before} -> {after} KiB",
        latencies[500], latencies[990], latencies[999]
    );
}

#[test]
fn sigterm_and_ctrl_c_stop_the_server_cleanly() {
    for signal in ["TERM", "INT"] {
        let mut server = Server::with_model(model());
        assert_eq!(get(&server, "/").status, 200);
        // A connection left open does not keep the server from stopping.
        let _idle = TcpStream::connect(&server.address).unwrap();
        server.signal(signal);
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(status) = server.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "still running after SIG{signal}");
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut stderr = String::new();
        server
            .child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        assert_eq!(status.code(), Some(0), "SIG{signal}: {stderr}");
        assert!(stderr.contains("stopped"), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(TcpStream::connect(&server.address).is_err());
    }
}

#[test]
fn a_runs_folder_offers_every_run_best_first() {
    let dir = temp_dir("serve-runs");
    let runs = dir.join("runs");
    for (name, accuracy) in [("a-older", 0.91), ("b-newer", 0.97)] {
        let folder = runs.join(name);
        std::fs::create_dir_all(&folder).unwrap();
        std::fs::copy(model(), folder.join("model.safetensors")).unwrap();
        let metrics = format!("{{\"epoch\":1,\"test_accuracy\":{accuracy}}}\n");
        std::fs::write(folder.join("metrics.jsonl"), metrics).unwrap();
    }
    // Not runs: a broken model (left out with a warning) and a stray file.
    std::fs::create_dir_all(runs.join("c-broken")).unwrap();
    std::fs::write(runs.join("c-broken/model.safetensors"), b"not a model").unwrap();
    std::fs::write(runs.join("notes.txt"), b"hello").unwrap();

    let server = Server::start(&["--runs", path_arg(&runs)]);
    let listing = get(&server, "/api/models").json();
    let models = listing["models"].as_array().unwrap();
    let ids: Vec<&str> = models.iter().map(|m| m["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["b-newer", "a-older"]);
    assert_eq!(models[0]["default"], true);
    assert_eq!(models[1]["default"], false);
    assert!((models[1]["test_accuracy"].as_f64().unwrap() - 0.91).abs() < 1e-6);

    let (png, _) = canvas_png(4);
    let answer = post_picture(&server, "/api/predict", "image/png", &png);
    assert_eq!(answer.json()["model"], "b-newer");
    let answer = post_picture(&server, "/api/predict?model=a-older", "image/png", &png);
    assert_eq!(answer.json()["model"], "a-older");
}

#[test]
fn serve_refuses_what_it_cannot_serve() {
    let dir = temp_dir("serve-refuses");
    let empty = dir.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let output = run_with_timeout(&["serve", "--runs", path_arg(&empty)], 60);
    assert_clean_failure(&output, 2, &["no run folder", "--model"]);
    let missing = dir.join("missing");
    let output = run_with_timeout(&["serve", "--runs", path_arg(&missing)], 60);
    assert_clean_failure(&output, 2, &["no such folder", "trainer train"]);
    let output = run_with_timeout(&["serve", "--model", path_arg(&missing)], 60);
    assert_clean_failure(&output, 1, &[path_arg(&missing)]);
    let model = model();
    let output = run_with_timeout(
        &["serve", "--model", path_arg(model), "--addr", "nowhere"],
        60,
    );
    assert_clean_failure(&output, 2, &["--addr nowhere"]);
}

#[test]
fn another_address_than_loopback_comes_with_a_warning() {
    let mut child = trainer()
        .args(["serve", "--model", path_arg(model()), "--addr", "0.0.0.0:0"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    let _ = child.kill();
    let output = child.wait_with_output().unwrap();
    let stderr = text(&output.stderr);
    assert!(line.starts_with("serving http://0.0.0.0:"), "{line}");
    assert!(
        stderr.starts_with("warning: listening on 0.0.0.0:"),
        "{stderr}"
    );
    assert!(stderr.contains("other machines"), "{stderr}");
}
