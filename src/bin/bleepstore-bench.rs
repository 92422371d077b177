//! `bleepstore-bench`: a warp-style S3 load generator for BleepStore (or any S3 endpoint).
//!
//! One event loop (a current-thread tokio runtime on epoll) per core, each driving its share of `--concurrent` keep-alive
//! connections with one request in flight each; SigV4 from the project's own signer; request
//! bodies are prefixes of one random buffer; per-core HdrHistograms merged at the end.
//!
//!     bleepstore-bench get --host 127.0.0.1:9000 --concurrent 64 --obj.size 4KiB --duration 10s
//!
//! Exit status: 0 when some request of the measured phase succeeded, 1 when setup failed or
//! every request failed, 2 for a bad flag.

mod bench;

use bench::args::Cli;
use bench::stats::{self, Stats};
use bench::workload::{run_phase, CoreOutcome, Phase, Plan};
use clap::Parser;
use serde_json::json;
use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn fail(code: i32, msg: &str) -> ! {
    eprintln!("bleepstore-bench: {msg}");
    std::process::exit(code)
}

/// Raises the open-file limit to what the connections need (when the hard limit allows).
fn raise_nofile(wanted: u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct passed to them.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < wanted {
            lim.rlim_cur = wanted.min(lim.rlim_max);
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

fn merge(outcomes: &[CoreOutcome]) -> Stats {
    let mut s = Stats::default();
    for o in outcomes {
        s.merge(&o.stats);
    }
    s
}

fn first_fatal(outcomes: &[CoreOutcome]) -> Option<String> {
    outcomes.iter().find_map(|o| o.fatal.clone())
}

fn main() {
    let cli = Cli::parse();
    raise_nofile(cli.concurrent as u64 + 256);
    let plan = Arc::new(Plan::new(cli).unwrap_or_else(|e| fail(2, &e)));
    let cli = &plan.cli;
    let json_out = cli.json;

    // Setup: the bucket.
    let setup = run_phase(&plan, Phase::Setup, false).unwrap_or_else(|e| fail(1, &e));
    if let Some(e) = first_fatal(&setup) {
        fail(1, &format!("setup failed: {e}"));
    }

    // Prepare: the objects read, listed or deleted by the workload.
    let mut prepare_json = serde_json::Value::Null;
    if (cli.workload.prepares() || cli.print_url) && !cli.no_prepare {
        let began = Instant::now();
        let outcomes = run_phase(&plan, Phase::Prepare, true).unwrap_or_else(|e| fail(1, &e));
        let took = began.elapsed();
        let s = merge(&outcomes);
        let put = s.get(bench::stats::Op::Put);
        if put.errors > 0 {
            let labels: Vec<String> = put
                .error_labels
                .iter()
                .map(|(k, v)| format!("{k} x{v}"))
                .collect();
            fail(
                1,
                &format!(
                    "setup failed: {} of {} prepared uploads failed ({})",
                    put.errors,
                    cli.objects,
                    labels.join(", ")
                ),
            );
        }
        if !json_out {
            eprintln!(
                "prepared {} objects of {} in {:.2}s",
                cli.objects,
                stats::human_bytes(cli.obj_size),
                took.as_secs_f64()
            );
        }
        prepare_json = json!({ "objects": cli.objects, "seconds": took.as_secs_f64() });
    }

    if cli.print_url {
        let path = format!("/{}/{}/obj/{:08}", cli.bucket, cli.prefix, 0);
        let target = bench::s3::presign(&plan.creds, "GET", &path, "", 7 * 24 * 3600);
        let _ = writeln!(std::io::stdout(), "http://{}{target}", plan.creds.host);
        return;
    }

    // Measure.
    let outcomes = run_phase(&plan, Phase::Measure, !json_out).unwrap_or_else(|e| fail(1, &e));
    let measured = merge(&outcomes);
    let start = plan.started().unwrap_or_else(Instant::now);
    let end = outcomes.iter().filter_map(|o| o.end).max().unwrap_or(start);
    let elapsed = end
        .saturating_duration_since(start)
        .max(Duration::from_millis(1));
    let connects: u64 = outcomes.iter().map(|o| o.connects).sum();

    let auth = if cli.presigned {
        "presigned URLs".to_string()
    } else if cli.sha256 {
        "header auth, signed payload SHA-256".to_string()
    } else {
        "header auth, UNSIGNED-PAYLOAD".to_string()
    };
    let size_desc = if cli.workload == bench::args::Workload::Multipart {
        format!(
            "{} objects in {} parts of {}",
            stats::human_bytes(cli.obj_size),
            plan.parts,
            stats::human_bytes(plan.part_size)
        )
    } else {
        format!("{} objects", stats::human_bytes(cli.obj_size))
    };
    // Cleanup (after the text report, so it shows at once; before the JSON, which includes it).
    let cleanup = || {
        let mut cleanup_json = serde_json::Value::Null;
        if !cli.no_cleanup {
            let began = Instant::now();
            let cleanup_error = match run_phase(&plan, Phase::Cleanup, false) {
                Ok(outcomes) => {
                    let cleaned: u64 = outcomes.iter().map(|o| o.cleaned).sum();
                    let cleanup_error = first_fatal(&outcomes);
                    cleanup_json = json!({
                        "objects_deleted": cleaned,
                        "seconds": began.elapsed().as_secs_f64(),
                        "error": cleanup_error,
                    });
                    if !json_out {
                        eprintln!(
                            "cleanup: deleted {cleaned} objects in {:.2}s",
                            began.elapsed().as_secs_f64()
                        );
                    }
                    cleanup_error
                }
                Err(e) => Some(e),
            };
            if let Some(e) = &cleanup_error {
                eprintln!("bleepstore-bench: warning: {e}");
            }
        }
        cleanup_json
    };
    if json_out {
        let cleanup_json = cleanup();
        let summary = json!({
            "workload": cli.workload.name(),
            "host": plan.creds.host,
            "bucket": cli.bucket,
            "concurrent": cli.concurrent,
            "cores": plan.cores,
            "obj_size": cli.obj_size,
            "part_size": (cli.workload == bench::args::Workload::Multipart).then_some(plan.part_size),
            "parts": (cli.workload == bench::args::Workload::Multipart).then_some(plan.parts),
            "objects": cli.objects,
            "auth": auth,
            "duration_s": cli.duration.as_secs_f64(),
            "elapsed_s": elapsed.as_secs_f64(),
            "connects": connects,
            "operations": stats::json_ops(&measured, elapsed),
            "total": {
                "ops": measured.total_ok(),
                "ops_per_s": measured.total_ok() as f64 / elapsed.as_secs_f64(),
                "errors": measured.total_errors(),
            },
            "prepare": prepare_json,
            "cleanup": cleanup_json,
        });
        // A closed stdout (e.g. `| head`) is not worth a panic.
        let _ = writeln!(std::io::stdout(), "{summary}");
    } else {
        let title = format!(
            "bleepstore-bench {}: {size_desc}, {} connections on {} cores, {auth}, {:.2}s measured against {} ({} connects)",
            cli.workload.name(),
            cli.concurrent,
            plan.cores,
            elapsed.as_secs_f64(),
            plan.creds.host,
            connects,
        );
        let mut out = std::io::stdout();
        let _ = write!(out, "{}", stats::text_report(&title, &measured, elapsed));
        let _ = out.flush();
        cleanup();
    }
    if measured.total_ok() == 0 {
        fail(1, "every request of the measured phase failed");
    }
}
