//! Folding an encoder graph's input normalisation into the encoder's input conversion.
//!
//! The exported encoders begin with `Div(Sub(image, mean), std)` over the full-resolution input:
//! two extra passes over `3 x H x W` floats, ~12 % of the encoder network's time at 224x224.
//! When a graph begins that way, its session is built from a copy without those two nodes (and
//! their constants), and the encoder writes `(byte / 255 - mean) / std` itself from a lookup
//! table: the same two f32 operations on the same values, so the network sees bit-identical
//! input and the bitstream does not change. Any other graph is used as it is.
//!
//! The ONNX file is edited at the protobuf wire level (no ONNX dependency): only the graph's
//! node, initializer and value_info lists change; every other byte is copied.

/// Per-channel `mean` and `std` of an input normalisation `(x - mean) / std`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InputNormalization {
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

impl InputNormalization {
    /// The network input for each byte value of each channel: `(byte / 255 - mean) / std`,
    /// computed as the graph's Sub and Div nodes would.
    pub fn table(&self) -> [[f32; 256]; 3] {
        std::array::from_fn(|c| {
            std::array::from_fn(|b| (b as f32 / 255.0 - self.mean[c]) / self.std[c])
        })
    }
}

/// The network input for each byte value when nothing is folded: `byte / 255`.
pub fn unit_table() -> [[f32; 256]; 3] {
    [std::array::from_fn(|b| b as f32 / 255.0); 3]
}

/// A field of a protobuf message: its number, its payload and its whole encoding.
struct Field<'a> {
    number: u64,
    wire_type: u64,
    /// Wire type 0 (varint) value.
    value: u64,
    /// Wire type 2 (length-delimited) payload; empty for the other wire types.
    bytes: &'a [u8],
    raw: &'a [u8],
}

fn read_varint(data: &[u8], pos: &mut usize) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *data.get(*pos)?;
        *pos += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}

fn write_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push(value as u8 | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// The fields of a message; `None` if it is not valid protobuf.
fn fields(data: &[u8]) -> Option<Vec<Field<'_>>> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        let start = pos;
        let key = read_varint(data, &mut pos)?;
        let mut bytes: &[u8] = &[];
        let mut value = 0;
        match key & 7 {
            0 => value = read_varint(data, &mut pos)?,
            1 => pos = pos.checked_add(8)?,
            2 => {
                let len = usize::try_from(read_varint(data, &mut pos)?).ok()?;
                bytes = data.get(pos..pos.checked_add(len)?)?;
                pos += len;
            }
            5 => pos = pos.checked_add(4)?,
            _ => return None,
        }
        let raw = data.get(start..pos)?;
        out.push(Field {
            number: key >> 3,
            wire_type: key & 7,
            value,
            bytes,
            raw,
        });
    }
    Some(out)
}

fn write_bytes_field(out: &mut Vec<u8>, number: u64, bytes: &[u8]) {
    write_varint(out, (number << 3) | 2);
    write_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

fn string_fields(message: &[u8], number: u64) -> Option<Vec<&str>> {
    fields(message)?
        .iter()
        .filter(|f| f.number == number)
        .map(|f| std::str::from_utf8(f.bytes).ok())
        .collect()
}

// Field numbers of onnx.proto.
const MODEL_GRAPH: u64 = 7;
const GRAPH_NODE: u64 = 1;
const GRAPH_INITIALIZER: u64 = 5;
const GRAPH_OUTPUT: u64 = 12;
const GRAPH_VALUE_INFO: u64 = 13;
const NODE_INPUT: u64 = 1;
const NODE_OUTPUT: u64 = 2;
const NODE_OP_TYPE: u64 = 4;
const NODE_DOMAIN: u64 = 7;
const TENSOR_DIMS: u64 = 1;
const TENSOR_DATA_TYPE: u64 = 2;
const TENSOR_FLOAT_DATA: u64 = 4;
const TENSOR_NAME: u64 = 8;
const TENSOR_RAW_DATA: u64 = 9;
const TENSOR_EXTERNAL_DATA: u64 = 13;
const TENSOR_DATA_LOCATION: u64 = 14;
const VALUE_INFO_NAME: u64 = 1;
const FLOAT: u64 = 1;

struct Node<'a> {
    raw: &'a [u8],
    inputs: Vec<&'a str>,
    outputs: Vec<&'a str>,
    op_type: &'a str,
    domain: &'a str,
}

fn node(bytes: &[u8]) -> Option<Node<'_>> {
    let op = string_fields(bytes, NODE_OP_TYPE)?;
    let domain = string_fields(bytes, NODE_DOMAIN)?;
    Some(Node {
        raw: bytes,
        inputs: string_fields(bytes, NODE_INPUT)?,
        outputs: string_fields(bytes, NODE_OUTPUT)?,
        op_type: op.first().copied().unwrap_or_default(),
        domain: domain.first().copied().unwrap_or_default(),
    })
}

/// The dimensions and values of a float tensor stored in the file (raw or packed float data),
/// or `None` (another type, external data, or not valid).
fn float_tensor(tensor: &[u8]) -> Option<(Vec<u64>, Vec<f32>)> {
    let fields = fields(tensor)?;
    let mut dims = Vec::new();
    let mut data_type = 0;
    let mut values = Vec::new();
    for f in &fields {
        match (f.number, f.wire_type) {
            // Packed (length-delimited) or one varint per dimension.
            (TENSOR_DIMS, 2) => {
                let mut pos = 0;
                while pos < f.bytes.len() {
                    dims.push(read_varint(f.bytes, &mut pos)?);
                }
            }
            (TENSOR_DIMS, 0) => dims.push(f.value),
            (TENSOR_DATA_TYPE, 0) => data_type = f.value,
            (TENSOR_RAW_DATA, 2) | (TENSOR_FLOAT_DATA, 2) => {
                values.extend(
                    f.bytes
                        .chunks_exact(4)
                        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])),
                );
            }
            // Unpacked floats, external data or anything else: not the simple case.
            (TENSOR_FLOAT_DATA, _) | (TENSOR_EXTERNAL_DATA | TENSOR_DATA_LOCATION, _) => {
                return None;
            }
            _ => {}
        }
    }
    let count = dims.iter().try_fold(1u64, |n, &d| n.checked_mul(d))?;
    if data_type != FLOAT || count != values.len() as u64 {
        return None;
    }
    Some((dims, values))
}

/// The three values of a float initializer shaped `[1, 3, 1, 1]` or `[3, 1, 1]` (one per
/// channel, broadcast over the image), or `None`.
fn channel_constant(tensor: &[u8]) -> Option<[f32; 3]> {
    let (dims, values) = float_tensor(tensor)?;
    let shape_ok = dims == [1, 3, 1, 1] || dims == [3, 1, 1];
    if !shape_ok || !values.iter().all(|v| v.is_finite()) {
        return None;
    }
    Some([values[0], values[1], values[2]])
}

/// A float initializer (a weight) of a graph.
#[derive(Debug, Clone, PartialEq)]
pub struct Initializer {
    pub name: String,
    pub dims: Vec<u64>,
    pub values: Vec<f32>,
}

/// The float initializers of `model` (ONNX bytes) stored in the file, in file order; `None` if
/// it is not a graph this reader understands.
pub fn float_initializers(model: &[u8]) -> Option<Vec<Initializer>> {
    let graph = fields(model)?
        .into_iter()
        .find(|f| f.number == MODEL_GRAPH)?
        .bytes;
    fields(graph)?
        .iter()
        .filter(|f| f.number == GRAPH_INITIALIZER)
        .map(|f| {
            let (dims, values) = float_tensor(f.bytes)?;
            Some(Initializer {
                name: tensor_name(f.bytes)?.to_string(),
                dims,
                values,
            })
        })
        .collect()
}

fn tensor_name(tensor: &[u8]) -> Option<&str> {
    string_fields(tensor, TENSOR_NAME)?.first().copied()
}

/// If the graph of `model` (ONNX bytes) begins with `Div(Sub(input, mean), std)` on its input
/// `input`, with per-channel constants and nothing else reading the input or the two results,
/// returns the model without those nodes (their consumers read `input` instead) and the
/// normalisation. `None` otherwise (the model is then used unchanged).
pub fn fold_input_normalization(
    model: &[u8],
    input: &str,
) -> Option<(Vec<u8>, InputNormalization)> {
    let model_fields = fields(model)?;
    let graph_bytes = model_fields.iter().find(|f| f.number == MODEL_GRAPH)?.bytes;
    let graph_fields = fields(graph_bytes)?;
    let nodes: Vec<Node<'_>> = graph_fields
        .iter()
        .filter(|f| f.number == GRAPH_NODE)
        .map(|f| node(f.bytes))
        .collect::<Option<_>>()?;
    let initializers: Vec<(&str, &[u8])> = graph_fields
        .iter()
        .filter(|f| f.number == GRAPH_INITIALIZER)
        .map(|f| Some((tensor_name(f.bytes)?, f.bytes)))
        .collect::<Option<_>>()?;
    let graph_outputs: Vec<&str> = graph_fields
        .iter()
        .filter(|f| f.number == GRAPH_OUTPUT)
        .map(|f| string_fields(f.bytes, VALUE_INFO_NAME)?.first().copied())
        .collect::<Option<_>>()?;
    let readers = |name: &str| nodes.iter().filter(|n| n.inputs.contains(&name)).count();
    let constant = |name: &str| {
        initializers
            .iter()
            .find(|(n, _)| *n == name)
            .and_then(|(_, t)| channel_constant(t))
    };
    let is_op = |n: &Node<'_>, op: &str| {
        n.op_type == op && n.domain.is_empty() && n.inputs.len() == 2 && n.outputs.len() == 1
    };

    let sub = nodes
        .iter()
        .position(|n| is_op(n, "Sub") && n.inputs[0] == input)?;
    let (centered, mean_name) = (nodes[sub].outputs[0], nodes[sub].inputs[1]);
    let div = nodes
        .iter()
        .position(|n| is_op(n, "Div") && n.inputs[0] == centered)?;
    let (normalized, std_name) = (nodes[div].outputs[0], nodes[div].inputs[1]);
    let norm = InputNormalization {
        mean: constant(mean_name)?,
        std: constant(std_name)?,
    };
    let private = readers(input) == 1 && readers(centered) == 1;
    let internal = ![input, centered, normalized]
        .iter()
        .any(|n| graph_outputs.contains(n));
    if !private || !internal || norm.std.contains(&0.0) {
        return None;
    }
    // Constants only the two folded nodes read go too (ONNX Runtime warns about unused ones).
    let dropped_constants: Vec<&str> = [mean_name, std_name]
        .into_iter()
        .filter(|&c| readers(c) == 1)
        .collect();
    let dropped_values = [centered, normalized, mean_name, std_name];

    let mut graph = Vec::with_capacity(graph_bytes.len());
    let mut next_node = 0..;
    for f in &graph_fields {
        match f.number {
            GRAPH_NODE => {
                let index = next_node.next().expect("unbounded");
                let n = &nodes[index];
                if index == sub || index == div {
                    continue;
                }
                if n.inputs.contains(&normalized) {
                    let renamed = rename_inputs(n.raw, normalized, input)?;
                    write_bytes_field(&mut graph, GRAPH_NODE, &renamed);
                } else {
                    graph.extend_from_slice(f.raw);
                }
            }
            GRAPH_INITIALIZER
                if tensor_name(f.bytes).is_some_and(|n| dropped_constants.contains(&n)) => {}
            GRAPH_VALUE_INFO
                if string_fields(f.bytes, VALUE_INFO_NAME)?
                    .first()
                    .is_some_and(|n| dropped_values.contains(n)) => {}
            _ => graph.extend_from_slice(f.raw),
        }
    }
    let mut out = Vec::with_capacity(model.len());
    for f in &model_fields {
        if f.number == MODEL_GRAPH {
            write_bytes_field(&mut out, MODEL_GRAPH, &graph);
        } else {
            out.extend_from_slice(f.raw);
        }
    }
    Some((out, norm))
}

/// The node with every input named `from` renamed `to`, its other fields as they were.
fn rename_inputs(node: &[u8], from: &str, to: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(node.len());
    for f in fields(node)? {
        if f.number == NODE_INPUT && f.bytes == from.as_bytes() {
            write_bytes_field(&mut out, NODE_INPUT, to.as_bytes());
        } else {
            out.extend_from_slice(f.raw);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ModelBundle;

    fn node_ops(model: &[u8]) -> Vec<String> {
        let graph = fields(model)
            .unwrap()
            .into_iter()
            .find(|f| f.number == MODEL_GRAPH)
            .unwrap()
            .bytes;
        fields(graph)
            .unwrap()
            .iter()
            .filter(|f| f.number == GRAPH_NODE)
            .map(|f| node(f.bytes).unwrap().op_type.to_string())
            .collect()
    }

    #[test]
    fn folds_the_embedded_encoders_normalization() {
        let bundle = ModelBundle::embedded().unwrap();
        let original = node_ops(&bundle.encoder_onnx);
        assert_eq!(&original[..3], ["Sub", "Div", "Conv"]);
        let (folded, norm) = fold_input_normalization(&bundle.encoder_onnx, "image").unwrap();
        assert_eq!(node_ops(&folded), original[2..]);
        // ImageNet statistics, as training/limitnet_train/model.py sets them.
        for (got, want) in norm.mean.iter().zip([0.485, 0.456, 0.406]) {
            assert!((got - want).abs() < 1e-6, "{:?}", norm);
        }
        for (got, want) in norm.std.iter().zip([0.229, 0.224, 0.225]) {
            assert!((got - want).abs() < 1e-6, "{:?}", norm);
        }
        let table = norm.table();
        assert_eq!(table[0][0], (0.0 - norm.mean[0]) / norm.std[0]);
        assert_eq!(table[2][255], (1.0 - norm.mean[2]) / norm.std[2]);
    }

    #[test]
    fn leaves_other_graphs_alone() {
        let bundle = ModelBundle::embedded().unwrap();
        // The decoder does not start with a normalisation; a wrong input name matches nothing.
        assert!(fold_input_normalization(&bundle.decoder_onnx, "latent").is_none());
        assert!(fold_input_normalization(&bundle.encoder_onnx, "picture").is_none());
        // Not protobuf at all, or cut short: no fold and no panic.
        assert!(fold_input_normalization(b"not an onnx file", "image").is_none());
        for cut in [1, 10, 100, bundle.encoder_onnx.len() / 2] {
            assert!(fold_input_normalization(&bundle.encoder_onnx[..cut], "image").is_none());
        }
    }

    #[test]
    fn varints_round_trip() {
        for v in [0u64, 1, 127, 128, 300, u32::MAX as u64, u64::MAX] {
            let mut b = Vec::new();
            write_varint(&mut b, v);
            let mut pos = 0;
            assert_eq!(read_varint(&b, &mut pos), Some(v));
            assert_eq!(pos, b.len());
        }
    }
}
