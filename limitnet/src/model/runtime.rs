//! Finding and loading the ONNX Runtime library, once per process.
//!
//! ort is built with `load-dynamic`: nothing links against ONNX Runtime, so the plugin loads even
//! when the runtime is missing, and the elements fail to start with a message saying what to do.

use std::ffi::CStr;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ort::environment::Environment;

/// Oldest ONNX Runtime accepted: ort's API 22 aborts inside CreateSession with 1.22.
pub const MIN_RUNTIME_MINOR: u32 = 23;
/// File name the setup script installs and the dynamic loader is asked for last.
pub const LIBRARY_NAME: &str = "libonnxruntime.so.1";
/// Where `scripts/install-runtime.sh` puts the library (system-wide as root, else per user).
pub const SYSTEM_DIR: &str = "/usr/local/lib/gst-limitnet";

pub struct Runtime {
    pub path: PathBuf,
    pub version: String,
    pub environment: Environment,
}

/// ONNX Runtime could not be loaded: each library tried and why it was not usable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeUnavailable {
    pub tried: Vec<(PathBuf, String)>,
}

impl std::fmt::Display for RuntimeUnavailable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ONNX Runtime ({LIBRARY_NAME}, version 1.{MIN_RUNTIME_MINOR} or newer) could not be loaded. \
             Run scripts/install-runtime.sh (it installs the library from the PyPI onnxruntime wheel) or set \
             ORT_DYLIB_PATH to the absolute path of libonnxruntime.so.1.x. Tried: "
        )?;
        for (i, (path, why)) in self.tried.iter().enumerate() {
            let sep = if i == 0 { "" } else { "; " };
            write!(f, "{sep}{}: {why}", path.display())?;
        }
        Ok(())
    }
}

impl std::error::Error for RuntimeUnavailable {}

static RUNTIME: OnceLock<Result<Runtime, RuntimeUnavailable>> = OnceLock::new();

/// The process-wide runtime and its one ort environment, loaded on first use and never torn
/// down (ort allows one environment per process).
pub fn runtime() -> Result<&'static Runtime, RuntimeUnavailable> {
    RUNTIME.get_or_init(load).as_ref().map_err(Clone::clone)
}

/// Library paths tried in order. `ORT_DYLIB_PATH`, when set, is the only one (a user who names a
/// library must not silently get another); else the per-user and system install locations of
/// the setup script, then the bare name through the dynamic loader's search path.
pub fn candidates() -> Vec<PathBuf> {
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH").filter(|p| !p.is_empty()) {
        return vec![PathBuf::from(p)];
    }
    let mut v = Vec::new();
    if let Some(home) = std::env::var_os("HOME").filter(|p| !p.is_empty()) {
        v.push(
            Path::new(&home)
                .join(".local/lib/gst-limitnet")
                .join(LIBRARY_NAME),
        );
    }
    v.push(Path::new(SYSTEM_DIR).join(LIBRARY_NAME));
    v.push(PathBuf::from(LIBRARY_NAME));
    v
}

fn load() -> Result<Runtime, RuntimeUnavailable> {
    let mut tried: Vec<(PathBuf, String)> = Vec::new();
    for path in candidates() {
        if path.is_absolute() && !path.exists() {
            tried.push((path, "no such file".into()));
            continue;
        }
        if !path.is_absolute()
            && std::env::var_os("ORT_DYLIB_PATH").is_some_and(|p| Path::new(&p) == path)
        {
            tried.push((path, "ORT_DYLIB_PATH must be absolute".into()));
            continue;
        }
        match probe(&path) {
            Ok((version, has_api)) => {
                let minor = version
                    .split('.')
                    .nth(1)
                    .and_then(|m| m.parse::<u32>().ok())
                    .unwrap_or(0);
                if minor < MIN_RUNTIME_MINOR {
                    let why = format!(
                        "version {version} is too old (need 1.{MIN_RUNTIME_MINOR} or newer)"
                    );
                    tried.push((path, why));
                    continue;
                }
                if !has_api {
                    let why = format!(
                        "version {version} does not provide ONNX Runtime API version {}",
                        ort::sys::ORT_API_VERSION
                    );
                    tried.push((path, why));
                    continue;
                }
                let environment = ort::init_from(&path)
                    .map_err(|e| e.to_string())
                    .and_then(|b| {
                        b.with_name("gst-limitnet")
                            .build()
                            .map_err(|e| e.to_string())
                    });
                match environment {
                    Ok(environment) => {
                        return Ok(Runtime {
                            path,
                            version,
                            environment,
                        });
                    }
                    Err(e) => tried.push((path, e)),
                }
            }
            Err(e) => tried.push((path, e)),
        }
    }
    Err(RuntimeUnavailable { tried })
}

/// Opens the library and asks it for its version and whether it has the C API version ort
/// uses, without handing it to ort yet: ort would panic or abort on a library it cannot use.
fn probe(path: &Path) -> Result<(String, bool), String> {
    // SAFETY: loading a shared library runs its initialisers; ONNX Runtime's are benign, and the
    // file is the one the user or setup pointed us at.
    let lib = unsafe { libloading::Library::new(path) }.map_err(|e| e.to_string())?;
    // SAFETY: OrtGetApiBase has this signature in every ONNX Runtime release.
    let get_base: libloading::Symbol<'_, unsafe extern "C" fn() -> *const ort::sys::OrtApiBase> =
        unsafe { lib.get(b"OrtGetApiBase\0") }
            .map_err(|_| "not an ONNX Runtime library (no OrtGetApiBase)".to_string())?;
    // SAFETY: the symbol is a plain function returning a static struct (or null).
    let base = unsafe { get_base() };
    if base.is_null() {
        return Err("OrtGetApiBase returned null".into());
    }
    // SAFETY: base points at the library's static OrtApiBase; the string is static and NUL-terminated.
    let version = unsafe { CStr::from_ptr(((*base).GetVersionString)()) };
    // SAFETY: GetApi takes an API version and returns a static table, or null when it lacks it.
    let has_api = !unsafe { ((*base).GetApi)(ort::sys::ORT_API_VERSION) }.is_null();
    Ok((version.to_string_lossy().into_owned(), has_api))
}
