//! Weights as safetensors, with the architecture in the file's metadata so that a file alone
//! rebuilds its model. Loading checks everything and never touches the model in use:
//! it builds a new network or fails with a reason.

use crate::data::PIXELS;
use crate::error::{Error, Result};
use crate::network::{device, Network};
use crate::spec::Architecture;
use candle_core::Tensor;
use safetensors::{tensor::TensorView, Dtype, SafeTensorError, SafeTensors};
use std::collections::{BTreeSet, HashMap};

/// Metadata key holding the architecture as JSON.
const ARCHITECTURE_KEY: &str = "digitlens.architecture";
const FORMAT_KEY: &str = "format";
const FORMAT: &str = "digitlens-v1";

/// Serialises a network's weights and architecture (plus optional extra metadata, e.g. a model card).
pub fn save(network: &Network, extra: &[(&str, String)]) -> Result<Vec<u8>> {
    let tensors: Vec<(String, Vec<usize>, Vec<u8>)> = network
        .parameters()
        .into_iter()
        .map(|(name, var)| {
            let values: Vec<f32> = var.flatten_all()?.to_vec1()?;
            let bytes = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            Ok((name, var.dims().to_vec(), bytes))
        })
        .collect::<Result<_>>()?;
    let views = tensors
        .iter()
        .map(|(name, shape, bytes)| {
            let view = TensorView::new(Dtype::F32, shape.clone(), bytes).map_err(|e| Error::Weights(e.to_string()))?;
            Ok((name.clone(), view))
        })
        .collect::<Result<Vec<_>>>()?;
    let mut metadata: HashMap<String, String> = extra.iter().map(|(k, v)| (k.to_string(), v.clone())).collect();
    metadata.insert(ARCHITECTURE_KEY.into(), network.architecture().to_json());
    metadata.insert(FORMAT_KEY.into(), FORMAT.into());
    safetensors::serialize(views, Some(metadata)).map_err(|e| Error::Weights(e.to_string()))
}

/// The architecture and metadata a file declares, without loading its tensors.
pub fn read_metadata(bytes: &[u8]) -> Result<(Architecture, HashMap<String, String>)> {
    if bytes.is_empty() {
        return Err(Error::Weights("the file is empty".into()));
    }
    let (_, metadata) = SafeTensors::read_metadata(bytes).map_err(not_safetensors)?;
    let map = metadata.metadata().clone().unwrap_or_default();
    let json = map.get(ARCHITECTURE_KEY).ok_or_else(|| {
        Error::Weights("the file has no digitlens architecture in its metadata: it was not saved by digitlens".into())
    })?;
    let architecture = Architecture::from_json(json)
        .map_err(|e| Error::Weights(format!("the architecture in the file is unreadable: {e}")))?;
    Ok((architecture, map))
}

/// Says in a user's words what is wrong with a file the safetensors reader refused.
fn not_safetensors(error: SafeTensorError) -> Error {
    use SafeTensorError::*;
    let why = match error {
        HeaderTooSmall => {
            "it is shorter than the 8 bytes every safetensors file starts with: it is truncated, or another format".into()
        }
        HeaderTooLarge => {
            "its first 8 bytes announce a header of over 100 MB, so it is another format or corrupt".into()
        }
        InvalidHeaderLength => "its header runs past the end of the file: it is truncated, or another format".into(),
        InvalidHeader(_) | InvalidHeaderDeserialization(_) | JsonError(_) => {
            format!("its header is not the JSON a safetensors file has ({error}): it is another format or corrupt")
        }
        MetadataIncompleteBuffer => {
            "the tensor data does not fill the file exactly: it is truncated, or has bytes appended".into()
        }
        other => format!("its table of tensors is inconsistent ({other}): the file is corrupt"),
    };
    Error::Weights(format!("not a valid safetensors file: {why}"))
}

/// Builds the network a safetensors file describes, checking every tensor against it.
pub fn load(bytes: &[u8]) -> Result<Network> {
    let (architecture, _) = read_metadata(bytes)?;
    let network = Network::new(&architecture, 0)
        .map_err(|e| Error::Weights(format!("the architecture in the file is invalid: {e}")))?;
    let file = SafeTensors::deserialize(bytes).map_err(not_safetensors)?;
    let expected: BTreeSet<String> = network.parameters().into_iter().map(|(name, _)| name).collect();
    let present: BTreeSet<String> = file.names().into_iter().map(String::from).collect();
    if let Some(extra) = present.difference(&expected).next() {
        return Err(Error::Weights(format!("unexpected tensor '{extra}' that the architecture does not have")));
    }
    for (name, var) in network.parameters() {
        let view = file
            .tensor(&name)
            .map_err(|_| Error::Weights(format!("tensor '{name}' is missing")))?;
        if view.dtype() != Dtype::F32 {
            return Err(Error::Weights(format!("tensor '{name}' is {:?}, expected F32", view.dtype())));
        }
        if view.shape() != var.dims() {
            return Err(Error::Weights(format!(
                "tensor '{name}' has shape {:?}, the architecture needs {:?}",
                view.shape(),
                var.dims()
            )));
        }
        let values: Vec<f32> = view.data().chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
        if values.iter().any(|v| !v.is_finite()) {
            return Err(Error::Weights(format!("tensor '{name}' contains NaN or infinite values")));
        }
        var.set(&Tensor::from_vec(values, var.dims(), &device())?)?;
    }
    // Finite weights can still be so large that the outputs overflow: try both ends of the
    // input range (a blank image and one all ink), one at a time as the memory check allows.
    for extreme in [0.0, 1.0] {
        let logits: Vec<f32> = network.forward(&Network::input(&[extreme; PIXELS])?, None)?.flatten_all()?.to_vec1()?;
        if logits.iter().any(|v| !v.is_finite()) {
            return Err(Error::Weights(
                "the weights are so large that the network's outputs overflow to infinity or NaN".into(),
            ));
        }
    }
    Ok(network)
}
