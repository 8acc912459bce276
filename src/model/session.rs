//! ONNX Runtime sessions for the encoder and decoder graphs of a bundle.

use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::TensorRef;

use super::bundle::ModelBundle;
use super::runtime::runtime;

fn build_session(
    onnx: &[u8],
    threads: usize,
    what: &str,
    inputs: &[&str],
    outputs: &[&str],
) -> Result<Session, String> {
    let env = &runtime()?.environment;
    let err = |e: String| format!("{what} graph: {e}");
    let mut builder = Session::builder(env)
        .map_err(|e| err(e.to_string()))?
        .with_optimization_level(GraphOptimizationLevel::All)
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

/// Image -> (latent, saliency) in one call.
pub struct EncoderSession {
    session: Session,
    channels: usize,
}

impl EncoderSession {
    pub fn new(bundle: &ModelBundle, threads: usize) -> Result<Self, String> {
        let session = build_session(
            &bundle.encoder_onnx,
            threads,
            "encoder",
            &["image"],
            &["latent", "saliency"],
        )?;
        Ok(Self {
            session,
            channels: bundle.tables.channels(),
        })
    }

    /// `image`: planar RGB in 0..1, `3 x height x width`, both multiples of 8.
    /// Writes the latent (`C x h/8 x w/8`) and the saliency map (`h/8 x w/8`).
    pub fn run(
        &mut self,
        image: &[f32],
        width: usize,
        height: usize,
        latent: &mut Vec<f32>,
        saliency: &mut Vec<f32>,
    ) -> Result<(), String> {
        let input = TensorRef::from_array_view(([1usize, 3, height, width], image))
            .map_err(|e| e.to_string())?;
        let outputs = self
            .session
            .run(ort::inputs!["image" => input])
            .map_err(|e| format!("encoder: {e}"))?;
        let (lh, lw) = (height / 8, width / 8);
        let (_, lat) = outputs["latent"]
            .try_extract_tensor::<f32>()
            .map_err(|e| format!("encoder latent: {e}"))?;
        let (_, sal) = outputs["saliency"]
            .try_extract_tensor::<f32>()
            .map_err(|e| format!("encoder saliency: {e}"))?;
        if lat.len() != self.channels * lh * lw || sal.len() != lh * lw {
            return Err(format!(
                "encoder returned {} latent and {} saliency values for a {width}x{height} image; expected {} and {}",
                lat.len(),
                sal.len(),
                self.channels * lh * lw,
                lh * lw
            ));
        }
        latent.clear();
        latent.extend_from_slice(lat);
        saliency.clear();
        saliency.extend_from_slice(sal);
        Ok(())
    }
}

/// Latent -> image.
pub struct DecoderSession {
    session: Session,
    channels: usize,
}

impl DecoderSession {
    pub fn new(bundle: &ModelBundle, threads: usize) -> Result<Self, String> {
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
        })
    }

    /// `latent`: `C x lh x lw`. Calls `consume` with planar RGB in 0..1, `3 x 8lh x 8lw`.
    pub fn run<R>(
        &mut self,
        latent: &[f32],
        lh: usize,
        lw: usize,
        consume: impl FnOnce(&[f32]) -> R,
    ) -> Result<R, String> {
        let input = TensorRef::from_array_view(([1usize, self.channels, lh, lw], latent))
            .map_err(|e| e.to_string())?;
        let outputs = self
            .session
            .run(ort::inputs!["latent" => input])
            .map_err(|e| format!("decoder: {e}"))?;
        let (_, image) = outputs["image"]
            .try_extract_tensor::<f32>()
            .map_err(|e| format!("decoder image: {e}"))?;
        if image.len() != 3 * 64 * lh * lw {
            return Err(format!(
                "decoder returned {} values for a {lw}x{lh} latent",
                image.len()
            ));
        }
        Ok(consume(image))
    }
}
