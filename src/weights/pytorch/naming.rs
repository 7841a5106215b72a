//! PyTorch names <-> the model's layers.

use std::collections::{HashMap, HashSet};

use super::clip;
use super::tensors::join;
use crate::data::{IMAGE_PIXELS, NUM_CLASSES};
use crate::error::WeightsError;
use crate::weights::NamedTensor;

/// One `NAME.weight` / `NAME.bias` pair as found.
pub(super) struct Group<'t> {
    pub(super) prefix: &'t str,
    pub(super) weight: Option<&'t NamedTensor>,
    pub(super) bias: Option<&'t NamedTensor>,
}

/// A layer with a 2-D weight `[out, in]`: it takes part in the width chain even when its bias
/// is missing or wrong, so one problem is reported once rather than as a broken chain too.
#[derive(Clone, Copy)]
pub(super) struct Linear<'t> {
    pub(super) prefix: &'t str,
    pub(super) weight: &'t NamedTensor,
    pub(super) bias: Option<&'t NamedTensor>,
}

impl Linear<'_> {
    /// `(outputs, inputs)`: PyTorch keeps Linear weights as `[out, in]`.
    pub(super) fn widths(&self) -> (usize, usize) {
        match self.weight.1[..] {
            [outputs, inputs] => (outputs, inputs),
            _ => (0, 0),
        }
    }
}

/// Maps PyTorch tensors of this MLP onto the model's names: `layers.{i}.weight` `[in, out]`
/// (transposed from PyTorch's `[out, in]`) and `layers.{i}.bias` `[out]`.
///
/// Names are grouped into `NAME.weight` / `NAME.bias` pairs; a prefix common to every pair
/// (`model.`, `module.`, `layers.`...) is set aside, and the layers are ordered by the numbers
/// left in their names (`0 < 3 < 6 < 9`, `fc1 < fc2 < ... < fc10`), or kept in file order when
/// the names do not all carry distinct numbers. The widths must chain 784 → … → 10. On a
/// mismatch the error lists what was found and every problem seen (a missing bias, a layer too
/// few, tensors of no Linear layer such as batch-norm statistics...).
///
/// Any chain 784 → … → 10 is accepted (this project's model takes any hidden widths); use
/// `check_widths` to require particular ones.
pub fn to_model_layers(tensors: &[NamedTensor]) -> Result<Vec<NamedTensor>, WeightsError> {
    let layers = linear_layers(tensors)?;
    let mut out = Vec::with_capacity(layers.len() * 2);
    for (i, (weight, bias)) in layers.into_iter().enumerate() {
        let (name, shape, values) = weight;
        let (outputs, inputs) = match shape[..] {
            [outputs, inputs] => (outputs, inputs),
            _ => return Err(WeightsError::Mismatch(format!("{} is not 2-D", clip(name)))),
        };
        out.push((
            format!("layers.{i}.weight"),
            vec![inputs, outputs],
            transpose(values, outputs, inputs),
        ));
        out.push((format!("layers.{i}.bias"), bias.1.clone(), bias.2.clone()));
    }
    Ok(out)
}

/// The Linear layers in order, as `(weight, bias)`, each checked and chaining 784 → … → 10.
pub(super) fn linear_layers(tensors: &[NamedTensor]) -> Result<Vec<(&NamedTensor, &NamedTensor)>, WeightsError> {
    let mut problems: Vec<String> = Vec::new();
    let mut groups: Vec<Group> = Vec::new();
    let mut by_prefix: HashMap<&str, usize> = HashMap::new();
    let mut seen: HashSet<&str> = HashSet::new();
    for tensor in tensors {
        let name = tensor.0.as_str();
        if !seen.insert(name) {
            problems.push(format!("{} appears twice", clip(name)));
            continue;
        }
        let (prefix, kind) = name.rsplit_once('.').unwrap_or(("", name));
        if kind != "weight" && kind != "bias" {
            problems.push(format!("{} belongs to no Linear layer", show(tensor)));
            continue;
        }
        let g = *by_prefix.entry(prefix).or_insert_with(|| {
            groups.push(Group {
                prefix,
                weight: None,
                bias: None,
            });
            groups.len() - 1
        });
        if let Some(group) = groups.get_mut(g) {
            if kind == "weight" {
                group.weight = Some(tensor);
            } else {
                group.bias = Some(tensor);
            }
        }
    }

    let mut linears: Vec<Linear> = Vec::new();
    for group in &groups {
        let member = |kind: &str| clip(&join(group.prefix, kind));
        let Some(weight) = group.weight else {
            if let Some(bias) = group.bias {
                problems.push(format!("{} has no {}", show(bias), member("weight")));
            }
            continue;
        };
        if weight.1.len() != 2 {
            problems.push(format!("{} is not a Linear weight [out, in]", show(weight)));
            continue;
        }
        let layer = Linear {
            prefix: group.prefix,
            weight,
            bias: group.bias,
        };
        let (outputs, inputs) = layer.widths();
        match group.bias {
            None => problems.push(format!(
                "{} has no {} (every layer of the model has a bias)",
                show(weight),
                member("bias")
            )),
            Some(bias) if bias.1 != [outputs] => {
                problems.push(format!(
                    "{} should have shape [{outputs}] to match {}",
                    show(bias),
                    show(weight)
                ));
            }
            Some(bias) => {
                if outputs.checked_mul(inputs) != Some(weight.2.len()) || bias.2.len() != outputs {
                    problems.push(format!(
                        "{} holds the wrong number of values for its shape",
                        member("*")
                    ));
                } else if weight.2.iter().chain(&bias.2).any(|v| !v.is_finite()) {
                    problems.push(format!("{} holds NaN or infinite values", member("*")));
                }
            }
        }
        linears.push(layer);
    }

    order_layers(&mut linears);

    // The chain 784 -> ... -> 10.
    let mut width = IMAGE_PIXELS;
    let mut previous: Option<&Linear> = None;
    for layer in &linears {
        let (outputs, inputs) = layer.widths();
        if inputs != width {
            problems.push(match previous {
                None => format!(
                    "the first layer, {}, takes {inputs} inputs but the model's input is {IMAGE_PIXELS} pixels (28×28)",
                    show(layer.weight)
                ),
                Some(before) => format!(
                    "{} takes {inputs} inputs but the layer before it, {}, gives {width} (is a layer missing?)",
                    show(layer.weight),
                    show(before.weight)
                ),
            });
        }
        width = outputs;
        previous = Some(layer);
    }
    match previous {
        None if problems.is_empty() => problems.push("no Linear layers (NAME.weight and NAME.bias pairs) found".into()),
        Some(last) if width != NUM_CLASSES => problems.push(format!(
            "the last layer, {}, gives {width} outputs; the model needs {NUM_CLASSES}, one per class",
            show(last.weight)
        )),
        _ => {}
    }

    if problems.is_empty() {
        // Every layer has its bias here (a missing one is a problem above).
        return Ok(linears.iter().filter_map(|l| Some((l.weight, l.bias?))).collect());
    }
    Err(WeightsError::Mismatch(format!(
        "expected Linear layers chaining {IMAGE_PIXELS} → … → {NUM_CLASSES} (NAME.weight [out, in] and \
         NAME.bias [out] per layer); found {}: {}",
        listing(tensors.iter().map(show).collect(), 12, "tensors", ", "),
        listing(problems, 12, "problems", "; ")
    )))
}

/// Orders layers by the numbers in their names once a prefix common to all is set aside, or
/// keeps the file's order when the names do not all carry distinct numbers.
pub(super) fn order_layers(linears: &mut Vec<Linear>) {
    let parts: Vec<Vec<&str>> = linears.iter().map(|l| l.prefix.split('.').collect()).collect();
    let shortest = parts.iter().map(Vec::len).min().unwrap_or(0);
    // Keep at least the last component of every name, so a lone `fc` still has a name.
    let common = (0..shortest.saturating_sub(1))
        .take_while(|&i| parts.iter().all(|p| p.get(i) == parts.first().and_then(|f| f.get(i))))
        .count();
    let keys: Option<Vec<Vec<u64>>> = parts
        .iter()
        .map(|p| {
            let rest = p.get(common..).unwrap_or_default().join(".");
            let numbers: Option<Vec<u64>> = rest
                .split(|c: char| !c.is_ascii_digit())
                .filter(|run| !run.is_empty())
                .map(|run| run.parse().ok())
                .collect();
            numbers.filter(|n| !n.is_empty())
        })
        .collect();
    let Some(keys) = keys else {
        return;
    };
    let distinct: HashSet<&Vec<u64>> = keys.iter().collect();
    if distinct.len() != keys.len() {
        return;
    }
    let mut order: Vec<usize> = (0..linears.len()).collect();
    order.sort_by(|&a, &b| keys.get(a).cmp(&keys.get(b)));
    *linears = order.iter().filter_map(|&i| linears.get(i).copied()).collect();
}

/// `name [shape]`, as messages show a tensor.
pub(super) fn show(tensor: &NamedTensor) -> String {
    format!("{} {:?}", clip(&tensor.0), tensor.1)
}

/// Up to `limit` items joined by `separator`, then how many more there are.
pub(super) fn listing(items: Vec<String>, limit: usize, what: &str, separator: &str) -> String {
    if items.is_empty() {
        return "nothing".into();
    }
    let mut text = items.iter().take(limit).cloned().collect::<Vec<_>>().join(separator);
    if items.len() > limit {
        text.push_str(&format!("{separator}… and {} more {what}", items.len() - limit));
    }
    text
}

/// Row-major `[rows, cols]` to row-major `[cols, rows]` (iterators: no index can panic).
pub(super) fn transpose(values: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    debug_assert_eq!(Some(values.len()), rows.checked_mul(cols));
    (0..cols)
        .flat_map(|c| values.iter().skip(c).step_by(cols.max(1)).take(rows).copied())
        .collect()
}

/// The widths of layers as `to_model_layers` returns them: input, hidden..., output.
pub fn widths(layers: &[NamedTensor]) -> Vec<usize> {
    let mut widths = Vec::new();
    for (name, shape, _) in layers {
        if name.starts_with("layers.")
            && name.ends_with(".weight")
            && let [inputs, outputs] = shape[..]
        {
            if widths.is_empty() {
                widths.push(inputs);
            }
            widths.push(outputs);
        }
    }
    widths
}

/// Checks that mapped layers have the `expected` widths (input, hidden..., output), naming both
/// networks when they differ: a file can hold a valid MLP and still not the one wanted.
pub fn check_widths(layers: &[NamedTensor], expected: &[usize]) -> Result<(), WeightsError> {
    let found = widths(layers);
    if found == expected {
        return Ok(());
    }
    let chain = |w: &[usize]| w.iter().map(usize::to_string).collect::<Vec<_>>().join("→");
    Err(WeightsError::Mismatch(format!(
        "the file holds a {} network; expected {}",
        chain(&found),
        chain(expected)
    )))
}

/// The inverse of `to_model_layers`, for saving a model PyTorch can load: the model's
/// `layers.{i}.weight` `[in, out]` / `layers.{i}.bias` become `nn.Sequential` entries
/// `{k}.weight` `[out, in]` / `{k}.bias`, with `k = 3 i` when the Sequential has a Dropout after
/// each ReLU (the reference model: Linear, ReLU, Dropout, Linear...) or `k = 2 i` without.
/// Tensors not named `layers.{i}.weight` (2-D) or `layers.{i}.bias` are left out. Python loads
/// the result with `model.load_state_dict(safetensors.torch.load_file(path))`.
pub fn export(tensors: &[NamedTensor], dropout: bool) -> Vec<NamedTensor> {
    let step: usize = if dropout { 3 } else { 2 };
    let mut out: Vec<(usize, bool, NamedTensor)> = tensors
        .iter()
        .filter_map(|(name, shape, values)| {
            let (index, kind) = name.strip_prefix("layers.")?.split_once('.')?;
            let layer: usize = index.parse().ok()?;
            let k = layer.checked_mul(step)?;
            match (kind, shape.as_slice()) {
                ("weight", &[inputs, outputs]) if inputs.checked_mul(outputs) == Some(values.len()) => Some((
                    layer,
                    false,
                    (
                        format!("{k}.weight"),
                        vec![outputs, inputs],
                        transpose(values, inputs, outputs),
                    ),
                )),
                ("bias", &[_]) => Some((layer, true, (format!("{k}.bias"), shape.clone(), values.clone()))),
                _ => None,
            }
        })
        .collect();
    // Layer by layer, weight before bias, whatever order the model listed them in.
    out.sort_by_key(|(layer, is_bias, _)| (*layer, *is_bias));
    out.into_iter().map(|(_, _, tensor)| tensor).collect()
}
