//! The architecture of a [`crate::Sequential`] model as one line of text,
//! e.g. `784-256-128-10 hidden=relu output=identity dropout=0.2`. The same
//! line is stored in a weights file's metadata, so a file says what it is.

use crate::{Activation, NnError, Result};
use std::fmt;
use std::str::FromStr;

/// Layer sizes and activations of a multilayer perceptron.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelSpec {
    /// `[inputs, hidden..., outputs]`: at least two sizes, none zero.
    pub sizes: Vec<usize>,
    /// The activation after every hidden layer.
    pub hidden: Activation,
    /// The activation after the last layer; `Identity` gives logits, which is
    /// what [`crate::softmax_cross_entropy`] wants.
    pub output: Activation,
    /// Dropout rate after every hidden activation; `0` means no dropout layers.
    pub dropout: f32,
}

impl ModelSpec {
    /// Parses `SIZES [hidden=ACT] [output=ACT] [dropout=RATE]`. Sizes are
    /// separated by `-` or `,`; defaults are `hidden=relu output=identity
    /// dropout=0`.
    ///
    /// ```
    /// use nn::{Activation, ModelSpec};
    /// let spec = ModelSpec::parse("784-256-128-10").unwrap();
    /// assert_eq!(spec.sizes, vec![784, 256, 128, 10]);
    /// assert_eq!(spec.hidden, Activation::Relu);
    /// let spec = ModelSpec::parse("2, 3, 1 hidden=tanh output=sigmoid").unwrap();
    /// assert_eq!((spec.hidden, spec.output), (Activation::Tanh, Activation::Sigmoid));
    /// assert!(ModelSpec::parse("784-0-10").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<ModelSpec> {
        let bad = |problem: String| NnError::Spec {
            spec: text.to_string(),
            problem,
        };
        let mut sizes_text = String::new();
        let mut spec = ModelSpec {
            sizes: Vec::new(),
            hidden: Activation::Relu,
            output: Activation::Identity,
            dropout: 0.0,
        };
        for token in text.split_whitespace() {
            let Some((key, value)) = token.split_once('=') else {
                sizes_text.push_str(token);
                continue;
            };
            let nested = |e: NnError| match e {
                NnError::Spec { problem, .. } => bad(problem),
                other => other,
            };
            match key.to_ascii_lowercase().as_str() {
                "hidden" => spec.hidden = Activation::parse(value).map_err(nested)?,
                "output" => spec.output = Activation::parse(value).map_err(nested)?,
                "dropout" => {
                    spec.dropout = value
                        .parse()
                        .map_err(|_| bad(format!("dropout {value:?} is not a number")))?
                }
                other => {
                    return Err(bad(format!(
                        "unknown option {other:?} (expected hidden=, output= or dropout=)"
                    )))
                }
            }
        }
        if sizes_text.is_empty() {
            return Err(bad(
                "need at least an input and an output size, like 784-10".into(),
            ));
        }
        for part in sizes_text.split(['-', ',']) {
            let size: usize = part
                .parse()
                .map_err(|_| bad(format!("layer size {part:?} is not a positive integer")))?;
            if size == 0 {
                return Err(bad("layer sizes must be at least 1".into()));
            }
            spec.sizes.push(size);
        }
        if spec.sizes.len() < 2 {
            return Err(bad(
                "need at least an input and an output size, like 784-10".into(),
            ));
        }
        if !(0.0..1.0).contains(&spec.dropout) {
            return Err(bad(format!(
                "dropout must be in [0, 1), got {}",
                spec.dropout
            )));
        }
        Ok(spec)
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

    /// Sets the dropout rate after hidden activations (`0` for none).
    pub fn dropout(mut self, rate: f32) -> ModelSpec {
        self.dropout = rate;
        self
    }

    /// Number of dense layers.
    pub fn depth(&self) -> usize {
        self.sizes.len() - 1
    }

    /// Input width `I` of the first layer.
    pub fn inputs(&self) -> usize {
        self.sizes[0]
    }

    /// Output width `O` of the last layer.
    pub fn outputs(&self) -> usize {
        self.sizes[self.sizes.len() - 1]
    }

    /// The index of dense layer `k` in PyTorch's
    /// `nn.Sequential(Linear, act, [Dropout], Linear, act, [Dropout], ..., Linear)`:
    /// every hidden layer counts its activation module (even `nn.Identity`)
    /// and, with dropout, its `nn.Dropout`, so the stride is 2 or 3.
    pub fn torch_index(&self, k: usize) -> usize {
        let stride = if self.dropout > 0.0 { 3 } else { 2 };
        k * stride
    }
}

impl fmt::Display for ModelSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sizes: Vec<String> = self.sizes.iter().map(usize::to_string).collect();
        write!(
            f,
            "{} hidden={} output={} dropout={}",
            sizes.join("-"),
            self.hidden,
            self.output,
            self.dropout
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
        ] {
            let spec = ModelSpec::parse(text).unwrap();
            assert_eq!(ModelSpec::parse(&spec.to_string()).unwrap(), spec);
        }
    }

    #[test]
    fn parse_errors_say_what_is_wrong() {
        for (text, needle) in [
            ("784", "at least"),
            ("", "at least"),
            ("784--10", "not a positive integer"),
            ("784-ten", "\"ten\""),
            ("784-10 hidden=gelu", "gelu"),
            ("784-10 dropout=1", "dropout"),
            ("784-10 dropout=x", "dropout"),
            ("784-10 depth=3", "depth"),
            ("784-0-10", "at least 1"),
        ] {
            let message = ModelSpec::parse(text).unwrap_err().to_string();
            assert!(message.contains(needle), "{text}: {message}");
            assert!(message.contains(&format!("{text:?}")), "{message}");
        }
    }

    #[test]
    fn torch_indices_count_activation_and_dropout_modules() {
        let plain = ModelSpec::parse("4-3-2-1").unwrap();
        assert_eq!([0, 1, 2].map(|k| plain.torch_index(k)), [0, 2, 4]);
        let dropped = plain.dropout(0.5);
        assert_eq!([0, 1, 2].map(|k| dropped.torch_index(k)), [0, 3, 6]);
    }
}
