//! `trainer serve`: a page to draw a digit on and watch the network's
//! answer change while drawing, and the HTTP API it uses.
//!
//! - `GET /` the page; `GET /app.js`, `/style.css`: its assets, compiled in;
//! - `GET /api/models`: the models on offer (id, architecture, parameters,
//!   test accuracy, which one is the default);
//! - `POST /api/predict[?model=ID]` with a PNG or JPEG body: what `predict
//!   --json` says of one picture (`digit`, `probabilities`), plus `model`
//!   (its id) and `input` (the 784 grey levels, 0-255, the network saw).
//!
//! The canvas, uploads and photos all go through
//! [`predict::read_picture`], the pipeline of `predict`. A client names a model only by an id from the
//! list, never by a path.

mod http;
mod models;

use crate::cli::ServeArgs;
use crate::error::Error;
use crate::predict::{self, PictureReport};
use http::{Limits, Request, Response};
use models::Catalogue;
use std::net::{SocketAddr, TcpListener, ToSocketAddrs};
use std::sync::Arc;

/// The page and its assets: (path, content type, text).
const ASSETS: &[(&str, &str, &str)] = &[
    (
        "/",
        "text/html; charset=utf-8",
        include_str!("page/index.html"),
    ),
    (
        "/app.js",
        "text/javascript; charset=utf-8",
        include_str!("page/app.js"),
    ),
    (
        "/style.css",
        "text/css; charset=utf-8",
        include_str!("page/style.css"),
    ),
];

/// Content types `POST /api/predict` accepts (the picture is recognised by
/// its bytes; a missing type is accepted for the same reason).
const PICTURE_TYPES: &[&str] = &[
    "image/png",
    "image/jpeg",
    "image/jpg",
    "application/octet-stream",
];

pub fn serve_command(args: &ServeArgs) -> Result<(), Error> {
    keep_freed_memory_for_the_next_request();
    let catalogue = match &args.model {
        Some(model) => Catalogue::one(model, args.arch.as_deref())?,
        None => Catalogue::runs(&args.runs)?,
    };
    let address = resolve(&args.addr)?;
    if !address.ip().is_loopback() {
        eprintln!(
            "warning: listening on {address}, which other machines can reach: anyone who can \
             connect can use the page and the API (use 127.0.0.1 to keep it on this machine)"
        );
    }
    let listener = TcpListener::bind(address)
        .map_err(|e| Error::Usage(format!("--addr {}: cannot listen there: {e}", args.addr)))?;
    let bound = listener
        .local_addr()
        .map_err(|e| Error::io(args.addr.as_str(), e))?;
    crate::signals::install_for_serving();
    let default = catalogue.default_id();
    crate::write_stdout(format_args!(
        "serving http://{bound}/ ({} model{}, default {default}); Ctrl-C stops\n",
        catalogue.len(),
        if catalogue.len() == 1 { "" } else { "s" }
    ))?;
    let catalogue = Arc::new(catalogue);
    let handler = Arc::new(move |request: &Request| handle(&catalogue, request));
    http::serve(listener, Limits::default(), &crate::signals::STOP, handler)
        .map_err(|e| Error::io(args.addr.as_str(), e))?;
    eprintln!("stopped");
    Ok(())
}

/// A picture's preparation allocates a dozen buffers of up to a megabyte
/// or so (300 KB of floats each for a canvas). By default glibc maps blocks
/// over 128 KiB afresh and gives freed memory at the top of a heap back to
/// the kernel, so every request page-faulted its buffers in again: a third
/// of the time of `POST /api/predict` with a canvas. Kept: freed blocks up
/// to 32 MiB (glibc's largest threshold); larger ones (a full-size photo's
/// pixels) are still returned at once. Two arenas at most, so the memory
/// kept is bounded whatever the number of connections' threads (with one
/// arena per thread, as glibc allows up to 8 per core, resident memory
/// rose from 31 to 34 MB over 1000 requests from 8 clients; with two,
/// by 0.7 MB from 12.6 MB).
fn keep_freed_memory_for_the_next_request() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        const KEEP: libc::c_int = 32 << 20;
        // SAFETY: `mallopt` only sets numbers of glibc's allocator; glibc
        // calls it MT-Unsafe, so it runs first in `serve`, before this
        // command allocates much or starts a thread (a value it refuses is
        // ignored, leaving the default: slower, not wrong).
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, KEEP);
            libc::mallopt(libc::M_TRIM_THRESHOLD, KEEP);
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}

/// `HOST:PORT` -> one socket address (the first a name resolves to).
fn resolve(text: &str) -> Result<SocketAddr, Error> {
    let usage = |problem: String| Error::Usage(format!("--addr {text}: {problem}"));
    text.to_socket_addrs()
        .map_err(|e| usage(format!("{e} (expected HOST:PORT, e.g. 127.0.0.1:8000)")))?
        .next()
        .ok_or_else(|| usage("the name has no address".into()))
}

fn handle(catalogue: &Catalogue, request: &Request) -> Response {
    let method = request.method.as_str();
    if let Some((_, content_type, text)) = ASSETS.iter().find(|(path, ..)| *path == request.path) {
        return match method {
            "GET" => Response::new(200, content_type, *text),
            _ => Response::error(405, "use GET"),
        };
    }
    match (request.path.as_str(), method) {
        ("/index.html", "GET") => Response::new(200, ASSETS[0].1, ASSETS[0].2),
        ("/api/models", "GET") => Response::json(&catalogue.listing()),
        ("/api/predict", "POST") => predict(catalogue, request),
        ("/api/models" | "/api/predict", _) => Response::error(405, "wrong method for this path"),
        _ => Response::error(404, &format!("no such page: {}", request.path)),
    }
}

/// `POST /api/predict`'s answer: predict's entry for one picture (without
/// the file name), the model's id and the first digit's 28x28 input as grey
/// levels (null when there is none).
#[derive(serde::Serialize)]
struct PredictAnswer<'a> {
    #[serde(flatten)]
    report: PictureReport,
    model: &'a str,
    input: Option<Vec<u8>>,
}

fn predict(catalogue: &Catalogue, request: &Request) -> Response {
    let content_type = request.header("content-type").map(|value| {
        value
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase()
    });
    if let Some(content_type) = content_type {
        if !PICTURE_TYPES.contains(&content_type.as_str()) {
            return Response::error(
                415,
                &format!(
                    "Content-Type {content_type}: send the picture's bytes as image/png or \
                     image/jpeg"
                ),
            );
        }
    }
    if request.body.is_empty() {
        return Response::error(400, "the body is empty: send a PNG or JPEG picture");
    }
    let Some(entry) = catalogue.find(request.query_value("model").as_deref()) else {
        return Response::error(404, "no such model; GET /api/models lists them");
    };
    // Held while the picture is decoded too: besides the model's buffers,
    // this bounds the memory of decoding (up to 64 Mi pixels each) to one
    // picture per model at a time.
    let mut model = entry
        .model
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let result = predict::read_picture(&mut model, entry.pixels, &request.body);
    drop(model);
    // A picture without a digit was read well: 422, not 400 as for bytes
    // that are no picture; both answer as `predict --json` does.
    let status = match &result {
        Ok(_) => 200,
        Err(problem) if predict::is_no_digit(problem) => 422,
        Err(_) => 400,
    };
    let input = result
        .as_ref()
        .ok()
        .and_then(|reading| reading.digits.first());
    let answer = PredictAnswer {
        input: input.map(predict::DigitReading::input_levels),
        report: PictureReport::new(&result),
        model: &entry.id,
    };
    Response::json_with_status(status, &answer)
}
