//! ONNX Runtime sessions for the encoder and decoder graphs of a bundle.

use ort::memory::Allocator;
use ort::session::builder::GraphOptimizationLevel;
use ort::session::{HasSelectedOutputs, OutputSelector, RunOptions, Session, SessionOutputs};
use ort::value::{Tensor, TensorRef};

use super::bundle::ModelBundle;
use super::normalize;
use super::runtime::{RuntimeUnavailable, runtime};

/// Why a network of a bundle cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SessionError {
    /// ONNX Runtime itself could not be loaded.
    Runtime(RuntimeUnavailable),
    /// The `graph` ("encoder" or "decoder") could not be loaded, or is not a LimitNet network.
    Graph { graph: &'static str, reason: String },
    /// Running the `graph` failed.
    Run { graph: &'static str, reason: String },
}

impl std::fmt::Display for SessionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Runtime(e) => e.fmt(f),
            Self::Graph { graph, reason } => write!(f, "{graph} graph: {reason}"),
            Self::Run { graph, reason } => write!(f, "{graph}: {reason}"),
        }
    }
}

impl std::error::Error for SessionError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Runtime(e) => Some(e),
            _ => None,
        }
    }
}

impl From<RuntimeUnavailable> for SessionError {
    fn from(e: RuntimeUnavailable) -> Self {
        Self::Runtime(e)
    }
}

fn build_session(
    onnx: &[u8],
    threads: usize,
    what: &'static str,
    inputs: &[&str],
    outputs: &[&str],
) -> Result<Session, SessionError> {
    let env = &runtime()?.environment;
    let err = |reason: String| SessionError::Graph {
        graph: what,
        reason,
    };
    // Pool threads sleep between layers instead of spin-waiting: a pipeline shares the cores
    // with its other elements (and often other work), and there spinning threads hold cores
    // the others need (limitnetdec threads=2 took twice the time of threads=1 on a busy
    // 2-core machine with spinning, about the same without).
    let mut builder = Session::builder(env)
        .map_err(|e| err(e.to_string()))?
        .with_optimization_level(GraphOptimizationLevel::All)
        .map_err(|e| err(e.to_string()))?
        .with_intra_op_spinning(false)
        .map_err(|e| err(e.to_string()))?;
    if threads > 0 {
        builder = builder
            .with_intra_threads(threads)
            .map_err(|e| err(e.to_string()))?
            .with_inter_threads(1)
            .map_err(|e| err(e.to_string()))?;
    }
    let session = builder
        .commit_from_memory(onnx)
        .map_err(|e| err(e.to_string()))?;
    let has = |list: &[ort::value::Outlet], name: &str| list.iter().any(|o| o.name() == name);
    for name in inputs {
        if !has(session.inputs(), name) {
            return Err(err(format!(
                "no input named {name:?}: not a LimitNet bundle"
            )));
        }
    }
    for name in outputs {
        if !has(session.outputs(), name) {
            return Err(err(format!(
                "no output named {name:?}: not a LimitNet bundle"
            )));
        }
    }
    Ok(session)
}

/// Output tensors allocated once per input shape and reused by every run of that shape, so a
/// run allocates no output memory.
struct ReusedOutputs {
    /// Input shape these outputs belong to.
    input_shape: [usize; 4],
    options: RunOptions<HasSelectedOutputs>,
}

impl ReusedOutputs {
    /// Runs `session` on `input` (shape `input_shape`) into the reused outputs. The first run of
    /// a shape also runs once plainly, to learn the output shapes the graph gives for it.
    fn run<'s>(
        reused: &'s mut Option<Self>,
        session: &'s mut Session,
        input: &[f32],
        input_shape: [usize; 4],
        what: &'static str,
    ) -> Result<SessionOutputs<'s>, SessionError> {
        let err = |e: ort::Error| SessionError::Run {
            graph: what,
            reason: e.to_string(),
        };
        let view = || TensorRef::from_array_view((input_shape, input)).map_err(err);
        if reused.as_ref().is_none_or(|r| r.input_shape != input_shape) {
            let mut selector = OutputSelector::default();
            let outputs = session.run(ort::inputs![view()?]).map_err(err)?;
            for (name, value) in outputs.iter() {
                let shape: Vec<usize> = value
                    .shape()
                    .iter()
                    .map(|&d| usize::try_from(d).unwrap_or(0))
                    .collect();
                let tensor = Tensor::<f32>::new(&Allocator::default(), shape).map_err(err)?;
                selector = selector.preallocate(name, tensor);
            }
            drop(outputs);
            *reused = Some(Self {
                input_shape,
                options: RunOptions::new().map_err(err)?.with_outputs(selector),
            });
        }
        let options = &reused.as_ref().expect("set above").options;
        session
            .run_with_options(ort::inputs![view()?], options)
            .map_err(err)
    }
}

/// Image -> (latent, saliency) in one call.
pub struct EncoderSession {
    session: Session,
    channels: usize,
    outputs: Option<ReusedOutputs>,
    /// The network input for each byte value of each channel (see [`Self::input_table`]).
    input_table: [[f32; 256]; 3],
}

impl EncoderSession {
    /// A session whose graph has its input normalisation folded out when it has one
    /// ([`super::normalize`]): the same latent and saliency, bit for bit, for less work.
    pub fn new(bundle: &ModelBundle, threads: usize) -> Result<Self, SessionError> {
        Self::with_folding(bundle, threads, true)
    }

    /// `fold`: whether to fold the graph's input normalisation into [`Self::input_table`]
    /// (false: the graph as it is, for comparisons).
    pub fn with_folding(
        bundle: &ModelBundle,
        threads: usize,
        fold: bool,
    ) -> Result<Self, SessionError> {
        let folded = fold
            .then(|| normalize::fold_input_normalization(&bundle.encoder_onnx, "image"))
            .flatten();
        let (onnx, input_table) = match &folded {
            Some((graph, norm)) => (&graph[..], norm.table()),
            None => (&bundle.encoder_onnx[..], normalize::unit_table()),
        };
        let session = build_session(
            onnx,
            threads,
            "encoder",
            &["image"],
            &["latent", "saliency"],
        )?;
        Ok(Self {
            session,
            channels: bundle.tables.channels(),
            outputs: None,
            input_table,
        })
    }

    /// What [`Self::run`] takes for each byte value (0..=255) of the red, green and blue
    /// channels: `byte / 255`, or with the graph's normalisation folded out, that normalised.
    pub fn input_table(&self) -> &[[f32; 256]; 3] {
        &self.input_table
    }

    /// `image`: planar RGB, `3 x height x width` (both multiples of 8), each byte mapped
    /// through [`Self::input_table`]. Calls `consume`
    /// with the latent (`C x h/8 x w/8`) and the saliency map (`h/8 x w/8`), read in place from
    /// the runtime's output tensors.
    pub fn run<R>(
        &mut self,
        image: &[f32],
        width: usize,
        height: usize,
        consume: impl FnOnce(&[f32], &[f32]) -> R,
    ) -> Result<R, SessionError> {
        let run_error = |reason: String| SessionError::Run {
            graph: "encoder",
            reason,
        };
        let outputs = ReusedOutputs::run(
            &mut self.outputs,
            &mut self.session,
            image,
            [1, 3, height, width],
            "encoder",
        )?;
        let (lh, lw) = (height / 8, width / 8);
        let (_, lat) = outputs["latent"]
            .try_extract_tensor::<f32>()
            .map_err(|e| run_error(format!("latent: {e}")))?;
        let (_, sal) = outputs["saliency"]
            .try_extract_tensor::<f32>()
            .map_err(|e| run_error(format!("saliency: {e}")))?;
        if lat.len() != self.channels * lh * lw || sal.len() != lh * lw {
            return Err(run_error(format!(
                "encoder returned {} latent and {} saliency values for a {width}x{height} image; expected {} and {}",
                lat.len(),
                sal.len(),
                self.channels * lh * lw,
                lh * lw
            )));
        }
        Ok(consume(lat, sal))
    }
}

/// Latent -> image.
pub struct DecoderSession {
    session: Session,
    channels: usize,
    outputs: Option<ReusedOutputs>,
}

impl DecoderSession {
    pub fn new(bundle: &ModelBundle, threads: usize) -> Result<Self, SessionError> {
        let session = build_session(
            &bundle.decoder_onnx,
            threads,
            "decoder",
            &["latent"],
            &["image"],
        )?;
        Ok(Self {
            session,
            channels: bundle.tables.channels(),
            outputs: None,
        })
    }

    /// `latent`: `C x lh x lw`. Calls `consume` with planar RGB in 0..1, `3 x 8lh x 8lw`, read in
    /// place from the runtime's output tensor.
    pub fn run<R>(
        &mut self,
        latent: &[f32],
        lh: usize,
        lw: usize,
        consume: impl FnOnce(&[f32]) -> R,
    ) -> Result<R, SessionError> {
        let run_error = |reason: String| SessionError::Run {
            graph: "decoder",
            reason,
        };
        let outputs = ReusedOutputs::run(
            &mut self.outputs,
            &mut self.session,
            latent,
            [1, self.channels, lh, lw],
            "decoder",
        )?;
        let (_, image) = outputs["image"]
            .try_extract_tensor::<f32>()
            .map_err(|e| run_error(format!("image: {e}")))?;
        if image.len() != 3 * 64 * lh * lw {
            return Err(run_error(format!(
                "returned {} values for a {lw}x{lh} latent",
                image.len()
            )));
        }
        Ok(consume(image))
    }
}
