//! The architecture of a [`crate::Sequential`] model as one line of text.
//! The same line is stored in a weights file's metadata, so a file says
//! what it is. Two spellings are accepted, and mix freely:
//!
//! - a multilayer perceptron as sizes: `784-256-128-10` (or `784,256,128,10`);
//! - a convolutional network as tokens: `1x28x28 c32k3 c32k3 p2 c64k3 p2 f256 10`.
//!
//! The tokens, separated by spaces, `-` or `,`:
//!
//! | token | layer | PyTorch modules |
//! |---|---|---|
//! | `784` or `1x28x28` (first) | the input: features, or channels x height x width | |
//! | `c32k3`, `c32k5p2`, `c64k3s2p1` | convolution: 32 filters of 3x3, stride `s` (1), zero padding `p` (0) | `Conv2d`, activation |
//! | `c32k3bn` | the same with batch norm before the activation (and no conv bias: the norm removes it) | `Conv2d`, `BatchNorm2d`, activation |
//! | `p2`, `p3s2` | max pooling over 2x2 windows (stride = window unless `s`) | `MaxPool2d` |
//! | `a2`, `gap` | average pooling; `gap` over the whole image (global) | `AvgPool2d` |
//! | `f256`, `256`, `f256bn` | a hidden dense layer of 256 units (with batch norm, and then no bias) | [`Flatten`], `Linear`, [`BatchNorm1d`], activation |
//! | `d0.25` | dropout of rate 0.25 after the layer before | `Dropout` |
//! | `10` (last) | the output layer: a dense layer of 10 units | [`Flatten`], `Linear` |
//! | `hidden=relu` | activation after every hidden layer (relu) | |
//! | `output=identity` | activation of the output (identity: logits) | |
//! | `dropout=0.2` | dropout after every hidden dense layer | |
//!
//! A `Flatten` module comes before the first dense layer after an image.
//! The modules are numbered as `torch.nn.Sequential` numbers them, which
//! names the weights: `layers.0.weight`, `layers.1.running_mean`, ...

use crate::{Activation, NnError, Result};
use std::fmt;
use std::str::FromStr;

/// The shape of one input: `channels x height x width`; a flat vector of
/// `n` features is `n x 1 x 1`, not an image.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shape {
    /// `C`; for a flat vector, its number of features.
    pub channels: usize,
    /// `H` in pixels; 1 for a flat vector.
    pub height: usize,
    /// `W` in pixels; 1 for a flat vector.
    pub width: usize,
    /// Whether this is an image (even of 1x1 pixels, after global pooling),
    /// which a dense layer must flatten first, as PyTorch's `nn.Flatten` does.
    pub image: bool,
}

impl Shape {
    /// `n` features, not an image.
    pub fn flat(n: usize) -> Shape {
        Shape {
            channels: n,
            height: 1,
            width: 1,
            image: false,
        }
    }

    /// An image of `channels x height x width`.
    pub fn image(channels: usize, height: usize, width: usize) -> Shape {
        Shape {
            channels,
            height,
            width,
            image: true,
        }
    }

    /// `C * H * W`: the width of a batch's row (saturating: a spec read
    /// from a file may claim anything, and is refused later for its size).
    pub fn len(&self) -> usize {
        self.channels
            .saturating_mul(self.height)
            .saturating_mul(self.width)
    }

    /// True when a side is 0 (no values).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether this is an image, which a dense layer must flatten first.
    pub fn is_image(&self) -> bool {
        self.image
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_image() {
            write!(f, "{}x{}x{}", self.channels, self.height, self.width)
        } else {
            write!(f, "{}", self.channels)
        }
    }
}

/// One layer of a [`ModelSpec`], before the output layer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum LayerSpec {
    /// `Conv2d(in, filters, kernel, stride, padding)`, then batch norm when
    /// asked, then the hidden activation.
    Conv {
        /// Output channels `O` (`c32`: 32).
        filters: usize,
        /// The window is `kernel x kernel` pixels (`k3`).
        kernel: usize,
        /// Pixels between windows (`s`, default 1).
        stride: usize,
        /// Zero pixels around each side of the input (`p`, default 0).
        padding: usize,
        /// `bn`: batch norm after the convolution, which then has no bias.
        batch_norm: bool,
    },
    /// `MaxPool2d(kernel, stride)`.
    MaxPool {
        /// The window is `kernel x kernel` pixels (`p2`: 2).
        kernel: usize,
        /// Pixels between windows (the kernel unless `s` says otherwise).
        stride: usize,
    },
    /// `AvgPool2d(kernel, stride)`; `kernel = 0` means the whole image.
    AvgPool {
        /// The window is `kernel x kernel` pixels; 0 for `gap`, the whole image.
        kernel: usize,
        /// Pixels between windows (the kernel unless `s` says otherwise).
        stride: usize,
    },
    /// A hidden `Linear` of `units`, batch norm when asked, the hidden activation.
    Dense {
        /// Outputs of the layer (`f128`: 128).
        units: usize,
        /// `bn`: `BatchNorm1d` after the layer, which then has no bias.
        batch_norm: bool,
    },
    /// `Dropout(rate)` on the output of the layer before.
    Dropout(f32),
}

/// A network: its input shape, hidden layers, and output layer (a dense
/// layer of `outputs` units with the `output` activation).
#[derive(Clone, Debug, PartialEq)]
pub struct ModelSpec {
    /// One input sample: `1x28x28` for an MNIST image, `784` flat.
    pub input: Shape,
    /// The hidden layers in order, without the output layer.
    pub layers: Vec<LayerSpec>,
    /// Units of the output layer: the number of classes (10 for digits).
    pub outputs: usize,
    /// The activation after every hidden convolution and dense layer.
    pub hidden: Activation,
    /// The activation after the last layer; `Identity` gives logits, which is
    /// what [`crate::softmax_cross_entropy`] wants.
    pub output: Activation,
}

/// What one spec layer becomes: its shape out, and the PyTorch module
/// index of its first module.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PlacedLayer {
    /// The layer as the spec gives it.
    pub layer: LayerSpec,
    /// The shape of one sample entering it.
    pub input: Shape,
    /// The shape of one sample leaving it.
    pub output: Shape,
    /// The index, in `nn.Sequential`, of the layer's main module (after a
    /// `Flatten` that precedes a dense layer).
    pub torch_index: usize,
}

impl ModelSpec {
    /// Parses a spec (see the module docs for the tokens).
    ///
    /// ```
    /// use nn::{Activation, LayerSpec, ModelSpec};
    /// let spec = ModelSpec::parse("784-256-128-10").unwrap();
    /// assert_eq!(spec.sizes(), Some(vec![784, 256, 128, 10]));
    /// assert_eq!(spec.hidden, Activation::Relu);
    /// let cnn = ModelSpec::parse("1x28x28 c32k3 p2 f128 10").unwrap();
    /// assert_eq!(cnn.layers[1], LayerSpec::MaxPool { kernel: 2, stride: 2 });
    /// assert_eq!(cnn.to_string(), "1x28x28 c32k3 p2 f128 10 hidden=relu output=identity");
    /// let error = ModelSpec::parse("1x28x28 c32q3 10").unwrap_err().to_string();
    /// assert!(error.contains("token 2 \"c32q3\""), "{error}");
    /// ```
    pub fn parse(text: &str) -> Result<ModelSpec> {
        let bad = |problem: String| NnError::Spec {
            spec: text.to_string(),
            problem,
        };
        let mut hidden = Activation::Relu;
        let mut output = Activation::Identity;
        let mut dropout = 0.0_f32;
        let mut tokens: Vec<&str> = Vec::new();
        for word in text.split_whitespace() {
            let Some((key, value)) = word.split_once('=') else {
                tokens.extend(word.split(['-', ',']).filter(|t| !t.is_empty()));
                continue;
            };
            let nested = |e: NnError| match e {
                NnError::Spec { problem, .. } => bad(problem),
                other => other,
            };
            match key.to_ascii_lowercase().as_str() {
                "hidden" => hidden = Activation::parse(value).map_err(nested)?,
                "output" => output = Activation::parse(value).map_err(nested)?,
                "dropout" => {
                    dropout = value
                        .parse()
                        .map_err(|_| bad(format!("dropout {value:?} is not a number")))?;
                    check_rate(dropout).map_err(bad)?;
                }
                other => {
                    return Err(bad(format!(
                        "unknown option {other:?} (expected hidden=, output= or dropout=)"
                    )))
                }
            }
        }
        if text.split(['-', ',']).any(|part| part.trim().is_empty()) && text.contains(['-', ',']) {
            return Err(bad("an empty layer between separators".into()));
        }
        if tokens.len() < 2 {
            return Err(bad(
                "need at least an input and an output, like 784-10 or 1x28x28 c8k3 10".into(),
            ));
        }
        let at = |index: usize, problem: String| {
            bad(format!(
                "token {} {:?}: {problem}",
                index + 1,
                tokens[index]
            ))
        };
        let input = parse_input(tokens[0]).map_err(|p| at(0, p))?;
        let last = tokens.len() - 1;
        let outputs = parse_count(tokens[last]).map_err(|p| {
            at(
                last,
                format!("{p}; the last token is the number of outputs, like 10"),
            )
        })?;
        let mut layers = Vec::new();
        for (index, token) in tokens.iter().enumerate().take(last).skip(1) {
            let layer = parse_layer(token).map_err(|p| at(index, p))?;
            if let LayerSpec::Dropout(_) = layer {
                if matches!(layers.last(), None | Some(LayerSpec::Dropout(_))) {
                    return Err(at(index, "dropout must follow a layer".into()));
                }
            }
            layers.push(layer);
            if dropout > 0.0 && matches!(layer, LayerSpec::Dense { .. }) {
                layers.push(LayerSpec::Dropout(dropout));
            }
        }
        let spec = ModelSpec {
            input,
            layers,
            outputs,
            hidden,
            output,
        };
        // Shapes must fit all the way: name the first layer that does not.
        let mut shape = spec.input;
        for (k, layer) in spec.layers.iter().enumerate() {
            // Token k + 1, unless dropout= added layers (then none is named).
            let token = tokens.get(k + 1).filter(|_| dropout == 0.0);
            shape = next_shape(layer, shape).map_err(|p| match token {
                Some(_) => at(k + 1, p),
                None => bad(p),
            })?;
        }
        Ok(spec)
    }

    /// An MLP of `sizes` (`[inputs, hidden..., outputs]`), ReLU hidden
    /// layers, logits out.
    pub fn mlp(sizes: &[usize]) -> Result<ModelSpec> {
        let text: Vec<String> = sizes.iter().map(usize::to_string).collect();
        ModelSpec::parse(&text.join("-"))
    }

    /// Sets the hidden activation.
    pub fn hidden(mut self, activation: Activation) -> ModelSpec {
        self.hidden = activation;
        self
    }

    /// Sets the output activation.
    pub fn output(mut self, activation: Activation) -> ModelSpec {
        self.output = activation;
        self
    }

    /// Puts dropout of `rate` after every hidden dense layer (`0`: removes
    /// the dropout that follows dense layers).
    pub fn dropout(mut self, rate: f32) -> ModelSpec {
        let mut layers = Vec::new();
        for (k, &layer) in self.layers.iter().enumerate() {
            let after_dense = k > 0 && matches!(self.layers[k - 1], LayerSpec::Dense { .. });
            if matches!(layer, LayerSpec::Dropout(_)) && after_dense {
                continue;
            }
            layers.push(layer);
            if rate > 0.0 && matches!(layer, LayerSpec::Dense { .. }) {
                layers.push(LayerSpec::Dropout(rate));
            }
        }
        self.layers = layers;
        self
    }

    /// Input width: `C * H * W` values per row.
    pub fn inputs(&self) -> usize {
        self.input.len()
    }

    /// Output width `O` of the last layer.
    pub fn outputs(&self) -> usize {
        self.outputs
    }

    /// `[inputs, hidden..., outputs]` when this is a plain multilayer
    /// perceptron (flat input, dense layers, the same dropout after every
    /// hidden one, no batch norm), else `None`.
    pub fn sizes(&self) -> Option<Vec<usize>> {
        self.mlp_form().map(|(sizes, _)| sizes)
    }

    /// The dropout rate after every hidden dense layer of a plain MLP.
    pub fn mlp_dropout(&self) -> Option<f32> {
        self.mlp_form().map(|(_, rate)| rate)
    }

    fn mlp_form(&self) -> Option<(Vec<usize>, f32)> {
        if self.input.is_image() {
            return None;
        }
        let mut sizes = vec![self.input.channels];
        let rate = match self.layers.get(1) {
            Some(LayerSpec::Dropout(rate)) => *rate,
            _ => 0.0,
        };
        let stride = if rate > 0.0 { 2 } else { 1 };
        for (k, layer) in self.layers.iter().enumerate() {
            match (layer, k % stride) {
                (
                    LayerSpec::Dense {
                        units,
                        batch_norm: false,
                    },
                    0,
                ) => sizes.push(*units),
                (LayerSpec::Dropout(r), 1) if *r == rate => {}
                _ => return None,
            }
        }
        if !self.layers.len().is_multiple_of(stride) {
            return None;
        }
        sizes.push(self.outputs);
        Some((sizes, rate))
    }

    /// Every layer with its input and output shapes and PyTorch index.
    /// Parsing checked the shapes, so this cannot fail on a parsed spec; a
    /// spec built by hand with a layer that does not fit stops there.
    pub fn placed(&self) -> Vec<PlacedLayer> {
        let mut placed = Vec::new();
        let mut shape = self.input;
        let mut index = 0;
        for &layer in &self.layers {
            let Ok(output) = next_shape(&layer, shape) else {
                break;
            };
            if matches!(layer, LayerSpec::Dense { .. }) && shape.is_image() {
                index += 1; // nn.Flatten
            }
            placed.push(PlacedLayer {
                layer,
                input: shape,
                output,
                torch_index: index,
            });
            index += match layer {
                LayerSpec::Conv { batch_norm, .. } | LayerSpec::Dense { batch_norm, .. } => {
                    2 + batch_norm as usize
                }
                _ => 1,
            };
            shape = output;
        }
        placed
    }

    /// The shape that reaches the output layer.
    pub fn last_hidden_shape(&self) -> Shape {
        self.placed().last().map_or(self.input, |p| p.output)
    }

    /// The PyTorch index of the output `Linear`.
    pub fn output_torch_index(&self) -> usize {
        let placed = self.placed();
        let next = placed.last().map_or(0, |p| {
            p.torch_index
                + match p.layer {
                    LayerSpec::Conv { batch_norm, .. } | LayerSpec::Dense { batch_norm, .. } => {
                        2 + batch_norm as usize
                    }
                    _ => 1,
                }
        });
        next + self.last_hidden_shape().is_image() as usize
    }

    /// `(name, shape)` of every tensor a weights file of this network holds,
    /// in layer order (as [`crate::Sequential::tensors`] lists them).
    pub fn tensor_shapes(&self) -> Vec<(String, Vec<usize>)> {
        let mut all = Vec::new();
        let mut add = |index: usize, name: &str, shape: Vec<usize>| {
            all.push((format!("layers.{index}.{name}"), shape))
        };
        for placed in self.placed() {
            let (index, input) = (placed.torch_index, placed.input);
            let (units, batch_norm) = match placed.layer {
                LayerSpec::Conv {
                    filters,
                    kernel,
                    batch_norm,
                    ..
                } => {
                    add(
                        index,
                        "weight",
                        vec![filters, input.channels, kernel, kernel],
                    );
                    if !batch_norm {
                        add(index, "bias", vec![filters]);
                    }
                    (filters, batch_norm)
                }
                LayerSpec::Dense { units, batch_norm } => {
                    add(index, "weight", vec![units, input.len()]);
                    if !batch_norm {
                        add(index, "bias", vec![units]);
                    }
                    (units, batch_norm)
                }
                _ => continue,
            };
            if batch_norm {
                for name in ["weight", "bias", "running_mean", "running_var"] {
                    add(index + 1, name, vec![units]);
                }
                add(index + 1, "num_batches_tracked", vec![]);
            }
        }
        let index = self.output_torch_index();
        add(
            index,
            "weight",
            vec![self.outputs, self.last_hidden_shape().len()],
        );
        add(index, "bias", vec![self.outputs]);
        all
    }

    /// The spec as short as it reads back: options only where they are not
    /// the defaults (`784-256-10`, `1x28x28 c32k3 p2 f128 10 hidden=tanh`).
    ///
    /// ```
    /// use nn::ModelSpec;
    /// for text in ["784-256-10", "784-10", "784-100-10 hidden=sigmoid dropout=0.5", "1x28x28 c8k3bn p2 10"] {
    ///     let spec = ModelSpec::parse(text).unwrap();
    ///     assert_eq!(spec.summary(), text);
    ///     assert_eq!(ModelSpec::parse(&spec.summary()).unwrap(), spec);
    /// }
    /// ```
    pub fn summary(&self) -> String {
        let full = self.to_string();
        full.split(' ')
            .filter(|word| !["hidden=relu", "output=identity", "dropout=0"].contains(word))
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Multiply-adds of one input's forward pass (convolutions and dense
    /// layers), for reporting GFLOP/s.
    pub fn forward_multiply_adds(&self) -> u64 {
        let mut total = 0u64;
        for placed in self.placed() {
            total += match placed.layer {
                LayerSpec::Conv { kernel, .. } => {
                    (placed.output.len() * placed.input.channels * kernel * kernel) as u64
                }
                LayerSpec::Dense { units, .. } => (placed.input.len() * units) as u64,
                _ => 0,
            };
        }
        total + (self.last_hidden_shape().len() * self.outputs) as u64
    }
}

fn check_rate(rate: f32) -> std::result::Result<(), String> {
    if (0.0..1.0).contains(&rate) {
        Ok(())
    } else {
        Err(format!("dropout must be in [0, 1), got {rate}"))
    }
}

fn parse_count(text: &str) -> std::result::Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("sizes must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("{text:?} is not a positive integer")),
    }
}

fn parse_input(token: &str) -> std::result::Result<Shape, String> {
    let parts: Vec<&str> = token.split(['x', 'X']).collect();
    let numbers = parts
        .iter()
        .map(|p| parse_count(p))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|p| format!("{p}; the input is a size like 784 or an image like 1x28x28"))?;
    match numbers[..] {
        [n] => Ok(Shape::flat(n)),
        [channels, height, width] => Ok(Shape::image(channels, height, width)),
        _ => Err("the input is a size like 784 or an image like 1x28x28".into()),
    }
}

/// Splits `c32k3s2` into the leading letter's number and `(letter, number)`
/// pairs after it.
fn numbered_parts(body: &str) -> std::result::Result<Vec<(char, usize)>, String> {
    let mut parts = Vec::new();
    let mut chars = body.chars().peekable();
    while let Some(letter) = chars.next() {
        let mut digits = String::new();
        while let Some(&d) = chars.peek().filter(|d| d.is_ascii_digit()) {
            digits.push(d);
            chars.next();
        }
        let number = digits
            .parse()
            .map_err(|_| format!("{letter:?} needs a number after it"))?;
        parts.push((letter, number));
    }
    Ok(parts)
}

const LAYER_FORMS: &str = "expected a layer like c32k3, c32k5p2bn, p2, a2, gap, f128, d0.25 or 128";

fn parse_layer(token: &str) -> std::result::Result<LayerSpec, String> {
    let lower = token.to_ascii_lowercase();
    if lower == "gap" {
        return Ok(LayerSpec::AvgPool {
            kernel: 0,
            stride: 0,
        });
    }
    if let Some(rate) = lower.strip_prefix('d') {
        let rate: f32 = rate
            .parse()
            .map_err(|_| format!("dropout rate {rate:?} is not a number"))?;
        check_rate(rate)?;
        return Ok(LayerSpec::Dropout(rate));
    }
    if lower.starts_with(|c: char| c.is_ascii_digit()) {
        return Ok(LayerSpec::Dense {
            units: parse_count(&lower)?,
            batch_norm: false,
        });
    }
    let (body, batch_norm) = match lower.strip_suffix("bn") {
        Some(body) => (body, true),
        None => (lower.as_str(), false),
    };
    let parts = numbered_parts(body).map_err(|p| format!("{p} ({LAYER_FORMS})"))?;
    let get = |letter: char| parts.iter().find(|p| p.0 == letter).map(|p| p.1);
    let allowed = |letters: &str| parts.iter().all(|p| letters.contains(p.0));
    let positive = |value: usize, what: &str| {
        if value == 0 {
            Err(format!("{what} must be at least 1"))
        } else {
            Ok(value)
        }
    };
    match parts.first().map(|p| p.0) {
        Some('c') if allowed("cksp") => {
            let kernel = get('k').ok_or("a convolution needs a kernel size, like c32k3")?;
            Ok(LayerSpec::Conv {
                filters: positive(parts[0].1, "filters")?,
                kernel: positive(kernel, "the kernel")?,
                stride: positive(get('s').unwrap_or(1), "the stride")?,
                padding: get('p').unwrap_or(0),
                batch_norm,
            })
        }
        Some('f') if allowed("f") => Ok(LayerSpec::Dense {
            units: positive(parts[0].1, "units")?,
            batch_norm,
        }),
        Some(kind @ ('p' | 'm' | 'a')) if allowed("pmas") && !batch_norm => {
            let kernel = positive(parts[0].1, "the pooling window")?;
            let stride = positive(get('s').unwrap_or(kernel), "the stride")?;
            Ok(if kind == 'a' {
                LayerSpec::AvgPool { kernel, stride }
            } else {
                LayerSpec::MaxPool { kernel, stride }
            })
        }
        _ => Err(LAYER_FORMS.into()),
    }
}

/// The window of a convolution or pooling layer over `input`.
pub fn window_of(layer: &LayerSpec, input: Shape) -> Option<tensor::conv::SlidingWindow> {
    let (kernel, stride, padding) = match *layer {
        LayerSpec::Conv {
            kernel,
            stride,
            padding,
            ..
        } => (kernel, stride, padding),
        LayerSpec::MaxPool { kernel, stride } => (kernel, stride, 0),
        LayerSpec::AvgPool { kernel: 0, .. } => (input.height, input.height, 0),
        LayerSpec::AvgPool { kernel, stride } => (kernel, stride, 0),
        _ => return None,
    };
    Some(tensor::conv::SlidingWindow {
        channels: input.channels,
        height: input.height,
        width: input.width,
        kernel,
        stride,
        padding,
    })
}

fn next_shape(layer: &LayerSpec, input: Shape) -> std::result::Result<Shape, String> {
    if let Some(window) = window_of(layer, input) {
        if !input.is_image() {
            return Err(format!(
                "needs an image input like 1x28x28, but gets {} flat features",
                input.len()
            ));
        }
        if matches!(layer, LayerSpec::AvgPool { kernel: 0, .. }) && input.height != input.width {
            return Err(format!(
                "global average pooling needs a square image, got {}x{}",
                input.height, input.width
            ));
        }
        window.check()?;
        let channels = match layer {
            LayerSpec::Conv { filters, .. } => *filters,
            _ => input.channels,
        };
        return Ok(Shape::image(
            channels,
            window.out_height(),
            window.out_width(),
        ));
    }
    Ok(match layer {
        LayerSpec::Dense { units, .. } => Shape::flat(*units),
        _ => input,
    })
}

impl fmt::Display for LayerSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bn = |on: bool| if on { "bn" } else { "" };
        match *self {
            LayerSpec::Conv {
                filters,
                kernel,
                stride,
                padding,
                batch_norm,
            } => {
                write!(f, "c{filters}k{kernel}")?;
                if stride != 1 {
                    write!(f, "s{stride}")?;
                }
                if padding != 0 {
                    write!(f, "p{padding}")?;
                }
                write!(f, "{}", bn(batch_norm))
            }
            LayerSpec::MaxPool { kernel, stride } | LayerSpec::AvgPool { kernel, stride } => {
                let letter = if matches!(self, LayerSpec::MaxPool { .. }) {
                    'p'
                } else {
                    'a'
                };
                if kernel == 0 {
                    return write!(f, "gap");
                }
                write!(f, "{letter}{kernel}")?;
                if stride != kernel {
                    write!(f, "s{stride}")?;
                }
                Ok(())
            }
            LayerSpec::Dense { units, batch_norm } => write!(f, "f{units}{}", bn(batch_norm)),
            LayerSpec::Dropout(rate) => write!(f, "d{rate}"),
        }
    }
}

impl fmt::Display for ModelSpec {
    /// A plain MLP keeps the classic form (`784-256-10 hidden=relu
    /// output=identity dropout=0`), which every earlier weights file holds;
    /// anything else is written as tokens.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some((sizes, rate)) = self.mlp_form() {
            let sizes: Vec<String> = sizes.iter().map(usize::to_string).collect();
            return write!(
                f,
                "{} hidden={} output={} dropout={}",
                sizes.join("-"),
                self.hidden,
                self.output,
                rate
            );
        }
        write!(f, "{}", self.input)?;
        for layer in &self.layers {
            write!(f, " {layer}")?;
        }
        write!(
            f,
            " {} hidden={} output={}",
            self.outputs, self.hidden, self.output
        )
    }
}

impl FromStr for ModelSpec {
    type Err = NnError;
    fn from_str(text: &str) -> Result<ModelSpec> {
        ModelSpec::parse(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_round_trips() {
        for text in [
            "784-100-10",
            "784,256,128,10 hidden=leaky_relu:0.1 dropout=0.5",
            "2-3-1 hidden=sigmoid output=sigmoid",
            "1x28x28 c32k3 c32k3 p2 c64k3 p2 f256 10",
            "1x28x28 c6k5p2 a2 c16k5 a2 f120 f84 10 hidden=tanh",
            "3x32x32 c16k3s2p1bn d0.1 p3s2 gap f10bn d0.5 10",
            "1x28x28 f128 10",
            "784 f64bn 10",
        ] {
            let spec = ModelSpec::parse(text).unwrap();
            let again = ModelSpec::parse(&spec.to_string()).unwrap();
            assert_eq!(again, spec, "{text} -> {spec}");
        }
    }

    #[test]
    fn both_spellings_of_an_mlp_are_the_same_network() {
        let classic = ModelSpec::parse("784-256-10 dropout=0.5").unwrap();
        let tokens = ModelSpec::parse("784 f256 d0.5 10").unwrap();
        assert_eq!(classic, tokens);
        assert_eq!(classic.sizes(), Some(vec![784, 256, 10]));
        assert_eq!(classic.mlp_dropout(), Some(0.5));
        assert_eq!(
            classic.to_string(),
            "784-256-10 hidden=relu output=identity dropout=0.5"
        );
        assert_eq!(
            ModelSpec::parse("784 256 10").unwrap().sizes(),
            Some(vec![784, 256, 10])
        );
        assert_eq!(ModelSpec::parse("1x28x28 f8 10").unwrap().sizes(), None);
    }

    #[test]
    fn parse_errors_say_what_is_wrong_and_where() {
        for (text, needle) in [
            ("784", "at least"),
            ("", "at least"),
            ("784--10", "empty layer"),
            ("784-ten", "\"ten\""),
            ("784-10 hidden=gelu", "gelu"),
            ("784-10 dropout=1", "dropout"),
            ("784-10 dropout=x", "dropout"),
            ("784-10 depth=3", "depth"),
            ("784-0-10", "at least 1"),
            ("784 c8k3 10", "token 2 \"c8k3\": needs an image"),
            (
                "1x28x28 c8 10",
                "token 2 \"c8\": a convolution needs a kernel",
            ),
            (
                "1x28x28 c8k30 10",
                "token 2 \"c8k30\": a 30x30 kernel does not fit",
            ),
            ("1x28x28 c8k3 p2 p2 p2 p2 p2 10", "token 7 \"p2\""),
            ("1x28x28 q3 10", "token 2 \"q3\": expected a layer"),
            ("1x28x28 d0.5 10", "token 2 \"d0.5\": dropout must follow"),
            ("1x28x28 c8k3 d2 10", "dropout must be in"),
            ("1x28 c8k3 10", "token 1 \"1x28\""),
            ("1x28x28 c8k3 ten", "token 3 \"ten\""),
            ("1x28x28 c8k3p3 10", "padding 3 must be smaller"),
            ("1x28x20 gap 10", "square"),
        ] {
            let message = ModelSpec::parse(text).unwrap_err().to_string();
            assert!(message.contains(needle), "{text}: {message}");
            assert!(message.contains(&format!("{text:?}")), "{message}");
        }
    }

    #[test]
    fn shapes_and_torch_indices_follow_pytorch() {
        // nn.Sequential(Conv2d, ReLU, Conv2d, BatchNorm2d, ReLU, MaxPool2d,
        // Dropout, Flatten, Linear, ReLU, Linear)
        let spec = ModelSpec::parse("1x28x28 c32k3 c64k3bn p2 d0.25 f128 10").unwrap();
        let placed = spec.placed();
        let indices: Vec<usize> = placed.iter().map(|p| p.torch_index).collect();
        assert_eq!(indices, [0, 2, 5, 6, 8]);
        assert_eq!(spec.output_torch_index(), 10);
        let shapes: Vec<String> = placed.iter().map(|p| p.output.to_string()).collect();
        assert_eq!(
            shapes,
            ["32x26x26", "64x24x24", "64x12x12", "64x12x12", "128"]
        );
        // The classic MLP numbering: Linear, act, [Dropout], Linear, ...
        let mlp = ModelSpec::parse("4-3-2-1 dropout=0.5").unwrap();
        let indices: Vec<usize> = mlp.placed().iter().map(|p| p.torch_index).collect();
        assert_eq!(indices, [0, 2, 3, 5]);
        assert_eq!(mlp.output_torch_index(), 6);
        assert_eq!(ModelSpec::parse("4-3-2-1").unwrap().output_torch_index(), 4);
        // A dense layer straight on the image input is flattened first.
        assert_eq!(
            ModelSpec::parse("1x28x28 10").unwrap().output_torch_index(),
            1
        );
        // Strides, padding, global pooling.
        let spec = ModelSpec::parse("3x32x32 c16k3s2p1 p3s2 gap 10").unwrap();
        let shapes: Vec<String> = spec.placed().iter().map(|p| p.output.to_string()).collect();
        assert_eq!(shapes, ["16x16x16", "16x7x7", "16x1x1"]);
        // Conv2d, ReLU, MaxPool2d, AvgPool2d, Flatten, Linear.
        assert_eq!(spec.output_torch_index(), 5);
        assert_eq!(spec.tensor_shapes().last().unwrap().0, "layers.5.bias");
    }

    #[test]
    fn dropout_setter_replaces_the_dense_dropout_only() {
        let spec = ModelSpec::parse("1x28x28 c8k3 d0.1 f16 10")
            .unwrap()
            .dropout(0.3);
        assert_eq!(
            spec.to_string(),
            "1x28x28 c8k3 d0.1 f16 d0.3 10 hidden=relu output=identity"
        );
        assert_eq!(spec.clone().dropout(0.0).layers.len(), 3);
    }

    #[test]
    fn multiply_adds_count_convolutions_and_dense_layers() {
        let spec = ModelSpec::parse("1x6x6 c2k3 p2 5").unwrap();
        // conv: 2 x 4 x 4 outputs, 9 each; pool: 2x2x2 -> 5.
        assert_eq!(spec.forward_multiply_adds(), 2 * 16 * 9 + 8 * 5);
    }
}
