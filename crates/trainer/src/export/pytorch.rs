//! Python source for a PyTorch module equivalent to a weights file's
//! network: `model.layers` is a `torch.nn.Sequential` whose module indices
//! name the file's tensors (`layers.4.weight`), so
//! `model.load_state_dict(safetensors.torch.load_file(FILE), strict=True)`
//! loads it as it is, and `prepare(pixels)` turns uint8 images into the
//! float input the network was trained on (`p / 255`).

use super::{modules, Module};
use nn::{Activation, ModelSpec};

/// The PyTorch constructor of one module (`nn.Conv2d(1, 8, kernel_size=3)`).
pub fn module_source(module: &Module) -> String {
    match *module {
        Module::Conv2d {
            inputs,
            outputs,
            kernel,
            stride,
            padding,
            bias,
        } => format!(
            "nn.Conv2d({inputs}, {outputs}, kernel_size={kernel}, stride={stride}, \
             padding={padding}, bias={})",
            python_bool(bias)
        ),
        Module::BatchNorm { features, image } => format!(
            "nn.BatchNorm{}d({features}, eps={}, momentum={})",
            if image { 2 } else { 1 },
            nn::BATCH_NORM_EPS,
            nn::BATCH_NORM_MOMENTUM
        ),
        Module::Linear {
            inputs,
            outputs,
            bias,
        } => format!("nn.Linear({inputs}, {outputs}, bias={})", python_bool(bias)),
        Module::Activation { activation, shape } => match activation {
            Activation::Identity => "nn.Identity()".to_string(),
            Activation::Relu => "nn.ReLU()".to_string(),
            Activation::LeakyRelu(slope) => format!("nn.LeakyReLU({slope:?})"),
            Activation::Sigmoid => "nn.Sigmoid()".to_string(),
            Activation::Tanh => "nn.Tanh()".to_string(),
            Activation::Softmax if shape.is_image() => "RowSoftmax()".to_string(),
            Activation::Softmax => "nn.Softmax(dim=1)".to_string(),
            Activation::Step => "Step()".to_string(),
        },
        Module::MaxPool2d { kernel, stride } => {
            format!("nn.MaxPool2d(kernel_size={kernel}, stride={stride})")
        }
        Module::AvgPool2d { kernel, stride } => {
            format!("nn.AvgPool2d(kernel_size={kernel}, stride={stride})")
        }
        Module::Flatten => "nn.Flatten()".to_string(),
        Module::Dropout(rate) => format!("nn.Dropout({rate:?})"),
    }
}

fn python_bool(value: bool) -> &'static str {
    if value {
        "True"
    } else {
        "False"
    }
}

/// The Python source: imports, any helper module the network needs, the
/// `Network` class, `model = Network().eval()`, and `prepare(pixels)`.
pub fn source(spec: &ModelSpec, weights: &str) -> String {
    let modules = modules(spec);
    let mut text = format!(
        "# A PyTorch equivalent of {weights:?}, written by `trainer info --pytorch`.\n\
         # Network: {}\n\
         #\n\
         #   import safetensors.torch\n\
         #   model.load_state_dict(safetensors.torch.load_file({weights:?}), strict=True)\n\
         #   logits = model(prepare(pixels))  # pixels: uint8 [N, 1, 28, 28]\n\
         import torch\n\
         from torch import nn\n\n",
        spec.summary()
    );
    let uses = |name: &str| modules.iter().any(|m| module_source(m).starts_with(name));
    if uses("RowSoftmax") {
        text.push_str(
            "\nclass RowSoftmax(nn.Module):\n    \
             \"\"\"Softmax over all of an image's values, as the trainer's network takes it.\"\"\"\n\n    \
             def forward(self, x):\n        \
             return torch.softmax(x.flatten(1), dim=1).reshape(x.shape)\n\n",
        );
    }
    if uses("Step") {
        text.push_str(
            "\nclass Step(nn.Module):\n    \
             \"\"\"1 where x > 0, else 0.\"\"\"\n\n    \
             def forward(self, x):\n        \
             return (x > 0).to(x.dtype)\n\n",
        );
    }
    text.push_str(
        "\nclass Network(nn.Module):\n    \
         def __init__(self):\n        \
         super().__init__()\n        \
         self.layers = nn.Sequential(\n",
    );
    for (index, module) in modules.iter().enumerate() {
        text.push_str(&format!(
            "            {},  # {index}\n",
            module_source(module)
        ));
    }
    let input = spec.input;
    let shape = if input.is_image() {
        format!("-1, {}, {}, {}", input.channels, input.height, input.width)
    } else {
        format!("-1, {}", input.len())
    };
    let output = match spec.output {
        Activation::Identity => "logits".to_string(),
        other => other.name(),
    };
    text.push_str(&format!(
        "        )\n\n    \
         def forward(self, x):\n        \
         \"\"\"x: prepare(pixels), [N, {shape_doc}]; returns {output} [N, {outputs}].\"\"\"\n        \
         return self.layers(x)\n\n\n\
         model = Network().eval()\n\n\n\
         def prepare(pixels):\n    \
         \"\"\"uint8 images [N, 1, 28, 28] (0 = background) -> the float input: pixels / 255.\"\"\"\n    \
         return (pixels.to(torch.float32) / 255.0).reshape({shape})\n",
        shape_doc = input,
        outputs = spec.outputs,
    ));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cnn_lists_its_modules_with_their_indices() {
        let spec = ModelSpec::parse("1x28x28 c4k3bn p2 10").unwrap();
        let text = source(&spec, "model.safetensors");
        let listed: Vec<&str> = text
            .lines()
            .filter(|line| line.trim_end().contains(",  # "))
            .map(str::trim)
            .collect();
        assert_eq!(
            listed,
            [
                "nn.Conv2d(1, 4, kernel_size=3, stride=1, padding=0, bias=False),  # 0",
                "nn.BatchNorm2d(4, eps=0.00001, momentum=0.1),  # 1",
                "nn.ReLU(),  # 2",
                "nn.MaxPool2d(kernel_size=2, stride=2),  # 3",
                "nn.Flatten(),  # 4",
                "nn.Linear(676, 10, bias=True),  # 5",
            ]
        );
        assert!(text.contains(".reshape(-1, 1, 28, 28)"), "{text}");
        assert!(!text.contains("class Step"));
    }
}
