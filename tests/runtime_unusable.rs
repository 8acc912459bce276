//! An ONNX Runtime library that is there but unusable (too old, not ONNX Runtime, not a library,
//! a relative path, one without the API version ort needs): both elements fail to start with a
//! clear error that says why and what to do, and nothing panics. The runtime is loaded once per
//! process, so each case runs this test binary again in a process of its own.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

/// Set in the child process: which case it checks (the text its error must hold).
const CASE_ENV: &str = "LIMITNET_TEST_RUNTIME_EXPECT";

/// Builds a stand-in for libonnxruntime from C source (the C compiler Rust links with).
fn fake_library(name: &str, source: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fake-onnxruntime");
    std::fs::create_dir_all(&dir).unwrap();
    let c = dir.join(format!("{name}.c"));
    let so = dir.join(format!("{name}.so"));
    std::fs::write(&c, source).unwrap();
    let status = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".into()))
        .args(["-shared", "-fPIC", "-o"])
        .arg(&so)
        .arg(&c)
        .status()
        .expect("a C compiler (cc) to build the stand-in libraries");
    assert!(status.success(), "cc failed for {name}");
    so
}

/// A library with ONNX Runtime's entry point reporting `version`; `GetApi` gives nothing (ort
/// must never be handed it).
fn fake_runtime(name: &str, version: &str) -> PathBuf {
    fake_library(
        name,
        &format!(
            r#"
typedef struct {{
    const void *(*GetApi)(unsigned version);
    const char *(*GetVersionString)(void);
}} OrtApiBase;
static const void *get_api(unsigned version) {{ (void)version; return 0; }}
static const char *get_version(void) {{ return "{version}"; }}
static const OrtApiBase base = {{ get_api, get_version }};
const OrtApiBase *OrtGetApiBase(void) {{ return &base; }}
"#
        ),
    )
}

#[test]
fn unusable_runtimes_are_clear_errors() {
    let not_a_library = Path::new(env!("CARGO_TARGET_TMPDIR")).join("not-a-library.so.1");
    std::fs::write(&not_a_library, b"this is text, not ELF").unwrap();
    let cases: Vec<(PathBuf, String)> = vec![
        (
            fake_runtime("too-old", "1.22.1"),
            "version 1.22.1 is too old (need 1.23 or newer)".into(),
        ),
        (
            fake_runtime("no-api", "1.30.0"),
            "does not provide ONNX Runtime API version".into(),
        ),
        (
            fake_library("not-ort", "int not_onnxruntime(void) { return 0; }\n"),
            "not an ONNX Runtime library (no OrtGetApiBase)".into(),
        ),
        (not_a_library, "not-a-library.so.1: ".into()),
        (
            PathBuf::from("libonnxruntime.so.1"),
            "ORT_DYLIB_PATH must be absolute".into(),
        ),
    ];
    for (library, expected) in cases {
        let output = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "child_process_case",
                "--nocapture",
                "--test-threads=1",
            ])
            .env("ORT_DYLIB_PATH", &library)
            .env(CASE_ENV, &expected)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{}: expected an error with {expected:?}\n{}{}",
            library.display(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// One case, in its own process (started by the test above; does nothing on its own).
#[test]
fn child_process_case() {
    let Ok(expected) = std::env::var(CASE_ENV) else {
        return;
    };
    gst::init().unwrap();
    gstlimitnet::plugin_register_static().unwrap();
    for description in [
        "videotestsrc num-buffers=1 ! limitnetenc ! fakesink",
        "fakesrc num-buffers=1 ! limitnetdec ! fakesink",
    ] {
        let err = common::run_pipeline(description).unwrap_err();
        assert!(err.contains(&expected), "{description}: {err}");
        assert!(
            err.contains("install-runtime.sh") && err.contains("ORT_DYLIB_PATH"),
            "{description}: {err}"
        );
        assert!(!err.contains("anicked"), "{description}: {err}");
    }
    let bundle = limitnet::ModelBundle::embedded().unwrap();
    assert!(matches!(
        limitnet::Encoder::new(bundle, 1),
        Err(limitnet::Error::RuntimeUnavailable(_))
    ));
}
